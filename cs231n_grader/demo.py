"""The kit's main job on the bundled class: ``python -m cs231n_grader.demo`` (``make demo``).

In a demo course folder (default ``build/demo/``, whose ``nbgrader_config.py`` loads the repo's
config and only sets paths) it runs the instructor's whole cycle with the real nbgrader CLI:

 1. CIFAR-10 present? (else download via ``cs231n_utils.data``, honouring CIFAR10_URL/CIFAR10_MD5)
 2. ``nbgrader generate_assignment``         release the student notebook
 3. build the bundled class                 (``cs231n_grader.samples``)
 4. ``nbgrader db student import``          roster CSV
 5. collect                                 half the class as a folder of notebooks, the other
                                            half as LMS-style zips through ``nbgrader zip_collect``
 6. ``nbgrader autograde``                  sandboxed execution + sealed checks
 7. ``nbgrader generate_feedback``          feedback HTML per student
 8. ``nbgrader export``                     per-part CSV (``PartsExporter``)

then prints a student x part score table (pending manual parts as "pending", maxima in the
header) and where the feedback and the CSV are. Exit code 0 only when every step worked.

Re-running redoes only what changed, and says so: ``demo_state.json`` in the course folder
records a fingerprint of the grader (the solution notebook, nbgrader_config.py, the kit's
code) and of every collected submission. Same grader: the release is kept and only
submissions whose files changed are autograded again (their feedback too); another grader:
everything is released and regraded with ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from cs231n_grader import samples
from cs231n_grader.exporter import DEFAULT_PARTS
from cs231n_grader.parts import PARTS
from cs231n_utils import handin

ASSIGNMENT = "two_layer_net"
NOTEBOOK = "two_layer_net.ipynb"
#: hand-in times of the zipped half of the class (UTC; one minute apart)
ZIP_TIMES_FROM = datetime(2026, 11, 20, 9, 58, 12)
PART_COLUMNS = list(DEFAULT_PARTS) + ["total"]
HEADS = [part.short for part in PARTS] + ["total"]
STATE_FILE = "demo_state.json"


class StepFailed(RuntimeError):
    """A step of the cycle failed; the message says which and where its log is."""


def repo_root() -> Path:
    """The repository holding the (editable) ``cs231n_utils`` package."""
    return samples.repo_root()


def say(message: str) -> None:
    """Progress line, flushed at once."""
    print(message, flush=True)


# --- the course folder -----------------------------------------------------------------


def course_config(course: Path, repo: Path) -> str:
    """Text of the demo course's nbgrader_config.py: the repo's config + this folder's paths."""
    return (
        '"""Demo course written by cs231n_grader.demo: '
        'the repo\'s config, this folder\'s paths."""\n'
        f"""c = get_config()  # noqa: F821
load_subconfig({str(repo / "nbgrader_config.py")!r})  # noqa: F821
c.CourseDirectory.root = {str(course)!r}
c.CourseDirectory.db_url = {"sqlite:///" + str(course / "gradebook.db")!r}
"""
    )


def prepare_course(course: Path, repo: Path) -> None:
    """Create the course folder: config, a copy of the source notebook, clean collection dirs."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(course_config(course, repo))
    source = course / "solutions" / ASSIGNMENT
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(
        repo / "solutions" / ASSIGNMENT,
        source,
        ignore=shutil.ignore_patterns(
            "best_net.npz", "*.pyc", "__pycache__", ".ipynb_checkpoints", "*.py"
        ),
    )
    for state in ("submitted", "downloaded", "bundled", "logs"):
        shutil.rmtree(course / state, ignore_errors=True)
    (course / "logs").mkdir()


# --- running nbgrader ---------------------------------------------------------------------


def nbgrader(course: Path, step: str, *args: str, progress=None) -> str:
    """Run ``nbgrader <args>`` in ``course`` as a subprocess; log to logs/<step>.log.

    ``progress(line)`` is called for each output line (to show progress). Raises StepFailed
    when nbgrader exits non-zero; returns the combined output.
    """
    log_path = course / "logs" / f"{step}.log"
    cmd = [sys.executable, "-m", "nbgrader", *args]
    lines = []
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            cmd,
            cwd=course,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=nbgrader_env(),
        ) as proc,
    ):
        log.write("$ " + " ".join(cmd) + "\n")
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if progress:
                progress(line)
        proc.wait()
    if proc.returncode != 0:
        tail = "".join(lines[-15:])
        raise StepFailed(
            f"`nbgrader {' '.join(args)}` failed (exit code {proc.returncode}); "
            f"full log: {log_path}\n{tail}"
        )
    return "".join(lines)


def nbgrader_env() -> dict:
    """Environment for nbgrader subprocesses: the venv's scripts first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def autograde_progress(total: int):
    """A progress callback for autograde: one line per student as nbgrader starts it."""
    seen = []

    def show(line: str) -> None:
        if "Sanitizing" in line:
            student = _student_from_log(line)
            if student and student not in seen:
                seen.append(student)
                say(f"    [{len(seen)}/{total}] {student}")
        elif "ERROR" in line and "Traceback" not in line:
            say("      ! " + line.split("]", 1)[-1].strip()[:160])

    return show


def _student_from_log(line: str) -> str | None:
    """The student id in a log line mentioning ``…/submitted/<student>/…``."""
    found = re.search(r"/submitted/([^/\s]+)/", line)
    return found.group(1) if found else None


# --- the steps ------------------------------------------------------------------------------


def ensure_data() -> Path:
    """CIFAR-10 folder; downloaded (CIFAR10_URL / CIFAR10_MD5 honoured) when missing."""
    from cs231n_utils import data

    return data.download_cifar10()


def collect(course: Path, bundled: Path, students: list[str], zip_every: int | None = 2) -> tuple:
    """Put the class where nbgrader collects it: every ``zip_every``-th student as an LMS zip
    under downloaded/<assignment>/archive/, the others (all when ``zip_every`` is None)
    straight into submitted/.

    Returns (students collected as folders, students sent as zips).
    """
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    as_folder, as_zip = [], []
    for index, student in enumerate(students):
        src = bundled / student / ASSIGNMENT
        if zip_every and index % zip_every == 1:
            name = handin.zip_name(ASSIGNMENT, student, ZIP_TIMES_FROM + timedelta(minutes=index))
            with zipfile.ZipFile(archive / name, "w") as zf:
                for path in sorted(src.iterdir()):
                    zf.write(path, path.name)
            as_zip.append(student)
        else:
            shutil.copytree(src, course / "submitted" / student / ASSIGNMENT)
            as_folder.append(student)
    return as_folder, as_zip


def read_grades(csv_path: Path, assignment: str = ASSIGNMENT) -> list[dict]:
    """Rows of ``assignment`` in the per-part CSV written by PartsExporter."""
    with open(csv_path, newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["assignment"] == assignment]


def part_maxima(course: Path, assignment: str = ASSIGNMENT) -> dict:
    """Column -> maximum points (``total``: the assignment's), from the course's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        found = gb.find_assignment(assignment)
        points = {cell.name: cell.max_score for nb in found.notebooks for cell in nb.grade_cells}
        maxima = {part: sum(points.get(g, 0.0) for g in ids) for part, ids in DEFAULT_PARTS.items()}
        maxima["total"] = found.max_score
    return maxima


def score_table(rows: list[dict], maxima: dict | None = None) -> str:
    """A fixed-width student x part table; headers ``part/max``; pending parts say so."""
    maxima = maxima or {}
    heads = [
        h + (f"/{maxima[c]:g}" if c in maxima else "")
        for h, c in zip(HEADS, PART_COLUMNS, strict=True)
    ]
    width = max([len("student")] + [len(r["student_id"]) for r in rows])
    col = max(9, *(len(h) + 1 for h in heads))
    lines = ["student".ljust(width) + "".join(h.rjust(col) for h in heads)]
    for row in rows:
        cells = "".join(row[c].rjust(col) for c in PART_COLUMNS)
        lines.append(row["student_id"].ljust(width) + cells)
    if any(row[c] == "pending" for row in rows for c in PART_COLUMNS):
        lines.append("pending = awaits manual grading (formgrader); totals count graded parts only")
    return "\n".join(lines)


# --- re-running: redo only what changed ----------------------------------------------------------


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content; of an archive's members (not its timestamps) for .npz/.zip."""
    h = hashlib.sha256()
    if path.suffix in (".npz", ".zip") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                h.update(name.encode() + b"\0" + zf.read(name))
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of every file under ``folder``."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()


def grader_fingerprint(course: Path, repo: Path) -> str:
    """What every grade depends on: the source notebook, the config, the kit's code (not the
    demo's own modules, which decide nothing about grades)."""
    h = hashlib.sha256()
    files = [course / "solutions" / ASSIGNMENT / NOTEBOOK, repo / "nbgrader_config.py"]
    files += sorted(
        p
        for pkg in ("cs231n_grader", "cs231n_utils")
        for p in (repo / pkg).glob("*.py")
        if p.name not in ("demo.py", "samples.py")
    )
    for path in files:
        h.update(path.name.encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()


def load_state(course: Path) -> dict:
    """The previous run's fingerprints ({} when none or unreadable)."""
    try:
        return json.loads((course / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def save_state(course: Path, grader: str, submissions: dict) -> None:
    """Record this run's fingerprints (after a successful autograde)."""
    (course / STATE_FILE).write_text(
        json.dumps({"grader": grader, "submissions": submissions}, indent=1, sort_keys=True)
    )


def changed_students(course: Path, students: list[str], previous: dict) -> tuple[list, dict]:
    """(students whose submitted files differ from the last graded run, their new digests)."""
    digests = {s: folder_digest(course / "submitted" / s / ASSIGNMENT) for s in students}
    graded = course / "autograded"
    changed = [
        s
        for s in students
        if previous.get(s) != digests[s] or not (graded / s / ASSIGNMENT / NOTEBOOK).is_file()
    ]
    return changed, digests


def run_cycle(course: Path, repo: Path | None = None, zip_every: int | None = 2) -> list[dict]:
    """Run the whole cycle in ``course`` (only what changed since the last run); returns the
    exported rows of the assignment. Raises StepFailed."""
    repo = repo or repo_root()
    started = time.monotonic()
    say("[1/8] CIFAR-10")
    say(f"      {ensure_data()}")
    prepare_course(course, repo)
    state, grader = load_state(course), grader_fingerprint(course, repo)
    release_nb = course / "assignment" / ASSIGNMENT / NOTEBOOK
    same_grader = state.get("grader") == grader and release_nb.is_file()
    if same_grader:
        say(f"[2/8] release: unchanged since the last run, kept {release_nb}")
    else:
        say(f"[2/8] release: nbgrader generate_assignment {ASSIGNMENT} --force  (course: {course})")
        nbgrader(course, "release", "generate_assignment", ASSIGNMENT, "--force")
    say("[3/8] bundled class (reference nets cached in data/cache/)")
    bundled = course / "bundled"
    class_ = samples.build_class(
        release_nb,
        course / "solutions" / ASSIGNMENT / NOTEBOOK,
        bundled,
        assignment=ASSIGNMENT,
        log=say,
    )
    roster = course / "roster.csv"
    samples.write_roster(class_ + [samples.ABSENT], roster)
    say(f"      {len(class_)} submissions; roster {roster} (+1 student who submitted nothing)")
    say("[4/8] roster: nbgrader db student import roster.csv")
    nbgrader(course, "roster", "db", "student", "import", str(roster))
    students = [s.student_id for s in class_]
    as_folder, as_zip = collect(course, bundled, students, zip_every=zip_every)
    say(f"[5/8] collect: {len(as_folder)} as folders, {len(as_zip)} via nbgrader zip_collect")
    nbgrader(course, "zip_collect", "zip_collect", ASSIGNMENT, "--force")
    missing = [
        s for s in as_zip if not (course / "submitted" / s / ASSIGNMENT / NOTEBOOK).is_file()
    ]
    if missing:
        raise StepFailed(f"zip_collect did not collect {missing}; see {course / 'logs'}")
    changed, digests = changed_students(course, students, state.get("submissions", {}))
    regrade = changed if same_grader else students
    force = [] if same_grader else ["--force"]
    if same_grader:
        say(
            f"[6/8] autograde: {len(regrade)} changed submission(s) graded again, "
            f"{len(students) - len(regrade)} unchanged kept (grader unchanged since the last run)"
        )
        for student in regrade:  # nbgrader grades (and gives feedback to) what has no output yet
            for step in ("autograded", "feedback"):
                shutil.rmtree(course / step / student / ASSIGNMENT, ignore_errors=True)
    else:
        say(
            f"[6/8] autograde: nbgrader autograde {ASSIGNMENT} --force  (all {len(students)}: "
            f"{'first run' if not state else 'the grader changed'})"
        )
    t0 = time.monotonic()
    if regrade:
        nbgrader(
            course,
            "autograde",
            "autograde",
            ASSIGNMENT,
            *force,
            progress=autograde_progress(len(regrade)),
        )
        per_submission = (time.monotonic() - t0) / len(regrade)
        say(f"      {per_submission:.1f} s per submission (mean over {len(regrade)})")
    save_state(course, grader, digests)
    feedback = [course / "feedback" / s / ASSIGNMENT / f"{NOTEBOOK[:-6]}.html" for s in students]
    if not regrade and all(path.is_file() for path in feedback):
        say("[7/8] feedback: nothing regraded, kept")
    else:
        say(f"[7/8] feedback: nbgrader generate_feedback {ASSIGNMENT} {' '.join(force)}".rstrip())
        nbgrader(course, "feedback", "generate_feedback", ASSIGNMENT, *force)
    say("[8/8] export: nbgrader export --to grades.csv  (PartsExporter: per-part columns)")
    grades = course / "grades.csv"
    nbgrader(course, "export", "export", "--to", str(grades))
    rows = read_grades(grades)
    say("")
    say(score_table(rows, part_maxima(course)))
    say("")
    say(f"feedback: {course / 'feedback'}/<student>/{ASSIGNMENT}/{NOTEBOOK[:-6]}.html")
    say(f"grades:   {grades}")
    say(f"logs:     {course / 'logs'}   (whole cycle {time.monotonic() - started:.0f} s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit code 0 only when every step worked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--course", type=Path, default=None, help="demo course folder (default: <repo>/build/demo)"
    )
    args = parser.parse_args(argv)
    course = (args.course or repo_root() / "build" / "demo").resolve()
    try:
        run_cycle(course)
    except (StepFailed, samples.SampleError, FileNotFoundError, RuntimeError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
