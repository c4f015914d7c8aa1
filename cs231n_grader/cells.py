"""Which code of a student's notebook the sealed run executes: what the notebook itself sees.

The notebook defines more than the five solution cells: the setup cell imports ``time`` and
``numpy``, a student keeps ``relu()`` or a constant in a cell of their own. The sealed run must
see those names, without ever running the notebook's heavy or hostile work again (data loading,
training runs, plots, ``os._exit``). So, in notebook order:

* the solution cells of the graded parts run whole (the student's functions);
* test cells (nbgrader grade cells) are left out: they are the grader's own;
* every other code cell — the setup cell, the given helper cells, cells the student added — runs
  *definitions only*: its top-level ``import``, ``def``, ``class`` and constant assignments
  (``EPS = 1e-12``, ``SIZES = (50, 100)``), decided by the cell's syntax tree, never by a tag or
  any other metadata the student can edit. Everything else (calls, loops, expressions) is dropped.

Nothing here executes student code: parsing happens in the trusted process (bounded in size),
execution in the sandboxed runner (:func:`exec_sealed`).

    >>> cells = sealed_cells(nb)          # list[CodeCell], keys "forward" ... or "cell:<index>"
"""
from __future__ import annotations

import ast
import importlib
import json
import sys
import types
from pathlib import Path

from cs231n_grader.reference import PARTS, CodeCell, is_solution_cell, strip_magics

DEFINITIONS_PREFIX = "cell:"
MAX_CELL_CHARS = 200_000  # far above any real cell; bounds the parsing the trusted process does
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


# --- the filter ---------------------------------------------------------------------------------
def _constant(node: ast.expr) -> bool:
    """A value computed without calling anything: literals, containers and arithmetic of them,
    names and attributes (``np.float32``)."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _constant(k) for k in node.keys) and all(map(_constant, node.values))
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
        return isinstance(stmt.target, ast.Name) and stmt.value is not None and _constant(stmt.value)
    if isinstance(stmt, ast.Try):
        inner = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        return all(is_definition(s) or isinstance(s, (ast.Pass, ast.Raise)) for s in inner)
    return False


def definitions(source: str) -> list[str]:
    """The definition statements of a cell, each as source padded with blank lines so that it
    keeps its line number. A cell that does not parse (or is too long) contributes nothing."""
    if len(source) > MAX_CELL_CHARS:
        return []
    source = strip_magics(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source.splitlines(keepends=True)
    return ["\n" * (stmt.lineno - 1) + "".join(lines[stmt.lineno - 1:stmt.end_lineno])
            for stmt in tree.body if is_definition(stmt)]


# --- the notebook -------------------------------------------------------------------------------
def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def sealed_cells(nb, parts: tuple[str, ...] = PARTS) -> list[CodeCell]:
    """The code the sealed run executes, in notebook order: the first solution cell of each part
    (grade_id in ``parts``) whole, magics stripped; every other code cell's definitions, one
    CodeCell per statement keyed ``cell:<index>``. ``nb``: an nbformat notebook or a path."""
    if isinstance(nb, (str, Path)):
        nb = json.loads(Path(nb).read_text(encoding="utf-8"))
    out, seen = [], set()
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        nbgrader = cell.get("metadata", {}).get("nbgrader") or {}
        grade_id = nbgrader.get("grade_id")
        if nbgrader.get("grade") and not nbgrader.get("solution"):
            continue  # a test cell: the grader's own, restored by nbgrader; nothing to define
        if is_solution_cell(cell) and grade_id in parts and grade_id not in seen:
            seen.add(grade_id)
            out.append(CodeCell(grade_id, strip_magics(_source(cell))))
            continue
        out.extend(CodeCell(f"{DEFINITIONS_PREFIX}{index}", stmt) for stmt in definitions(_source(cell)))
    return out


def syntax_error_line(source: str) -> int | None:
    """The line of the first syntax error of a cell, found by compiling (never running) it in the
    trusted process; None when it compiles. The line depends on the source alone, so showing it
    cannot leak hidden inputs (unlike a line reported by running code)."""
    if len(source) > MAX_CELL_CHARS:
        return None
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc.lineno if isinstance(exc.lineno, int) else None
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


# --- in the sandbox -----------------------------------------------------------------------------
class LazyModule(types.ModuleType):
    """A module imported on first use: ``import matplotlib.pyplot as plt`` in the setup cell costs
    the sealed run nothing (about a second) unless a graded function really uses ``plt``."""

    def __init__(self, name: str, load):
        super().__init__(name)
        self.__dict__["_cs231n_load"] = load

    def __getattr__(self, attr):
        return getattr(self.__dict__["_cs231n_load"](), attr)


def _lazy_import(stmt: ast.Import, namespace: dict) -> None:
    """Bind the names of an ``import`` statement; modules not loaded yet load on first use."""
    for alias in stmt.names:
        top = alias.name.partition(".")[0]
        if alias.name in sys.modules:
            module = importlib.import_module(alias.name)
            namespace[alias.asname or top] = module if alias.asname else sys.modules[top]
        elif alias.asname:
            namespace[alias.asname] = LazyModule(alias.name, lambda n=alias.name: importlib.import_module(n))
        else:
            namespace[top] = LazyModule(top, lambda n=alias.name, t=top: (importlib.import_module(n),
                                                                          sys.modules[t])[1])


def exec_sealed(cells: list[CodeCell], namespace: dict, errors: dict) -> dict:
    """Execute the sealed cells in order in ``namespace``; a failing cell's exception goes to
    ``errors[key]`` and the next cells still run. Definition cells' plain ``import`` statements
    bind lazily loaded modules."""
    for cell in cells:
        try:
            code = cell.source
            if cell.key.startswith(DEFINITIONS_PREFIX):
                tree = ast.parse(code)
                if len(tree.body) == 1 and isinstance(tree.body[0], ast.Import):
                    _lazy_import(tree.body[0], namespace)
                    continue
            exec(compile(code, f"<cell {cell.key}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - reported to the trusted side (even SystemExit)
            if isinstance(exc, KeyboardInterrupt):
                raise
            errors[cell.key] = exc
    return namespace
