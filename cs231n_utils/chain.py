"""The per-example chain-rule part: its contract, in one place (docs/ARCHITECTURE.md).

Students write ``chain_rule_factors(x, y, params)`` for ONE example x (D,) with label y (int) and
return a dict of numpy arrays: the factors of the chain rule and the four gradients obtained by
chaining them (no regularisation). A Jacobian ∂f/∂v has shape ``f.shape + v.shape``: the output's
index first, then the variable's indices (the shape ``eval_numerical_jacobian`` returns).

Plain data and the call counting, no grader imports: the grader's runner (inside the sandbox), its
comparison and diagnoses (``cs231n_grader.chain_check``) and the students' self-check all read it.
It names keys and shapes, never a formula.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cs231n_utils import gradient_check
from cs231n_utils.callcount import calls_counted

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

#: output name -> how the student's code spells it, and its shape in symbols (cs231n_utils.compare)
NAMES = {key: f"factors['{key}'] ({what})" for key, (_, what) in OUTPUTS.items()}
SHAPES = {key: shape for key, (shape, _) in OUTPUTS.items()}

# --- factors by numeric differentiation earn nothing ----------------------------------------------
# The kit gives students eval_numerical_jacobian to *check* their factors; a chain_rule_factors
# that calls it (or its siblings) to *produce* them skips the derivation. During the call the
# helpers' calls are counted (cs231n_utils.callcount: by their code, however they were reached).
NUMERIC_CALLS = "numeric_calls"
NUMERIC_HELPERS = (
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "eval_numerical_jacobian",
    "grad_check_sparse",
)
NUMERIC_REASON = (
    "your factors are made by numeric differentiation (eval_numerical_…), which earns "
    "nothing here: build every factor from your derivation"
)


@contextlib.contextmanager
def numeric_helpers_counted(calls: list):
    """While the block runs (in this thread), every call of a ``cs231n_utils.gradient_check``
    numeric helper adds 1 to ``calls[0]``."""
    with calls_counted([getattr(gradient_check, name) for name in NUMERIC_HELPERS], calls):
        yield


def call(fn, x, y, params) -> dict[str, np.ndarray]:
    """Call a ``chain_rule_factors`` with its numeric-helper calls counted -> its outputs by key
    (as given: the caller makes plain arrays of them) plus ``NUMERIC_CALLS``."""
    calls = [0]
    with numeric_helpers_counted(calls):
        factors = fn(x, int(y), params)
    if not isinstance(factors, dict):
        raise TypeError(f"{PART} must return a dict of arrays, got {type(factors).__name__}")
    return {
        NUMERIC_CALLS: np.array(float(calls[0])),
        **{k: factors[k] for k in OUTPUTS if k in factors},
    }


def used_numeric_helpers(got: dict) -> bool:
    """Whether the function called a numeric-differentiation helper (a missing or malformed
    record counts as a call: the caller always writes it)."""
    record = got.get(NUMERIC_CALLS)
    try:
        return float(np.asarray(record, dtype=np.float64).reshape(())) != 0.0
    except (TypeError, ValueError):
        return True
