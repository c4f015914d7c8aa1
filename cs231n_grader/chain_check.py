"""Sealed check of the per-example chain-rule part: its secret cases and its catalogued mistakes.

Cases (built in the trusted process from the grader secret): ONE example x (D,), its label y and
params, on the public toy model and on hidden ones with other D, H, C (all distinct, so a
transposed factor shows as a wrong shape), hidden units whose s1 is exactly 0, and a class
probability near 1. Expected outputs come from the reference's ``chain_rule_factors`` (the
solution notebook); the mistakes below are rules on the student's outputs next to them, never a
second implementation.
"""
from __future__ import annotations

import itertools

import numpy as np

from cs231n_grader.cases import Case, _dims, _param_arrays, _random_problem, toy_problem
from cs231n_grader.compare import allclose_scaled, as_plain_float_array, reference_outputs
from cs231n_grader.secret import case_rng
from cs231n_utils import chain

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
    return [Case(f"{PART}/{i}", PART, label,
                 {"x": np.array(x, dtype=np.float64), "y": np.array(int(label_y)), **_param_arrays(p)},
                 {}, kind)
            for i, (kind, label, x, label_y, p) in enumerate(problems)]


# --- the mistakes: rules on the student's outputs ------------------------------------------------
def _got(got: dict, name: str) -> np.ndarray | None:
    return as_plain_float_array(got.get(name)) if name in got else None


def _is_permuted(g: np.ndarray | None, expected: np.ndarray) -> bool:
    """``g`` is ``expected`` with its axes in another order (and so another shape)."""
    if g is None or g.shape == expected.shape:
        return False
    return any(allclose_scaled(g, expected.transpose(perm))
               for perm in itertools.permutations(range(expected.ndim))
               if expected.transpose(perm).shape == g.shape)


def _numeric(case, got, ref) -> bool:
    return chain.used_numeric_helpers(got)


def _factor_transposed(case, got, ref) -> bool:
    exp = reference_outputs(case, ref)
    return any(_is_permuted(_got(got, k), exp[k]) for k in ("ds2_dx2", "ds1_dW1", "ds2_dW2"))


def _mask_vector(case, got, ref) -> bool:
    g, exp = _got(got, "dx2_ds1"), reference_outputs(case, ref)["dx2_ds1"]
    return g is not None and g.ndim == 1 and allclose_scaled(g, np.diag(exp))


def _mask_dense(case, got, ref) -> bool:
    g, exp = _got(got, "dx2_ds1"), reference_outputs(case, ref)["dx2_ds1"]
    if g is None or g.shape != exp.shape or not allclose_scaled(np.diag(g), np.diag(exp)):
        return False
    return bool(np.any(g[~np.eye(g.shape[0], dtype=bool)]))


def _no_one_hot(case, got, ref) -> bool:
    g, exp = _got(got, "dL_ds2"), reference_outputs(case, ref)["dL_ds2"]
    without = exp + np.eye(exp.size)[int(case.arrays["y"])]  # what is left without the label's term
    return g is not None and allclose_scaled(g, without)


def _contraction_order(case, got, ref) -> bool:
    exp = reference_outputs(case, ref)
    return any(_is_permuted(_got(got, k), exp[k]) for k in ("dW1", "dW2"))


#: (id, message, rule), in the order they are tried (diagnose.CATALOGUE lists them)
MISTAKES = (
    ("chain_numeric",
     "your chain_rule_factors calls a numeric-differentiation helper (eval_numerical_…) to make "
     "its factors: numeric Jacobians are for checking them; derive each factor and build it as an "
     "array", _numeric),
    ("chain_factor_transposed",
     "one of your Jacobians has its indices in the wrong order (a transposed factor): ∂f/∂v has "
     "shape f.shape + v.shape, the output's index first, so ∂s2/∂x2 is C×H, ∂s1/∂W1 is H×D×H and "
     "∂s2/∂W2 is C×H×C", _factor_transposed),
    ("chain_mask_vector",
     "your ∂x2/∂s1 is a vector: it is the H×H Jacobian of the ReLU (x2 and s1 both have H "
     "entries), a matrix whose diagonal holds the mask", _mask_vector),
    ("chain_mask_dense",
     "your ∂x2/∂s1 has nonzero entries off its diagonal: x2[h] depends on s1[h] alone, so "
     "∂x2[h]/∂s1[k] is 0 whenever h ≠ k", _mask_dense),
    ("chain_no_one_hot",
     "your ∂L/∂s2 misses the label's own term: L = −log p_y depends on s2[y] through the "
     "numerator of p_y too, not only through the softmax's denominator", _no_one_hot),
    ("chain_contraction_order",
     "your gradients contract the factors over the wrong index, so they come out transposed: "
     "sum over the Jacobian's output index (its first axis), and each gradient has the shape of "
     "its parameter (∂L/∂W1 is D×H, ∂L/∂W2 is H×C)", _contraction_order),
)
