"""How the grader recognises some catalogued mistakes by a *rule*: the shapes of your outputs, the
way your function was called (``cs231n_utils.calls`` records it), never the formulas.

Each rule is ``rule(case, got, expected) -> bool``: ``case`` has the case's input ``arrays``,
``scalars`` and ``kind``; ``got`` your outputs (name -> array, as
:func:`cs231n_utils.calls.call_part` returns them); ``expected`` the reference's outputs the grader
compares yours with. The grader's catalogue of mistakes (instructor-only) says which rule recognises
which mistake; it ships the names of those rules with the self-check data, so
``cs231n_utils.selfcheck`` names the same mistake the grader's feedback would. The other mistakes
are recognised by comparing your outputs with those of altered references, computed when the
assignment was released.
"""

from __future__ import annotations

import numpy as np

from cs231n_utils import chain
from cs231n_utils.calls import BATCH_LABELS_OK, BATCH_ROWS, PARAM_NAMES, helper_calls
from cs231n_utils.compare import allclose_scaled, as_plain_float_array


def _history(got, name) -> np.ndarray | None:
    arr = as_plain_float_array(got.get(name)) if name in got else None
    return None if arr is None else arr.ravel()


def helpers_in_backward(case, got, expected):
    """backward() called forward/softmax_loss/loss_and_grads (the count the comparison uses too)."""
    return helper_calls(got) > 0


def _batch_rows(got):
    """(rows (steps, B) ints, labels_ok (steps, B) bools) the runner recorded, or (None, None)."""
    rows = as_plain_float_array(got.get(BATCH_ROWS)) if BATCH_ROWS in got else None
    ok = as_plain_float_array(got.get(BATCH_LABELS_OK)) if BATCH_LABELS_OK in got else None
    if rows is None or ok is None or rows.ndim != 2 or rows.shape != ok.shape or rows.size == 0:
        return None, None
    return rows.astype(np.int64), ok > 0


def labels_scrambled(case, got, expected):
    rows, ok = _batch_rows(got)
    return rows is not None and bool(np.all(rows >= 0)) and float(np.mean(ok)) < 0.9


def sequential_batches(case, got, expected):
    rows, _ = _batch_rows(got)
    if rows is None or rows.shape[1] < 2:
        return False
    N = case.arrays["X"].shape[0]
    return float(np.mean(np.diff(rows, axis=1) % N == 1)) > 0.9


def choice_n_minus_1(case, got, expected):
    """The minibatches are the given sampler's, drawn from N - 1 examples instead of N."""
    rows, _ = _batch_rows(got)
    if rows is None:
        return False
    all_but_last, bs = case.arrays["X"].shape[0] - 1, case.scalars["batch_size"]
    rng = np.random.default_rng(
        case.scalars["seed"]
    )  # the given sampler, on all examples but the last
    drawn = np.array(
        [rng.choice(all_but_last, size=bs, replace=True) for _ in range(rows.shape[0])]
    )
    return drawn.shape == rows.shape and bool(np.array_equal(drawn, rows))


def float_epochs(case, got, expected):
    """The histories have as many entries as epochs ending
    where (it + 1) % (N / batch_size) == 0."""
    N, bs, iters = case.arrays["X"].shape[0], case.scalars["batch_size"], case.scalars["num_iters"]
    per_epoch = max(N / bs, 1)
    floats = sum((it + 1) % per_epoch == 0 for it in range(iters))
    if floats == iters // max(N // bs, 1):
        return False
    sizes = [
        h.size
        for k in ("train_acc_history", "val_acc_history")
        if (h := _history(got, k)) is not None
    ]
    return bool(sizes) and all(n == floats for n in sizes)


def acc_as_counts(case, got, expected):
    values = [
        h for k in ("train_acc_history", "val_acc_history") if (h := _history(got, k)) is not None
    ]
    return any(h.size and np.all(np.isfinite(h)) and np.max(h) > 1 for h in values)


def _shape(got, name):
    arr = as_plain_float_array(got.get(name)) if name in got else None
    return None if arr is None else arr.shape


def bias_grad_axis(case, got, expected):
    N = case.arrays["P"].shape[0]
    return any(_shape(got, k) == (N,) for k in ("db1", "db2"))


def bias_grad_missing(case, got, expected):
    if "db1" not in got or "db2" not in got:
        return True
    grads = [as_plain_float_array(got[k]) for k in ("db1", "db2")]
    return any(g is not None and not np.any(g) for g in grads)


def overflow(case, got, expected):
    if case.kind != "large_scores":
        return False
    values = [as_plain_float_array(got[k]) for k in ("loss", "P") if k in got]
    return any(v is not None and not np.all(np.isfinite(v)) for v in values)


def softmax_axis(case, got, expected):
    P = as_plain_float_array(got.get("P")) if "P" in got else None
    if P is None or P.ndim != 2 or P.shape != case.arrays["S2"].shape or not np.all(np.isfinite(P)):
        return False
    return np.allclose(P.sum(axis=0), 1.0) and not np.allclose(P.sum(axis=1), 1.0)


def cache_order(case, got, expected):
    exp = expected
    g1, g2 = (as_plain_float_array(got.get(k)) if k in got else None for k in ("S1", "X2"))
    return (
        g1 is not None
        and g2 is not None
        and not np.array_equal(exp["S1"], exp["X2"])
        and allclose_scaled(g1, exp["X2"])
        and allclose_scaled(g2, exp["S1"])
    )


def params_untouched(case, got, expected):
    arrays = [as_plain_float_array(got.get(k)) if k in got else None for k in PARAM_NAMES]
    return all(
        a is not None and a.shape == case.arrays[k].shape and np.array_equal(a, case.arrays[k])
        for a, k in zip(arrays, PARAM_NAMES, strict=True)
    )


def acc_per_iteration(case, got, expected):
    iters = case.scalars["num_iters"]
    exp_epochs = np.asarray(expected["train_acc_history"]).size
    sizes = [
        as_plain_float_array(got[k]).size
        for k in ("train_acc_history", "val_acc_history")
        if k in got and as_plain_float_array(got[k]) is not None
    ]
    return exp_epochs != iters and any(s == iters for s in sizes)


def predict_scores(case, got, expected):
    N, C = case.arrays["X"].shape[0], case.arrays["b2"].shape[0]
    return _shape(got, "y_pred") == (N, C)


def predict_axis(case, got, expected):
    C = case.arrays["b2"].shape[0]
    return _shape(got, "y_pred") == (C,)


# --- the chain-rule part (cs231n_utils.chain): how the factors were made, a dense ReLU Jacobian ---
def chain_numeric(case, got, expected):
    """chain_rule_factors() called a numeric-differentiation helper (the count the
    comparison uses too)."""
    return chain.used_numeric_helpers(got)


def chain_mask_dense(case, got, expected):
    """∂x2/∂s1 has the right diagonal and nonzero entries off it (no single variant gives
    every such form)."""
    g, exp = (
        as_plain_float_array(got.get("dx2_ds1")) if "dx2_ds1" in got else None,
        expected["dx2_ds1"],
    )
    if (
        g is None
        or g.shape != exp.shape
        or g.ndim != 2
        or not allclose_scaled(np.diag(g), np.diag(exp))
    ):
        return False
    return bool(np.any(g[~np.eye(g.shape[0], dtype=bool)]))
