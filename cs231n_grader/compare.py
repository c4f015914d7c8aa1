"""Compare a student's outputs on a case with the reference's, and say in words what is wrong.

Plain numpy on plain float64 arrays, in the trusted process. Reasons never contain values (they
would leak the hidden inputs' answers into the feedback).
"""
from __future__ import annotations

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case

RTOL, ATOL = 1e-5, 1e-8
MAX_OUTPUT_ELEMENTS = runner.MAX_OUTPUT_ELEMENTS


# --- the reference's outputs ---------------------------------------------------------------------
def reference_outputs(case: Case, ref, standins: bool | None = None) -> dict[str, np.ndarray]:
    """The reference's outputs for a case, in the runner's output names (see runner.call_part);
    ``standins=False`` gives them without the stand-in helpers (the case's own setting otherwise)."""
    scalars = case.scalars if standins is None else {**case.scalars, "standins": standins}
    return runner.call_part(case.part, getattr(ref, case.part), case.arrays, scalars)


def _count(got: dict, name: str) -> float:
    """A call count the runner reported (0 when missing or malformed)."""
    calls = as_plain_float_array(got.get(name)) if name in got else None
    return float(calls.ravel()[0]) if calls is not None and calls.size == 1 else 0.0


def used_standins(got: dict) -> bool:
    """Whether the student's function called the stand-in helpers (it did not bypass them)."""
    return _count(got, runner.STANDIN_CALLS) > 0


def expected_for_student(case: Case, got: dict, ref) -> dict[str, np.ndarray]:
    """The reference outputs to compare the student's ``got`` with: with the stand-ins the
    student's function used, else the plain reference (a predict/train that computes everything
    itself). A train() may use one stand-in and bypass the other."""
    if case.part == "train" and case.scalars.get("standins"):
        loss, predict = used_standins(got), _count(got, runner.PREDICT_CALLS) > 0
        if not loss and not predict:
            return reference_outputs(case, ref, standins=False)
        return reference_outputs(Case(case.id, case.part, case.label, case.arrays,
                                      {**case.scalars, "standin_loss": loss, "standin_predict": predict},
                                      case.kind), ref)
    if case.scalars.get("standins") and not used_standins(got):
        return reference_outputs(case, ref, standins=False)
    return reference_outputs(case, ref)


# --- comparison ---------------------------------------------------------------------------------
def as_plain_float_array(value) -> np.ndarray | None:
    """A plain float64 ndarray copy of an output array received from the runner, or None when it
    is not a plain numeric array (object dtype, structured, a subclass, too large)."""
    if type(value) is not np.ndarray or value.dtype.kind not in "fiub":
        return None
    if value.size > MAX_OUTPUT_ELEMENTS:
        return None
    return np.array(value, dtype=np.float64, copy=True)


def allclose_scaled(got: np.ndarray, expected: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Same shape, finite, and |got - expected| <= atol·scale + rtol·|expected|, where scale is the
    largest |expected| (at least 1): atol is relative to the output's magnitude."""
    if got.shape != expected.shape:
        return False
    if not np.all(np.isfinite(got)):
        return False
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return bool(np.all(np.abs(got - expected) <= atol * scale + rtol * np.abs(expected)))


HELPERS_IN_BACKWARD = ("backward() called forward(), softmax_loss() or loss_and_grads(): compute the "
                       "gradients from the P and the cache it is given, by the chain rule (differentiating "
                       "the loss numerically earns no points)")


def output_failures(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, str]:
    """{output name: reason in words (no values)} for every output of a non-train case that is
    missing, malformed or wrong; empty when the case passes."""
    out = {}
    if case.part == "backward" and _count(got, runner.HELPER_CALLS) > 0:
        return {name: HELPERS_IN_BACKWARD for name in expected if name not in runner.CALL_RECORDS}
    for name, exp in expected.items():
        if name in runner.CALL_RECORDS:
            continue
        g = as_plain_float_array(got[name]) if name in got else None
        if name not in got:
            out[name] = f"{_describe(name)}: missing from your result"
        elif g is None:
            out[name] = f"{_describe(name)}: not a plain numeric array"
        else:
            if g.size == exp.size == 1:
                g = g.reshape(exp.shape)
            if g.shape != exp.shape:
                out[name] = f"{_describe(name)}: wrong shape, expected {_symbolic_shape(name)}"
            elif not np.all(np.isfinite(g)):
                out[name] = f"{_describe(name)}: contains inf or nan"
            elif not allclose_scaled(g, exp):
                out[name] = f"{_describe(name)}: wrong values"
    return out


def failure_reason(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray], ref=None) -> str | None:
    """None when the student's outputs pass the case, else a reason in words (no values): the
    first wrong output."""
    if case.part == "train":
        return train_failure_reason(case, got, expected)
    return next(iter(output_failures(case, got, expected).values()), None)


_TRAIN_ORDER = ("loss_history", "train_acc_history", "val_acc_history") + runner.PARAM_NAMES
_ENTRIES = {"loss_history": "one entry per iteration", "train_acc_history": "one entry per completed epoch",
            "val_acc_history": "one entry per completed epoch"}


def train_failure_reason(case: Case, got: dict, expected: dict) -> str | None:
    """The first wrong output of train(), in the order the loop produces them: the histories
    (length, then values), then the parameters after training. Reasons name the output only; the
    diagnosis (cs231n_grader.diagnose) says why."""
    for name in _TRAIN_ORDER:
        exp = expected[name]
        g = as_plain_float_array(got[name]) if name in got else None
        what = f"history['{name}']" if name in _ENTRIES else f"params['{name}'] after training"
        if g is None:
            return f"{what}: missing or not a plain numeric array"
        if name in _ENTRIES:
            g, exp = g.ravel(), exp.ravel()
            if g.size != exp.size:
                return f"{what}: needs {_ENTRIES[name]}"
        elif g.shape != exp.shape:
            return f"{what}: reshaped (it must keep its shape)"
        if not allclose_scaled(g, exp):
            return f"{what}: wrong values"
    return None


_NAMES = {"S2": "scores S2", "S1": "cache[1] (S1)", "X2": "cache[2] (X2)", "loss": "loss",
          "P": "probabilities P", "dW1": "grads['W1']", "db1": "grads['b1']", "dW2": "grads['W2']",
          "db2": "grads['b2']", "y_pred": "predictions", "loss_history": "history['loss_history']",
          "train_acc_history": "history['train_acc_history']",
          "val_acc_history": "history['val_acc_history']"}
_SHAPES = {"S2": "(N, C)", "S1": "(N, H)", "X2": "(N, H)", "loss": "a scalar", "P": "(N, C)",
           "dW1": "(D, H)", "db1": "(H,)", "dW2": "(H, C)", "db2": "(C,)", "y_pred": "(N,)"}


def _describe(name: str) -> str:
    """An output's name as the student's code spells it (``grads['W1']``)."""
    return _NAMES.get(name, name)


def _symbolic_shape(name: str) -> str:
    """An output's shape in the symbols of docs/ARCHITECTURE.md, never the case's numbers."""
    return _SHAPES.get(name, "the documented shape")
