"""Compare a student's outputs on a case with the reference's, and say in words what is wrong.

Plain numpy on plain float64 arrays, in the trusted process. Reasons never contain values (they
would leak the hidden inputs' answers into the feedback).
"""

from __future__ import annotations

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case
from cs231n_utils.calls import standin_overrides
from cs231n_utils.compare import (  # noqa: F401 - shared with the students' self-check: one judgement, one wording
    HELPERS_IN_BACKWARD,
    allclose_scaled,
    as_plain_float_array,
    case_failures,
    output_reason,
)
from cs231n_utils.compare import output_failures as _output_failures
from cs231n_utils.compare import train_failure_reason as _train_failure_reason


# --- the reference's outputs ---------------------------------------------------------------------
def reference_outputs(case: Case, ref, standins: bool | None = None) -> dict[str, np.ndarray]:
    """The reference's outputs for a case, in the runner's output names (see runner.call_part);
    ``standins=False`` gives them without the stand-in helpers (the case's
    own setting otherwise)."""
    scalars = case.scalars if standins is None else {**case.scalars, "standins": standins}
    return runner.call_part(case.part, getattr(ref, case.part), case.arrays, scalars)


def expected_for_student(case: Case, got: dict, ref) -> dict[str, np.ndarray]:
    """The reference outputs to compare the student's ``got`` with: with the stand-ins the
    student's function used (:func:`cs231n_utils.calls.standin_overrides`), else the plain
    reference (a predict/train that computes everything itself). A train() may use one stand-in
    and bypass the other."""
    overrides = standin_overrides(case.part, case.scalars, got)
    if not overrides:
        return reference_outputs(case, ref)
    return reference_outputs(
        Case(case.id, case.part, case.label, case.arrays, {**case.scalars, **overrides}, case.kind),
        ref,
    )


# --- comparison: the students' module judges (one verdict for the grader and the self-check) ----
def output_failures(
    case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]
) -> dict[str, str]:
    """{output name: reason in words (no values)} for every wrong output of a non-train case."""
    return _output_failures(case.part, got, expected)


def failure_reason(
    case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray], ref=None
) -> str | None:
    """None when the student's outputs pass the case, else a reason in words (no values): the
    first wrong output."""
    return next(iter(case_failures(case.part, got, expected).values()), None)


def train_failure_reason(case: Case, got: dict, expected: dict) -> str | None:
    """The first wrong output of train() (:func:`cs231n_utils.compare.train_failure_reason`)."""
    return _train_failure_reason(got, expected)
