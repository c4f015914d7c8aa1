"""Score one part from its cases' outcomes: points, failures in safe words, the diagnosis."""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from cs231n_grader import diagnose, runner
from cs231n_grader.cases import Case, CaseOutcome
from cs231n_grader.compare import expected_for_student, failure_reason
from cs231n_grader.formatting import format_score
from cs231n_grader.parts import FUNCTIONS

#: case kinds whose answers the notebook shows (they earn points only together with hidden ones)
PUBLIC_KINDS = frozenset({"toy"})
PUBLIC_ONLY_NOTE = ("Only the public toy example is right, which earns no points on its own: "
                    "your code must work for any shapes and inputs.")
NO_RESULT = "no result (the grader's runner stopped before this case)"


@dataclass
class PartResult:
    """The verdict of one part."""

    part: str
    max_points: float
    passed: int = 0
    total: int = 0
    score: float = 0.0
    failures: list[str] = field(default_factory=list)  # "label: reason", safe to show
    diagnosis: tuple[str, str] | None = None  # (mistake id, message)
    note: str | None = None  # a reason that applies to the whole part (timeout, missing file...)
    errors: list[str] = field(default_factory=list)  # full exception texts: instructor only, never feedback

    def summary(self) -> str:
        """One line for the feedback: what was checked, the points, the diagnosis."""
        if self.part == "accuracy":
            text = (f"Grader, on your saved best_net.npz: {self.note} → "
                    f"{format_score(self.score)}/{format_score(self.max_points)}.")
        else:
            text = (f"Grader, on hidden inputs: {self.passed}/{self.total} cases correct → "
                    f"{format_score(self.score)}/{format_score(self.max_points)}.")
            if self.note:
                text += f" {self.note}"
        if self.diagnosis:
            text += f" Diagnosis: {self.diagnosis[1]}"
        return text


_BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}


def safe_error(meta: dict) -> str:
    """An error reported by the runner, in words safe for feedback: the exception type when it is
    a builtin one and the solution cell and line; never the message (student code could put hidden
    inputs in it)."""
    etype = meta.get("error_type")
    etype = etype if isinstance(etype, str) and etype in _BUILTIN_EXCEPTIONS else "an exception"
    cell, line = meta.get("error_cell"), meta.get("error_line")
    where = ""
    if isinstance(cell, str) and cell in FUNCTIONS:
        where = f" in your {cell} cell"
        if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 10**5:
            where += f", line {line}"
    if etype == "NotImplementedError":
        return f"raised NotImplementedError{where} (not implemented yet)"
    return f"raised {etype}{where}"


def part_score(points: float, passed: int, total: int) -> float:
    """points × fraction passed, rounded to 2 decimals, never above points."""
    if total <= 0:
        return 0.0
    return min(float(points), round(float(points) * passed / total, 2))


def score_part(part: str, cases: list[Case], results: dict[str, CaseOutcome], ref,
               points: float, cell_errors: dict | None = None) -> PartResult:
    """Score one part. ``results[case.id]`` is the case's :class:`CaseOutcome` (from
    :func:`cs231n_grader.sealed.run_sealed`); ``cell_errors`` (from run_sealed) says which
    solution cells failed to run."""
    res = PartResult(part, float(points), total=len(cases))
    wrong, passed_kinds = [], set()
    for case in cases:
        outcome = results.get(case.id) or CaseOutcome(reason=NO_RESULT)
        if outcome.reason is not None:
            res.failures.append(f"{case.label}: {outcome.reason}")
            continue
        if outcome.meta.get("error") or outcome.meta.get("error_type"):
            res.failures.append(f"{case.label}: {safe_error(outcome.meta)}")
            res.errors.append(str(outcome.meta.get("error"))[:runner.MAX_ERROR_CHARS])
            continue
        expected = expected_for_student(case, outcome.outputs, ref)
        reason = failure_reason(case, outcome.outputs, expected, ref)
        if reason is None:
            res.passed += 1
            passed_kinds.add(case.kind)
        else:
            res.failures.append(f"{case.label}: {reason}")
            wrong.append((case, outcome.outputs))
    if passed_kinds and passed_kinds <= PUBLIC_KINDS and res.passed < res.total:
        # the public toy answers are printed in the notebook: hard-coding them earns nothing
        res.note = PUBLIC_ONLY_NOTE
        res.passed = 0
    res.score = part_score(points, res.passed, res.total)
    if wrong:
        res.diagnosis = diagnose.diagnose_part(part, wrong, ref)
    broken = (cell_errors or {}).get(part)
    if isinstance(broken, dict) and res.passed < res.total:
        res.note = f"Your {part} cell itself failed when run: {safe_error({**broken, 'error_cell': part})}."
    reasons = {o.reason for c in cases if (o := results.get(c.id)) is not None and o.reason is not None}
    if reasons and res.passed < res.total:
        res.note = "; ".join(sorted(reasons | ({res.note} if res.note else set())))[:400]
    return res
