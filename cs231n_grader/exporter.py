"""Per-part CSV export of the gradebook: ``nbgrader export`` with one column per part.

Stock ``nbgrader export`` writes one total per student and assignment. Instructors of this
assignment want to see *where* points were lost, so :class:`PartsExporter` writes one row per
student on the roster and assignment in the gradebook (students without a submission get zeros):

    student_id, last_name, first_name, email, assignment,
    forward, softmax_loss, chain_rule_factors, backward, train,
    predict, accuracy,                                           (autograded parts)
    derivation, written,                                         (manually graded parts)
    timestamp, seconds_late, raw_total, late_penalty, total, max_total, needs_manual_grading

A part column is the sum of the scores of the grade cells listed for it in ``PartsExporter.parts``
(manual score if a grader set one, else the autograded score, as nbgrader's ``Grade.score``), or
``pending`` while one of them awaits manual grading; it is empty for an assignment that has none
of those cells (a plain nbgrader assignment: its own totals only). ``late_penalty`` is the one
nbgrader's ``AssignLatePenalties`` stored during autograde; ``total`` is ``raw_total`` minus it
(never below 0), as in nbgrader's own CSV.

Usage, from the course root (it is also the default exporter in ``nbgrader_config.py``)::

    nbgrader export --to grades.csv                                  every assignment and student
    nbgrader export --assignment=two_layer_net --student=jdoe,asmith  (``[a,b]`` works too)
"""

import csv
from collections.abc import Iterable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict

from cs231n_grader.formatting import format_score
from cs231n_grader.parts import PARTS

#: column name -> grade_ids of the grade cells whose scores it sums (cs231n_grader.parts)
DEFAULT_PARTS = {part.name: list(part.grade_ids) for part in PARTS}
STUDENT_COLUMNS = ["student_id", "last_name", "first_name", "email", "assignment"]
TOTAL_COLUMNS = [
    "timestamp",
    "seconds_late",
    "raw_total",
    "late_penalty",
    "total",
    "max_total",
    "needs_manual_grading",
]
PENDING = "pending"
FORMS = (
    "--assignment=two_layer_net, --assignment=hw0,two_layer_net or --assignment=[hw0,two_layer_net]"
)


class PartsExporter(ExportPlugin):
    """CSV exporter with one column per assignment part (see the module docstring)."""

    parts = Dict(
        DEFAULT_PARTS,
        help="Column name -> list of grade_ids summed into that column, in column order.",
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the per-part CSV to ``self.to`` (default ``grades.csv``)."""
        dest = self.to or "grades.csv"
        assignments = self._pick_assignments(gradebook)
        students = self._pick_students(gradebook)
        self.log.info(
            "Exporting per-part grades of %s for %d students to %s",
            ", ".join(a.name for a in assignments),
            len(students),
            dest,
        )
        rows = [self.row(gradebook, a, s) for a in assignments for s in students]
        with open(dest, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns())
            writer.writeheader()
            writer.writerows(rows)

    def columns(self) -> list:
        """The CSV header: student and assignment, one column per part, then the totals."""
        return STUDENT_COLUMNS + list(self.parts) + TOTAL_COLUMNS

    def graded_by_parts(self, assignment) -> bool:
        """Whether ``assignment`` (nbgrader Assignment) has any grade cell named in ``parts``."""
        ids = {grade_id for grade_ids in self.parts.values() for grade_id in grade_ids}
        return any(cell.name in ids for nb in assignment.notebooks for cell in nb.grade_cells)

    def row(self, gradebook: Gradebook, assignment, student) -> dict:
        """One student's row for one assignment (nbgrader Assignment and Student)."""
        row = {
            "student_id": student.id,
            "last_name": student.last_name or "",
            "first_name": student.first_name or "",
            "email": student.email or "",
            "assignment": assignment.name,
            "max_total": _fmt(assignment.max_score),
        }
        with_parts = self.graded_by_parts(assignment)
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            row.update({part: _fmt(0.0) if with_parts else "" for part in self.parts})
            row.update(
                timestamp="",
                seconds_late="0",
                raw_total="0",
                late_penalty="0",
                total="0",
                needs_manual_grading="no",
            )
            return row
        scores, pending = _grade_scores(submission.notebooks)
        for part, grade_ids in self.parts.items():
            if not with_parts:
                row[part] = ""
            elif pending & set(grade_ids):
                row[part] = PENDING
            else:
                row[part] = _fmt(sum(scores.get(grade_id, 0.0) for grade_id in grade_ids))
        raw = sum(scores.values())
        penalty = float(submission.late_submission_penalty or 0.0)
        row.update(
            timestamp=submission.timestamp.isoformat(" ") if submission.timestamp else "",
            seconds_late=_fmt(submission.total_seconds_late),
            raw_total=_fmt(raw),
            late_penalty=_fmt(penalty),
            total=_fmt(max(0.0, raw - penalty)),
            needs_manual_grading="yes" if pending else "no",
        )
        return row

    def _pick_assignments(self, gradebook: Gradebook) -> list:
        """The assignments asked for (all when none), in the gradebook's order."""
        available = list(gradebook.assignments)
        wanted = _names(self.assignment)
        unknown = [name for name in wanted if name not in {a.name for a in available}]
        if unknown:
            raise ValueError(
                f"assignment(s) {unknown} not in the gradebook, which holds "
                f"{[a.name for a in available]}; give names as {FORMS}, or release the assignment "
                "first (`nbgrader generate_assignment <name>`)."
            )
        return [a for a in available if not wanted or a.name in wanted]

    def _pick_students(self, gradebook: Gradebook) -> list:
        """The students asked for (all when none), sorted by id."""
        students = sorted(gradebook.students, key=lambda s: s.id)
        wanted = _names(self.student)
        unknown = sorted(set(wanted) - {s.id for s in students})
        if unknown:
            raise ValueError(
                f"student(s) {unknown} not in the gradebook (see `nbgrader db student list`); "
                "give ids as --student=jdoe, --student=jdoe,asmith or --student=[jdoe,asmith]."
            )
        return [s for s in students if not wanted or s.id in wanted]


def _names(values: Iterable) -> list:
    """Names from the command line's list forms: ``[a,b]``, ``a,b``, ``'a'``, ``["a", "b"]``.

    nbgrader hands the trait over as parsed by traitlets: ``--assignment=[hw0]`` arrives as the
    one string ``"[hw0]"``, ``--student=jdoe,asmith`` as ``"jdoe,asmith"``."""
    names = []
    for value in values:
        for name in str(value).strip().strip("[]").split(","):
            name = name.strip().strip("'\"").strip()
            if name and name not in names:
                names.append(name)
    return names


def _grade_scores(notebooks: Iterable) -> tuple:
    """grade_id -> score over all notebooks of a submission, and the grade_ids still pending."""
    scores, pending = {}, set()
    for notebook in notebooks:
        for grade in notebook.grades:
            scores[grade.name] = scores.get(grade.name, 0.0) + float(grade.score or 0.0)
            if grade.needs_manual_grade:
                pending.add(grade.name)
    return scores, pending


def _fmt(value) -> str:
    """Scores as plain decimals: 7.5, 10 (never numpy reprs or long float tails)."""
    return format_score(float(value or 0.0))
