"""The per-example chain-rule part: its contract, in one place (docs/ARCHITECTURE.md).

Students write ``chain_rule_factors(x, y, params)`` for ONE example x (D,) with label y (int) and
return a dict of numpy arrays: the factors of the chain rule and the four gradients obtained by
chaining them (no regularisation). A Jacobian ∂f/∂v has shape ``f.shape + v.shape``: the output's
index first, then the variable's indices (the shape ``eval_numerical_jacobian`` returns).

Plain data, no grader imports: the runner (inside the sandbox), the comparison and the diagnoses
(``cs231n_grader.chain_check``) all read it.
"""
from __future__ import annotations

import contextlib
import sys

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
# that calls it (or its siblings) to *produce* them skips the derivation. During the sealed call
# the helpers count their calls, in the function's namespace and in the module itself.
NUMERIC_CALLS = "numeric_calls"
NUMERIC_HELPERS = ("eval_numerical_gradient", "eval_numerical_gradient_array", "eval_numerical_jacobian",
                   "grad_check_sparse")
NUMERIC_REASON = ("made by numeric differentiation (eval_numerical_…), which earns nothing here: "
                  "build every factor from your derivation")


@contextlib.contextmanager
def numeric_helpers_counted(fn, calls: list):
    """While the block runs, every call of a gradient_check helper reachable by ``fn`` (its module
    globals, the ``cs231n_utils.gradient_check`` module) adds 1 to ``calls[0]``."""
    module = sys.modules.get("cs231n_utils.gradient_check")
    targets = [t for t in (getattr(fn, "__globals__", None), vars(module) if module else None)
               if isinstance(t, dict)]
    saved = [(t, name, t[name]) for t in targets for name in NUMERIC_HELPERS if callable(t.get(name))]
    for target, name, helper in saved:
        target[name] = _counting(helper, calls)
    try:
        yield
    finally:
        for target, name, helper in saved:
            target[name] = helper


def _counting(helper, calls: list):
    def counted(*args, **kwargs):
        calls[0] += 1
        return helper(*args, **kwargs)
    return counted


def used_numeric_helpers(got: dict) -> bool:
    """Whether the runner saw the student's function call a numeric-differentiation helper (a
    missing or malformed record counts as a call: the runner always writes it)."""
    record = got.get(NUMERIC_CALLS)
    try:
        return float(record.reshape(())) != 0.0
    except (AttributeError, TypeError, ValueError):
        return True
