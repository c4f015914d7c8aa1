"""Numeric gradients and their comparison with analytic ones (CS231n's ``gradient_check`` names).

All numeric gradients use centred differences, ``(f(x + h) - f(x - h)) / 2h``, changing one entry
of ``x`` at a time *in place* (so ``f`` may close over ``x``) and always putting it back.
Use float64 arrays: in float32 a step of ``1e-5`` is below the rounding noise and the check is
meaningless (a ``GradientCheckWarning`` says so).
"""

from __future__ import annotations

import warnings

import numpy as np


class GradientCheckWarning(UserWarning):
    """The numeric gradient will be dominated by rounding error (step too small for the dtype)."""


def rel_error(x, y) -> float:
    """Largest relative error ``|x - y| / max(1e-8, |x| + |y|)`` over all entries.

    ``x`` and ``y``: arrays (or scalars) of the same shape. Returns a Python float (nan if any
    entry is nan). Raises ``ValueError`` on a shape mismatch instead of broadcasting.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(
            f"rel_error: shapes differ, {x.shape} vs {y.shape}; compare arrays of the same "
            "shape (e.g. your gradient and the numeric one for the same parameter)."
        )
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_x(x, h, who: str) -> None:
    """``x`` must be a float ndarray (it is changed in place); warn if ``h`` is lost in rounding."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{who}: x must be a numpy array (it is perturbed in place), got {type(x).__name__}."
        )
    if x.dtype.kind != "f":
        raise TypeError(
            f"{who}: x has dtype {x.dtype}; use a float array, e.g. x.astype(np.float64)."
        )
    if not h > 0:
        raise ValueError(f"{who}: the step h must be positive, got {h}.")
    eps = np.finfo(x.dtype).eps
    scale = max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0
    if h < np.sqrt(eps) * scale:
        warnings.warn(
            f"{who}: x is {x.dtype} and h={h:g} is below sqrt(eps)*max(1, |x|) = "
            f"{np.sqrt(eps) * scale:.2g}; rounding error will swamp the numeric gradient. Check in "
            "float64 (x.astype(np.float64)) or use a larger h.",
            GradientCheckWarning,
            stacklevel=3,
        )


def _scalar(value, who: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(
            f"{who}: f must return a scalar (e.g. the loss), got an array of shape {arr.shape}."
        )
    return float(arr.reshape(()))


def _centred(f, x, ix, h):
    """``(f(x + h e_ix), f(x - h e_ix))`` with ``x[ix]`` restored afterwards,
    even if ``f`` raises."""
    old = x[ix].copy()
    try:
        x[ix] = old + h
        plus = f(x)
        x[ix] = old - h
        minus = f(x)
    finally:
        x[ix] = old
    return plus, minus


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Numeric gradient of a scalar function.

    ``f``: takes ``x`` and returns a scalar. ``x``: float array of any shape (perturbed in place,
    always restored). Returns ``grad`` of ``x``'s shape. ``verbose`` prints each index and value.
    """
    _check_x(x, h, "eval_numerical_gradient")
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        grad[ix] = (
            _scalar(plus, "eval_numerical_gradient") - _scalar(minus, "eval_numerical_gradient")
        ) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of ``sum(f(x) * df)`` for an array-valued ``f``.

    ``x``: float array (perturbed in place, always restored); ``df``: upstream gradient with the
    shape of ``f(x)``. Returns ``grad`` with ``x``'s shape.
    """
    _check_x(x, h, "eval_numerical_gradient_array")
    df = np.asarray(df)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        plus, minus = np.asarray(plus), np.asarray(minus)
        if plus.shape != df.shape:
            raise ValueError(
                f"eval_numerical_gradient_array: f(x) has shape {plus.shape} but df has shape "
                f"{df.shape}; df must be the upstream gradient of f's output."
            )
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def eval_numerical_jacobian(f, x, h=1e-5):
    """Numeric Jacobian of an array-valued function.

    ``f``: takes ``x`` and returns an array (or a scalar); ``x``: float array of any shape
    (perturbed in place, always restored). Returns ``J`` of shape ``f(x).shape + x.shape`` with
    ``J[i..., j...] = ∂f(x)[i...] / ∂x[j...]``: output indices first, then ``x``'s indices.
    """
    _check_x(x, h, "eval_numerical_jacobian")
    out_shape = np.shape(f(x))
    J = np.zeros(out_shape + x.shape)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        plus, minus = np.asarray(plus, dtype=np.float64), np.asarray(minus, dtype=np.float64)
        if plus.shape != out_shape or minus.shape != out_shape:
            raise ValueError(
                f"eval_numerical_jacobian: f(x) changed shape from {out_shape} to {plus.shape}; "
                "f must return an array of one fixed shape."
            )
        J[(Ellipsis, *ix)] = (plus - minus) / (2 * h)
    return J


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=0, verbose=True):
    """Compare ``analytic_grad`` with centred differences at ``num_checks`` random entries of ``x``.

    ``f``: takes ``x``, returns a scalar; ``x``: float array (restored); ``analytic_grad``: same
    shape as ``x``; entries are drawn with ``np.random.default_rng(seed)``. Prints one line per
    check (if ``verbose``) and returns the relative errors as a float64 array ``(num_checks,)``.
    """
    _check_x(x, h, "grad_check_sparse")
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(
            f"grad_check_sparse: analytic_grad has shape {analytic_grad.shape} but x has shape "
            f"{x.shape}; pass the gradient for this very parameter."
        )
    rng = np.random.default_rng(seed)
    errors = np.empty(num_checks)
    for k in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        plus, minus = _centred(f, x, ix, h)
        num = (_scalar(plus, "grad_check_sparse") - _scalar(minus, "grad_check_sparse")) / (2 * h)
        ana = float(analytic_grad[ix])
        denom = abs(num) + abs(ana)
        errors[k] = abs(num - ana) / denom if denom > 0 else 0.0
        if verbose:
            print(f"numerical: {num:f} analytic: {ana:f}, relative error: {errors[k]:e}")
    return errors
