"""The reference implementation, loaded from the solution notebook (trusted process only).

The solution notebook is the single source of truth: nothing in the kit re-implements the
two-layer net. This module executes, in notebook order, the code cells tagged ``api`` and the
nbgrader solution cells (``solution: true``), in a fresh namespace where ``np`` is numpy.

The API tag is trusted here only because this is the instructor's notebook: on a *student's*
notebook the sealed checks extract code with :func:`cs231n_grader.cells.sealed_cells`, which
trusts no tag.

    >>> ref = load_reference()
    >>> S2, cache = ref.forward(X, params)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import types
from pathlib import Path

import cs231n_utils
from cs231n_grader.parts import FUNCTIONS

# the cell model, shared with the students' self-check (the grader imports it, never the reverse)
from cs231n_utils.nbcells import CodeCell, exec_cells, is_solution_cell, strip_magics

API_TAG = "api"
#: grade_ids of the solution cells, one function each (docs/ARCHITECTURE.md)
PARTS = FUNCTIONS


def repo_root() -> Path:
    """The repository that holds the installed (editable) ``cs231n_utils`` package."""
    return Path(cs231n_utils.__file__).resolve().parents[1]


def default_notebook() -> Path:
    """``<repo>/solutions/two_layer_net/two_layer_net.ipynb``."""
    return repo_root() / "solutions" / "two_layer_net" / "two_layer_net.ipynb"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_api_cell(cell) -> bool:
    """A code cell tagged ``api`` (given helpers: imports and function definitions only)."""
    return cell.get("cell_type") == "code" and API_TAG in cell.get("metadata", {}).get("tags", [])


def solution_cells(nb, parts: tuple[str, ...] | None = PARTS) -> list[CodeCell]:
    """The ``api`` cells and the solution cells of ``parts`` (grade_ids; None: every solution
    code cell), in notebook order, magics stripped.

    ``nb`` is an nbformat notebook (or a path to one). Works the same on the solution notebook
    and on a student's submitted/autograded notebook (cells matched by grade_id / tag). Other
    solution cells (e.g. the hyperparameter search) are left out: they may do heavy work.
    """
    if isinstance(nb, (str, Path)):
        nb = json.loads(
            Path(nb).read_text(encoding="utf-8")
        )  # plain JSON: fast, no nbformat import
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if is_solution_cell(cell):
            key = _nbgrader(cell).get("grade_id") or f"solution:{index}"
            if parts is not None and key not in parts:
                continue
        elif is_api_cell(cell):
            key = f"api:{index}"
        else:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        cells.append(CodeCell(key=key, source=strip_magics(source)))
    return cells


def code_for_parts(nb, parts: tuple[str, ...] | None = PARTS) -> dict[str, str]:
    """``{key: source}`` of :func:`solution_cells`, in notebook order (keys: grade_id
    or ``api:i``)."""
    return {cell.key: cell.source for cell in solution_cells(nb, parts)}


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> types.SimpleNamespace:
    cells = solution_cells(path)
    missing = [part for part in PARTS if part not in {c.key for c in cells}]
    if missing:
        raise RuntimeError(
            f"the solution notebook {path} has no solution cell with grade_id {missing}: "
            "every part of docs/ARCHITECTURE.md needs one (nbgrader metadata solution: true)"
        )
    ns = exec_cells(cells)
    return types.SimpleNamespace(**ns)


def load_reference(notebook: str | Path | None = None) -> types.SimpleNamespace:
    """The reference functions (forward, softmax_loss, backward, train, predict, init_params,
    loss_and_grads, ...) from the solution notebook, cached per (path, mtime).

    Callers must not mutate the returned namespace (it is shared through the cache).
    """
    path = Path(notebook) if notebook is not None else default_notebook()
    if not path.is_file():
        raise FileNotFoundError(
            f"reference notebook not found: {path}. The grader loads the reference solution from "
            "solutions/two_layer_net/two_layer_net.ipynb in the repository; restore it (git "
            "checkout) or pass the notebook path explicitly."
        )
    path = path.resolve()
    return _load_cached(str(path), path.stat().st_mtime_ns)


# --- grading: a verified reference, pinned once per run -------------------------------------------
MAX_NOTEBOOK_BYTES = 64 * 2**20
_PINNED: dict[str, tuple[str, types.SimpleNamespace]] = {}


class ReferenceChanged(RuntimeError):
    """The solution notebook changed (or became a link) while grading: the run must stop."""


def _read_plain(path: Path) -> bytes:
    """The bytes of path, refusing a link (the file or its two parent folders) or a special file."""
    for folder in (path.parent, path.parent.parent):
        if folder.is_symlink():
            raise ReferenceChanged(
                f"{folder} is a link: the reference must be a plain file in the course"
            )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ReferenceChanged(
            f"cannot open {path} as a plain file ({exc.strerror}): restore it from "
            "version control (git checkout solutions/)"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_NOTEBOOK_BYTES:
            raise ReferenceChanged(
                f"{path} is not a plain notebook file: restore it (git checkout solutions/)"
            )
        return fh.read(MAX_NOTEBOOK_BYTES + 1)


def verified_reference(notebook: str | Path) -> types.SimpleNamespace:
    """The reference functions for grading: the solution notebook is read once (never through a
    link) and its SHA-256 pinned for this process; every later call re-reads and hashes the file and
    raises ReferenceChanged if it differs, so nothing written during the run is
    ever executed here."""
    path = Path(os.path.abspath(notebook))
    data = _read_plain(path)
    digest = hashlib.sha256(data).hexdigest()
    pinned = _PINNED.get(str(path))
    if pinned is not None:
        if pinned[0] != digest:
            raise ReferenceChanged(
                f"{path} changed during grading (sha256 {pinned[0][:12]} -> {digest[:12]}): "
                "grading stops; restore it (git checkout solutions/) and grade again"
            )
        return pinned[1]
    nb = json.loads(data)
    cells = solution_cells(nb)
    missing = [part for part in PARTS if part not in {c.key for c in cells}]
    if missing:
        raise RuntimeError(
            f"the solution notebook {path} has no solution cell with grade_id {missing}"
        )
    ref = types.SimpleNamespace(**exec_cells(cells))
    _PINNED[str(path)] = (digest, ref)
    return ref
