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
the frame stream. The functions are called by :func:`cs231n_utils.calls.call_part` (train() and
predict() with stand-in helpers, so they are graded on their own; backward() with its helper calls
counted). This module never decides a grade; the trusted side (compare.py, scoring.py)
does, and everything here is visible to the student's code anyway (no secret lives in this file).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback

import numpy as np

from cs231n_grader.cells import exec_sealed
from cs231n_grader.reference import CodeCell

# the call logic (stand-ins, call counts, minibatch records) is the students' own module, shared
# with their self-check: one way of calling a function, whoever calls it
from cs231n_utils.calls import (  # noqa: F401 - re-exported: the grader's modules read them here
    BATCH_LABELS_OK,
    BATCH_ROWS,
    CALL_RECORDS,
    HELPER_CALLS,
    HISTORY_KEYS,
    MAX_OUTPUT_ELEMENTS,
    PARAM_NAMES,
    PREDICT_CALLS,
    STANDIN_CALLS,
    WATCHED_IN_BACKWARD,
    call_part,
)

READY = "__ready__"
MANIFEST = "__manifest__"
META = "__meta__"
MAX_REQUEST_BYTES = 256 * 2**20
MAX_ERROR_CHARS = 600


# --- request -------------------------------------------------------------------------------
def encode_request(
    cells: list[CodeCell], calls: list[dict], arrays: dict[str, np.ndarray]
) -> bytes:
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


def decode_frames(
    stream: bytes, max_frame_bytes: int = 64 * 2**20, max_frames: int = 1000
) -> tuple[list[tuple[dict, dict]], str | None]:
    """Parse frames (trusted side). Returns ``(frames, problem)``; ``problem`` says why parsing
    stopped early (truncated or oversized frame, bad npz), else None. Never unpickles."""
    frames, pos = [], 0
    while pos < len(stream) and len(frames) < max_frames:
        if pos + 8 > len(stream):
            return frames, "truncated frame header"
        size = int.from_bytes(stream[pos : pos + 8], "big")
        if size > max_frame_bytes:
            return frames, f"frame of {size} bytes exceeds the {max_frame_bytes}-byte limit"
        body = stream[pos + 8 : pos + 8 + size]
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


def run_call(call: dict, namespace: dict, arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Run one call; never raises. Returns ``(meta, outputs)``."""
    prefix = call["id"] + "/"
    inputs = {name: arrays[prefix + name] for name in call["arrays"]}
    start = time.perf_counter()
    try:
        fn = namespace.get(call["part"])
        if not callable(fn):
            raise NameError(f"no function {call['part']}() is defined by your solution cells")
        outputs, error = (
            call_part(call["part"], fn, inputs, call.get("scalars", {})),
            {"error": None},
        )
    except BaseException as exc:  # noqa: BLE001 - student errors are results, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        outputs, error = {}, error_info(exc)
    meta = {"id": call["id"], **error, "seconds": round(time.perf_counter() - start, 4)}
    return meta, outputs


def error_info(exc: BaseException) -> dict:
    """What went wrong, for the trusted side: exception type, the innermost student cell and line,
    and the message (truncated; shown only to the instructor, never in feedback)."""
    frames = [
        (f.filename, f.lineno)
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename.startswith("<cell ")
    ]
    if isinstance(exc, SyntaxError) and str(exc.filename).startswith("<cell "):
        frames.append((exc.filename, exc.lineno))  # a cell that does not compile has no frame
    text = f"{type(exc).__name__}: {exc}"
    return {
        "error": text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " …",
        "error_type": type(exc).__name__,
        "error_cell": frames[-1][0][len("<cell ") : -1] if frames else None,
        "error_line": frames[-1][1] if frames else None,
    }


def run_request(data: bytes, write) -> None:
    """Execute the student's cells, then every call, passing each frame to ``write(bytes)``.

    A process forked by student code stops as soon as control returns to the runner: only the
    runner's own process writes frames."""
    pid = os.getpid()
    cells, calls, arrays = decode_request(data)
    errors: dict[str, BaseException] = {}
    namespace = exec_sealed(cells, {"__name__": "__cs231n_cells__", "np": np}, errors)
    _only_in(pid)
    write(
        encode_frame(
            {"id": READY, "cell_errors": {k: error_info(e) for k, e in errors.items()}}, {}
        )
    )
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
            view = view[os.write(out_fd, view) :]

    run_request(data, write)
    os.close(out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
