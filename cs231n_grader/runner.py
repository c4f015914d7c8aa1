"""The program the sealed checks run inside a fresh sandbox: ``python -m cs231n_grader.runner``.

Protocol (no pickles anywhere):

* stdin: one ``.npz`` (loaded with ``allow_pickle=False``) holding the inputs of every call as
  ``"<call id>/<name>"`` arrays and ``__manifest__``, a uint8 array of UTF-8 JSON::

      {"cells": [{"key": "forward", "source": "def forward(...): ..."}, ...],
       "calls": [{"id": "forward/0", "part": "forward", "arrays": ["X", "W1", ...],
                  "scalars": {"reg": 0.05}}, ...]}

* stdout: a sequence of frames, each ``8-byte big-endian length`` + ``.npz`` bytes. The npz
  holds the call's outputs as float64 arrays plus ``__meta__`` (JSON: id, error, seconds).
  The first frame has id ``__ready__`` (the student's cells were executed; their errors listed).
  One frame is written as soon as each call returns, so a later hang or crash keeps earlier
  results.

Before any student code runs, fd 1 is redirected to stderr: the student's prints cannot corrupt
the frame stream. train() and predict() run with stand-in helpers (see ``_replaced``) so they are
graded on their own. This module never decides a grade; the trusted side (compare.py, scoring.py)
does, and everything here is visible to the student's code anyway (no secret lives in this file).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback

import numpy as np

from cs231n_grader.cells import exec_sealed
from cs231n_grader.reference import CodeCell
from cs231n_utils import chain
from cs231n_utils.callcount import calls_counted

READY = "__ready__"
MANIFEST = "__manifest__"
META = "__meta__"
MAX_REQUEST_BYTES = 256 * 2**20
MAX_ERROR_CHARS = 600
MAX_OUTPUT_ELEMENTS = 10**6  # far above any expected output (N×H, D×H of small hidden cases)
PARAM_NAMES = ("W1", "b1", "W2", "b2")
HISTORY_KEYS = ("loss_history", "train_acc_history", "val_acc_history")


# --- request -------------------------------------------------------------------------------
def encode_request(cells: list[CodeCell], calls: list[dict], arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise the student's cells, the calls and their input arrays into one npz."""
    manifest = {"cells": [{"key": c.key, "source": c.source} for c in cells], "calls": calls}
    payload = {MANIFEST: np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}
    payload.update(arrays)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    return buf.getvalue()


def decode_request(data: bytes) -> tuple[list[CodeCell], list[dict], dict[str, np.ndarray]]:
    """Inverse of :func:`encode_request` (allow_pickle=False)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
    cells = [CodeCell(key=c["key"], source=c["source"]) for c in manifest["cells"]]
    return cells, manifest["calls"], arrays


# --- frames --------------------------------------------------------------------------------
def encode_frame(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """``8-byte big-endian length`` + npz of ``arrays`` and ``__meta__`` (JSON)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)})
    body = buf.getvalue()
    return len(body).to_bytes(8, "big") + body


def decode_frames(stream: bytes, max_frame_bytes: int = 64 * 2**20,
                  max_frames: int = 1000) -> tuple[list[tuple[dict, dict]], str | None]:
    """Parse frames (trusted side). Returns ``(frames, problem)``; ``problem`` says why parsing
    stopped early (truncated or oversized frame, bad npz), else None. Never unpickles."""
    frames, pos = [], 0
    while pos < len(stream) and len(frames) < max_frames:
        if pos + 8 > len(stream):
            return frames, "truncated frame header"
        size = int.from_bytes(stream[pos:pos + 8], "big")
        if size > max_frame_bytes:
            return frames, f"frame of {size} bytes exceeds the {max_frame_bytes}-byte limit"
        body = stream[pos + 8:pos + 8 + size]
        if len(body) < size:
            return frames, "truncated frame (the runner stopped while writing)"
        pos += 8 + size
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(arrays.pop(META).tobytes().decode())
            if not isinstance(meta, dict):
                raise ValueError("meta is not an object")
        except Exception as exc:  # noqa: BLE001 - any malformed frame is just rejected
            return frames, f"malformed frame ({type(exc).__name__})"
        frames.append((meta, arrays))
    return frames, None


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
        return {"S2": _plain(S2, "S2"), "S1": _plain(S1, "cache[1] (S1)"), "X2": _plain(X2, "cache[2] (X2)")}
    if part == "softmax_loss":
        loss, P = fn(a["S2"], a["y"], _params(a, ""), float(scalars["reg"]))
        return {"loss": _plain(loss, "loss"), "P": _plain(P, "P")}
    if part == chain.PART:
        out = chain.call(fn, a["x"], a["y"], _params(a, ""))
        return {k: v if k == chain.NUMERIC_CALLS else _plain(v, f"factors['{k}']") for k, v in out.items()}
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
# (chain.NUMERIC_CALLS), both by cs231n_utils.callcount (a profile hook on the functions' code, so an
# alias or a default argument is counted too): results computed by numeric differentiation earn
# nothing.
STANDIN_CALLS = "standin_calls"
PREDICT_CALLS = "predict_calls"
HELPER_CALLS = "helper_calls"
BATCH_ROWS = "batch_rows"  # (calls, B): the row of X each minibatch example is (-1: none)
BATCH_LABELS_OK = "batch_labels_ok"  # (calls, B): 1 where the example's label is that row's label
#: outputs that describe how a function was called, not what it computed (never compared as values)
CALL_RECORDS = (STANDIN_CALLS, PREDICT_CALLS, HELPER_CALLS, BATCH_ROWS, BATCH_LABELS_OK, chain.NUMERIC_CALLS)
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
        self.index = {np.ascontiguousarray(row, dtype=np.float64).tobytes(): i for i, row in enumerate(X)}
        self.y, self.rows, self.labels_ok = np.array(y), [], []

    def record(self, X_batch, y_batch) -> None:
        """Note one minibatch (never raises: the bookkeeping must not break the student's loop)."""
        try:
            rows = np.array([self.index.get(np.ascontiguousarray(r, dtype=np.float64).tobytes(), -1)
                             for r in np.asarray(X_batch)], dtype=np.int64)
            labels = np.asarray(y_batch).ravel()
            ok = (rows >= 0) & (self.y[np.maximum(rows, 0)] == labels) if labels.size == rows.size else rows < -1
        except Exception:  # noqa: BLE001 - e.g. a batch that is not a 2-D array
            return
        self.rows.append(rows)
        self.labels_ok.append(ok.astype(np.float64))

    def outputs(self) -> dict[str, np.ndarray]:
        if not self.rows or len({r.size for r in self.rows}) != 1:
            return {}
        return {BATCH_ROWS: np.array(self.rows, dtype=np.float64), BATCH_LABELS_OK: np.array(self.labels_ok)}


def _standin_loss_and_grads(a: dict, calls: list, batches: _Batches):
    """Stand-in objective of the train check (not the reference):
    L = Σ_k ½‖params[k] − T_k‖² − ⟨params[k], G_k⟩ and grads[k] = params[k] − T_k − G_k, where G_k
    pairs every example of the minibatch with its label through fixed tables U (C, H), V (D, H):
    G_W1 = Xᵀ·(Y·U)/B (D, H), G_b1 = mean of Y·U (H,), G_W2 = (X·V)ᵀ·Y/B (H, C), G_b2 = mean of Y (C,),
    Y (B, C) the one-hot labels. So every step depends on which examples it used, with their labels
    (and the params drift towards label-correlated directions: the stand-in predict's accuracies
    are real fractions, neither 0 nor 1)."""
    U, V = a["U"], a["V"]

    def loss_and_grads(X, y, params, reg):
        calls[0] += 1
        batches.record(X, y)
        X = np.asarray(X, dtype=np.float64)
        Y = np.eye(U.shape[0])[np.asarray(y, dtype=np.int64)]
        G = {"W1": X.T @ (Y @ U) / len(X), "b1": (Y @ U).mean(axis=0), "W2": (X @ V).T @ Y / len(X),
             "b2": Y.mean(axis=0)}
        loss, grads = 0.0, {}
        for k in PARAM_NAMES:
            p = np.asarray(params[k], dtype=np.float64)
            loss += 0.5 * float(np.sum((p - a["T_" + k]) ** 2)) - float(np.sum(p * G[k]))
            grads[k] = p - a["T_" + k] - G[k]
        return loss, grads
    return loss_and_grads


def _standin_forward(calls: list):
    """Linear scores S2 = X·W1·W2 + b2 (no ReLU, no b1: not the reference), cache (X, None, None)."""
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
    kwargs = {k: scalars[k] for k in ("learning_rate", "learning_rate_decay", "reg",
                                      "num_iters", "batch_size", "seed")}
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


def run_call(call: dict, namespace: dict, arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Run one call; never raises. Returns ``(meta, outputs)``."""
    prefix = call["id"] + "/"
    inputs = {name: arrays[prefix + name] for name in call["arrays"]}
    start = time.perf_counter()
    try:
        fn = namespace.get(call["part"])
        if not callable(fn):
            raise NameError(f"no function {call['part']}() is defined by your solution cells")
        outputs, error = call_part(call["part"], fn, inputs, call.get("scalars", {})), {"error": None}
    except BaseException as exc:  # noqa: BLE001 - student errors are results, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        outputs, error = {}, error_info(exc)
    meta = {"id": call["id"], **error, "seconds": round(time.perf_counter() - start, 4)}
    return meta, outputs


def error_info(exc: BaseException) -> dict:
    """What went wrong, for the trusted side: exception type, the innermost student cell and line,
    and the message (truncated; shown only to the instructor, never in feedback)."""
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith("<cell ")]
    if isinstance(exc, SyntaxError) and str(exc.filename).startswith("<cell "):
        frames.append((exc.filename, exc.lineno))  # a cell that does not compile has no frame
    text = f"{type(exc).__name__}: {exc}"
    return {"error": text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " …",
            "error_type": type(exc).__name__,
            "error_cell": frames[-1][0][len("<cell "):-1] if frames else None,
            "error_line": frames[-1][1] if frames else None}


def run_request(data: bytes, write) -> None:
    """Execute the student's cells, then every call, passing each frame to ``write(bytes)``.

    A process forked by student code stops as soon as control returns to the runner: only the
    runner's own process writes frames."""
    pid = os.getpid()
    cells, calls, arrays = decode_request(data)
    errors: dict[str, BaseException] = {}
    namespace = exec_sealed(cells, {"__name__": "__cs231n_cells__", "np": np}, errors)
    _only_in(pid)
    write(encode_frame({"id": READY, "cell_errors": {k: error_info(e) for k, e in errors.items()}}, {}))
    for call in calls:
        meta, outputs = run_call(call, namespace, arrays)
        _only_in(pid)
        write(encode_frame(meta, outputs))


def _only_in(pid: int) -> None:
    """End a child that student code forked (it returned into the runner's loop)."""
    if os.getpid() != pid:
        os._exit(0)


def main() -> int:
    """Entry point inside the sandbox: request on stdin, frames on the original stdout."""
    out_fd = os.dup(1)
    os.dup2(2, 1)  # from now on anything printed goes to stderr
    sys.stdout = sys.stderr
    data = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    if len(data) > MAX_REQUEST_BYTES:
        print("runner: request too large", file=sys.stderr)
        return 2

    def write(frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            view = view[os.write(out_fd, view):]

    run_request(data, write)
    os.close(out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
