"""How an output of yours is compared with the expected one, and the words for what is wrong.

Shared by the self-check (``cs231n_utils.selfcheck``) and the grader, so both judge and word a
result the same way: :func:`case_failures` is the verdict on one case of any part.
Plain numpy on plain float64 arrays; reasons never contain values.

    >>> output_reason("dW1", got=np.zeros((4, 3)), expected=np.ones((4, 3)))
    "grads['W1']: wrong values"
"""

from __future__ import annotations

import numpy as np

from cs231n_utils import chain
from cs231n_utils.calls import CALL_RECORDS, MAX_OUTPUT_ELEMENTS, PARAM_NAMES, helper_calls

RTOL, ATOL = 1e-5, 1e-8

#: output names (as the grader records them) -> as your code spells them
NAMES = {
    "S2": "scores S2",
    "S1": "cache[1] (S1)",
    "X2": "cache[2] (X2)",
    "loss": "loss",
    "P": "probabilities P",
    "dW1": "grads['W1']",
    "db1": "grads['b1']",
    "dW2": "grads['W2']",
    "db2": "grads['b2']",
    "y_pred": "predictions",
    "loss_history": "history['loss_history']",
    "train_acc_history": "history['train_acc_history']",
    "val_acc_history": "history['val_acc_history']",
}
#: the expected shape of each output, in the symbols of the notebook (never a case's numbers)
SHAPES = {
    "S2": "(N, C)",
    "S1": "(N, H)",
    "X2": "(N, H)",
    "loss": "a scalar",
    "P": "(N, C)",
    "dW1": "(D, H)",
    "db1": "(H,)",
    "dW2": "(H, C)",
    "db2": "(C,)",
    "y_pred": "(N,)",
}


#: parts whose output names mean other things: part -> (names, shapes)
PART_TABLES = {chain.PART: (chain.NAMES, chain.SHAPES)}


def describe(name: str, part: str | None = None) -> str:
    """An output's name as the student's code spells it (``grads['W1']``; in the chain-rule part
    ``factors['dW1'] (∂L/∂W1)``)."""
    return PART_TABLES.get(part, (NAMES, SHAPES))[0].get(name, name)


def symbolic_shape(name: str, part: str | None = None) -> str:
    """An output's shape in the notebook's symbols: ``(D, H)``."""
    return PART_TABLES.get(part, (NAMES, SHAPES))[1].get(name, "the documented shape")


def as_plain_float_array(value) -> np.ndarray | None:
    """A plain float64 ndarray copy of an output array, or None when it is not a plain numeric
    array (object dtype, structured, a subclass, too large)."""
    if type(value) is not np.ndarray or value.dtype.kind not in "fiub":
        return None
    if value.size > MAX_OUTPUT_ELEMENTS:
        return None
    return np.array(value, dtype=np.float64, copy=True)


def allclose_scaled(
    got: np.ndarray, expected: np.ndarray, rtol: float = RTOL, atol: float = ATOL
) -> bool:
    """Same shape, finite, and |got - expected| <= atol·scale + rtol·|expected|, where scale is the
    largest |expected| (at least 1): atol is relative to the output's magnitude."""
    if got.shape != expected.shape:
        return False
    if not np.all(np.isfinite(got)):
        return False
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return bool(np.all(np.abs(got - expected) <= atol * scale + rtol * np.abs(expected)))


def output_reason(
    name: str, got: dict, expected: np.ndarray, part: str | None = None
) -> str | None:
    """None when output ``name`` of ``got`` (name -> array) matches ``expected``, else what is
    wrong with it in words: missing, not numeric, wrong shape, inf/nan, wrong values (named as
    ``part``'s code spells it)."""
    if name not in got:
        return f"{describe(name, part)}: missing from your result"
    g = as_plain_float_array(got[name])
    if g is None:
        return f"{describe(name, part)}: not a plain numeric array"
    if g.size == expected.size == 1:
        g = g.reshape(expected.shape)
    if g.shape != expected.shape:
        return f"{describe(name, part)}: wrong shape, expected {symbolic_shape(name, part)}"
    if not np.all(np.isfinite(g)):
        return f"{describe(name, part)}: contains inf or nan"
    if not allclose_scaled(g, expected):
        return f"{describe(name, part)}: wrong values"
    return None


HELPERS_IN_BACKWARD = (
    "backward() called forward(), softmax_loss() or loss_and_grads(): compute the "
    "gradients from the P and the cache it is given, by the chain rule (differentiating "
    "the loss numerically earns no points)"
)


def output_failures(part: str, got: dict, expected: dict) -> dict[str, str]:
    """{output name: reason in words (no values)} for every output of a non-train case that is
    missing, malformed or wrong; empty when the case passes. A backward() that called the helpers
    (``cs231n_utils.calls`` counts them) fails every output, whatever its values; so does a
    chain_rule_factors() that called a numeric-differentiation helper."""
    if part == "backward" and helper_calls(got) > 0:
        return {name: HELPERS_IN_BACKWARD for name in expected if name not in CALL_RECORDS}
    if part == chain.PART and chain.used_numeric_helpers(got):
        return {name: chain.NUMERIC_REASON for name in expected if name not in CALL_RECORDS}
    out = {}
    for name, exp in expected.items():
        if name in CALL_RECORDS:
            continue
        reason = output_reason(name, got, exp, part)
        if reason:
            out[name] = reason
    return out


_TRAIN_ORDER = ("loss_history", "train_acc_history", "val_acc_history") + PARAM_NAMES
_ENTRIES = {
    "loss_history": "one entry per iteration",
    "train_acc_history": "one entry per completed epoch",
    "val_acc_history": "one entry per completed epoch",
}


def train_failure_reason(got: dict, expected: dict) -> str | None:
    """The first wrong output of train(), in the order the loop produces them: the histories
    (length, then values), then the parameters after training. Reasons name the output only."""
    for name in _TRAIN_ORDER:
        exp = expected[name]
        g = as_plain_float_array(got[name]) if name in got else None
        what = f"history['{name}']" if name in _ENTRIES else f"params['{name}'] after training"
        if g is None:
            return f"{what}: missing or not a plain numeric array"
        if name in _ENTRIES:
            g, exp = g.ravel(), exp.ravel()
            if g.size != exp.size:
                return f"{what}: needs {_ENTRIES[name]}"
        elif g.shape != exp.shape:
            return f"{what}: reshaped (it must keep its shape)"
        if not allclose_scaled(g, exp):
            return f"{what}: wrong values"
    return None


def case_failures(part: str, got: dict, expected: dict) -> dict[str, str]:
    """The verdict on one case, as the grader scores it: {what: reason} of everything wrong (empty:
    the case passes). train() is judged as a whole, by its first wrong output."""
    if part == "train":
        reason = train_failure_reason(got, expected)
        return {"train": reason} if reason else {}
    return output_failures(part, got, expected)
