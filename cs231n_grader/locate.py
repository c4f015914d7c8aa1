"""Diagnoses beyond the catalogue: which output is wrong, and where to look.

When no catalogued mistake (:mod:`cs231n_grader.diagnose`) explains a wrong part, two kinds of
evidence still say a lot, without revealing a hidden input or an expected value:

* **which outputs are wrong** — the first wrong one in the order the code computes them (S1 → X2
  → S2; P → loss; dS2 → dW2, db2 → dX2 → dS1 → dW1, db1) is where the mistake starts;
* **which kinds of hidden case fail** — wrong only when reg > 0 → the regularisation term; only
  for N = 1 → an axis, keepdims or a squeeze; right for N = 1 only → the mean over the examples;
  only where S1 is exactly 0 → the mask's inequality; only on large scores → stability; only
  where the biases are nonzero → the biases.

    >>> locate("backward", [(case, student_outputs, expected_outputs), ...])
    ('located_dW1',
     "grads['W1'] is wrong (the other gradients are right): look at the line that computes dW1. "
     "...")
"""

from __future__ import annotations

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case
from cs231n_grader.compare import (
    allclose_scaled,
    as_plain_float_array,
    reference_outputs,
    train_failure_reason,
)
from cs231n_utils import chain

#: per part: the outputs in the order the code computes them (name, "label is/are", where to look)
WHERE = {
    "forward": (
        (
            "S1",
            "cache[1] (S1) is",
            "the line that computes S1 (from X, W1 and b1): everything after it follows from S1",
        ),
        ("X2", "cache[2] (X2) is", "the ReLU line that turns S1 into X2"),
        ("S2", "the scores S2 are", "the line that computes the scores S2 (from X2, W2 and b2)"),
    ),
    "softmax_loss": (
        (
            "P",
            "the probabilities P are",
            "the softmax: the shift by each row's maximum, the "
            "exponentials and the normalisation of each row",
        ),
        (
            "loss",
            "the loss is",
            "the loss itself: its data term (the log-probabilities "
            "of the correct classes, averaged over the examples) or its regularisation term",
        ),
    ),
    "predict": (
        (
            "y_pred",
            "the predictions are",
            "the last step: the index of the highest score of each row (argmax over the classes)",
        ),
    ),
    # the chain-rule part: its factors where the chain starts, then the gradients they give
    chain.PART: tuple(
        (key, f"{chain.NAMES[key]} is", look)
        for key, look in (
            (
                "dL_ds2",
                "∂L/∂s2, where the chain starts "
                "(the example's softmax probabilities and its label)",
            ),
            (
                "ds2_dx2",
                "∂s2/∂x2: which array s2 depends on x2 through, with the output's index first",
            ),
            (
                "dx2_ds1",
                "the ReLU's Jacobian ∂x2/∂s1: an H×H matrix, nonzero only where a unit is active",
            ),
            (
                "ds1_dW1",
                "∂s1/∂W1: which entries of W1 each s1[h] depends on, indices in the order h, d, k",
            ),
            (
                "ds2_dW2",
                "∂s2/∂W2: which entries of W2 each s2[c] depends on, indices in the order c, h, k",
            ),
            ("db2", "how ∂L/∂b2 follows from ∂L/∂s2"),
            ("dW2", "the contraction of ∂L/∂s2 with ∂s2/∂W2 over the output index c"),
            ("db1", "the chaining of ∂L/∂s2 through ∂s2/∂x2 and ∂x2/∂s1"),
            ("dW1", "the contraction of ∂L/∂s1 with ∂s1/∂W1 over the output index h"),
        )
    ),
}
GRADS = ("dW2", "db2", "dW1", "db1")
_GRAD_NAMES = {
    "dW1": "grads['W1']",
    "db1": "grads['b1']",
    "dW2": "grads['W2']",
    "db2": "grads['b2']",
}


def wrong_outputs(got: dict, expected: dict, names) -> set[str]:
    """The names among ``names`` whose student output is missing, malformed or not close."""
    wrong = set()
    for name in names:
        if name not in expected:
            continue
        g = as_plain_float_array(got.get(name)) if name in got else None
        exp = expected[name]
        if g is not None and g.size == exp.size == 1:
            g = g.reshape(exp.shape)
        if g is None or not allclose_scaled(g, exp):
            wrong.add(name)
    return wrong


def _backward_where(wrong: set[str]) -> tuple[str, str]:
    """(id suffix, message) for a set of wrong gradients, following the chain dS2 → ... → dW1."""
    names = ", ".join(_GRAD_NAMES[g] for g in GRADS if g in wrong)
    if wrong == set(GRADS):
        return "dS2", (
            "every gradient is wrong: look at dS2, where the chain starts (P, the one-hot "
            "labels and the division by N), before anything else"
        )
    if wrong == {"dW1", "db1"}:
        return "dS1", (
            f"{names} are wrong while grads['W2'] and grads['b2'] are right: look between dS2 "
            "and dS1, at dX2 and at the ReLU mask that turns it into dS1"
        )
    if wrong == {"dW1", "dW2"}:
        return "weights", (
            f"{names} are wrong while the bias gradients are right: look at what only the "
            "weight gradients have, the regularisation terms (and X2 / X in their products)"
        )
    if len(wrong) == 1:
        (g,) = wrong
        return (
            g,
            f"{names} is wrong (the other gradients are right): look at the line that computes {g}",
        )
    first = next(g for g in ("dW2", "db2", "dX2", "dS1", "dW1", "db1") if g in wrong)
    return first, (
        f"{names} are wrong: follow the chain dS2 → dW2, db2 → dX2 → dS1 → dW1, db1 and look "
        f"at the first of them, {first}"
    )


def _where(part: str, wrong: set[str]) -> tuple[str, str] | None:
    if part == "backward":
        return _backward_where(wrong & set(GRADS)) if wrong & set(GRADS) else None
    for name, label, look in WHERE.get(part, ()):
        if name in wrong:
            others = [lab for n, lab, _ in WHERE[part] if n not in wrong]
            right = f" (while {', '.join(others)} right)" if others else ""
            return name, f"{label} wrong{right}: look at {look}"
    return None


# --- evidence from the kinds of case --------------------------------------------------------------
def _n(case) -> int:
    for name in ("X", "S2", "P"):
        if name in case.arrays:
            return int(np.shape(case.arrays[name])[0])
    return 0


def _biased(case) -> bool:
    return any(np.any(case.arrays[k]) for k in ("b1", "b2") if k in case.arrays)


def evidence(failing: list, passing: list) -> str | None:
    """One sentence from which kinds of case fail and which pass (never their inputs)."""
    if not failing or not passing:
        return None
    reg = lambda c: float(c.scalars.get("reg", 0.0))  # noqa: E731
    kinds = {c.kind for c in failing}
    if kinds == {"large_scores"}:
        return "It is wrong only on very large scores: look at numerical stability (exp overflows)."
    if kinds <= {"zero_rows", "relu_zeros"}:
        return (
            "It is wrong only where S1 is exactly 0: look at the inequality of the ReLU mask "
            "(at exactly 0 the unit is inactive)."
        )
    if kinds == {"confident"}:
        return (
            "It is wrong only where one class has a probability near 1: look at the numerical "
            "stability of the softmax."
        )
    if all(reg(c) > 0 for c in failing) and any(reg(c) == 0 for c in passing):
        return "It is wrong only on cases with reg > 0: look at the regularisation term."
    if all(_n(c) == 1 for c in failing) and any(_n(c) > 1 for c in passing):
        return (
            "It is wrong only for a single example (N = 1): look for an axis, a keepdims or a "
            "squeeze that treats a 1-row array differently."
        )
    if all(_n(c) > 1 for c in failing) and any(_n(c) == 1 for c in passing):
        return (
            "It is right for a single example (N = 1) only: look at the sum or mean over the N "
            "examples (a division by N, or an axis)."
        )
    if all(_biased(c) for c in failing) and any(not _biased(c) for c in passing):
        return "It is wrong only where the biases are nonzero: look at how b1 and b2 enter."
    return None


# --- train: when in the loop it goes wrong ------------------------------------------------------
def _first_mismatch(got: dict, expected: dict, name: str) -> int | None:
    """The first index where history ``name`` differs from the expected one (None: all equal)."""
    g = as_plain_float_array(got.get(name)) if name in got else None
    exp = expected[name].ravel()
    if g is None or g.size != exp.size:
        return 0
    g = g.ravel()
    for i in range(exp.size):
        if not allclose_scaled(g[i : i + 1], exp[i : i + 1]):
            return i
    return None


def _train_where(case, got, expected, ref) -> tuple[str, str] | None:
    """(id, message) for one wrong train() case whose histories have the right lengths."""
    rows = expected.get(runner.BATCH_ROWS)
    if rows is not None and not np.array_equal(
        as_plain_float_array(got.get(runner.BATCH_ROWS, np.zeros(0))), rows
    ):
        return "batches", (
            "your minibatches are not the ones the given sampler draws: keep the given lines "
            "that draw batch_size indices per iteration from the rng seeded with seed, and "
            "index X and y with them"
        )
    per_epoch = max(case.arrays["X"].shape[0] // case.scalars["batch_size"], 1)
    m = _first_mismatch(got, expected, "loss_history")
    if m is None:
        for name in ("train_acc_history", "val_acc_history"):
            if _first_mismatch(got, expected, name) is not None:
                data = (
                    "the current minibatch" if name == "train_acc_history" else "the validation set"
                )
                return name, (
                    f"history['{name}'] is wrong while the losses are right: it is the accuracy of "
                    f"predict() on {data}, recorded at the end of each epoch"
                )
        return "update", (
            "the losses are right but the parameters after the last step are not: every "
            "iteration, including the last, must update params in place"
        )
    if m == 0:
        return (
            "loss",
            "history['loss_history'] starts wrong: "
            "record the loss loss_and_grads returns for each step",
        )
    flipped = _call_train(case, ref, learning_rate=-case.scalars["learning_rate"])
    if _first_mismatch(got, flipped, "loss_history") is None:
        return "sign", (
            "your update has the wrong sign: it climbs the loss; step against the gradient, "
            "subtracting learning_rate * grads"
        )
    if m > per_epoch:
        return "decay", (
            "your losses are right during the first epoch and wrong after it: look at the "
            "learning-rate decay at the end of each epoch (multiply learning_rate by "
            "learning_rate_decay, once per epoch)"
        )
    return "epoch", (
        "your losses go wrong during the first epoch: look at the update and at when an epoch "
        "ends (the learning rate decays and the accuracies are recorded only after a whole "
        "epoch of iterations, never at the first iteration)"
    )


def _call_train(case, ref, **scalars) -> dict:
    """The reference train() (with the case's stand-ins) with some scalars replaced."""
    return reference_outputs(
        Case(case.id, case.part, case.label, case.arrays, {**case.scalars, **scalars}, case.kind),
        ref,
    )


def locate_train(judged: list[tuple], ref) -> tuple[str, str] | None:
    """The first wrong train() case's (id, message), from when in the loop it goes wrong."""
    for case, got, expected in judged:
        try:
            where = _train_where(case, got, expected, ref)
        except Exception:  # noqa: BLE001 - malformed outputs: the failures speak for themselves
            continue
        if where:
            return f"located_train_{where[0]}", where[1]
    return None


def locate(part: str, judged: list[tuple], ref=None) -> tuple[str, str] | None:
    """``(id, message)`` saying which output is wrong and where to look, from
    ``judged = [(case, student_outputs, expected_outputs), ...]`` (every case with outputs);
    None when nothing is wrong or nothing can be said."""
    if part == "train":
        wrong = [(c, g, e) for c, g, e in judged if train_failure_reason(c, g, e) is not None]
        return locate_train(wrong, ref) if wrong and ref is not None else None
    names = list(GRADS) if part == "backward" else [n for n, _, _ in WHERE.get(part, ())]
    failing, passing, wrong = [], [], set()
    for case, got, expected in judged:
        bad = wrong_outputs(got, expected, names)
        (failing if bad else passing).append(case)
        wrong |= bad
    where = _where(part, wrong)
    if where is None:
        return None
    why = evidence(failing, passing)
    return f"located_{where[0]}", where[1] + (f". {why}" if why else ".")
