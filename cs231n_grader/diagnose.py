"""Diagnoses that name the mistake, for the feedback of the sealed checks.

Each catalogued mistake (stable ``id``, the ``part`` it belongs to, a short ``name`` safe to show
before grading -- the misconception without a formula, which the students' self-check prints --
and a ``message`` in a student's words for the feedback, which may state the formula) is
recognised either by a *variant* of the reference — the reference called with altered inputs or
arguments, e.g. at ``reg * 0.5`` or with every S1 made positive, never a re-implementation — whose
outputs the student's match, or by a *rule* on the student's outputs (a shape, inf/nan only on
large scores). Messages never contain hidden inputs or expected values.

    >>> diagnose("backward", case, student_outputs, ref)
    ('relu_mask_missing', 'your backward pass lets the gradient through the ReLU everywhere: ...')

:data:`CATALOGUE` is the data the sample-submission builder iterates over (one sample per mistake).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cs231n_grader import chain_check, runner
from cs231n_grader.cases import Case
from cs231n_grader.compare import (
    allclose_scaled,
    as_plain_float_array,
    expected_for_student,
    reference_outputs,
)
from cs231n_utils import mistakes

# the rules (``rule=mistakes.…``) are student-side, cs231n_utils.mistakes: the self-check applies
# the same ones


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake: each variant ``(case, ref) -> outputs`` gives what the mistake
    produces on a case; a rule ``(case, student_outputs, expected) -> bool`` of
    :mod:`cs231n_utils.mistakes` (student-side: the self-check applies it too) says whether the
    student's outputs show it, ``expected`` being the reference outputs they are compared with."""

    id: str
    part: str
    name: str  # the misconception in a few words, no formula, no code: what the self-check prints
    message: str  # the grader's feedback: may state the formula (never shipped before grading)
    variants: tuple[Callable, ...] = ()
    rule: Callable | None = None


# --- helpers over the reference ------------------------------------------------------------------
def _call(case: Case, ref, arrays=None, scalars=None) -> dict[str, np.ndarray]:
    """The reference's outputs on the case with some inputs/scalars replaced."""
    altered = Case(
        case.id,
        case.part,
        case.label,
        {**case.arrays, **(arrays or {})},
        {**case.scalars, **(scalars or {})},
        case.kind,
    )
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
    return lambda case, ref: _call(
        case, ref, arrays={k: np.zeros_like(case.arrays[k]) for k in zero}
    )


def _relu_mask(transform):
    """Reference backward with S1 altered, so its mask [S1 > 0] becomes another mask."""
    return lambda case, ref: _call(case, ref, arrays={"S1": transform(case.arrays["S1"])})


def _biases_regularised(case, ref):
    """The reference plus the biases in the regularisation: reg·(Σb1² + Σb2²) more loss, and
    2·reg·b more bias gradient (the notebook's convention leaves the biases out)."""
    out, reg = _call(case, ref), case.scalars["reg"]
    b1, b2 = case.arrays["b1"], case.arrays["b2"]
    if case.part == "softmax_loss":
        out["loss"] = out["loss"] + reg * (np.sum(b1**2) + np.sum(b2**2))
    else:
        out["db1"], out["db2"] = out["db1"] + 2 * reg * b1, out["db2"] + 2 * reg * b2
    return out


# --- the catalogue --------------------------------------------------------------------------------
CATALOGUE: tuple[Mistake, ...] = (
    Mistake(
        "forward_bias_forgotten",
        "forward",
        "scores computed without the biases",
        "your scores leave out the biases: S1 = X·W1 + b1 and S2 = X2·W2 + b2 (add b1 and b2; "
        "broadcasting adds them to every row)",
        variants=(_with_biases(("b1", "b2")), _with_biases(("b1",)), _with_biases(("b2",))),
    ),
    Mistake(
        "forward_cache_order",
        "forward",
        "cache entries in the wrong order",
        "your cache is not (X, S1, X2) in that order: backward reads S1 (before the ReLU) and "
        "X2 (after it) from the cache",
        rule=mistakes.cache_order,
    ),
    Mistake(
        "loss_not_averaged",
        "softmax_loss",
        "loss not averaged over the N examples",
        "your loss is not averaged over the N examples: divide the summed cross-entropy by N "
        "(then add the regularisation term once)",
        variants=(_data_part_scaled("N"),),
    ),
    Mistake(
        "reg_loss_missing",
        "softmax_loss",
        "regularisation term missing from the loss",
        "your loss has no regularisation term: add reg·(ΣW1² + ΣW2²)",
        variants=(_at_reg(0.0),),
    ),
    Mistake(
        "reg_loss_factor",
        "softmax_loss",
        "regularisation term with the wrong factor",
        "your regularisation term has the wrong factor: this assignment's convention is "
        "reg·(ΣW1² + ΣW2²), without a 0.5 and without a 2",
        variants=(_at_reg(0.5), _at_reg(2.0)),
    ),
    Mistake(
        "reg_loss_biases",
        "softmax_loss",
        "biases regularised too",
        "your regularisation term includes the biases: this assignment regularises the weights "
        "only, reg·(ΣW1² + ΣW2²); leave b1 and b2 out",
        variants=(_biases_regularised,),
    ),
    Mistake(
        "softmax_no_max_subtraction",
        "softmax_loss",
        "softmax overflows on large scores",
        "your softmax overflows on large scores (inf/nan): subtract each row's maximum score "
        "before np.exp — it leaves P unchanged and keeps exp() finite",
        rule=mistakes.overflow,
    ),
    Mistake(
        "softmax_wrong_axis",
        "softmax_loss",
        "probabilities normalised over the wrong axis",
        "your probabilities are normalised over the wrong axis: each row of P (one example) "
        "must sum to 1, so sum over the classes (axis=1, keepdims=True)",
        rule=mistakes.softmax_axis,
    ),
    Mistake(
        "grad_not_divided_by_N",
        "backward",
        "gradients not averaged over the N examples",
        "your gradients are not divided by N: the loss is a mean over the N examples, so "
        "dS2 = (P − Y) / N",
        variants=(_data_part_scaled("N"),),
    ),
    Mistake(
        "reg_grad_missing",
        "backward",
        "regularisation missing from the weight gradients",
        "your weight gradients miss the regularisation term: "
        "add 2·reg·W1 to dW1 and 2·reg·W2 to dW2",
        variants=(_at_reg(0.0),),
    ),
    Mistake(
        "reg_grad_factor",
        "backward",
        "regularisation gradient with the wrong factor",
        "your regularisation gradient has the wrong factor: the derivative of reg·ΣW² is 2·reg·W",
        variants=(_at_reg(0.5), _at_reg(2.0)),
    ),
    Mistake(
        "reg_grad_biases",
        "backward",
        "bias gradients regularised too",
        "your bias gradients include a regularisation term: the biases are not regularised in this "
        "assignment, so grads['b1'] and grads['b2'] have no reg term",
        variants=(_biases_regularised,),
    ),
    Mistake(
        "backward_numeric",
        "backward",
        "gradients differentiated numerically through the other functions, not by the chain rule",
        "your backward() calls forward(), softmax_loss() or loss_and_grads(): it must compute the "
        "gradients by the chain rule from the P and the cache it is given (numeric "
        "differentiation of the loss earns no points)",
        rule=mistakes.helpers_in_backward,
    ),
    Mistake(
        "relu_mask_missing",
        "backward",
        "gradient flows through inactive ReLU units",
        "your backward pass lets the gradient through the ReLU everywhere: dS1 = dX2 ⊙ [S1 > 0] "
        "(zero where the unit was inactive)",
        variants=(_relu_mask(lambda S1: np.abs(S1) + 1.0),),
    ),
    Mistake(
        "relu_wrong_inequality",
        "backward",
        "ReLU mask lets S1 = 0 through",
        "your ReLU mask treats S1 = 0 as active: use the strict S1 > 0 (max(0, S1) is flat at 0, "
        "so no gradient flows there)",
        variants=(_relu_mask(lambda S1: np.where(S1 == 0, 1.0, S1)),),
    ),
    Mistake(
        "bias_grad_wrong_axis",
        "backward",
        "bias gradients summed over the wrong axis",
        "your bias gradient is summed over the wrong axis: db1 = Σ over the examples of dS1 "
        "(axis=0), shape (H,); db2 likewise, shape (C,)",
        rule=mistakes.bias_grad_axis,
    ),
    Mistake(
        "grad_wrong_sign",
        "backward",
        "gradients with the wrong sign",
        "your gradients have the wrong sign: dS2 = P − Y (probabilities minus the one-hot "
        "labels), and every other gradient follows from it",
        variants=(_negated, _data_part_scaled(-1.0)),
    ),
    Mistake(
        "backward_bias_forgotten",
        "backward",
        "bias gradients missing or zero",
        "your grads leave out the biases: return grads['b1'] = Σ_i dS1 and grads['b2'] = Σ_i dS2 "
        "(sums over the examples)",
        rule=mistakes.bias_grad_missing,
    ),
    Mistake(
        "train_params_not_in_place",
        "train",
        "parameters not updated in place",
        "train() left params unchanged: update the arrays in place (params['W1'] -= "
        "learning_rate * grads['W1']), rebinding a name or updating a copy does not train the net",
        rule=mistakes.params_untouched,
    ),
    Mistake(
        "train_history_per_iteration",
        "train",
        "accuracies recorded every iteration, not every epoch",
        "train_acc_history and val_acc_history get one entry per epoch (every "
        "max(N // batch_size, 1) iterations), not one per iteration",
        rule=mistakes.acc_per_iteration,
    ),
    Mistake(
        "train_val_counts",
        "train",
        "accuracies recorded as counts, not fractions",
        "your accuracy histories hold counts of correct predictions: an accuracy is the fraction "
        "of correct predictions (between 0 and 1), the mean of the comparison, not its sum",
        rule=mistakes.acc_as_counts,
    ),
    Mistake(
        "train_float_epoch",
        "train",
        "an epoch that is not a whole number of iterations",
        "your epochs end at the wrong iterations: iterations_per_epoch must be an integer number "
        "of iterations (integer division of N by batch_size, at least 1); N / batch_size is a "
        "float that the iteration count rarely divides",
        rule=mistakes.float_epochs,
    ),
    Mistake(
        "train_shuffled_X_only",
        "train",
        "minibatch examples separated from their labels",
        "the labels of your minibatches no longer belong to their examples: shuffling or indexing "
        "X without y (or y without X) scrambles them; take the examples and their labels with the "
        "same indices",
        rule=mistakes.labels_scrambled,
    ),
    Mistake(
        "train_sequential_batches",
        "train",
        "minibatches taken in order instead of sampled",
        "your minibatches are sequential slices of X: sample every minibatch with the given "
        "sampler (batch_size random indices drawn with replacement from the rng seeded with seed)",
        rule=mistakes.sequential_batches,
    ),
    Mistake(
        "train_choice_N_minus_1",
        "train",
        "minibatches never use the last example",
        "your minibatch indices are drawn from N - 1 examples, so the last example is never used: "
        "draw them from all N",
        rule=mistakes.choice_n_minus_1,
    ),
    Mistake(
        "predict_returns_scores",
        "predict",
        "scores returned instead of class indices",
        "predict must return one class index per example: take the argmax of the scores over "
        "the classes (axis=1)",
        rule=mistakes.predict_scores,
    ),
    Mistake(
        "predict_wrong_axis",
        "predict",
        "argmax over the wrong axis",
        "your argmax runs over the wrong axis: argmax over the classes (axis=1) gives one label "
        "per example",
        rule=mistakes.predict_axis,
    ),
) + tuple(
    Mistake(mid, chain_check.PART, name, message, variants=variants, rule=rule)
    for mid, name, message, rule, variants in chain_check.MISTAKES
)
BY_ID = {m.id: m for m in CATALOGUE}


def catalogue(part: str | None = None) -> list[dict]:
    """``[{id, part, name, message}]`` of the catalogued mistakes (of one part, when given)."""
    return [
        {"id": m.id, "part": m.part, "name": m.name, "message": m.message}
        for m in CATALOGUE
        if part is None or m.part == part
    ]


# --- matching ---------------------------------------------------------------------------------
def _matches_variant(got: dict, variant_out: dict, reference_out: dict) -> bool:
    """The student's outputs equal the variant's on every output, and the variant differs from
    the reference on this case (a variant that changes nothing explains nothing)."""
    differs = False
    for name, expected in variant_out.items():
        if name in runner.CALL_RECORDS:
            continue
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
    reference_out = expected = None
    for mistake in CATALOGUE:
        if mistake.part != part:
            continue
        try:
            if mistake.rule is not None:
                expected = (
                    expected
                    if expected is not None
                    else expected_for_student(case, student_out, ref)
                )
                if mistake.rule(case, student_out, expected):
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
