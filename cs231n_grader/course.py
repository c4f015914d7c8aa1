"""Course bookkeeping around nbgrader (configured in ``nbgrader_config.py``; docs/INSTRUCTORS.md).

* :class:`RosterCollector` -- ``nbgrader zip_collect`` plug-in: warns about archives of students
  who are not on the roster (nbgrader would add them silently, as "None, None").
* :class:`PercentPerDayPenalty` -- late-submission policy: a percentage of the score per started
  day late (nbgrader's own policies are ``none`` and ``zero``).
* :class:`WarnPointsChanged` -- ``nbgrader generate_assignment`` step: warns when the points of
  a graded part changed in ``solutions/`` while submissions were already graded.
* ``python -m cs231n_grader.course release <assignment>`` (``make release``) -- a release that
  never deletes the committed student version: nbgrader generates into a scratch folder, which
  replaces ``assignment/<assignment>/`` only on success (``generate_assignment --force`` alone
  removes the old release first and leaves nothing when it fails).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import FileNameCollectorPlugin, LateSubmissionPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float

DAY = 24 * 3600.0


class RosterCollector(FileNameCollectorPlugin):
    """``FileNameCollectorPlugin`` that warns, once per student, when an archive's student id is
    not on the roster (the gradebook's students). The files are still collected."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # zip_collect logs each folder it creates as a WARNING; creating them is its job
        self.log.addFilter(
            lambda record: not str(record.msg).startswith("Directory not found. Creating")
        )

    def collect(self, submitted_file: str):
        """nbgrader's match (``student_id``, ``file_id``, ``timestamp`` ...) or None."""
        info = super().collect(submitted_file)
        if info and info.get("student_id") not in self._roster():
            student = info["student_id"]
            if student not in self._warned:
                self._warned.add(student)
                self.log.warning(
                    "Student %r (from %s) is not on the roster: collected anyway. If it is a typo "
                    "or a second account, fix the archive's name and re-run zip_collect --force; "
                    "otherwise add them: nbgrader db student add %s --first-name=... "
                    "--last-name=...",
                    student,
                    Path(submitted_file).parent.name,
                    student,
                )
        return info

    def _roster(self) -> set:
        if not hasattr(self, "_ids"):
            self._warned = set()
            db_url = CourseDirectory(config=self.config).db_url
            with Gradebook(db_url) as gb:
                self._ids = {s.id for s in gb.students}
        return self._ids


class PercentPerDayPenalty(LateSubmissionPlugin):
    """Late policy: ``percent_per_day`` % of the score per started day late, at most all of it.

    Use: ``c.AssignLatePenalties.plugin_class = "cs231n_grader.course.PercentPerDayPenalty"``.
    nbgrader calls it during ``autograde`` with the score at that time."""

    percent_per_day = Float(10.0, help="percent of the score lost per started day late").tag(
        config=True
    )

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float:
        """Penalty in points: score * min(1, percent_per_day/100 * ceil(days late))."""
        days = math.ceil(total_seconds_late / DAY)
        return float(score) * min(1.0, self.percent_per_day / 100.0 * days)


class WarnPointsChanged(NbGraderPreprocessor):
    """generate_assignment step (before SaveCells): compare each grade cell's points in the
    source with the gradebook's; if they differ and the assignment has submissions, warn and
    say how to regrade. Never changes the notebook."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        changes = self.changes(nb, info["db_url"], info["assignment"], info["notebook"])
        if changes:
            self.log.warning(
                "Points changed in %s/%s while %d submission(s) were already graded: %s. The "
                "gradebook now uses the new points. Regrade: `nbgrader autograde %s --force` "
                "(autograded parts), then re-check the manual scores of the changed parts in "
                "formgrader, then `nbgrader generate_feedback %s --force` and `nbgrader export`.",
                info["assignment"],
                info["notebook"],
                changes[0],
                "; ".join(changes[1]),
                info["assignment"],
                info["assignment"],
            )
        return nb, resources

    def changes(self, nb, db_url: str, assignment: str, notebook: str):
        """(number of submissions, ["grade_id: old -> new", ...]) or None when nothing to say."""
        with Gradebook(db_url) as gb:
            try:
                old = {
                    c.name: c.max_score for c in gb.find_notebook(notebook, assignment).grade_cells
                }
            except MissingEntry:
                return None  # first release
            submitted = len(gb.assignment_submissions(assignment))
        if not submitted:
            return None
        new = {
            cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
            for cell in nb.cells
            if utils.is_grade(cell)
        }
        diffs = [
            f"{gid}: {old.get(gid, 0):g} -> {new.get(gid, 0):g}"
            for gid in sorted(set(old) | set(new))
            if old.get(gid, 0.0) != new.get(gid, 0.0)
        ]
        return (submitted, diffs) if diffs else None


# --- a release that never deletes the committed one -----------------------------------------------


def release(assignment: str, course: Path = Path(".")) -> Path:
    """``nbgrader generate_assignment <assignment>`` into a scratch folder in ``course``; on
    success the result replaces ``assignment/<assignment>/``. Returns that folder.

    Raises RuntimeError (the old release untouched) when nbgrader fails."""
    course = course.resolve()
    dest = course / "assignment" / assignment
    with tempfile.TemporaryDirectory(prefix=".release-", dir=course) as scratch:
        cmd = [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            assignment,
            "--force",
            f"--CourseDirectory.release_directory={scratch}",
        ]
        if subprocess.run(cmd, cwd=course, env=_venv_env()).returncode != 0:
            raise RuntimeError(
                f"`nbgrader generate_assignment {assignment}` failed (see the log "
                f"above); {dest} was left as it was."
            )
        built = Path(scratch) / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), dest)
    return dest


def _venv_env() -> dict:
    """This interpreter's scripts first on PATH (nbgrader runs ``alembic`` from PATH)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m cs231n_grader.course release <assignment>`` from the course root."""
    parser = argparse.ArgumentParser(description="Course commands (run from the course root).")
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser(
        "release", help="generate the student version; keep the old one on failure"
    )
    rel.add_argument("assignment")
    args = parser.parse_args(argv)
    try:
        dest = release(args.assignment)
    except RuntimeError as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 1
    print(f"released {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
