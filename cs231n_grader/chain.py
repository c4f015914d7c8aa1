"""The per-example chain-rule part: its contract, in one place (docs/ARCHITECTURE.md).

Students write ``chain_rule_factors(x, y, params)`` for ONE example x (D,) with label y (int) and
return a dict of numpy arrays: the factors of the chain rule and the four gradients obtained by
chaining them (no regularisation). A Jacobian ∂f/∂v has shape ``f.shape + v.shape``: the output's
index first, then the variable's indices (the shape ``eval_numerical_jacobian`` returns).

Plain data and one hook, no grader imports: the runner (inside the sandbox), the comparison and the diagnoses
(``cs231n_grader.chain_check``) all read it.
"""
from __future__ import annotations

import contextlib
import sys

from cs231n_utils import gradient_check

PART = "chain_rule_factors"  # grade_id of the solution cell = the function's name

#: key -> (symbolic shape, what it is): the factors first, then the gradients
OUTPUTS = {
    "dL_ds2": ("(C,)", "∂L/∂s2"),
    "ds2_dx2": ("(C, H)", "∂s2/∂x2"),
    "dx2_ds1": ("(H, H)", "∂x2/∂s1"),
    "ds1_dW1": ("(H, D, H)", "∂s1/∂W1"),
    "ds2_dW2": ("(C, H, C)", "∂s2/∂W2"),
    "dW1": ("(D, H)", "∂L/∂W1"),
    "db1": ("(H,)", "∂L/∂b1"),
    "dW2": ("(H, C)", "∂L/∂W2"),
    "db2": ("(C,)", "∂L/∂b2"),
}
FACTORS = ("dL_ds2", "ds2_dx2", "dx2_ds1", "ds1_dW1", "ds2_dW2")
GRADIENTS = ("dW1", "db1", "dW2", "db2")

#: runner output name -> how the student's code spells it, and its shape in symbols (compare.py)
NAMES = {key: f"factors['{key}'] ({what})" for key, (_, what) in OUTPUTS.items()}
SHAPES = {key: shape for key, (shape, _) in OUTPUTS.items()}

# --- factors by numeric differentiation earn nothing -----------------------------------------------
# The kit gives students eval_numerical_jacobian to *check* their factors; a chain_rule_factors
# that calls it (or its siblings) to *produce* them skips the derivation. During the sealed call a
# profile hook counts the calls into those helpers' code, however the student reached them (an
# alias, a closure, a copy of the function object).
NUMERIC_CALLS = "numeric_calls"
NUMERIC_HELPERS = ("eval_numerical_gradient", "eval_numerical_gradient_array", "eval_numerical_jacobian",
                   "grad_check_sparse")
NUMERIC_REASON = ("made by numeric differentiation (eval_numerical_…), which earns nothing here: "
                  "build every factor from your derivation")


@contextlib.contextmanager
def numeric_helpers_counted(calls: list):
    """While the block runs (in this thread), every call of a ``cs231n_utils.gradient_check``
    helper adds 1 to ``calls[0]``."""
    codes = {getattr(gradient_check, name).__code__ for name in NUMERIC_HELPERS}

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            calls[0] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


def used_numeric_helpers(got: dict) -> bool:
    """Whether the runner saw the student's function call a numeric-differentiation helper (a
    missing or malformed record counts as a call: the runner always writes it)."""
    record = got.get(NUMERIC_CALLS)
    try:
        return float(record.reshape(())) != 0.0
    except (AttributeError, TypeError, ValueError):
        return True
