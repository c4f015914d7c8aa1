"""Delimited regions of a cell's source, found the way nbgrader finds them.

nbgrader's ``ClearHiddenTests`` (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``) opens a
region at a line *containing* the begin delimiter and closes it at a line containing the end
delimiter; the delimiters are its ``begin_test_delimeter`` / ``end_test_delimeter`` traits. The
kit's steps that remove or locate hidden tests after the release (``StripHiddenTests`` at
autograde, ``HideHiddenTests`` and ``TrimTracebacks`` at feedback) subclass ``ClearHiddenTests``
for those traits and call this one parser. Unlike nbgrader's, it never raises: an unterminated
region runs to the end of the cell, because grading must go on.
"""

from __future__ import annotations

#: the line left where a hidden-test block was (autograded notebooks and feedback)
HIDDEN_NOTE = (
    "# (hidden tests: the grader runs them outside this notebook, on inputs you have not seen)"
)


def find_regions(lines: list[str], begin: str, end: str) -> list[tuple[int, int]]:
    """``(first, last)`` line indices of every region, delimiter lines included (a begin line
    inside a region does not nest; an unterminated region ends at the last line)."""
    regions, first = [], None
    for index, line in enumerate(lines):
        if begin in line:
            first = index if first is None else first
        elif end in line and first is not None:
            regions.append((first, index))
            first = None
    if first is not None:
        regions.append((first, len(lines) - 1))
    return regions


def remove_regions(source: str, begin: str, end: str, note: str) -> tuple[str, bool]:
    """``source`` with every region replaced by ``note``, indented like the region's begin line;
    and whether any region was found."""
    lines = source.split("\n")
    kept, last = [], -1
    for first, stop in find_regions(lines, begin, end):
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        kept += lines[last + 1 : first] + [indent + note]
        last = stop
    kept += lines[last + 1 :]
    return "\n".join(kept), last >= 0


def region_line_numbers(source: str, begin: str, end: str) -> set[int]:
    """1-based numbers of the lines of ``source`` inside regions, delimiter lines included."""
    lines = source.split("\n")
    return {
        n + 1 for first, stop in find_regions(lines, begin, end) for n in range(first, stop + 1)
    }
