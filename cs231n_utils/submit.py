"""Hand in: check the saved notebook and best_net.npz, then write the hand-in zip.

    python -m cs231n_utils.submit --student-id jdoe        # in the assignment folder
    >>> submit("jdoe")                                      # the notebook's last cell

Checks, in the saved ``two_layer_net.ipynb`` beside ``best_net.npz``:

* every TODO is done: no solution cell still raises the release's ``NotImplementedError``, no
  written answer still reads ``YOUR ANSWER HERE``;
* the notebook was run top to bottom and saved: every code cell has run, execution counts increase
  from top to bottom (the cell calling ``submit`` itself excepted);
* ``best_net.npz`` passes the grader's rule (:func:`cs231n_utils.netfile.load_net`).

It then prints the accuracy the grader will compute from your saved net -- on the CIFAR-10 test
images together with the validation images mirrored left-right (images you did not tune on) --
here computed with *your* ``forward`` (the grader uses its reference forward pass, so the two
agree when your forward is right), and writes ``two_layer_net--<student id>--<UTC time>.zip``
(:func:`cs231n_utils.handin.zip_name`, the name the course's ``nbgrader zip_collect`` reads)
holding the notebook and best_net.npz. Nothing is written when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from cs231n_utils.handin import SEPARATOR, zip_name
from cs231n_utils.nbcells import exec_cells, graded_cells
from cs231n_utils.netfile import NetFileError, load_net

ASSIGNMENT = "two_layer_net"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
NET_FILE = "best_net.npz"
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ANSWER_PLACEHOLDER = "YOUR ANSWER HERE"
RERUN = (
    "restart the kernel and run all cells (Kernel > Restart Kernel and Run All Cells), then save"
)


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _is_submit_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and "submit(" in _source(cell)


def unfinished_todos(nb: dict) -> list[str]:
    """The solution cells still as released:
    ``["cell 9 (forward): raises NotImplementedError", ...]``."""
    out = []
    for index, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if not meta.get("solution"):
            continue
        where = f"cell {index + 1} ({meta.get('grade_id', '?')})"
        if cell.get("cell_type") == "code" and "raise NotImplementedError(" in _source(cell):
            out.append(f"{where}: still raises NotImplementedError (implement its TODO)")
        elif cell.get("cell_type") == "markdown" and ANSWER_PLACEHOLDER in _source(cell):
            out.append(f"{where}: still reads {ANSWER_PLACEHOLDER} (write your answer)")
    return out


def run_order_problems(nb: dict) -> list[str]:
    """What shows the saved notebook was not run top to bottom: code cells never run, execution
    counts out of order. Errors in outputs are reported too (a failing public test)."""
    out, last = [], 0
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not _source(cell).strip() or _is_submit_cell(cell):
            continue
        count = cell.get("execution_count")
        if not isinstance(count, int):
            out.append(f"cell {index + 1} has not been run: {RERUN}")
        elif count <= last:
            out.append(
                f"cell {index + 1} ran before the cell above it (execution count {count} after "
                f"{last}): {RERUN}"
            )
        last = count if isinstance(count, int) else last
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            out.append(
                f"cell {index + 1} ended with {errors[0].get('ename', 'an error')}: "
                f"fix it and {RERUN}"
            )
    return out


def mirrored(X: np.ndarray) -> np.ndarray:
    """Rows of (32, 32, 3) images X (N, 3072) mirrored left-right -> (N, 3072)."""
    return np.ascontiguousarray(
        np.asarray(X).reshape(len(X), 32, 32, 3)[:, :, ::-1, :].reshape(len(X), -1)
    )


def held_out_accuracy(forward, net: dict, data: dict) -> tuple[float, float]:
    """(held-out accuracy, validation accuracy) of ``net`` with your ``forward``: the held-out
    images are the test split and the mirrored validation images together, as the
    grader scores them."""

    def hits(X, y):
        S2, _ = forward(np.asarray(X, dtype=np.float64), net)
        return np.argmax(np.asarray(S2), axis=1) == y

    val = hits(data["X_val"], data["y_val"])
    held = np.concatenate(
        [hits(data["X_test"], data["y_test"]), hits(mirrored(data["X_val"]), data["y_val"])]
    )
    return float(np.mean(held)), float(np.mean(val))


def accuracy_line(nb: dict, net: dict, data: dict | None = None) -> str:
    """One line saying the accuracy the grader will compute (or why it could not be estimated)."""
    errors: dict = {}
    forward = exec_cells(graded_cells(nb, parts=("forward",)), errors=errors).get("forward")
    if not callable(forward):
        return "accuracy not estimated: your forward() did not load"
    if data is None:
        try:
            from cs231n_utils.data import get_cifar10_data

            data = get_cifar10_data()
        except Exception as exc:  # noqa: BLE001 - no data is not a reason to refuse a hand-in
            return f"accuracy not estimated ({type(exc).__name__}: {exc})"
    try:
        with np.errstate(all="ignore"):
            held, val = held_out_accuracy(forward, net, data)
    except Exception as exc:  # noqa: BLE001
        return f"accuracy not estimated: your forward() raised {type(exc).__name__}: {exc}"
    return (
        f"accuracy the grader will score: {held:.1%} on the test images + mirrored validation "
        f"images (validation accuracy {val:.1%}), computed with your forward(), "
        "as the grader does with its own"
    )


def submit(
    student_id: str,
    folder: str | Path = ".",
    out_dir: str | Path | None = None,
    when: datetime | None = None,
    data: dict | None = None,
) -> Path | None:
    """Check the saved notebook and best_net.npz in ``folder``; print what was found; when all is
    well write the hand-in zip into ``out_dir`` (default ``folder``) and return its path, else None.
    ``when`` (default now, UTC) is the time in the zip's name."""
    if os.environ.get("NBGRADER_EXECUTION"):
        print("submit: skipped while the notebook is being graded")
        return None
    folder = Path(folder)
    notebook, net_path = folder / NOTEBOOK, folder / NET_FILE
    problems = []
    if not STUDENT_ID.fullmatch(student_id or "") or SEPARATOR in student_id:
        problems.append(
            f"student id {student_id!r}: give your course login (letters, digits, . _ @ -; "
            f"no '{SEPARATOR}')"
        )
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(
            f"submit: cannot read {notebook}: {exc}. Run this in the assignment folder, "
            "after saving."
        )
        return None
    problems += unfinished_todos(nb) + run_order_problems(nb)
    notes: list[str] = []
    net = None
    try:
        net = load_net(net_path, notes=notes)
    except NetFileError as exc:
        problems.append(str(exc))
    for note in notes:
        print(f"note: {note}")
    if net is not None:
        print(
            f"{NET_FILE}: valid (hidden size {net['W1'].shape[1]}); {accuracy_line(nb, net, data)}"
        )
    if problems:
        print("Not ready to hand in:\n" + "\n".join(f"  - {p}" for p in problems))
        return None
    out = Path(out_dir or folder) / zip_name(ASSIGNMENT, student_id, when)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(notebook, NOTEBOOK)
        zf.write(net_path, NET_FILE)
    print(f"Ready: hand in {out.resolve()} (it holds {NOTEBOOK} and {NET_FILE}).")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cs231n_utils.submit", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--student-id", required=True, help="your course login (as your LMS knows you)"
    )
    parser.add_argument("--folder", default=".", help="the assignment folder (default: here)")
    parser.add_argument("--out", default=None, help="where to write the zip (default: the folder)")
    args = parser.parse_args(argv)
    return 0 if submit(args.student_id, args.folder, args.out) else 1


if __name__ == "__main__":
    sys.exit(main())
