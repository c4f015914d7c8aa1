"""One submission graded by nbgrader's own ``Autograde``, as a pure task: bytes in, records out.

The task never sees the course folder or its gradebook. It receives

* a :class:`Release` — what every task of an assignment shares: the source folder's files, the
  gradebook's rows describing the assignment (notebooks, grade/solution/task/source cells with
  their points and checksums, the due date), the grader secret and the nbgrader config;
* a :class:`Submission` — one student's submitted files and their existing gradebook state
  (extension, manual scores and comments, which nbgrader's autograde takes into account),

builds a throwaway course (source folder, submitted/<student>/, a temporary SQLite gradebook
holding exactly those rows), runs ``Autograde`` there with the course's own preprocessor lists
(sandboxed execution, sealed checks, late penalties ...) and returns a :class:`Graded`: the
rows autograde wrote and the files it wrote to ``autograded/<student>/<assignment>/``. The
coordinator (:mod:`cs231n_grader.distributed`) copies those into the real course.

:func:`grade_folder` is the one-notebook API on top of it (a JSON-able verdict per part).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import logging
import os
import resource
import shutil
import socket
import stat
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

#: files of a submission larger than this are not sent to a worker (nbgrader would copy them;
#: a grading task has no use for them and they would only fill the cluster's memory)
MAX_FILE_BYTES = 256 * 2**20
#: grading changes process-wide state (cwd during Autograde.start, the secret's env var): one
#: task at a time per process, whatever the worker's thread count
_ONE_AT_A_TIME = threading.Lock()
GRADEBOOK = "gradebook.db"  # the throwaway course's gradebook, in its root


@dataclass
class Release:
    """What every grading task of one assignment needs from the course (no paths)."""

    assignment: str
    source_files: dict[str, bytes]  # relative path in solutions/<assignment>/ -> bytes
    spec: dict  # gradebook rows of the assignment (see :func:`assignment_spec`)
    secret: bytes  # the grader secret (hidden cases are derived from it)
    config: object  # the course's traitlets Config (root/db_url replaced per task)
    reference_notebook: bytes | None = None  # c.SealedChecks.reference_notebook's bytes, if set


@dataclass
class Submission:
    """One student's submitted folder and existing gradebook state."""

    student: str
    files: dict[str, bytes]  # relative path in submitted/<student>/<assignment>/ -> bytes
    state: dict = field(default_factory=dict)  # see :func:`submission_state`


@dataclass
class Graded:
    """A task's result: the gradebook rows autograde wrote and the autograded folder's files.

    ``notebooks``: [{name, late_submission_penalty, grades: {cell: {auto_score,
    needs_manual_grade}}, comments: {cell: auto_comment}}]; ``files``: relative path ->
    (bytes, mode). ``error`` is None when nbgrader graded the submission; ``grader_fault`` says
    the error is the grader's own (nothing of this run may be recorded)."""

    student: str
    error: str | None = None
    grader_fault: bool = False
    timestamp: datetime | None = None
    notebooks: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    log: str = ""
    seconds: float = 0.0
    worker: str = ""
    peak_rss_bytes: int = 0  # the worker process's peak resident memory so far

    @property
    def ok(self) -> bool:
        return self.error is None


# --- reading the course (coordinator side) -------------------------------------------------------
def assignment_spec(gb, assignment: str) -> dict:
    """The rows of ``assignment`` in an open nbgrader ``Gradebook`` as plain data."""
    a = gb.find_assignment(assignment)
    notebooks = []
    for nb in a.notebooks:
        notebooks.append(
            {
                "name": nb.name,
                "kernelspec": nb.kernelspec,
                "grade_cells": [
                    {"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                    for c in nb.grade_cells
                ],
                "solution_cells": [c.name for c in nb.solution_cells],
                "task_cells": [
                    {"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                    for c in nb.task_cells
                ],
                "source_cells": [
                    {
                        "name": c.name,
                        "cell_type": c.cell_type,
                        "locked": c.locked,
                        "source": c.source,
                        "checksum": c.checksum,
                    }
                    for c in nb.source_cells
                ],
            }
        )
    return {"name": a.name, "duedate": a.duedate, "course_id": gb.course_id, "notebooks": notebooks}


def submission_state(gb, assignment: str, student: str) -> dict:
    """What the gradebook already holds for (assignment, student) that autograde reads: the
    student row, the submission's timestamp and extension, manual scores, extra credit, manual
    comments, flags. ``{}`` for a student the gradebook does not know."""
    from nbgrader.api import MissingEntry

    try:
        s = gb.find_student(student)
    except MissingEntry:
        return {}
    state = {
        "student": {
            "first_name": s.first_name,
            "last_name": s.last_name,
            "email": s.email,
            "lms_user_id": getattr(s, "lms_user_id", None),
        }
    }
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return state
    state["submission"] = {
        "timestamp": sub.timestamp,
        "extension": sub.extension,
        "notebooks": {
            nb.name: {
                "flagged": nb.flagged,
                "grades": {
                    g.name: {"manual_score": g.manual_score, "extra_credit": g.extra_credit}
                    for g in nb.grades
                },
                "comments": {c.name: c.manual_comment for c in nb.comments},
            }
            for nb in sub.notebooks
        },
    }
    return state


def read_folder(folder: Path, ignore: list[str] | None = None) -> dict[str, bytes]:
    """Regular files under ``folder`` (relative POSIX path -> bytes). Symbolic links, special
    files and files above MAX_FILE_BYTES are skipped: a submission is hostile input, and a link
    could point at the solutions or another student's work."""
    import fnmatch

    out = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = [
            d
            for d in dirnames
            if not os.path.islink(os.path.join(dirpath, d))
            and not any(fnmatch.fnmatch(d, p) for p in ignore or [])
        ]
        for name in filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                continue
            if any(fnmatch.fnmatch(name, p) for p in ignore or []):
                continue
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


class CourseError(RuntimeError):
    """The course folder cannot be graded as it is; the message says what to do."""


def load_course(root: str | Path = ".", argv: list[str] | tuple = ()):
    """(CourseDirectory, Config) of the course at ``root``, loaded the way ``nbgrader autograde``
    loads them (nbgrader_config.py files, then ``--Class.trait=value`` options in ``argv``)."""
    from nbgrader.apps import AutogradeApp

    app = AutogradeApp()
    app.initialize(list(argv), root=str(Path(root).resolve()))
    return app.coursedir, app.config


def load_release(cd, config, assignment: str) -> Release:
    """What the grading tasks of ``assignment`` need, read from the course (gradebook + source)."""
    from nbgrader.api import Gradebook, MissingEntry

    from cs231n_grader.secret import grader_secret

    try:
        with Gradebook(cd.db_url, cd.course_id) as gb:
            spec = assignment_spec(gb, assignment)
    except MissingEntry:
        raise CourseError(
            f"assignment {assignment!r} is not in the gradebook {cd.db_url}: run "
            f"`nbgrader generate_assignment {assignment}` in the course root first"
        ) from None
    source = Path(cd.format_path(cd.source_directory, ".", assignment))
    if not source.is_dir():
        raise CourseError(
            f"source folder {source} not found (CourseDirectory.source_directory); "
            "run from the course root, where nbgrader_config.py is"
        )
    reference = (
        config.SealedChecks.get("reference_notebook", "") if "SealedChecks" in config else ""
    )
    secret_root = (
        config.SealedChecks.get("course_root", "") if "SealedChecks" in config else ""
    ) or cd.root
    return Release(
        assignment=assignment,
        source_files=read_folder(source, ignore=list(cd.ignore)),
        spec=spec,
        secret=grader_secret(secret_root),
        config=config,
        reference_notebook=Path(reference).read_bytes() if reference else None,
    )


# --- the task (worker side) ---------------------------------------------------------------------
def safe_relpath(name: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder; ValueError otherwise."""
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or not path.parts
        or any(p in ("..", ".", "") for p in path.parts)
        or "\0" in name
    ):
        raise ValueError(f"refusing file name {name!r} (absolute, empty or leaving its folder)")
    return path


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``folder``."""
    for name, data in files.items():
        dest = folder / safe_relpath(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def check_student_id(student: str) -> str:
    """A student id usable as one folder name; ValueError otherwise."""
    if (
        not student
        or "/" in student
        or "\0" in student
        or student in (".", "..")
        or student.startswith("-")
    ):
        raise ValueError(f"invalid student id {student!r}")
    return student


#: SQLite gradebook bytes holding an assignment's rows, per spec (built once per worker process:
#: nbgrader stamps every new gradebook by running `alembic heads` in a subprocess)
_GRADEBOOKS: dict[str, bytes] = {}


def _assignment_gradebook(spec: dict) -> bytes:
    """An SQLite gradebook (file bytes) holding exactly the assignment's rows of ``spec``."""
    from nbgrader.api import Gradebook

    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    if key in _GRADEBOOKS:
        return _GRADEBOOKS[key]
    a = spec["name"]
    with tempfile.TemporaryDirectory(prefix="cs231n-gradebook-") as tmp:
        path = Path(tmp) / "gradebook.db"
        with Gradebook(f"sqlite:///{path}", spec.get("course_id") or "default_course") as gb:
            gb.update_or_create_assignment(a, duedate=spec["duedate"])
            for nb in spec["notebooks"]:
                gb.update_or_create_notebook(nb["name"], a, kernelspec=nb["kernelspec"])
                for c in nb["grade_cells"]:
                    gb.update_or_create_grade_cell(
                        c["name"], nb["name"], a, max_score=c["max_score"], cell_type=c["cell_type"]
                    )
                for name in nb["solution_cells"]:
                    gb.update_or_create_solution_cell(name, nb["name"], a)
                for c in nb["task_cells"]:
                    gb.update_or_create_task_cell(
                        c["name"], nb["name"], a, max_score=c["max_score"], cell_type=c["cell_type"]
                    )
                for c in nb["source_cells"]:
                    gb.update_or_create_source_cell(
                        c["name"],
                        nb["name"],
                        a,
                        cell_type=c["cell_type"],
                        locked=c["locked"],
                        source=c["source"],
                        checksum=c["checksum"],
                    )
        _GRADEBOOKS.clear()  # one assignment at a time is what a grading run needs
        _GRADEBOOKS[key] = path.read_bytes()
    return _GRADEBOOKS[key]


def _build_gradebook(path: Path, spec: dict, student: str, state: dict) -> None:
    """A fresh SQLite gradebook at ``path``: the assignment's rows and the student's state."""
    from nbgrader.api import Gradebook

    path.write_bytes(_assignment_gradebook(spec))
    if "student" not in state:
        return
    with Gradebook(f"sqlite:///{path}", spec.get("course_id") or "default_course") as gb:
        gb.update_or_create_student(
            student, **{k: v for k, v in state["student"].items() if v is not None}
        )
        old = state.get("submission")
        if not old:
            return
        sub = gb.add_submission(spec["name"], student)
        sub.timestamp, sub.extension = old["timestamp"], old["extension"]
        for snb in sub.notebooks:
            was = old["notebooks"].get(snb.name, {})
            snb.flagged = bool(was.get("flagged"))
            for g in snb.grades:
                g.manual_score = was.get("grades", {}).get(g.name, {}).get("manual_score")
                g.extra_credit = was.get("grades", {}).get(g.name, {}).get("extra_credit")
            for c in snb.comments:
                c.manual_comment = was.get("comments", {}).get(c.name)
        gb.db.commit()


def _task_config(release: Release, root: Path):
    """The course's config with this throwaway course's root, gradebook and secret folder."""
    from traitlets.config import Config

    cfg = copy.deepcopy(release.config) if release.config is not None else Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{root / GRADEBOOK}"
    cfg.CourseDirectory.assignment_id = release.assignment
    cfg.SealedChecks.course_root = str(root)
    if release.reference_notebook is not None:
        cfg.SealedChecks.reference_notebook = str(root / "reference.ipynb")
    return cfg


def _read_back(db_url: str, assignment: str, student: str) -> tuple[datetime | None, list]:
    """(timestamp, notebooks) of the submission autograde recorded (see :class:`Graded`)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        sub = gb.find_submission(assignment, student)
        notebooks = [
            {
                "name": nb.name,
                "late_submission_penalty": nb.late_submission_penalty,
                "grades": {
                    g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                    for g in nb.grades
                },
                "comments": {c.name: c.auto_comment for c in nb.comments},
            }
            for nb in sub.notebooks
        ]
        return sub.timestamp, notebooks


def _files_with_modes(folder: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(folder).as_posix()] = (
                path.read_bytes(),
                stat.S_IMODE(path.stat().st_mode),
            )
    return out


def grade_submission(release: Release, submission: Submission) -> Graded:
    """Grade one submission with nbgrader's Autograde in a throwaway course -> :class:`Graded`.

    Pure: nothing outside a private temporary folder is read or written except what the
    course's own preprocessors use on this machine (the kit, CIFAR-10, bubblewrap). Never
    raises for a submission's content; an error is reported in ``Graded.error``."""
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    from cs231n_grader.secret import SECRET_ENV

    started = time.monotonic()
    out = Graded(student=submission.student, worker=f"{socket.gethostname()}:{os.getpid()}")
    log_text = io.StringIO()
    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix=task_dir_prefix()) as tmp:
        root = Path(tmp)
        try:
            student = check_student_id(submission.student)
            cfg = _task_config(release, root)
            cd = CourseDirectory(config=cfg)
            write_folder(
                Path(cd.format_path(cd.source_directory, ".", release.assignment)),
                release.source_files,
            )
            write_folder(
                Path(cd.format_path(cd.submitted_directory, student, release.assignment)),
                submission.files,
            )
            if release.reference_notebook is not None:
                (root / "reference.ipynb").write_bytes(release.reference_notebook)
            _build_gradebook(root / GRADEBOOK, release.spec, student, submission.state)
        except ValueError as exc:
            out.error = f"not graded: {exc}"
            return out
        cd.student_id = student
        converter = Autograde(coursedir=cd, config=cfg)
        handler = logging.StreamHandler(log_text)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        converter.log.addHandler(handler)
        saved_env = os.environ.get(SECRET_ENV)
        os.environ[SECRET_ENV] = release.secret.decode()
        try:
            with (
                warnings.catch_warnings()
            ):  # nbgrader's own add_submission warns on every new student
                warnings.filterwarnings("ignore", message=".*not in session.*")
                converter.start()
        except NbGraderException as exc:
            out.error = str(exc) or "nbgrader could not grade this submission"
        except Exception as exc:  # noqa: BLE001 - reported per submission, like nbgrader does
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            converter.log.removeHandler(handler)
            if saved_env is None:
                os.environ.pop(SECRET_ENV, None)
            else:
                os.environ[SECRET_ENV] = saved_env
        out.log = log_text.getvalue()
        out.grader_fault = any(name in out.log for name in ("GraderFault", "SandboxUnavailable"))
        if out.grader_fault:
            out.error = grader_fault_message(out.log)
        if out.error is None:
            out.timestamp, out.notebooks = _read_back(cd.db_url, release.assignment, student)
            dest = Path(cd.format_path(cd.autograded_directory, student, release.assignment))
            out.files = _files_with_modes(dest)
    out.seconds = time.monotonic() - started
    out.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return out


def warm_up() -> float:
    """Import what a grading task needs (nbgrader, nbconvert, the kit's preprocessors) so that a
    fresh worker's first task does not wait for it; returns the seconds it took."""
    import importlib

    started = time.monotonic()
    for module in WARM_UP_MODULES:
        importlib.import_module(module)
    return time.monotonic() - started


#: what unpickling a Release (its nbgrader config names the kit's plug-ins) and Autograde import
WARM_UP_MODULES = (
    "nbgrader.converters",
    "nbgrader.api",
    "nbclient",
    "cs231n_grader.execute",
    "cs231n_grader.intake",
    "cs231n_grader.preprocessors",
    "cs231n_grader.sealed",
    "cs231n_grader.feedback",
    "cs231n_grader.course",
    "cs231n_grader.release",
    "cs231n_grader.cellmeta",
    "cs231n_grader.safehtml",
)
TASK_DIR = "cs231n-task-"


def task_dir_prefix() -> str:
    """The prefix of this process's throwaway courses (``cs231n-task-<pid>-``); the first call in
    a process sweeps those of dead processes (:func:`_sweep_dead_task_dirs`)."""
    _sweep_dead_task_dirs()
    return f"{TASK_DIR}{os.getpid()}-"


@functools.cache
def _sweep_dead_task_dirs() -> None:
    """Delete this user's throwaway courses of dead processes in the temporary folder: a worker
    killed mid-task (SIGKILL, out of memory) cannot clean up after itself."""
    for path in Path(tempfile.gettempdir()).glob(TASK_DIR + "*-*"):
        pid = path.name[len(TASK_DIR) :].split("-", 1)[0]
        st = path.lstat()
        if pid.isdigit() and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            if not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def grader_fault_message(log: str) -> str:
    """The GraderFault / SandboxUnavailable message in an nbgrader log (the end of its traceback,
    up to the next log record)."""
    for name in ("GraderFault: ", "SandboxUnavailable: "):
        start = log.rfind(name)
        if start >= 0:
            return log[start + len(name) :].split("\n[", 1)[0].strip()
    return "the grader failed (see the log)"


# --- the one-notebook API -------------------------------------------------------------------------
def verdicts(graded: Graded) -> dict[str, dict]:
    """part -> the sealed verdict SealedChecks wrote into the autograded notebook(s)
    of ``graded``."""
    import nbformat

    out = {}
    for name, (data, _) in graded.files.items():
        if name.endswith(".ipynb") and "/" not in name:
            nb = nbformat.reads(data.decode(), as_version=4)
            for cell in nb.cells:
                verdict = cell.get("metadata", {}).get("cs231n", {}).get("verdict")
                if verdict:
                    out[verdict["part"]] = verdict
    return out


def verdict_json(graded: Graded, release: Release) -> dict:
    """A JSON-able verdict: per grade cell the points (and for sealed parts the cases passed and
    the diagnosis), totals, and whether an instructor still has cells to grade by hand."""
    sealed = {f"test_{part}": v for part, v in verdicts(graded).items()}
    parts, score, max_score = {}, 0.0, 0.0
    for nb in release.spec["notebooks"]:
        rec = next((r for r in graded.notebooks if r["name"] == nb["name"]), {"grades": {}})
        for cell in nb["grade_cells"] + nb["task_cells"]:
            grade = rec["grades"].get(cell["name"], {})
            entry = {
                "points": grade.get("auto_score"),
                "max_points": cell["max_score"],
                "needs_manual_grade": grade.get("needs_manual_grade"),
            }
            if cell["name"] in sealed:
                v = sealed[cell["name"]]
                entry.update(
                    cases_passed=v["passed"],
                    cases=v["total"],
                    checked=v["checked"],
                    diagnosis=v["diagnosis"],
                    reason=v["reason"],
                )
            parts[cell["name"]] = entry
            score += entry["points"] or 0.0
            max_score += cell["max_score"]
    return {
        "student": graded.student,
        "assignment": release.assignment,
        "ok": graded.ok,
        "error": graded.error,
        "grader_fault": graded.grader_fault,
        "score": score,
        "max_score": max_score,
        "parts": parts,
        "seconds": round(graded.seconds, 2),
    }


def grade_folder(
    folder: str | Path, assignment: str | None = None, course_root: str | Path = ".", course=None
) -> dict:
    """Grade one submission folder (its notebook + best_net.npz) with the course's autograde, the
    same task the workers run; nothing is written to the course. Returns :func:`verdict_json`.

    ``assignment`` defaults to the folder's name; ``course`` = (CourseDirectory, Config) already
    loaded (else :func:`load_course` of ``course_root``)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise CourseError(
            f"{folder} is not a folder: pass the folder holding the submitted notebook"
        )
    cd, config = course or load_course(course_root)
    release = load_release(cd, config, assignment or folder.name)
    student = folder.parent.name if folder.parent.name not in ("", "/") else "submission"
    return verdict_json(
        grade_submission(release, Submission(student, read_folder(folder))), release
    )
