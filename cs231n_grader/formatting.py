"""Numbers and notes as people read them in feedback, grader notes and exports, declared once."""

from __future__ import annotations


def format_score(value: float | None) -> str:
    """A score with at most 2 decimals and no trailing zeros (7.5, 10, 8.33); "–" for no score."""
    if value is None:
        return "–"
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_bytes(n: int) -> str:
    """A size limit in binary units: 1048576 -> '1 MiB', 2**31 -> '2 GiB', 65536 -> '64 KiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n / 2**10:g} KiB"


def truncation_note(what: str, limit: str) -> str:
    """The one note the grader appends where it dropped output (a cell's, a notebook's, a
    process's), e.g. truncation_note("this cell", "1 MiB")."""
    return (
        f"\n[output truncated by the grader: {what} printed more than {limit}; "
        "the rest was dropped]\n"
    )
