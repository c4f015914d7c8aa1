"""Compare a student's outputs on a case with the reference's, and say in words what is wrong.

Plain numpy on plain float64 arrays, in the trusted process. Reasons never contain values (they
would leak the hidden inputs' answers into the feedback).
"""
from __future__ import annotations

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case
from cs231n_utils import chain
from cs231n_utils.compare import (  # shared with the students' self-check: one judgement, one wording
    allclose_scaled,
    as_plain_float_array,
    output_reason,
)


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
HELPERS_IN_BACKWARD = ("backward() called forward(), softmax_loss() or loss_and_grads(): compute the "
                       "gradients from the P and the cache it is given, by the chain rule (differentiating "
                       "the loss numerically earns no points)")


def output_failures(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> dict[str, str]:
    """{output name: reason in words (no values)} for every output of a non-train case that is
    missing, malformed or wrong; empty when the case passes."""
    out = {}
    if case.part == "backward" and _count(got, runner.HELPER_CALLS) > 0:
        return {name: HELPERS_IN_BACKWARD for name in expected if name not in runner.CALL_RECORDS}
    if case.part == chain.PART and chain.used_numeric_helpers(got):
        return {name: chain.NUMERIC_REASON for name in expected if name not in runner.CALL_RECORDS}
    for name, exp in expected.items():
        if name in runner.CALL_RECORDS:
            continue
        reason = output_reason(name, got, exp, case.part)
        if reason:
            out[name] = reason
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
