"""Compare a student's outputs on a case with the reference's, and say in words what is wrong.

Plain numpy on plain float64 arrays, in the trusted process. Reasons never contain values (they
would leak the hidden inputs' answers into the feedback).
"""
from __future__ import annotations

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case
from cs231n_utils.compare import (  # shared with the students' self-check: one judgement, one wording
    allclose_scaled,
    as_plain_float_array,
    output_reason,
)
from cs231n_utils.compare import describe as _describe


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
def failure_reason(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                   ref) -> str | None:
    """None when the student's outputs pass the case, else a reason in words (no values)."""
    for name, exp in expected.items():
        if name == runner.STANDIN_CALLS or (case.part == "train" and name in runner.PARAM_NAMES):
            continue
        if case.part == "train":
            if name not in got:
                return f"{_describe(name)}: missing from your result"
            if as_plain_float_array(got[name]) is None:
                return f"{_describe(name)}: not a plain numeric array"
            continue
        reason = output_reason(name, got, exp)
        if reason:
            return reason
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
