"""Per-part CSV export of the gradebook: ``nbgrader export`` with one column per part.

Stock ``nbgrader export`` writes one total per student and assignment. Instructors of this
assignment want to see *where* points were lost, so :class:`PartsExporter` writes, for one
assignment, one row per student on the roster (students without a submission get zeros):

    student_id, last_name, first_name, email,
    forward, softmax_loss, chain_rule_factors, backward, train,
    predict, accuracy,                                           (autograded parts)
    derivation, written,                                         (manually graded parts)
    total, max_total, needs_manual_grading

A column is the sum of the scores of the grade cells listed for it in ``PartsExporter.parts``
(manual score if a grader set one, else the autograded score, as nbgrader's ``Grade.score``).

Usage, from the course root (it is also the default exporter in ``nbgrader_config.py``)::

    nbgrader export --exporter=cs231n_grader.exporter.PartsExporter --to grades.csv
"""
import csv
from typing import Iterable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Unicode

#: column name -> grade_ids of the grade cells whose scores it sums (docs/ARCHITECTURE.md)
DEFAULT_PARTS = {
    "forward": ["test_forward"],
    "softmax_loss": ["test_softmax_loss"],
    "chain_rule_factors": ["test_chain_rule_factors"],
    "backward": ["test_backward"],
    "train": ["test_train"],
    "predict": ["test_predict"],
    "accuracy": ["test_accuracy"],
    "derivation": ["derivation"],
    "written": ["q_train_test_gap", "q_max_subtraction", "q_dead_relu"],
}
STUDENT_COLUMNS = ["student_id", "last_name", "first_name", "email"]
TOTAL_COLUMNS = ["total", "max_total", "needs_manual_grading"]


class PartsExporter(ExportPlugin):
    """CSV exporter with one column per assignment part (see the module docstring)."""

    parts = Dict(
        DEFAULT_PARTS,
        help="Column name -> list of grade_ids summed into that column, in column order.",
    ).tag(config=True)

    default_assignment = Unicode(
        "two_layer_net",
        help="Assignment exported when --assignment is not given and the gradebook holds several.",
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the per-part CSV to ``self.to`` (default ``grades.csv``)."""
        dest = self.to or "grades.csv"
        assignment = self._pick_assignment(gradebook)
        students = self._pick_students(gradebook)
        self.log.info("Exporting per-part grades of %s for %d students to %s",
                      assignment, len(students), dest)
        rows = [self.row(gradebook, assignment, student) for student in students]
        with open(dest, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns())
            writer.writeheader()
            writer.writerows(rows)

    def columns(self) -> list:
        """The CSV header: student columns, one per part, then the totals."""
        return STUDENT_COLUMNS + list(self.parts) + TOTAL_COLUMNS

    def row(self, gradebook: Gradebook, assignment: str, student) -> dict:
        """One student's row: per-part scores (zeros if nothing was submitted)."""
        row = {"student_id": student.id, "last_name": student.last_name or "",
               "first_name": student.first_name or "", "email": student.email or ""}
        max_total = gradebook.find_assignment(assignment).max_score
        try:
            submission = gradebook.find_submission(assignment, student.id)
        except MissingEntry:
            row.update({part: _fmt(0.0) for part in self.parts})
            row.update(total=_fmt(0.0), max_total=_fmt(max_total), needs_manual_grading="no")
            return row
        scores, pending = _grade_scores(submission.notebooks)
        for part, grade_ids in self.parts.items():
            row[part] = _fmt(sum(scores.get(grade_id, 0.0) for grade_id in grade_ids))
        row.update(total=_fmt(sum(scores.values())), max_total=_fmt(max_total),
                   needs_manual_grading="yes" if pending else "no")
        return row

    def _pick_assignment(self, gradebook: Gradebook) -> str:
        names = [a.name for a in gradebook.assignments]
        wanted = [str(a) for a in self.assignment]
        if len(wanted) > 1:
            raise ValueError("PartsExporter writes one assignment per CSV; run it once per "
                             f"assignment, e.g. --assignment=[{wanted[0]}] --to {wanted[0]}.csv")
        if wanted:
            choice = wanted[0]
        elif len(names) == 1:
            choice = names[0]
        else:
            choice = self.default_assignment
        if choice not in names:
            raise ValueError(f"assignment {choice!r} is not in the gradebook (it holds {names}); "
                             "run `nbgrader generate_assignment` and `nbgrader autograde` first, "
                             "or pass --assignment=[name]")
        return choice

    def _pick_students(self, gradebook: Gradebook) -> list:
        wanted = {str(s) for s in self.student}
        students = sorted(gradebook.students, key=lambda s: s.id)
        return [s for s in students if not wanted or s.id in wanted]


def _grade_scores(notebooks: Iterable) -> tuple:
    """grade_id -> score over all notebooks of a submission, and whether any grade is pending."""
    scores, pending = {}, False
    for notebook in notebooks:
        for grade in notebook.grades:
            scores[grade.name] = scores.get(grade.name, 0.0) + float(grade.score or 0.0)
            pending = pending or bool(grade.needs_manual_grade)
    return scores, pending


def _fmt(value: float) -> str:
    """Scores as plain decimals: 7.5, 10.0 (never numpy reprs or long float tails)."""
    return f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".") if value else "0"
