"""How the grader calls your functions: the one call logic the grader's runner and
your self-check share.

    >>> outputs = call_part("backward", backward, inputs, {"reg": 0.05})
    >>> sorted(outputs)        # your outputs as plain float64 arrays, by the grader's names
    ['db1', 'db2', 'dW1', 'dW2', 'helper_calls']

Each function is called on private copies of its inputs. ``train()`` and ``predict()`` are called
with *stand-in* helpers (a simple objective and linear scores, not the network), so they are judged
on their own whatever your other functions do; ``backward()`` is called with its calls of
``forward``, ``softmax_loss`` and ``loss_and_grads`` counted, ``chain_rule_factors()`` with its
calls of the numeric-differentiation helpers counted (both by ``cs231n_utils.callcount``): a
backward that calls them (differentiating the loss numerically), or factors made numerically, earn
no points. Nothing here is a solution or a secret: the grader's runner (``cs231n_grader.runner``,
run inside its sandbox) imports this module, and ``cs231n_utils.selfcheck`` calls your functions
through it on the practice cases.
"""

from __future__ import annotations

import contextlib

import numpy as np

from cs231n_utils import chain
from cs231n_utils.callcount import calls_counted

MAX_OUTPUT_ELEMENTS = 10**6  # far above any expected output of the cases (N×H, D×H of small shapes)
PARAM_NAMES = ("W1", "b1", "W2", "b2")
HISTORY_KEYS = ("loss_history", "train_acc_history", "val_acc_history")


# --- calling the student's functions ----------------------------------------------------------
def _plain(value, what: str) -> np.ndarray:
    """A plain float64 ndarray copy of a student's output (subclasses and custom objects lose
    their behaviour here; the trusted side coerces again)."""
    try:
        arr = np.array(value, dtype=np.float64, copy=True, subok=False)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{what} is not a numeric array ({type(value).__name__}): {exc}") from None
    if arr.size > MAX_OUTPUT_ELEMENTS:
        raise ValueError(f"{what} has {arr.size} elements, far more than expected")
    return np.ascontiguousarray(arr)


def _params(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    return {k: np.array(arrays[prefix + k], dtype=np.float64) for k in PARAM_NAMES}


def call_part(part: str, fn, arrays: dict[str, np.ndarray], scalars: dict) -> dict[str, np.ndarray]:
    """Call the student's function for ``part`` on fresh copies of the inputs; return its outputs
    as plain float64 arrays. ``arrays`` keys are input names without the call-id prefix."""
    a = {k: np.array(v) for k, v in arrays.items()}  # private copies per call
    if part == "forward":
        S2, cache = fn(a["X"], _params(a, ""))
        _, S1, X2 = cache
        return {
            "S2": _plain(S2, "S2"),
            "S1": _plain(S1, "cache[1] (S1)"),
            "X2": _plain(X2, "cache[2] (X2)"),
        }
    if part == "softmax_loss":
        loss, P = fn(a["S2"], a["y"], _params(a, ""), float(scalars["reg"]))
        return {"loss": _plain(loss, "loss"), "P": _plain(P, "P")}
    if part == chain.PART:
        out = chain.call(fn, a["x"], a["y"], _params(a, ""))
        return {
            k: v if k == chain.NUMERIC_CALLS else _plain(v, f"factors['{k}']")
            for k, v in out.items()
        }
    if part == "backward":
        return _call_backward(fn, a, scalars)
    if part == "train":
        return _call_train(fn, a, scalars)
    if part == "predict":
        calls = [0]
        with _replaced(fn, scalars.get("standins"), forward=_standin_forward(calls)):
            y_pred = fn(a["X"], _params(a, ""))
        return {"y_pred": _plain(y_pred, "y_pred"), STANDIN_CALLS: np.array(float(calls[0]))}
    raise ValueError(f"unknown part {part!r}")


# --- stand-ins: train and predict graded on their own, whatever the other parts do ---------------
# train() and predict() call the helpers loss_and_grads/predict/forward through their module
# globals. When a case asks for it (scalar "standins"), those names are replaced during the call by
# simple stand-ins that are *not* the reference (a quadratic objective; linear scores), so a wrong
# forward/backward cannot cost train/predict points. STANDIN_CALLS / PREDICT_CALLS report whether
# they were used. During backward() every call of forward/softmax_loss/loss_and_grads is counted
# (HELPER_CALLS), and during chain_rule_factors() every call of a numeric-differentiation helper
# (chain.NUMERIC_CALLS), both by cs231n_utils.callcount (a profile hook on the functions' code, so
# an alias or a default argument is counted too): results computed by numeric differentiation earn
# nothing.
STANDIN_CALLS = "standin_calls"
PREDICT_CALLS = "predict_calls"
HELPER_CALLS = "helper_calls"
BATCH_ROWS = "batch_rows"  # (calls, B): the row of X each minibatch example is (-1: none)
BATCH_LABELS_OK = "batch_labels_ok"  # (calls, B): 1 where the example's label is that row's label
#: outputs that describe how a function was called, not what it computed (never compared as values)
CALL_RECORDS = (
    STANDIN_CALLS,
    PREDICT_CALLS,
    HELPER_CALLS,
    BATCH_ROWS,
    BATCH_LABELS_OK,
    chain.NUMERIC_CALLS,
)
WATCHED_IN_BACKWARD = ("forward", "softmax_loss", "loss_and_grads")


@contextlib.contextmanager
def _replaced(fn, when, **replacements):
    """Temporarily replace names in ``fn``'s module globals (only when ``when`` is true)."""
    namespace = getattr(fn, "__globals__", None)
    if not when or not isinstance(namespace, dict):
        yield
        return
    saved = {k: namespace[k] for k in replacements if k in namespace}
    namespace.update(replacements)
    try:
        yield
    finally:
        for k in replacements:
            namespace.pop(k, None)
        namespace.update(saved)


def _call_backward(fn, a: dict, scalars: dict) -> dict[str, np.ndarray]:
    cache = (a["X"], a["S1"], a["X2"])
    calls = [0]
    namespace = getattr(fn, "__globals__", {})
    watched = [namespace[k] for k in WATCHED_IN_BACKWARD if callable(namespace.get(k))]
    with calls_counted(watched, calls):
        grads = fn(a["P"], a["y"], cache, _params(a, ""), float(scalars["reg"]))
    if not isinstance(grads, dict):
        raise TypeError(f"backward must return a dict of gradients, got {type(grads).__name__}")
    out = {"d" + k: _plain(grads[k], f"grads['{k}']") for k in PARAM_NAMES if k in grads}
    out[HELPER_CALLS] = np.array(float(calls[0]))
    return out


class _Batches:
    """Where the minibatches of a train() call came from: each example's row in the original X
    (found by its bytes; -1 when it is not a row of X) and whether its label is that row's."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.index = {
            np.ascontiguousarray(row, dtype=np.float64).tobytes(): i for i, row in enumerate(X)
        }
        self.y, self.rows, self.labels_ok = np.array(y), [], []

    def record(self, X_batch, y_batch) -> None:
        """Note one minibatch (never raises: the bookkeeping must not break the student's loop)."""
        try:
            rows = np.array(
                [
                    self.index.get(np.ascontiguousarray(r, dtype=np.float64).tobytes(), -1)
                    for r in np.asarray(X_batch)
                ],
                dtype=np.int64,
            )
            labels = np.asarray(y_batch).ravel()
            ok = (
                (rows >= 0) & (self.y[np.maximum(rows, 0)] == labels)
                if labels.size == rows.size
                else rows < -1
            )
        except Exception:  # noqa: BLE001 - e.g. a batch that is not a 2-D array
            return
        self.rows.append(rows)
        self.labels_ok.append(ok.astype(np.float64))

    def outputs(self) -> dict[str, np.ndarray]:
        if not self.rows or len({r.size for r in self.rows}) != 1:
            return {}
        return {
            BATCH_ROWS: np.array(self.rows, dtype=np.float64),
            BATCH_LABELS_OK: np.array(self.labels_ok),
        }


def _standin_loss_and_grads(a: dict, calls: list, batches: _Batches):
    """Stand-in objective of the train check (not the reference):
    L = Σ_k ½‖params[k] − T_k‖² − ⟨params[k], G_k⟩ and grads[k] = params[k] − T_k − G_k, where G_k
    pairs every example of the minibatch with its label through fixed tables U (C, H), V (D, H):
    G_W1 = Xᵀ·(Y·U)/B (D, H), G_b1 = mean of Y·U (H,), G_W2 = (X·V)ᵀ·Y/B (H, C), G_b2 = mean of Y
    (C,), Y (B, C) the one-hot labels. So every step depends on which examples it used, with their
    labels (and the params drift towards label-correlated directions: the stand-in predict's
    accuracies are real fractions, neither 0 nor 1)."""
    U, V = a["U"], a["V"]

    def loss_and_grads(X, y, params, reg):
        calls[0] += 1
        batches.record(X, y)
        X = np.asarray(X, dtype=np.float64)
        Y = np.eye(U.shape[0])[np.asarray(y, dtype=np.int64)]
        G = {
            "W1": X.T @ (Y @ U) / len(X),
            "b1": (Y @ U).mean(axis=0),
            "W2": (X @ V).T @ Y / len(X),
            "b2": Y.mean(axis=0),
        }
        loss, grads = 0.0, {}
        for k in PARAM_NAMES:
            p = np.asarray(params[k], dtype=np.float64)
            loss += 0.5 * float(np.sum((p - a["T_" + k]) ** 2)) - float(np.sum(p * G[k]))
            grads[k] = p - a["T_" + k] - G[k]
        return loss, grads

    return loss_and_grads


def _standin_forward(calls: list):
    """Linear scores S2 = X·W1·W2 + b2 (no ReLU, no b1: not the reference),
    cache (X, None, None)."""

    def forward(X, params):
        calls[0] += 1
        return np.asarray(X) @ params["W1"] @ params["W2"] + params["b2"], (X, None, None)

    return forward


def _standin_predict(calls: list):
    """The argmax of the stand-in's linear scores: accuracies that move as the params train."""
    scores = _standin_forward([0])

    def predict(X, params):
        calls[0] += 1
        return np.argmax(scores(X, params)[0], axis=1)

    return predict


def _call_train(fn, a: dict, scalars: dict) -> dict[str, np.ndarray]:
    """train() on the case; with stand-ins (scalar "standins"), loss_and_grads and predict are the
    stand-ins unless scalars "standin_loss" / "standin_predict" say False (to reproduce a
    student's train that bypassed one of them)."""
    params = _params(a, "")
    kwargs = {
        k: scalars[k]
        for k in ("learning_rate", "learning_rate_decay", "reg", "num_iters", "batch_size", "seed")
    }
    loss_calls, predict_calls = [0], [0]
    batches = _Batches(a["X"], a["y"])
    standins = {}
    if scalars.get("standin_loss", True):
        standins["loss_and_grads"] = _standin_loss_and_grads(a, loss_calls, batches)
    if scalars.get("standin_predict", True):
        standins["predict"] = _standin_predict(predict_calls)
    with _replaced(fn, scalars.get("standins"), **standins):
        history = fn(params, a["X"], a["y"], a["X_val"], a["y_val"], verbose=False, **kwargs)
    if not isinstance(history, dict):
        raise TypeError(f"train must return a history dict, got {type(history).__name__}")
    out = {k: _plain(history[k], f"history['{k}']") for k in HISTORY_KEYS if k in history}
    out.update({k: _plain(params[k], f"params['{k}'] after training") for k in PARAM_NAMES})
    out[STANDIN_CALLS] = np.array(float(loss_calls[0]))
    out[PREDICT_CALLS] = np.array(float(predict_calls[0]))
    out.update(batches.outputs())
    return out


def standin_overrides(part: str, scalars: dict, outputs: dict) -> dict:
    """The scalars to add to a case so that the reference, called like your function, uses the
    stand-ins your function used: none when it bypassed them all (``{"standins": False}``), for
    train() each of loss_and_grads / predict separately. ``{}``: the case's own setting."""
    if not scalars.get("standins"):
        return {}
    loss, predict = _count(outputs, STANDIN_CALLS) > 0, _count(outputs, PREDICT_CALLS) > 0
    if part == "train":
        return (
            {"standins": False}
            if not (loss or predict)
            else {"standin_loss": loss, "standin_predict": predict}
        )
    return {} if loss else {"standins": False}


def _count(outputs: dict, name: str) -> float:
    """A call count recorded in ``outputs`` (0 when missing or malformed)."""
    value = outputs.get(name)
    if type(value) is not np.ndarray or value.size != 1 or value.dtype.kind not in "fiub":
        return 0.0
    return float(value.ravel()[0])


def helper_calls(outputs: dict) -> float:
    """How often backward() called forward/softmax_loss/loss_and_grads (0 when not recorded)."""
    return _count(outputs, HELPER_CALLS)
