"""One score format for the feedback, the grader's notes and the per-part export."""

from __future__ import annotations

from cs231n_grader import exporter, feedback
from cs231n_grader.formatting import format_bytes, format_score, truncation_note
from cs231n_grader.scoring import PartResult


def test_scores_have_at_most_two_decimals_and_no_trailing_zeros():
    assert [format_score(v) for v in (10, 10.0, 7.5, 8.333333, 0.0, -0.0, 100, None)] == [
        "10",
        "10",
        "7.5",
        "8.33",
        "0",
        "0",
        "100",
        "–",
    ]


def test_feedback_notes_and_export_write_the_same_score():
    res = PartResult("forward", 10.0, passed=5, total=6, score=8.33)
    assert "→ 8.33/10." in res.summary()
    assert exporter._fmt(8.33) == feedback._num(8.33) == "8.33"
    assert exporter._fmt(None) == exporter._fmt(0.0) == "0" and feedback._num(None) == "–"


def test_sizes_and_the_truncation_note_are_written_one_way():
    assert [format_bytes(n) for n in (2**31, 2**30, 3 * 2**29, 2**20, 2000, 65536)] == [
        "2 GiB",
        "1 GiB",
        "1.5 GiB",
        "1 MiB",
        "1.95312 KiB",
        "64 KiB",
    ]
    note = truncation_note("this cell", "1 MiB")
    assert (
        note == "\n[output truncated by the grader: this cell printed more than 1 MiB; "
        "the rest was dropped]\n"
    )
