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
import sys
import types

from cs231n_grader.reference import PARTS
from cs231n_utils.nbcells import DEFINITIONS_PREFIX, MAX_CELL_CHARS, CodeCell, graded_cells


def sealed_cells(nb, parts: tuple[str, ...] = PARTS) -> list[CodeCell]:
    """The code the sealed run executes, in notebook order (the rule of
    :func:`cs231n_utils.nbcells.graded_cells`, which the students' self-check uses too): the first
    solution cell of each part (grade_id in ``parts``) whole, magics stripped; every other code
    cell's definitions, one CodeCell per statement keyed ``cell:<index>``."""
    return graded_cells(nb, parts)


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
            namespace[alias.asname] = LazyModule(
                alias.name, lambda n=alias.name: importlib.import_module(n)
            )
        else:
            namespace[top] = LazyModule(
                top, lambda n=alias.name, t=top: (importlib.import_module(n), sys.modules[t])[1]
            )


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
