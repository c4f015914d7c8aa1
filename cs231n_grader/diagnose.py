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

from cs231n_grader import chain_check, runner
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


def _biases_regularised(case, ref):
    """The reference plus the biases in the regularisation: reg·(Σb1² + Σb2²) more loss, and
    2·reg·b more bias gradient (the notebook's convention leaves the biases out)."""
    out, reg = _call(case, ref), case.scalars["reg"]
    b1, b2 = case.arrays["b1"], case.arrays["b2"]
    if case.part == "softmax_loss":
        out["loss"] = out["loss"] + reg * (np.sum(b1 ** 2) + np.sum(b2 ** 2))
    else:
        out["db1"], out["db2"] = out["db1"] + 2 * reg * b1, out["db2"] + 2 * reg * b2
    return out


# --- rules on the student's outputs ------------------------------------------------------------
def _history(got, name) -> np.ndarray | None:
    arr = as_plain_float_array(got.get(name)) if name in got else None
    return None if arr is None else arr.ravel()


def _helpers_in_backward(case, got, ref):
    calls = _history(got, runner.HELPER_CALLS)
    return calls is not None and calls.size == 1 and calls[0] > 0


def _batch_rows(got):
    """(rows (steps, B) ints, labels_ok (steps, B) bools) the runner recorded, or (None, None)."""
    rows = as_plain_float_array(got.get(runner.BATCH_ROWS)) if runner.BATCH_ROWS in got else None
    ok = as_plain_float_array(got.get(runner.BATCH_LABELS_OK)) if runner.BATCH_LABELS_OK in got else None
    if rows is None or ok is None or rows.ndim != 2 or rows.shape != ok.shape or rows.size == 0:
        return None, None
    return rows.astype(np.int64), ok > 0


def _labels_scrambled(case, got, ref):
    rows, ok = _batch_rows(got)
    return rows is not None and bool(np.all(rows >= 0)) and float(np.mean(ok)) < 0.9


def _sequential_batches(case, got, ref):
    rows, _ = _batch_rows(got)
    if rows is None or rows.shape[1] < 2:
        return False
    N = case.arrays["X"].shape[0]
    return float(np.mean(np.diff(rows, axis=1) % N == 1)) > 0.9


def _choice_n_minus_1(case, got, ref):
    """The minibatches are the given sampler's, drawn from N - 1 examples instead of N."""
    rows, _ = _batch_rows(got)
    if rows is None:
        return False
    N, bs = case.arrays["X"].shape[0], case.scalars["batch_size"]
    rng = np.random.default_rng(case.scalars["seed"])
    drawn = np.array([rng.choice(N - 1, size=bs, replace=True) for _ in range(rows.shape[0])])
    return drawn.shape == rows.shape and bool(np.array_equal(drawn, rows))


def _float_epochs(case, got, ref):
    """The histories have as many entries as epochs ending where (it + 1) % (N / batch_size) == 0."""
    N, bs, iters = case.arrays["X"].shape[0], case.scalars["batch_size"], case.scalars["num_iters"]
    per_epoch = max(N / bs, 1)
    floats = sum((it + 1) % per_epoch == 0 for it in range(iters))
    if floats == iters // max(N // bs, 1):
        return False
    sizes = [h.size for k in ("train_acc_history", "val_acc_history") if (h := _history(got, k)) is not None]
    return bool(sizes) and all(n == floats for n in sizes)


def _acc_as_counts(case, got, ref):
    values = [h for k in ("train_acc_history", "val_acc_history") if (h := _history(got, k)) is not None]
    return any(h.size and np.all(np.isfinite(h)) and np.max(h) > 1 for h in values)



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
    Mistake("reg_loss_biases", "softmax_loss",
            "your regularisation term includes the biases: this assignment regularises the weights "
            "only, reg·(ΣW1² + ΣW2²); leave b1 and b2 out",
            variants=(_biases_regularised,)),
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
    Mistake("reg_grad_biases", "backward",
            "your bias gradients include a regularisation term: the biases are not regularised in this "
            "assignment, so grads['b1'] and grads['b2'] have no reg term",
            variants=(_biases_regularised,)),
    Mistake("backward_numeric", "backward",
            "your backward() calls forward(), softmax_loss() or loss_and_grads(): it must compute the "
            "gradients by the chain rule from the P and the cache it is given (numeric "
            "differentiation of the loss earns no points)",
            rule=_helpers_in_backward),
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
    Mistake("train_val_counts", "train",
            "your accuracy histories hold counts of correct predictions: an accuracy is the fraction "
            "of correct predictions (between 0 and 1), the mean of the comparison, not its sum",
            rule=_acc_as_counts),
    Mistake("train_float_epoch", "train",
            "your epochs end at the wrong iterations: iterations_per_epoch must be an integer number of "
            "iterations (integer division of N by batch_size, at least 1); N / batch_size is a float "
            "that the iteration count rarely divides",
            rule=_float_epochs),
    Mistake("train_shuffled_X_only", "train",
            "the labels of your minibatches no longer belong to their examples: shuffling or indexing "
            "X without y (or y without X) scrambles them; take the examples and their labels with the "
            "same indices",
            rule=_labels_scrambled),
    Mistake("train_sequential_batches", "train",
            "your minibatches are sequential slices of X: sample every minibatch with the given sampler "
            "(batch_size random indices drawn with replacement from the rng seeded with seed)",
            rule=_sequential_batches),
    Mistake("train_choice_N_minus_1", "train",
            "your minibatch indices are drawn from N - 1 examples, so the last example is never used: "
            "draw them from all N",
            rule=_choice_n_minus_1),
    Mistake("predict_returns_scores", "predict",
            "predict must return one class index per example: take the argmax of the scores over "
            "the classes (axis=1)",
            rule=_predict_scores),
    Mistake("predict_wrong_axis", "predict",
            "your argmax runs over the wrong axis: argmax over the classes (axis=1) gives one label "
            "per example",
            rule=_predict_axis),
) + tuple(Mistake(mid, chain_check.PART, message, variants=variants, rule=rule)
        for mid, message, rule, variants in chain_check.MISTAKES)
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
