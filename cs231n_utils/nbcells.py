"""Which code of a notebook the grader runs, and how: the rule students' self-check and
the grader share.

The grader never reruns a whole notebook to call your functions. In notebook order it takes

* the solution cell of each graded part (``forward``, ``softmax_loss``, ...) whole;
* from every other code cell (the setup cell, the given helpers, cells you added) only its
  *definitions*: top-level ``import``, ``def``, ``class`` and ``NAME = constant`` statements. Calls,
  loops and other work are dropped, so a helper computed by a call in its own cell is not seen;
* nothing of the test cells.

It then executes that code in a fresh namespace. ``cs231n_utils.selfcheck`` does the same on your
saved notebook, so a helper the grader cannot see fails now, not after grading.

    >>> cells = graded_cells("two_layer_net.ipynb")
    >>> # [CodeCell("cell:2", "import numpy as np\\n"), ...]
    >>> namespace = exec_cells(cells, errors={})
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: grade_ids of the solution cells of the graded functions (docs/ARCHITECTURE.md)
PARTS = ("forward", "softmax_loss", "chain_rule_factors", "backward", "train", "predict")
DEFINITIONS_PREFIX = "cell:"
MAX_CELL_CHARS = 200_000  # far above any real cell; bounds the parsing
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


@dataclass(frozen=True)
class CodeCell:
    """One piece of code to run: ``key`` is a grade_id (solution cell) or ``cell:<index>``."""

    key: str
    source: str


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_solution_cell(cell) -> bool:
    """A code cell with nbgrader metadata ``solution: true``."""
    return cell.get("cell_type") == "code" and bool(_nbgrader(cell).get("solution", False))


def strip_magics(source: str) -> str:
    """Blank out IPython-only lines (``%magic``, ``!shell``), keeping line numbers."""
    kept = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return "\n".join(kept) + "\n"


def _constant(node: ast.expr) -> bool:
    """A value computed without calling anything (literals, containers, arithmetic, names)."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _constant(k) for k in node.keys) and all(
            map(_constant, node.values)
        )
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _constant(node.left) and _constant(node.right)
    return isinstance(node, ast.Attribute) and _constant(node.value)


def _plain_targets(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(map(_plain_targets, target.elts))


def is_definition(stmt: ast.stmt) -> bool:
    """Whether a top-level statement only defines names: import, def, class, ``NAME = constant``,
    or a ``try`` around such statements (a guarded import)."""
    if isinstance(stmt, _DEFS):
        return True
    if isinstance(stmt, ast.Assign):
        return all(map(_plain_targets, stmt.targets)) and _constant(stmt.value)
    if isinstance(stmt, ast.AnnAssign):
        return (
            isinstance(stmt.target, ast.Name) and stmt.value is not None and _constant(stmt.value)
        )
    if isinstance(stmt, ast.Try):
        inner = (
            stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        )
        return all(is_definition(s) or isinstance(s, (ast.Pass, ast.Raise)) for s in inner)
    return False


def definitions(source: str) -> list[str]:
    """The definition statements of a cell, each padded with blank lines so it keeps its line
    number. A cell that does not parse (or is too long) contributes nothing."""
    if len(source) > MAX_CELL_CHARS:
        return []
    source = strip_magics(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source.splitlines(keepends=True)
    return [
        "\n" * (stmt.lineno - 1) + "".join(lines[stmt.lineno - 1 : stmt.end_lineno])
        for stmt in tree.body
        if is_definition(stmt)
    ]


def graded_cells(nb, parts: tuple[str, ...] = PARTS) -> list[CodeCell]:
    """The code the grader runs, in notebook order: the first solution cell of each part whole,
    every other non-test code cell's definitions (one CodeCell per statement, ``cell:<index>``).
    ``nb``: a notebook as a dict (nbformat or plain JSON) or a path to an .ipynb file."""
    if isinstance(nb, (str, Path)):
        nb = json.loads(Path(nb).read_text(encoding="utf-8"))
    out, seen = [], set()
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution"):
            continue  # a test cell: the grader's own
        grade_id = meta.get("grade_id")
        if is_solution_cell(cell) and grade_id in parts and grade_id not in seen:
            seen.add(grade_id)
            out.append(CodeCell(grade_id, strip_magics(_source(cell))))
            continue
        out.extend(
            CodeCell(f"{DEFINITIONS_PREFIX}{index}", stmt) for stmt in definitions(_source(cell))
        )
    return out


def exec_cells(
    cells: list[CodeCell], namespace: dict | None = None, errors: dict | None = None
) -> dict:
    """Execute cells in order in ``namespace`` (fresh, with ``np`` pre-imported, when None).

    When ``errors`` is a dict, a failing cell's exception is recorded there (key -> exception)
    and the next cells still run; otherwise the first failure raises.
    """
    ns = {"__name__": "__cs231n_cells__", "np": np} if namespace is None else namespace
    for cell in cells:
        try:
            exec(compile(cell.source, f"<cell {cell.key}>", "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller (even SystemExit)
            if errors is None or isinstance(exc, KeyboardInterrupt):
                raise
            errors[cell.key] = exc
    return ns
