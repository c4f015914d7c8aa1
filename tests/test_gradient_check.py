"""cs231n_utils.gradient_check on functions whose gradients are known in closed form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cs231n_utils.gradient_check import (
    GradientCheckWarning,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    eval_numerical_jacobian,
    grad_check_sparse,
    rel_error,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def softmax_ce(s, y):
    """Cross-entropy of softmax(s) for label y; gradient is softmax(s) - onehot(y)."""
    z = s - s.max()
    return float(np.log(np.exp(z).sum()) - z[y])


# --------------------------------------------------------------------------- rel_error


def test_rel_error_values_and_type():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx(1 / 5)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)  # denominator floored at 1e-8
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)
    assert np.isnan(rel_error(np.array([np.nan]), np.array([1.0])))


def test_rel_error_refuses_to_broadcast():
    with pytest.raises(ValueError, match=r"shapes differ, \(3,\) vs \(3, 1\)"):
        rel_error(np.ones(3), np.ones((3, 1)))


# -------------------------------------------------------------------------- eval_numerical_gradient


def test_quadratic_form(rng):
    A, b = rng.standard_normal((5, 5)), rng.standard_normal(5)
    x = rng.standard_normal(5)
    x0 = x.copy()
    f = lambda v: 0.5 * v @ A @ v + b @ v  # noqa: E731
    num = eval_numerical_gradient(f, x)
    assert rel_error(num, 0.5 * (A + A.T) @ x + b) < 1e-8
    assert np.array_equal(x, x0)  # restored bit for bit


def test_matrix_argument_and_verbose(rng, capsys):
    C = rng.standard_normal((3, 4))
    W = rng.standard_normal((3, 4))
    num = eval_numerical_gradient(lambda w: np.sum(C * w**2), W, verbose=True)
    assert rel_error(num, 2 * C * W) < 1e-8
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 12 and lines[0].startswith("(0, 0)")


def test_softmax_cross_entropy(rng):
    s, y = rng.standard_normal(7), 4
    p = np.exp(s - s.max())
    p /= p.sum()
    want = p.copy()
    want[y] -= 1
    assert rel_error(eval_numerical_gradient(lambda v: softmax_ce(v, y), s), want) < 1e-7


def test_wrong_gradient_is_caught(rng):
    W = rng.standard_normal((4, 3))
    num = eval_numerical_gradient(lambda w: np.sum(w**3), W)
    assert rel_error(num, 3 * W**2) < 1e-7  # truncation error h**2 on a cubic
    assert rel_error(num, 2 * W) > 1e-2  # a wrong analytic gradient shows up


def test_x_restored_when_f_raises(rng):
    x = rng.standard_normal((3, 3))
    x0 = x.copy()
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_gradient(f, x)
    assert np.array_equal(x, x0)
    assert not np.array_equal(calls[-1], x0)  # it really was perturbed when f raised


def test_non_scalar_f_and_bad_x():
    with pytest.raises(ValueError, match="scalar"):
        eval_numerical_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(TypeError, match="float array"):
        eval_numerical_gradient(lambda v: v.sum(), np.arange(3))
    with pytest.raises(TypeError, match="numpy array"):
        eval_numerical_gradient(lambda v: sum(v), [1.0, 2.0])


# --------------------------------------------------------------------------- float32 warning


def test_float32_small_step_warns_and_is_really_inaccurate(rng):
    C = rng.standard_normal((6, 5))
    W = rng.standard_normal((6, 5))
    f = lambda w: np.sum(C * w**2)  # noqa: E731
    with pytest.warns(GradientCheckWarning, match="float32.*float64"):
        num32 = eval_numerical_gradient(f, W.astype(np.float32))
    assert rel_error(num32, 2 * C * W) > 1e-3  # the warning is about a real problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rel_error(eval_numerical_gradient(f, W), 2 * C * W) < 1e-8  # float64, h=1e-5: silent
        eval_numerical_gradient(f, W.astype(np.float32), h=1e-2)  # float32 with a big enough step


# --------------------------------------------------------------------------- array version


def test_matrix_product_array_gradient(rng):
    X, W = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    dout = rng.standard_normal((5, 3))
    dW = eval_numerical_gradient_array(lambda w: X @ w, W, dout)
    dX = eval_numerical_gradient_array(lambda x: x @ W, X, dout)
    assert rel_error(dW, X.T @ dout) < 1e-8
    assert rel_error(dX, dout @ W.T) < 1e-8


def test_relu_array_gradient(rng):
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    dout = rng.standard_normal((4, 5))
    assert (
        rel_error(
            eval_numerical_gradient_array(lambda v: np.maximum(0, v), x, dout), dout * (x > 0)
        )
        < 1e-8
    )


def test_array_df_shape_mismatch():
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(2, 3\) but df has shape \(3, 2\)"):
        eval_numerical_gradient_array(lambda v: v, np.ones((2, 3)), np.ones((3, 2)))


# --------------------------------------------------------------------------- grad_check_sparse


def test_grad_check_sparse_correct_and_wrong(rng, capsys):
    A = rng.standard_normal((8, 8))
    W = rng.standard_normal((8, 8))
    f = lambda w: np.sum(A * np.tanh(w))  # noqa: E731
    grad = A * (1 - np.tanh(W) ** 2)
    W0 = W.copy()
    errs = grad_check_sparse(f, W, grad, num_checks=6)
    assert errs.shape == (6,) and errs.dtype == np.float64 and errs.max() < 1e-7
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 6 and all("relative error" in line for line in out)
    bad = grad_check_sparse(f, W, grad * 1.1, num_checks=6, verbose=False)
    np.testing.assert_allclose(bad, 0.1 / 2.1, rtol=1e-5)
    assert capsys.readouterr().out == ""
    assert np.array_equal(W, W0)


def test_grad_check_sparse_seed_chooses_entries(rng):
    W = rng.standard_normal((50, 50))
    noisy = W * (1 + rng.uniform(0, 1, W.shape))  # a different error at every entry
    f = lambda w: 0.5 * np.sum(w**2)  # noqa: E731
    a = grad_check_sparse(f, W, noisy, num_checks=5, seed=1, verbose=False)
    b = grad_check_sparse(f, W, noisy, num_checks=5, seed=1, verbose=False)
    c = grad_check_sparse(f, W, noisy, num_checks=5, seed=2, verbose=False)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_grad_check_sparse_zero_gradient_and_shape_errors():
    errs = grad_check_sparse(lambda w: 1.0, np.ones(4), np.zeros(4), num_checks=3, verbose=False)
    assert np.array_equal(errs, np.zeros(3))  # 0 vs 0 is no error, and no division warning
    with pytest.raises(ValueError, match=r"analytic_grad has shape \(3,\) but x has shape \(4,\)"):
        grad_check_sparse(lambda w: 1.0, np.ones(4), np.zeros(3))


# -------------------------------------------------------------------------- eval_numerical_jacobian


def test_jacobian_of_a_linear_map_is_its_matrix(rng):
    A = rng.standard_normal((3, 5))
    x = rng.standard_normal(5)
    x0 = x.copy()
    J = eval_numerical_jacobian(lambda v: A @ v, x)
    assert J.shape == (3, 5) and rel_error(J, A) < 1e-8
    assert np.array_equal(x, x0)  # restored bit for bit


def test_jacobian_of_an_elementwise_function_is_diagonal(rng):
    x = rng.standard_normal(6)
    J = eval_numerical_jacobian(np.tanh, x)
    assert J.shape == (6, 6)
    assert rel_error(J, np.diag(1 - np.tanh(x) ** 2)) < 1e-8
    assert not np.any(J[~np.eye(6, dtype=bool)])  # off the diagonal exactly 0


def test_jacobian_with_a_matrix_argument_is_output_first(rng):
    """f(W) = x·W (W (D, H)): ∂f[h]/∂W[d, k] = x[d]·[h = k], shape (H, D, H)."""
    x, W = rng.standard_normal(4), rng.standard_normal((4, 3))
    J = eval_numerical_jacobian(lambda w: x @ w, W)
    assert J.shape == (3, 4, 3)
    assert rel_error(J, np.einsum("hk,d->hdk", np.eye(3), x)) < 1e-8
    # a scalar function gives the gradient's shape; a matrix-valued one output dims first
    assert eval_numerical_jacobian(lambda w: np.sum(w**2), W).shape == (4, 3)
    M = rng.standard_normal((2, 4))
    J = eval_numerical_jacobian(lambda w: M @ w, W)
    assert J.shape == (2, 3, 4, 3)
    assert rel_error(J, np.einsum("id,hk->ihdk", M, np.eye(3))) < 1e-8


def test_jacobian_restores_x_when_f_raises_and_refuses_shape_changes(rng):
    x = rng.standard_normal(3)
    x0 = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return v * 2

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_jacobian(f, x)
    assert np.array_equal(x, x0)
    with pytest.raises(ValueError, match="changed shape"):
        eval_numerical_jacobian(lambda v: v[v > 0], np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="float array"):
        eval_numerical_jacobian(lambda v: v, np.arange(3))
