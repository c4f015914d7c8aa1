"""generate_assignment plug-in: every stub names its function and points at the TODO above it.

In the solution notebook a solution region sits under a CS231n-style TODO comment that states the
contract -- what to compute in words, names and shapes of the results, what to reuse -- and is
released as is (it lies outside the region):

    # TODO: compute the hidden scores S1 (N, H), ... Return S2 and cache = (X, S1, X2).
    ### BEGIN SOLUTION
    ...reference code...
    ### END SOLUTION

:class:`ClearSolutionsNamingTodos` (a drop-in for nbgrader's ``ClearSolutions``, configured in
``nbgrader_config.py``) lets nbgrader replace the region by its stock stub, then gives the stub's
``raise NotImplementedError()`` a short message naming the enclosing function (or, outside any
function, the cell's grade_id):

    # YOUR CODE HERE
    raise NotImplementedError("forward: implement the TODO above this line")

The message never carries instructions of its own: everything a student is told is in the TODO
text, which the leak test (tests/test_leak.py) searches with the rest of the release. Text after
``BEGIN SOLUTION:`` on the marker line is never released (a warning says to move it into the TODO).
"""

from __future__ import annotations

import re

from nbgrader import utils
from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode

#: a ``def name(`` line: its indentation and the function's name
DEF_RE = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)\s*\(")
#: the stock stub's two lines, as nbgrader writes them (indented like the BEGIN line)
STUB_COMMENT, STUB_RAISE = "# YOUR CODE HERE", "raise NotImplementedError()"


def marker_patterns(
    begin: str = "BEGIN SOLUTION", end: str = "END SOLUTION"
) -> tuple[re.Pattern, re.Pattern]:
    """Regexes of a region's begin line (``### BEGIN SOLUTION`` with an optional ``: hint``, the
    rest of the line) and end line, for ClearSolutions' ``begin/end_solution_delimeter`` values
    (the ``#`` comment mark is optional, as nbgrader now writes it into the delimiter)."""
    begin_re = re.compile(
        rf"^(?P<indent>\s*)(?:#+\s*)?{re.escape(begin)}\s*(?::\s*(?P<hint>.*?))?\s*$"
    )
    end_re = re.compile(rf"^\s*(?:#+\s*)?{re.escape(end)}\s*$")
    return begin_re, end_re


def enclosing_function(lines: list[str], indent: str) -> str | None:
    """Name of the innermost ``def`` whose body holds a line indented by ``indent`` that follows
    ``lines``; None at module level. Walks up through the enclosing blocks (each less indented than
    the last), so a finished nested ``def`` above is not mistaken for the enclosing one."""
    level = len(indent)
    for line in reversed(lines):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#") or len(line) - len(stripped) >= level:
            continue
        match = DEF_RE.match(line)
        if match:
            return match.group("name")
        level = len(line) - len(stripped)
    return None


def name_stubs(source: str, fallback: str, message: str) -> str:
    """``source`` with every stock stub's ``raise NotImplementedError()`` given the message
    ``message.format(name=...)``, name = enclosing function or ``fallback``."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == STUB_RAISE and i > 0 and lines[i - 1].strip() == STUB_COMMENT:
            indent = line[: len(line) - len(line.lstrip())]
            name = enclosing_function(lines[:i], indent) or fallback
            lines[i] = f"{indent}raise NotImplementedError({message.format(name=name)!r})"
    return "\n".join(lines)


class ClearSolutionsNamingTodos(ClearSolutions):
    """nbgrader's ``ClearSolutions`` (same parsing, delimiters and errors); afterwards each python
    code stub raises ``NotImplementedError`` naming the function it stands in for."""

    stub_message = Unicode(
        "{name}: implement the TODO above this line",
        help="Message of the stub's NotImplementedError; {name} is the enclosing function "
        "(or the cell's grade_id outside a function). Keep it free of instructions.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        """Clear the cell as nbgrader does, then name its stubs (python solution code cells)."""
        if self.begin_solution_delimeter + ":" in cell.source:
            self.log.warning(
                "text after '%s:' is never released; move it into the # TODO comment "
                "above the region (cell %s)",
                self.begin_solution_delimeter,
                cell.metadata.get("nbgrader", {}).get("grade_id", cell_index),
            )
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if (
            cell.cell_type == "code"
            and resources["language"] == "python"
            and utils.is_solution(cell)
        ):
            fallback = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {cell_index}"
            cell.source = name_stubs(cell.source, fallback, self.stub_message)
        return cell, resources


def release_preprocessors() -> list:
    """nbgrader's stock ``GenerateAssignment.preprocessors`` with ``ClearSolutions`` swapped for
    :class:`ClearSolutionsNamingTodos` (everything else, in order, unchanged)."""
    from nbgrader.converters import GenerateAssignment

    stock = GenerateAssignment.class_traits()["preprocessors"].default()
    if ClearSolutions not in stock:
        raise RuntimeError(
            "nbgrader's GenerateAssignment no longer lists ClearSolutions: "
            "update cs231n_grader.release for this nbgrader version"
        )
    return [ClearSolutionsNamingTodos if p is ClearSolutions else p for p in stock]
