"""Numbers as people read them in feedback, notes and exports, declared once."""
from __future__ import annotations


def format_score(value: float | None) -> str:
    """A score with at most 2 decimals and no trailing zeros (7.5, 10, 8.33); "–" for no score."""
    if value is None:
        return "–"
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
