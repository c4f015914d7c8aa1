"""Compare a student's outputs on a case with the reference's, and say in words what is wrong.

Plain numpy on plain float64 arrays, in the trusted process. Reasons never contain values (they
would leak the hidden inputs' answers into the feedback).
"""
from __future__ import annotations

import numpy as np

from cs231n_grader import chain, runner
from cs231n_grader.cases import Case

RTOL, ATOL = 1e-5, 1e-8
MAX_OUTPUT_ELEMENTS = runner.MAX_OUTPUT_ELEMENTS


# --- the reference's outputs ---------------------------------------------------------------------
def reference_outputs(case: Case, ref, standins: bool | None = None) -> dict[str, np.ndarray]:
    """The reference's outputs for a case, in the runner's output names (see runner.call_part);
    ``standins=False`` gives them without the stand-in helpers (the case's own setting otherwise)."""
    scalars = case.scalars if standins is None else {**case.scalars, "standins": standins}
    return runner.call_part(case.part, getattr(ref, case.part), case.arrays, scalars)


def used_standins(got: dict) -> bool:
    """Whether the student's function called the stand-in helpers (it did not bypass them)."""
    calls = as_plain_float_array(got.get(runner.STANDIN_CALLS)) if runner.STANDIN_CALLS in got else None
    return calls is not None and calls.size == 1 and float(calls.ravel()[0]) > 0


def expected_for_student(case: Case, got: dict, ref) -> dict[str, np.ndarray]:
    """The reference outputs to compare the student's ``got`` with: with the stand-ins when the
    student's function used them, else the plain reference (a predict/train that computes
    everything itself)."""
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


def failure_reason(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                   ref) -> str | None:
    """None when the student's outputs pass the case, else a reason in words (no values)."""
    for name, exp in expected.items():
        if name == runner.STANDIN_CALLS or (case.part == "train" and name in runner.PARAM_NAMES):
            continue
        if name == chain.NUMERIC_CALLS:  # how the factors were made, not a value to compare
            if chain.used_numeric_helpers(got):
                return f"your factors are {chain.NUMERIC_REASON}"
            continue
        if name not in got:
            return f"{_describe(name, case.part)}: missing from your result"
        g = as_plain_float_array(got[name])
        if g is None:
            return f"{_describe(name, case.part)}: not a plain numeric array"
        if case.part == "train":
            continue
        if g.size == exp.size == 1:
            g = g.reshape(exp.shape)
        if g.shape != exp.shape:
            return f"{_describe(name, case.part)}: wrong shape, expected {_symbolic_shape(name, case.part)}"
        if not np.all(np.isfinite(g)):
            return f"{_describe(name, case.part)}: contains inf or nan"
        if not allclose_scaled(g, exp):
            return f"{_describe(name, case.part)}: wrong values"
    if case.part == "train":
        return _train_failure_reason(case, got, expected, ref)
    return None


def _train_loss(ref, arrays, params, reg) -> float:
    """The reference's training loss of ``params`` on the case's X (N, D), y (N,)."""
    S2, _ = ref.forward(arrays["X"], params)
    loss, _ = ref.softmax_loss(S2, arrays["y"], params, reg)
    return float(loss)


def _train_failure_reason(case, got, expected, ref) -> str | None:
    """History structure and the loss the trained params reach (evaluated with the reference)."""
    iters = case.scalars["num_iters"]
    loss_hist = as_plain_float_array(got["loss_history"]).ravel()
    if loss_hist.size != iters:
        return "history['loss_history']: needs one entry per iteration"
    n_epochs = expected["train_acc_history"].size
    for key in ("train_acc_history", "val_acc_history"):
        n = as_plain_float_array(got[key]).size
        if abs(n - n_epochs) > 1:
            return f"history['{key}']: needs one entry per epoch"
    params = {}
    for k in runner.PARAM_NAMES:
        p = as_plain_float_array(got.get(k)) if k in got else None
        if p is None or p.shape != case.arrays[k].shape or not np.all(np.isfinite(p)):
            return f"params['{k}'] after training is missing, reshaped or not finite"
        params[k] = p
    if used_standins(got):
        if not all(allclose_scaled(params[k], expected[k]) for k in runner.PARAM_NAMES):
            return ("the parameters after train() are not what minibatch SGD gives: update them in "
                    "place with learning_rate * grads and decay learning_rate once per epoch")
        return None
    reg = case.scalars["reg"]
    initial = _train_loss(ref, case.arrays, {k: case.arrays[k] for k in runner.PARAM_NAMES}, reg)
    target = _train_loss(ref, case.arrays, {k: expected[k] for k in runner.PARAM_NAMES}, reg)
    reached = _train_loss(ref, case.arrays, params, reg)
    if not np.isfinite(reached) or reached > target + 0.3 * (initial - target):
        return ("the parameters after train() do not reach a low training loss "
                "(are they updated in place with the gradients, the learning rate and the batches?)")
    return None


_NAMES = {"S2": "scores S2", "S1": "cache[1] (S1)", "X2": "cache[2] (X2)", "loss": "loss",
          "P": "probabilities P", "dW1": "grads['W1']", "db1": "grads['b1']", "dW2": "grads['W2']",
          "db2": "grads['b2']", "y_pred": "predictions", "loss_history": "history['loss_history']",
          "train_acc_history": "history['train_acc_history']",
          "val_acc_history": "history['val_acc_history']"}
_SHAPES = {"S2": "(N, C)", "S1": "(N, H)", "X2": "(N, H)", "loss": "a scalar", "P": "(N, C)",
           "dW1": "(D, H)", "db1": "(H,)", "dW2": "(H, C)", "db2": "(C,)", "y_pred": "(N,)"}
_PART_NAMES = {chain.PART: (chain.NAMES, chain.SHAPES)}  # parts whose output names mean other things


def _describe(name: str, part: str | None = None) -> str:
    """An output's name as the student's code spells it (``grads['W1']``)."""
    return _PART_NAMES.get(part, (_NAMES, _SHAPES))[0].get(name, name)


def _symbolic_shape(name: str, part: str | None = None) -> str:
    """An output's shape in the symbols of docs/ARCHITECTURE.md, never the case's numbers."""
    return _PART_NAMES.get(part, (_NAMES, _SHAPES))[1].get(name, "the documented shape")
