"""``hidden_check``: the solution notebook's hidden test blocks, run in-process on the
instructor's own (trusted) notebook. Students never see this call: the blocks are stripped
from the released notebook and, at autograde, replaced by the sealed checks."""

from __future__ import annotations

from pathlib import Path

from cs231n_grader.accuracy import check_accuracy
from cs231n_grader.cases import make_cases
from cs231n_grader.parts import DEFAULT_POINTS, SEALED_PARTS
from cs231n_grader.reference import load_reference
from cs231n_grader.scoring import score_part
from cs231n_grader.sealed import run_in_process
from cs231n_grader.secret import grader_secret


def hidden_check(
    part: str,
    namespace: dict,
    points: float | None = None,
    net_path: str | Path = "best_net.npz",
    secret: bytes | None = None,
    reference=None,
) -> None:
    """Run the sealed check of ``part`` in-process on the functions in ``namespace`` (the solution
    notebook's hidden test blocks call it with ``globals()``). Prints a one-line summary; raises
    AssertionError with the diagnosis unless the part gets full marks."""
    if part not in SEALED_PARTS:
        raise ValueError(f"unknown part {part!r}; parts are {SEALED_PARTS}")
    ref = load_reference() if reference is None else reference
    points = DEFAULT_POINTS[part] if points is None else points
    if part == "accuracy":
        res = check_accuracy(Path(net_path), ref, points=points)
    else:
        cases = make_cases(part, grader_secret() if secret is None else secret, ref)
        res = score_part(part, cases, run_in_process(namespace, cases), ref, points)
    print(f"hidden check {part}: {res.summary()}")
    if res.score < res.max_points:
        detail = "; ".join(
            res.failures[:3] + res.errors[:2]
        )  # the full errors: this is the instructor
        raise AssertionError(f"hidden check {part} failed: {res.summary()} {detail}")
