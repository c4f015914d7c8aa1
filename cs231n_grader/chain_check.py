"""Sealed check of the per-example chain-rule part: its secret cases and its catalogued mistakes.

Cases (built in the trusted process from the grader secret): ONE example x (D,), its label y and
params, on the public toy model and on hidden ones with other D, H, C (all distinct, so a
transposed factor shows as a wrong shape), hidden units whose s1 is exactly 0, and a class
probability near 1. Expected outputs come from the reference's ``chain_rule_factors`` (the
solution notebook); the mistakes below are variants of those outputs or rules on the student's
outputs next to them (cs231n_utils.mistakes), never a second implementation.
"""

from __future__ import annotations

import itertools

import numpy as np

from cs231n_grader.cases import Case, _dims, _param_arrays, _random_problem, toy_problem
from cs231n_grader.compare import reference_outputs
from cs231n_grader.secret import case_rng
from cs231n_utils import chain, mistakes

PART = chain.PART
CONFIDENT_MARGIN = 15.0  # added to the label's score: p_y ≈ 1 − C·e^−15 ≈ 1 − 1e-6


def make_cases(secret: bytes, ref) -> list[Case]:
    """The secret cases: arrays x (D,), y (0-d int), W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)."""
    X, y, params, _ = toy_problem()
    problems = [("toy", "CS231n toy model, its first example", X[0], y[0], params)]
    for i in range(3):
        rng = case_rng(secret, PART, f"random{i}")
        Xr, yr, pr = _random_problem(rng, _dims(rng))
        problems.append(("random", f"a random example #{i + 1}", Xr[0], yr[0], pr))
    rng = case_rng(secret, PART, "relu_zeros")
    Xr, yr, pr = _random_problem(rng, _dims(rng))
    dead = rng.choice(pr["b1"].size, pr["b1"].size // 3 + 1, replace=False)
    pr["W1"][:, dead], pr["b1"][dead] = 0.0, 0.0  # s1 exactly 0 for these units
    problems.append(("relu_zeros", "hidden units with s1 exactly 0", Xr[0], yr[0], pr))
    rng = case_rng(secret, PART, "confident")
    Xr, yr, pr = _random_problem(rng, _dims(rng))
    pr["b2"][yr[0]] += CONFIDENT_MARGIN
    problems.append(("confident", "the label's probability near 1", Xr[0], yr[0], pr))
    return [
        Case(
            f"{PART}/{i}",
            PART,
            label,
            {"x": np.array(x, dtype=np.float64), "y": np.array(int(label_y)), **_param_arrays(p)},
            {},
            kind,
        )
        for i, (kind, label, x, label_y, p) in enumerate(problems)
    ]


# --- the mistakes ---------------------------------------------------------------------------------
# Variants (as in diagnose.CATALOGUE): one output of the reference in the form the mistake gives it,
# so the students' self-check (data computed at release) names them too; rules (student-side,
# cs231n_utils.mistakes, so the self-check applies them too) only where no single form exists (a
# dense mask) or the mistake is how the factors were made (numeric differentiation).
def _output_as(key: str, transform):
    """Variant: the reference's outputs on the case with ``key`` replaced by ``transform(it, case)``
    (only that output: the mistake shows there whatever the others are)."""

    def variant(case, ref):
        return {
            key: np.asarray(transform(reference_outputs(case, ref)[key], case), dtype=np.float64)
        }

    return variant


def _permuted(key: str, ndim: int) -> tuple:
    """One variant per other order of ``key``'s axes (a transposed factor or gradient)."""
    return tuple(
        _output_as(key, lambda e, case, perm=perm: e.transpose(perm))
        for perm in itertools.permutations(range(ndim))
        if perm != tuple(range(ndim))
    )


def _one_hot(case) -> np.ndarray:
    C = case.arrays["W2"].shape[1]
    return np.eye(C)[int(case.arrays["y"])]


#: (id, name, message, rule, variants), in the order they are tried (diagnose.CATALOGUE lists them);
#: the name is what the self-check prints (the misconception, no formula), the
#: message the feedback's
MISTAKES = (
    (
        "chain_numeric",
        "factors made by numeric differentiation",
        "your chain_rule_factors calls a numeric-differentiation helper (eval_numerical_…) to make "
        "its factors: numeric Jacobians are for checking them; "
        "derive each factor and build it as an array",
        mistakes.chain_numeric,
        (),
    ),
    (
        "chain_factor_transposed",
        "a Jacobian with its indices in the wrong order",
        "one of your Jacobians has its indices in the wrong order (a transposed factor): ∂f/∂v has "
        "shape f.shape + v.shape, the output's index first, so ∂s2/∂x2 is C×H, ∂s1/∂W1 is H×D×H "
        "and ∂s2/∂W2 is C×H×C",
        None,
        _permuted("ds2_dx2", 2) + _permuted("ds1_dW1", 3) + _permuted("ds2_dW2", 3),
    ),
    (
        "chain_mask_vector",
        "the ReLU's Jacobian given as a vector",
        "your ∂x2/∂s1 is a vector: it is the H×H Jacobian of the ReLU (x2 and s1 both have H "
        "entries), a matrix whose diagonal holds the mask",
        None,
        (_output_as("dx2_ds1", lambda e, case: np.diag(e)),),
    ),
    (
        "chain_mask_dense",
        "the ReLU's Jacobian nonzero off its diagonal",
        "your ∂x2/∂s1 has nonzero entries off its diagonal: x2[h] depends on s1[h] alone, so "
        "∂x2[h]/∂s1[k] is 0 whenever h ≠ k",
        mistakes.chain_mask_dense,
        (
            _output_as(
                "dx2_ds1", lambda e, case: np.tile(np.diag(e), (e.shape[0], 1))
            ),  # the mask in every row
            _output_as("dx2_ds1", lambda e, case: np.tile(np.diag(e), (e.shape[0], 1)).T),
        ),
    ),  # ... every column
    (
        "chain_no_one_hot",
        "the label's own term missing from the loss's factor",
        "your ∂L/∂s2 misses the label's own term: L = −log p_y depends on s2[y] through the "
        "numerator of p_y too, not only through the softmax's denominator",
        None,
        (_output_as("dL_ds2", lambda e, case: e + _one_hot(case)),),
    ),
    (
        "chain_contraction_order",
        "gradients contracted over the wrong index",
        "your gradients contract the factors over the wrong index, so they come out transposed: "
        "sum over the Jacobian's output index (its first axis), and each gradient has the shape of "
        "its parameter (∂L/∂W1 is D×H, ∂L/∂W2 is H×C)",
        None,
        _permuted("dW1", 2) + _permuted("dW2", 2),
    ),
)
