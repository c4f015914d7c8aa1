"""generate_assignment plug-ins: every TODO in the student version says what to implement.

In the solution notebook a solution region inside a function is written

    ### BEGIN SOLUTION: compute S1, X2 = ReLU(S1), S2; return S2, (X, S1, X2)
    ...reference code...
    ### END SOLUTION

:class:`ClearSolutionsWithHints` (a drop-in for nbgrader's ``ClearSolutions``, configured in
``nbgrader_config.py``) replaces the region by

    # YOUR CODE HERE
    raise NotImplementedError("compute S1, X2 = ReLU(S1), S2; return S2, (X, S1, X2)")

indented like the ``BEGIN`` line. A region without a hint (plain ``### BEGIN SOLUTION``) gets the
configurable ``ClearSolutionsWithHints.missing_hint`` message. Markdown solution cells, and solution
cells without any region, keep nbgrader's stock stubs (so give every code TODO a hinted region).
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode



def marker_patterns(begin: str = "BEGIN SOLUTION", end: str = "END SOLUTION") -> tuple[re.Pattern, re.Pattern]:
    """Regexes of a region's begin line (``### BEGIN SOLUTION`` with an optional ``: hint``, the
    rest of the line) and end line, for ClearSolutions' ``begin/end_solution_delimeter`` values
    (the ``#`` comment mark is optional, as nbgrader now writes it into the delimiter)."""
    begin_re = re.compile(rf"^(?P<indent>\s*)(?:#+\s*)?{re.escape(begin)}\s*(?::\s*(?P<hint>.*?))?\s*$")
    end_re = re.compile(rf"^\s*(?:#+\s*)?{re.escape(end)}\s*$")
    return begin_re, end_re


def code_stub(hint: str, indent: str = "") -> list[str]:
    """The student's stub lines for one region: ``# YOUR CODE HERE`` + ``raise NotImplementedError(hint)``."""
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({hint!r})"]


class ClearSolutionsWithHints(ClearSolutions):
    """``ClearSolutions`` whose code stub raises ``NotImplementedError`` with the region's hint."""

    missing_hint = Unicode(
        "implement this part (see the instructions above this cell)",
        help="Message of the NotImplementedError when a solution region has no ': hint'.",
    ).tag(config=True)

    def _replace_solution_region(self, cell, language: str) -> bool:
        """Replace every ``BEGIN SOLUTION[: hint]`` … ``END SOLUTION`` region of ``cell`` in place.

        Code cells get :func:`code_stub`; markdown cells get ``text_stub``. Returns True when a
        region was replaced. Raises RuntimeError (as nbgrader does) for nested or unclosed regions.
        """
        if cell.cell_type != "code" or language != "python":
            return super()._replace_solution_region(cell, language)
        begin_re, end_re = marker_patterns(self.begin_solution_delimeter, self.end_solution_delimeter)
        new_lines, in_solution, replaced = [], False, False
        for line in cell.source.split("\n"):
            begin = begin_re.match(line)
            if begin:
                if in_solution:
                    raise RuntimeError(f"nested BEGIN SOLUTION in cell:\n{cell.source}\n"
                                       "close the first region with ### END SOLUTION")
                in_solution = replaced = True
                new_lines += code_stub(begin.group("hint") or self.missing_hint, begin.group("indent"))
            elif end_re.match(line):
                if not in_solution:
                    raise RuntimeError(f"END SOLUTION without BEGIN SOLUTION in cell:\n{cell.source}")
                in_solution = False
            elif not in_solution:
                new_lines.append(line)
        if in_solution:
            raise RuntimeError(f"no ### END SOLUTION for a region in cell:\n{cell.source}\n"
                               "add the closing line")
        cell.source = "\n".join(new_lines)
        return replaced


def release_preprocessors() -> list:
    """nbgrader's stock ``GenerateAssignment.preprocessors`` with ``ClearSolutions`` swapped for
    :class:`ClearSolutionsWithHints` (everything else, in order, unchanged)."""
    from nbgrader.converters import GenerateAssignment

    stock = GenerateAssignment.class_traits()["preprocessors"].default()
    if ClearSolutions not in stock:
        raise RuntimeError("nbgrader's GenerateAssignment no longer lists ClearSolutions: "
                           "update cs231n_grader.release for this nbgrader version")
    return [ClearSolutionsWithHints if p is ClearSolutions else p for p in stock]
