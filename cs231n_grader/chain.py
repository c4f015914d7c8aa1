"""The per-example chain-rule part: its contract, in one place (docs/ARCHITECTURE.md).

Students write ``chain_rule_factors(x, y, params)`` for ONE example x (D,) with label y (int) and
return a dict of numpy arrays: the factors of the chain rule and the four gradients obtained by
chaining them (no regularisation). A Jacobian ∂f/∂v has shape ``f.shape + v.shape``: the output's
index first, then the variable's indices (the shape ``eval_numerical_jacobian`` returns).

Plain data, no grader imports: the runner (inside the sandbox), the comparison and the diagnoses
(``cs231n_grader.chain_check``) all read it.
"""
from __future__ import annotations

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
