"""nbgrader plug-ins of the sealed checks (configured in nbgrader_config.py).

* :class:`StripHiddenTests` — sanitize step, after OverwriteCells: hidden test blocks never reach
  the student's kernel, the autograded notebook or the feedback (nbgrader's ``ClearHiddenTests``
  delimiters, parsed by :mod:`cs231n_grader.regions`).
* :class:`CopySubmittedFiles` — sanitize step: the student's best_net.npz goes beside their
  autograded notebook (nbgrader's ignore list skips it), so their public accuracy test can run.
* :class:`SealedChecks` — after execution: the student's solution cells run again in a fresh
  sandbox on secret inputs; the trusted process scores every autograded test cell and appends a
  note saying what was checked, the points and the diagnosis.
* :class:`SaveSealedGrades` — SaveAutoGrades whose auto_score of every sealed test cell is that
  verdict, never the kernel's output (stderr, numpy-scalar reprs, fake prints, values above the
  cell's points decide nothing and abort nothing).
"""

from __future__ import annotations

import functools
import shutil
import time
import traceback
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    ClearHiddenTests,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)
from traitlets import Bool, Float, Int, List, Unicode

from cs231n_grader import faults
from cs231n_grader.accuracy import check_accuracy
from cs231n_grader.cases import make_cases
from cs231n_grader.cells import sealed_cells
from cs231n_grader.formatting import format_score
from cs231n_grader.parts import BY_GRADE_ID, BY_NAME, CALLED_PARTS
from cs231n_grader.reference import (
    ReferenceChanged,
    default_notebook,
    verified_reference,
)
from cs231n_grader.regions import HIDDEN_NOTE, remove_regions
from cs231n_grader.sandbox import SandboxUnavailable
from cs231n_grader.scoring import PartResult, score_part
from cs231n_grader.sealed import run_in_sandbox, run_sealed
from cs231n_grader.secret import grader_secret

RESOURCES_KEY = "cs231n_sealed"
REVIEW_KEY = (
    "cs231n_review"  # grade_ids whose verdict an instructor should review (e.g. a memorised net)
)


def part_of(cell) -> str | None:
    """The sealed part (name) an autograded test cell is scored by, or None."""
    if cell.get("cell_type") != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
        return None
    part = BY_GRADE_ID.get(cell.metadata["nbgrader"].get("grade_id", ""))
    return part.name if part is not None and part.autograded else None


# --- sanitize -------------------------------------------------------------------------------------
class StripHiddenTests(ClearHiddenTests):
    """Sanitize step (after OverwriteCells): remove hidden test blocks from the test cells.

    The delimiters are nbgrader's ``ClearHiddenTests.begin_test_delimeter`` and
    ``end_test_delimeter``: configured there once, the release, this step and the feedback agree.
    Only grade cells are touched (their source was just restored from the gradebook); text in
    the student's own cells is left alone, and an unterminated block never aborts grading."""

    note = Unicode(HIDDEN_NOTE, help="The line left where a hidden block was").tag(config=True)

    def strip(self, source: str) -> tuple[str, bool]:
        """``source`` without its hidden blocks (``note`` in their place),
        and whether it had any."""
        return remove_regions(source, self.begin_test_delimeter, self.end_test_delimeter, self.note)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.source, removed = self.strip(cell.source)
            if removed:
                self.log.debug(
                    "Stripped hidden tests from %s", cell.metadata["nbgrader"]["grade_id"]
                )
        return cell, resources


class CopySubmittedFiles(NbGraderPreprocessor):
    """Sanitize step: copy the student's own data files (``best_net.npz``) from submitted/ into
    their autograded/ folder, so the notebook's public accuracy test can load them.

    nbgrader skips them because ``CourseDirectory.ignore`` lists ``best_net.npz`` (so that the
    instructor's net is never released or copied over a student's). Only regular files (no
    links) up to ``max_bytes`` are copied. The sealed accuracy check reads submitted/ itself."""

    files = List(Unicode(), ["best_net.npz"], help="file names copied beside the notebook").tag(
        config=True
    )
    max_bytes = Int(256 * 2**20, help="larger files are not copied").tag(config=True)

    def preprocess(self, nb, resources):
        cd = CourseDirectory(config=self.config)
        info = resources.get("nbgrader", {})
        student, assignment = info.get("student", "."), info.get("assignment", ".")
        src_dir = Path(cd.format_path(cd.submitted_directory, student, assignment))
        dest_dir = Path(cd.format_path(cd.autograded_directory, student, assignment))
        for name in self.files:
            src = src_dir / name
            if src.is_symlink() or not src.is_file() or src.stat().st_size > self.max_bytes:
                continue
            dest_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest_dir / name)
        return nb, resources


# --- sealed checks --------------------------------------------------------------------------------
class SealedChecks(NbGraderPreprocessor):
    """After execution: score every autograded test cell from the student's functions called on
    secret inputs in a fresh sandbox, compared in this (trusted) process with the reference."""

    accuracy_full_at = Float(0.48, help="validation accuracy that earns full points").tag(
        config=True
    )
    accuracy_zero_at = Float(
        0.35, help="validation accuracy at and below which no point is given"
    ).tag(config=True)
    net_filename = Unicode("best_net.npz", help="the student's saved net, beside the notebook").tag(
        config=True
    )
    timeout = Float(30.0, help="wall-clock seconds per sandboxed runner process").tag(config=True)
    cpu_seconds = Int(30, help="CPU seconds per sandboxed runner process").tag(config=True)
    memory_bytes = Int(2 * 2**30, help="address-space limit of the runner").tag(config=True)
    reference_notebook = Unicode(
        "",
        help="solution notebook holding the reference; default: the "
        "course's source notebook of this assignment, else the kit's",
    ).tag(config=True)
    course_root = Unicode("", help="folder of .grader_secret; default: CourseDirectory.root").tag(
        config=True
    )
    allow_unsandboxed = Bool(
        False,
        help="DANGEROUS: run the sealed checks without bubblewrap where it "
        "is unavailable (same as CS231N_UNSAFE_NO_SANDBOX=1; "
        "c.SandboxedExecute.allow_unsandboxed also applies)",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        sealed = [(cell, part) for cell in nb.cells if (part := part_of(cell))]
        if not sealed:
            return nb, resources
        verdicts, started = {}, time.monotonic()
        try:
            results = self.check(
                nb,
                resources,
                {part: float(cell.metadata["nbgrader"]["points"]) for cell, part in sealed},
            )
        except (SandboxUnavailable, ReferenceChanged, faults.GraderFault):
            raise  # the grader's own setup: an error of the run with instructions, never a zero
        except Exception:  # noqa: BLE001 - never abort: no verdict = 0 + flagged for review
            self.log.error(
                "Sealed checks failed for %s (its autograded cells score 0 and are flagged "
                "for manual review):\n%s",
                _who(resources),
                traceback.format_exc(),
            )
            for cell, _ in sealed:
                cell.outputs.append(
                    nbformat.v4.new_output(
                        "display_data",
                        data={
                            "text/plain": "The grader could not check this part; an "
                            "instructor will review it."
                        },
                        metadata={"cs231n": {"grader": True}},
                    )
                )
            resources[RESOURCES_KEY] = {}
            return nb, resources
        for cell, part in sealed:
            res = results[part]
            verdicts[cell.metadata["nbgrader"]["grade_id"]] = min(res.score, res.max_points)
            if res.review:
                resources.setdefault(REVIEW_KEY, set()).add(cell.metadata["nbgrader"]["grade_id"])
                self.log.warning("%s %s flagged for review: %s", _who(resources), part, res.review)
            self.annotate(cell, res)
            if res.errors:
                self.log.info("%s %s: %s", _who(resources), part, " | ".join(res.errors[:3]))
        resources[RESOURCES_KEY] = verdicts
        self.log.info(
            "Sealed checks of %s: %s in %.1f s",
            _who(resources),
            ", ".join(
                f"{p} {format_score(results[p].score)}/{format_score(results[p].max_points)}"
                for _, p in sealed
            ),
            time.monotonic() - started,
        )
        return nb, resources

    # the work ---------------------------------------------------------------------------------
    def coursedir(self) -> CourseDirectory:
        return CourseDirectory(config=self.config)

    def check(self, nb, resources, points: dict[str, float]) -> dict[str, PartResult]:
        """PartResult per part present in ``points``."""
        cd = self.coursedir()
        info = resources.get("nbgrader", {})
        ref = verified_reference(self._reference_path(cd, info))
        out = {}
        called = [p for p in CALLED_PARTS if p in points]
        if called:
            secret = grader_secret(self.course_root or cd.root)
            cases = [c for p in called for c in make_cases(p, secret, ref)]
            run = functools.partial(
                run_in_sandbox, allow_unsandboxed=self._unsandboxed_ok() or None
            )
            results, cell_errors = run_sealed(
                sealed_cells(nb), cases, limits=self._limits(), run=run
            )
            if faults.runner_never_ready(results):  # the student's cells, or the runner itself?
                faults.probe_runner(self._limits(), run=run)
            for part in called:
                part_cases = [c for c in cases if c.part == part]
                out[part] = score_part(part, part_cases, results, ref, points[part], cell_errors)
        if "accuracy" in points:
            net = (
                Path(
                    cd.format_path(
                        cd.submitted_directory,
                        info.get("student", "."),
                        info.get("assignment", "."),
                    )
                )
                / self.net_filename
            )
            data = faults.evaluation_data()  # CIFAR-10 missing is the grader's fault, never a zero
            out["accuracy"] = check_accuracy(
                net,
                ref,
                data=data,
                points=points["accuracy"],
                full_at=self.accuracy_full_at,
                zero_at=self.accuracy_zero_at,
            )
        return out

    def _unsandboxed_ok(self) -> bool:
        """The instructor's explicit opt-out: this trait or SandboxedExecute's (one
        switch for both)."""
        return bool(
            self.allow_unsandboxed or self.config.SandboxedExecute.get("allow_unsandboxed", False)
        )

    def _limits(self):
        from cs231n_grader.sandbox import Limits

        return Limits(
            wall_seconds=self.timeout, cpu_seconds=self.cpu_seconds, memory_bytes=self.memory_bytes
        )

    def _reference_path(self, cd: CourseDirectory, info: dict) -> Path:
        if self.reference_notebook:
            return Path(self.reference_notebook)
        source = Path(cd.format_path(cd.source_directory, ".", info.get("assignment", "."))) / (
            f"{info.get('notebook', '')}.ipynb"
        )
        return source if source.is_file() else default_notebook()

    def annotate(self, cell, res: PartResult) -> None:
        """Append the grader's note (display_data, marked) and the verdict in the
        cell's metadata."""
        text = res.summary()
        shown = [f for f in res.failures[:6]]
        if shown:
            text += "\n" + "\n".join(f"  ✗ {f}" for f in shown)
            if len(res.failures) > len(shown):
                text += f"\n  … and {len(res.failures) - len(shown)} more"
        cell.outputs.append(
            nbformat.v4.new_output(
                "display_data", data={"text/plain": text}, metadata={"cs231n": {"grader": True}}
            )
        )
        cell.metadata["cs231n"] = {
            "verdict": {
                "part": res.part,
                "checked": BY_NAME[res.part].what_is_checked(res.total),
                "score": res.score,
                "max_points": res.max_points,
                "passed": res.passed,
                "total": res.total,
                "diagnosis": {"id": res.diagnosis[0], "message": res.diagnosis[1]}
                if res.diagnosis
                else None,
                "reason": res.note,
                "failures": res.failures,
            }
        }


def _who(resources) -> str:
    info = resources.get("nbgrader", {})
    return f"{info.get('student', '?')}/{info.get('assignment', '?')}"


class SaveSealedGrades(SaveAutoGrades):
    """SaveAutoGrades where every sealed test cell scores the SealedChecks verdict.

    A sealed cell without a verdict (the sealed checks did not run) scores 0 and is flagged for
    manual review; other grade cells (manually graded answers) keep nbgrader's logic."""

    def _add_score(self, cell, resources) -> None:
        if part_of(cell) is None:
            super()._add_score(cell, resources)
            grade = self.gradebook.find_grade(
                cell.metadata["nbgrader"]["grade_id"],
                self.notebook_id,
                self.assignment_id,
                self.student_id,
            )
            if grade.auto_score is None and grade.manual_score is not None:
                # an answer already graded by hand stays graded when the notebook is regraded
                grade.needs_manual_grade = False
                self.gradebook.db.commit()
            return None
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(
            grade_id, self.notebook_id, self.assignment_id, self.student_id
        )
        verdict = resources.get(RESOURCES_KEY, {}).get(grade_id)
        max_points = float(cell.metadata["nbgrader"]["points"])
        if verdict is None:
            self.log.warning(
                "No sealed verdict for %s of %s: scored 0 and flagged for review",
                grade_id,
                self.student_id,
            )
            grade.auto_score, grade.needs_manual_grade = 0.0, True
        else:
            grade.auto_score = max(0.0, min(float(verdict), max_points))
            grade.needs_manual_grade = grade.manual_score is not None or grade_id in resources.get(
                REVIEW_KEY, ()
            )
        self.gradebook.db.commit()


class OverwriteReleasedCells(OverwriteCells):
    """Sanitize step in place of ``OverwriteCells``: a locked cell exactly as released (the
    gradebook's source with its hidden tests cleared, as generate_assignment left it) is put
    back to the gradebook's source silently. Stock OverwriteCells warns "checksum has changed!"
    for every test cell that had hidden tests; the warning stays for cells a student edited."""

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            try:
                source_cell = self.gradebook.find_source_cell(
                    grade_id, self.notebook_id, self.assignment_id
                )
            except MissingEntry:
                source_cell = None
            if (
                source_cell is not None
                and source_cell.locked
                and cell.source == released_source(source_cell.source, self.config)
            ):
                cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)


def released_source(source: str, config) -> str | None:
    """``source`` as generate_assignment releases it (ClearHiddenTests applied), or None."""
    cell = nbformat.v4.new_code_cell(source)
    try:
        ClearHiddenTests(config=config)._remove_hidden_test_region(cell)
    except RuntimeError:  # unterminated hidden block: nbgrader would not have released it
        return None
    return cell.source
