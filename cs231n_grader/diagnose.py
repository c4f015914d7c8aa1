"""Diagnoses that name the mistake, for the feedback of the sealed checks.

Each catalogued mistake (stable ``id``, the ``part`` it belongs to, a ``message`` in a student's
words) is recognised either by a *variant* of the reference — the reference called with altered
inputs or arguments, e.g. at ``reg * 0.5`` or with every S1 made positive, never a
re-implementation — whose outputs the student's match, or by a *rule* on the student's outputs
(a shape, inf/nan only on large scores). Messages never contain hidden inputs or expected values.

    >>> diagnose("backward", case, student_outputs, ref)
    ('relu_mask_missing', 'your backward pass lets the gradient through the ReLU everywhere: ...')

:data:`CATALOGUE` is the data the sample-submission builder iterates over (one sample per mistake).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cs231n_grader import chain, chain_check, runner
from cs231n_grader.cases import Case
from cs231n_grader.compare import (
    allclose_scaled,
    as_plain_float_array,
    expected_for_student,
    reference_outputs,
)

P_NAMES = runner.PARAM_NAMES


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake: each variant ``(case, ref) -> outputs`` gives what the mistake
    produces on a case; a rule ``(case, student_outputs, ref) -> bool`` says whether the student's
    outputs show it."""

    id: str
    part: str
    message: str
    variants: tuple[Callable, ...] = ()
    rule: Callable | None = None


# --- helpers over the reference ------------------------------------------------------------------
def _call(case: Case, ref, arrays=None, scalars=None) -> dict[str, np.ndarray]:
    """The reference's outputs on the case with some inputs/scalars replaced."""
    altered = Case(case.id, case.part, case.label, {**case.arrays, **(arrays or {})},
                   {**case.scalars, **(scalars or {})}, case.kind)
    return reference_outputs(altered, ref)


def _at_reg(factor: float):
    """Reference at reg × factor (regularisation term or gradient with the wrong factor)."""
    return lambda case, ref: _call(case, ref, scalars={"reg": case.scalars["reg"] * factor})


def _data_part_scaled(factor):
    """factor × (reference at reg 0) + the regularisation contribution: a data loss or data
    gradient not divided by N (factor "N"), or of the wrong sign (factor −1)."""
    def variant(case, ref):
        full, data = _call(case, ref), _call(case, ref, scalars={"reg": 0.0})
        f = case.arrays[_n_source(case)].shape[0] if factor == "N" else factor
        out = {k: f * data[k] + (full[k] - data[k]) for k in full}
        if "P" in full:
            out["P"] = full["P"]  # the probabilities are not affected
        return out
    return variant


def _n_source(case: Case) -> str:
    return "S2" if case.part == "softmax_loss" else "P"


def _negated(case, ref):
    return {k: -v for k, v in _call(case, ref).items()}


def _with_biases(zero: tuple[str, ...]):
    """Reference forward with some biases set to 0 (forgetting the bias)."""
    return lambda case, ref: _call(case, ref, arrays={k: np.zeros_like(case.arrays[k]) for k in zero})


def _relu_mask(transform):
    """Reference backward with S1 altered, so its mask [S1 > 0] becomes another mask."""
    return lambda case, ref: _call(case, ref, arrays={"S1": transform(case.arrays["S1"])})


# --- rules on the student's outputs ------------------------------------------------------------
def _shape(got, name):
    arr = as_plain_float_array(got.get(name)) if name in got else None
    return None if arr is None else arr.shape


def _bias_grad_axis(case, got, ref):
    N = case.arrays["P"].shape[0]
    return any(_shape(got, k) == (N,) for k in ("db1", "db2"))


def _bias_grad_missing(case, got, ref):
    if "db1" not in got or "db2" not in got:
        return True
    grads = [as_plain_float_array(got[k]) for k in ("db1", "db2")]
    return any(g is not None and not np.any(g) for g in grads)


def _overflow(case, got, ref):
    if case.kind != "large_scores":
        return False
    values = [as_plain_float_array(got[k]) for k in ("loss", "P") if k in got]
    return any(v is not None and not np.all(np.isfinite(v)) for v in values)


def _softmax_axis(case, got, ref):
    P = as_plain_float_array(got.get("P")) if "P" in got else None
    if P is None or P.ndim != 2 or P.shape != case.arrays["S2"].shape or not np.all(np.isfinite(P)):
        return False
    return np.allclose(P.sum(axis=0), 1.0) and not np.allclose(P.sum(axis=1), 1.0)


def _cache_order(case, got, ref):
    exp = reference_outputs(case, ref)
    g1, g2 = (as_plain_float_array(got.get(k)) if k in got else None for k in ("S1", "X2"))
    return (g1 is not None and g2 is not None and not np.array_equal(exp["S1"], exp["X2"])
            and allclose_scaled(g1, exp["X2"]) and allclose_scaled(g2, exp["S1"]))


def _params_untouched(case, got, ref):
    arrays = [as_plain_float_array(got.get(k)) if k in got else None for k in P_NAMES]
    return all(a is not None and a.shape == case.arrays[k].shape and np.array_equal(a, case.arrays[k])
               for a, k in zip(arrays, P_NAMES))


def _acc_per_iteration(case, got, ref):
    iters = case.scalars["num_iters"]
    exp_epochs = expected_for_student(case, got, ref)["train_acc_history"].size
    sizes = [as_plain_float_array(got[k]).size for k in ("train_acc_history", "val_acc_history")
             if k in got and as_plain_float_array(got[k]) is not None]
    return exp_epochs != iters and any(s == iters for s in sizes)


def _predict_scores(case, got, ref):
    N, C = case.arrays["X"].shape[0], case.arrays["b2"].shape[0]
    return _shape(got, "y_pred") == (N, C)


def _predict_axis(case, got, ref):
    C = case.arrays["b2"].shape[0]
    return _shape(got, "y_pred") == (C,)


# --- the catalogue ---------------------------------------------------------------------------------
CATALOGUE: tuple[Mistake, ...] = (
    Mistake("forward_bias_forgotten", "forward",
            "your scores leave out the biases: S1 = X·W1 + b1 and S2 = X2·W2 + b2 (add b1 and b2; "
            "broadcasting adds them to every row)",
            variants=(_with_biases(("b1", "b2")), _with_biases(("b1",)), _with_biases(("b2",)))),
    Mistake("forward_cache_order", "forward",
            "your cache is not (X, S1, X2) in that order: backward reads S1 (before the ReLU) and "
            "X2 (after it) from the cache",
            rule=_cache_order),
    Mistake("loss_not_averaged", "softmax_loss",
            "your loss is not averaged over the N examples: divide the summed cross-entropy by N "
            "(then add the regularisation term once)",
            variants=(_data_part_scaled("N"),)),
    Mistake("reg_loss_missing", "softmax_loss",
            "your loss has no regularisation term: add reg·(ΣW1² + ΣW2²)",
            variants=(_at_reg(0.0),)),
    Mistake("reg_loss_factor", "softmax_loss",
            "your regularisation term has the wrong factor: this assignment's convention is "
            "reg·(ΣW1² + ΣW2²), without a 0.5 and without a 2",
            variants=(_at_reg(0.5), _at_reg(2.0))),
    Mistake("softmax_no_max_subtraction", "softmax_loss",
            "your softmax overflows on large scores (inf/nan): subtract each row's maximum score "
            "before np.exp — it leaves P unchanged and keeps exp() finite",
            rule=_overflow),
    Mistake("softmax_wrong_axis", "softmax_loss",
            "your probabilities are normalised over the wrong axis: each row of P (one example) "
            "must sum to 1, so sum over the classes (axis=1, keepdims=True)",
            rule=_softmax_axis),
    Mistake("grad_not_divided_by_N", "backward",
            "your gradients are not divided by N: the loss is a mean over the N examples, so "
            "dS2 = (P − Y) / N",
            variants=(_data_part_scaled("N"),)),
    Mistake("reg_grad_missing", "backward",
            "your weight gradients miss the regularisation term: add 2·reg·W1 to dW1 and 2·reg·W2 to dW2",
            variants=(_at_reg(0.0),)),
    Mistake("reg_grad_factor", "backward",
            "your regularisation gradient has the wrong factor: the derivative of reg·ΣW² is 2·reg·W",
            variants=(_at_reg(0.5), _at_reg(2.0))),
    Mistake("relu_mask_missing", "backward",
            "your backward pass lets the gradient through the ReLU everywhere: dS1 = dX2 ⊙ [S1 > 0] "
            "(zero where the unit was inactive)",
            variants=(_relu_mask(lambda S1: np.abs(S1) + 1.0),)),
    Mistake("relu_wrong_inequality", "backward",
            "your ReLU mask treats S1 = 0 as active: use the strict S1 > 0 (max(0, S1) is flat at 0, "
            "so no gradient flows there)",
            variants=(_relu_mask(lambda S1: np.where(S1 == 0, 1.0, S1)),)),
    Mistake("bias_grad_wrong_axis", "backward",
            "your bias gradient is summed over the wrong axis: db1 = Σ over the examples of dS1 "
            "(axis=0), shape (H,); db2 likewise, shape (C,)",
            rule=_bias_grad_axis),
    Mistake("grad_wrong_sign", "backward",
            "your gradients have the wrong sign: dS2 = P − Y (probabilities minus the one-hot "
            "labels), and every other gradient follows from it",
            variants=(_negated, _data_part_scaled(-1.0))),
    Mistake("backward_bias_forgotten", "backward",
            "your grads leave out the biases: return grads['b1'] = Σ_i dS1 and grads['b2'] = Σ_i dS2 "
            "(sums over the examples)",
            rule=_bias_grad_missing),
    Mistake("train_params_not_in_place", "train",
            "train() left params unchanged: update the arrays in place (params['W1'] -= "
            "learning_rate * grads['W1']), rebinding a name or updating a copy does not train the net",
            rule=_params_untouched),
    Mistake("train_history_per_iteration", "train",
            "train_acc_history and val_acc_history get one entry per epoch (every "
            "max(N // batch_size, 1) iterations), not one per iteration",
            rule=_acc_per_iteration),
    Mistake("predict_returns_scores", "predict",
            "predict must return one class index per example: take the argmax of the scores over "
            "the classes (axis=1)",
            rule=_predict_scores),
    Mistake("predict_wrong_axis", "predict",
            "your argmax runs over the wrong axis: argmax over the classes (axis=1) gives one label "
            "per example",
            rule=_predict_axis),
) + tuple(Mistake(mid, chain.PART, message, rule=rule) for mid, message, rule in chain_check.MISTAKES)
BY_ID = {m.id: m for m in CATALOGUE}


def catalogue(part: str | None = None) -> list[dict]:
    """``[{id, part, message}]`` of the catalogued mistakes (of one part, when given)."""
    return [{"id": m.id, "part": m.part, "message": m.message} for m in CATALOGUE
            if part is None or m.part == part]


# --- matching ---------------------------------------------------------------------------------
def _matches_variant(got: dict, variant_out: dict, reference_out: dict) -> bool:
    """The student's outputs equal the variant's on every output, and the variant differs from
    the reference on this case (a variant that changes nothing explains nothing)."""
    differs = False
    for name, expected in variant_out.items():
        g = as_plain_float_array(got.get(name)) if name in got else None
        if g is None or not np.all(np.isfinite(expected)):
            return False
        if g.size == expected.size == 1:
            g = g.reshape(expected.shape)
        if not allclose_scaled(g, expected):
            return False
        differs = differs or not allclose_scaled(reference_out[name], expected)
    return differs


def diagnose(part: str, case: Case, student_out: dict, ref) -> tuple[str, str] | None:
    """``(mistake_id, message)`` of the first catalogued mistake of ``part`` the student's outputs
    on ``case`` show, else None."""
    reference_out = None
    for mistake in CATALOGUE:
        if mistake.part != part:
            continue
        try:
            if mistake.rule is not None and mistake.rule(case, student_out, ref):
                return mistake.id, mistake.message
            for variant in mistake.variants:
                reference_out = reference_out or reference_outputs(case, ref)
                if _matches_variant(student_out, variant(case, ref), reference_out):
                    return mistake.id, mistake.message
        except Exception:  # noqa: BLE001 - a malformed output just doesn't match this mistake
            continue
    return None


def diagnose_part(part: str, wrong: list[tuple[Case, dict]], ref) -> tuple[str, str] | None:
    """``(mistake_id, message)`` of the mistake seen on most wrong cases (ties: catalogue order),
    or None when no catalogued mistake is recognised (the failures then speak for themselves)."""
    found = Counter()
    for case, outputs in wrong:
        hit = diagnose(part, case, outputs, ref)
        if hit:
            found[hit[0]] += 1
    if found:
        order = [m.id for m in CATALOGUE]
        best = max(found, key=lambda i: (found[i], -order.index(i)))
        return best, BY_ID[best].message
    return None
