"""Score one part from its cases' outcomes: points, failures in safe words, the diagnosis."""

from __future__ import annotations

from dataclasses import dataclass, field

from cs231n_grader import diagnose, runner
from cs231n_grader.cases import Case, CaseOutcome
from cs231n_grader.compare import case_failures, expected_for_student
from cs231n_grader.formatting import format_score
from cs231n_grader.locate import locate

#: case kinds whose answers the notebook shows (they earn points only together with hidden ones)
PUBLIC_KINDS = frozenset({"toy"})
PUBLIC_ONLY_NOTE = (
    "Only the public toy example is right, which earns no points on its own: "
    "your code must work for any shapes and inputs."
)
PARTIAL_NOTE = (
    "Cases where the scores S2 are right but the cache is not earn most of their credit "
    "(S2 carries 70 %, S1 and X2 15 % each)."
)
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
    errors: list[str] = field(
        default_factory=list
    )  # full exception texts: instructor only, never feedback
    review: str | None = (
        None  # why an instructor should look at this part (its score stands meanwhile)
    )

    def summary(self) -> str:
        """One line for the feedback: what was checked, the points, the diagnosis."""
        if self.part == "accuracy":
            text = (
                f"Grader, on your saved best_net.npz: {self.note} → "
                f"{format_score(self.score)}/{format_score(self.max_points)}."
            )
        else:
            text = (
                f"Grader, on hidden inputs: {self.passed}/{self.total} cases correct → "
                f"{format_score(self.score)}/{format_score(self.max_points)}."
            )
            if self.note:
                text += f" {self.note}"
        if self.diagnosis:
            text += f" Diagnosis: {self.diagnosis[1]}"
        return text


#: exception types named in feedback; any other shows as "an exception" (the type is chosen by
#: the student's code, so the fewer names, the fewer bits it can send back per case)
SHOWN_EXCEPTIONS = frozenset(
    {
        "NameError",
        "TypeError",
        "ValueError",
        "IndexError",
        "KeyError",
        "AttributeError",
        "ZeroDivisionError",
        "NotImplementedError",
        "UnboundLocalError",
        "MemoryError",
        "RecursionError",
        "SyntaxError",
        "ImportError",
        "ModuleNotFoundError",
    }
)
#: per part, the share of a case's credit each output carries (parts not listed: all or nothing).
#: The first output is the part's result: when it is wrong the case earns nothing (a cache beside
#: wrong or hard-coded scores is worth nothing); when it is right, a wrong cache costs only its
#: share -- forward's scores carry most, so an in-place ReLU that overwrites the cached
#: S1 keeps them.
OUTPUT_WEIGHTS = {"forward": {"S2": 0.7, "S1": 0.15, "X2": 0.15}}


def safe_error(meta: dict, part: str | None = None) -> str:
    """An error reported by the runner, in words safe for feedback: the exception type (from a
    short list) and the function that raised it -- never the message, nor a line or cell the
    student's code reports (it could encode hidden inputs); only a syntax error's line, which the
    grader found itself by compiling the cell (sealed.located_cell_errors)."""
    etype = meta.get("error_type")
    etype = etype if isinstance(etype, str) and etype in SHOWN_EXCEPTIONS else "an exception"
    line = meta.get("error_line")
    if (
        etype == "SyntaxError"
        and isinstance(line, int)
        and not isinstance(line, bool)
        and 0 < line < 10**6
    ):
        return f"has a syntax error on line {line}"
    who = f"{part}() raised" if part else "raised"
    if etype == "NotImplementedError":
        return f"{who} NotImplementedError (not implemented yet)"
    return f"{who} {etype}"


def part_score(points: float, passed: float, total: int) -> float:
    """points × fraction passed (``passed`` may count partial cases as fractions), rounded to 2
    decimals, never above points."""
    if total <= 0:
        return 0.0
    return min(float(points), round(float(points) * passed / total, 2))


def case_credit(part: str, failed: dict) -> float:
    """The share of one case earned when the outputs in ``failed`` are wrong."""
    weights = OUTPUT_WEIGHTS.get(part)
    if not failed:
        return 1.0
    if weights is None or next(iter(weights)) in failed:
        return 0.0
    return max(0.0, 1.0 - sum(weights.get(name, 1.0) for name in failed))


def score_part(
    part: str,
    cases: list[Case],
    results: dict[str, CaseOutcome],
    ref,
    points: float,
    cell_errors: dict | None = None,
) -> PartResult:
    """Score one part. ``results[case.id]`` is the case's :class:`CaseOutcome` (from
    :func:`cs231n_grader.sealed.run_sealed`); ``cell_errors`` (from run_sealed) says which
    solution cells failed to run."""
    res = PartResult(part, float(points), total=len(cases))
    wrong, judged, credit, credited_kinds = [], [], 0.0, set()
    for case in cases:
        outcome = results.get(case.id) or CaseOutcome(reason=NO_RESULT)
        if outcome.reason is not None:
            res.failures.append(f"{case.label}: {outcome.reason}")
            continue
        if outcome.meta.get("error") or outcome.meta.get("error_type"):
            res.failures.append(f"{case.label}: {safe_error(outcome.meta, part)}")
            res.errors.append(str(outcome.meta.get("error"))[: runner.MAX_ERROR_CHARS])
            continue
        expected = expected_for_student(case, outcome.outputs, ref)
        judged.append((case, outcome.outputs, expected))
        failed = case_failures(part, outcome.outputs, expected)  # the self-check's verdict too
        share = case_credit(part, failed)
        credit += share
        if share > 0:
            credited_kinds.add(case.kind)
        if not failed:
            res.passed += 1
        else:
            res.failures.append(f"{case.label}: " + "; ".join(dict.fromkeys(failed.values())))
            wrong.append((case, outcome.outputs))
    if credited_kinds and credited_kinds <= PUBLIC_KINDS and res.passed < res.total:
        # the public toy answers are printed in the notebook: hard-coding them earns nothing
        res.note = PUBLIC_ONLY_NOTE
        res.passed, credit = 0, 0.0
    res.score = part_score(points, credit, res.total)
    if credit > res.passed:
        res.note = PARTIAL_NOTE
    if wrong:
        res.diagnosis = diagnose.diagnose_part(part, wrong, ref) or locate(part, judged, ref)
    broken = (cell_errors or {}).get(part)
    if isinstance(broken, dict) and res.passed < res.total:
        res.note = f"Your {part} cell itself failed when run: it {safe_error(broken)}."
    reasons = {
        o.reason for c in cases if (o := results.get(c.id)) is not None and o.reason is not None
    }
    if reasons and res.passed < res.total:
        res.note = "; ".join(sorted(reasons | ({res.note} if res.note else set())))[:400]
    return res
