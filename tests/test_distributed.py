"""cs231n-autograde on real processes: a LocalCluster, a `dask scheduler` + two `dask worker`s on
loopback, a real PostgreSQL server, killed workers and coordinators, and the canary.

A small subset of the bundled class keeps this affordable; every run is compared with plain
`nbgrader autograde` of the same submissions (the module's ``serial`` course).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n_grader import demo, samples

A = demo.ASSIGNMENT
SECRET = "test-distributed-secret"
STUDENTS = ("reference", "untouched", "loss_not_averaged")  # full, zero, partial + a diagnosis
AUTOGRADE = [str(Path(sys.executable).parent / "cs231n-autograde")]
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    default=Path("/usr/lib/postgresql/15/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
)


def env(**extra) -> dict:
    """nbgrader's environment for subprocesses, with the fixed secret (same hidden cases)."""
    out = demo.nbgrader_env()
    out.update(CS231N_GRADER_SECRET=SECRET, OPENBLAS_NUM_THREADS="1", **extra)
    return out


def run(course: Path, *args, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        list(args),
        cwd=course,
        env=kw.pop("env", None) or env(),
        capture_output=True,
        text=True,
        **kw,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


# --- fast: the pieces -----------------------------------------------------------------------------
def test_probe_runner_tells_the_graders_fault_from_a_students():
    from cs231n_grader import faults
    from cs231n_grader.cases import CaseOutcome
    from cs231n_grader.sandbox import Limits

    faults.probe_runner(
        Limits(wall_seconds=60, cpu_seconds=30, memory_bytes=2 * 2**30)
    )  # ready: no fault
    with pytest.raises(faults.GraderFault, match="cannot start even without any student code"):
        faults.probe_runner(Limits(wall_seconds=60, cpu_seconds=30, memory_bytes=40_000_000))
    assert faults.runner_never_ready(
        {"a": CaseOutcome(reason="your solution cells did not finish loading (x)")}
    )
    assert not faults.runner_never_ready(
        {
            "a": CaseOutcome(meta={}, outputs={}),
            "b": CaseOutcome(reason="the grader's run stopped in train()"),
        }
    )


def test_submission_files_are_regular_files_that_stay_in_their_folder(tmp_path):
    from cs231n_grader import task

    sub = tmp_path / "sub"
    (sub / "deep").mkdir(parents=True)
    (sub / "two_layer_net.ipynb").write_text("{}")
    (sub / "deep" / "notes.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("solutions")
    (sub / "link.txt").symlink_to(tmp_path / "secret.txt")
    (sub / "linkdir").symlink_to(tmp_path)
    os.mkfifo(sub / "fifo")
    assert task.read_folder(sub) == {"two_layer_net.ipynb": b"{}", "deep/notes.txt": b"x"}
    for bad in ("../x", "/etc/passwd", "a/../../b", "", "."):
        with pytest.raises(ValueError):
            task.safe_relpath(bad)
    for bad in ("..", "a/b", "-rf", ""):
        with pytest.raises(ValueError):
            task.check_student_id(bad)


def test_throwaway_courses_of_dead_workers_are_swept(tmp_path, monkeypatch):
    """A worker killed mid-task leaves its throwaway course (the source notebook included) in the
    temporary folder; the next process to grade deletes it, and only it."""
    from cs231n_grader import task

    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task._sweep_dead_task_dirs.cache_clear()  # as in a fresh process
    stale = tmp_path / f"{task.TASK_DIR}{dead.pid}-abc"
    (stale / "source").mkdir(parents=True)
    live = tmp_path / f"{task.TASK_DIR}{os.getppid()}-def"
    live.mkdir()
    other = tmp_path / f"{task.TASK_DIR}{dead.pid}-file"
    other.write_text("not a folder")
    assert task.task_dir_prefix() == f"{task.TASK_DIR}{os.getpid()}-"
    assert not stale.exists() and live.is_dir() and other.is_file()


# --- courses --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(cifar_full_dir, tmp_path_factory) -> Path:
    """A released course with the subset collected into submitted/ and the instructor's
    best_net.npz in the source folder (the canary's net); nothing graded yet."""
    course = tmp_path_factory.mktemp("dist_template")
    demo.prepare_course(course, demo.repo_root())
    demo.nbgrader(course, "release", "generate_assignment", A, "--force")
    students = [s for s in samples.CLASS if s.student_id in STUDENTS]
    samples.build_class(
        course / "assignment" / A / demo.NOTEBOOK,
        course / "solutions" / A / demo.NOTEBOOK,
        course / "bundled",
        assignment=A,
        students=students,
        log=lambda *_: None,
    )
    for s in STUDENTS:
        shutil.copytree(course / "bundled" / s / A, course / "submitted" / s / A)
    (course / "submitted" / "loss_not_averaged" / A / "timestamp.txt").write_text(
        "2026-11-20 10:00:00 UTC"
    )
    shutil.copy(
        course / "bundled" / "reference" / A / samples.NET_FILE,
        course / "solutions" / A / samples.NET_FILE,
    )
    return course


def copy_course(template: Path, dest: Path, db_url: str | None = None) -> Path:
    """A copy of the template course (its own gradebook; ``db_url`` replaces it)."""
    shutil.copytree(template, dest, symlinks=True)
    text = demo.course_config(dest, demo.repo_root())
    if db_url:  # PostgreSQL enforces the course foreign key SQLite ignores: name the course
        text += f"c.CourseDirectory.db_url = {db_url!r}\nc.CourseDirectory.course_id = 'cs231n'\n"
    (dest / "nbgrader_config.py").write_text(text)
    return dest


@pytest.fixture(scope="module")
def serial(template, tmp_path_factory) -> Path:
    """The subset graded by plain `nbgrader autograde`, then `generate_feedback` and `export`."""
    course = copy_course(template, tmp_path_factory.mktemp("dist_serial") / "course")
    run(course, sys.executable, "-m", "nbgrader", "autograde", A)
    run(course, sys.executable, "-m", "nbgrader", "generate_feedback", A)
    run(course, sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv")
    return course


def gradebook(db_url: str) -> dict:
    """{student: what autograde records} + the number of submission rows per student."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    out = {}
    with Gradebook(db_url) as gb:
        for sub in gb.db.query(SubmittedAssignment).all():
            assert sub.student.id not in out, f"two submissions of {sub.student.id}"
            out[sub.student.id] = {
                "timestamp": sub.timestamp,
                "notebooks": {
                    nb.name: {
                        "late": nb.late_submission_penalty,
                        "grades": {
                            g.name: (g.auto_score, g.manual_score, g.needs_manual_grade)
                            for g in nb.grades
                        },
                        "comments": {c.name: c.auto_comment for c in nb.comments},
                    }
                    for nb in sub.notebooks
                },
            }
    return out


def sqlite(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def verdicts(course: Path, student: str) -> dict:
    nb = nbformat.read(str(course / "autograded" / student / A / demo.NOTEBOOK), as_version=4)
    return {v["part"]: v for c in nb.cells if (v := c.metadata.get("cs231n", {}).get("verdict"))}


def feedback_summary(course: Path, student: str) -> str:
    page = (course / "feedback" / student / A / "two_layer_net.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return text[text.index("Grading summary") : text.index("What was checked")]


def same_as_serial(
    course: Path, serial: Path, students=STUDENTS, db_url: str | None = None
) -> None:
    """Gradebook rows, autograded folders (file list, sealed verdicts, data files) as serial."""
    got, want = gradebook(db_url or sqlite(course)), gradebook(sqlite(serial))
    assert set(got) == set(students)
    for student in students:
        assert got[student] == want[student], student
        files = sorted(p.name for p in (course / "autograded" / student / A).iterdir())
        assert files == sorted(p.name for p in (serial / "autograded" / student / A).iterdir()), (
            student
        )
        assert verdicts(course, student) == verdicts(serial, student), student
    assert (
        verdicts(course, "loss_not_averaged")["softmax_loss"]["diagnosis"]["id"]
        == "loss_not_averaged"
    )


# --- parallel == serial ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def parallel(template, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    course = copy_course(template, tmp_path_factory.mktemp("dist_parallel") / "course")
    return course, run(course, *AUTOGRADE, A, "--workers", "2")


def test_parallel_equals_serial_gradebook_and_autograded(parallel, serial):
    course, proc = parallel
    same_as_serial(course, serial)
    assert "canary: full autograded points" in proc.stderr
    assert re.search(r"graded 3, failed 0, skipped 0 .* submissions/min", proc.stderr)


def test_parallel_feedback_and_export_equal_serial(parallel, serial):
    course, _ = parallel
    run(course, sys.executable, "-m", "nbgrader", "generate_feedback", A)
    run(course, sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv")
    for student in STUDENTS:
        assert feedback_summary(course, student) == feedback_summary(serial, student), student
    assert (course / "grades.csv").read_text() == (serial / "grades.csv").read_text()


def test_rerun_skips_graded_and_force_regrades_one(parallel, serial):
    course, _ = parallel
    again = run(course, *AUTOGRADE, A, "--workers", "1")
    assert "graded 0, failed 0, skipped 3" in again.stderr and "canary" not in again.stderr
    forced = run(course, *AUTOGRADE, A, "--workers", "1", "--student", "untouched", "--force")
    assert "graded 1, failed 0, skipped 0" in forced.stderr
    same_as_serial(course, serial)


def test_json_verdict_of_one_folder(serial):
    proc = run(serial, *AUTOGRADE, "--json", str(serial / "submitted" / "loss_not_averaged" / A))
    verdict = json.loads(proc.stdout)
    rows = gradebook(sqlite(serial))["loss_not_averaged"]["notebooks"]["two_layer_net"]["grades"]
    assert (
        verdict["ok"]
        and verdict["parts"]["test_softmax_loss"]["diagnosis"]["id"] == "loss_not_averaged"
    )
    for cell, (auto, _, manual) in rows.items():
        assert (
            verdict["parts"][cell]["points"] == auto
            and verdict["parts"][cell]["needs_manual_grade"] == manual
        )
    part = verdict["parts"]["test_softmax_loss"]
    assert 0 < part["cases_passed"] < part["cases"]
    assert SECRET not in proc.stdout and "BEGIN HIDDEN" not in proc.stdout


# --- a real multi-process cluster; a worker killed mid-run ----------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kw,
    )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL the process group we started."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def busy_worker(address: str) -> str | None:
    """The address of a worker that is running a grading task now (asked of the scheduler)."""
    from dask.distributed import Client

    with Client(address, timeout="10s") as client:
        processing = client.processing()
    return next(
        (w for w, keys in processing.items() if any(str(k).startswith("grade-") for k in keys)),
        None,
    )


def test_dask_scheduler_and_two_workers_survive_a_killed_worker(template, serial, tmp_path):
    course = copy_course(template, tmp_path / "course")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    scheduler = start(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    )
    workers = {}
    try:
        for _ in range(2):
            wport = free_port()
            w = start(
                [
                    dask,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--worker-port",
                    str(wport),
                    "--no-nanny",
                    "--no-dashboard",
                ]
            )
            workers[f"tcp://127.0.0.1:{wport}"] = w
        log = open(
            tmp_path / "coordinator.log", "w+"
        )  # a file, not a pipe nobody reads while we wait
        coordinator = subprocess.Popen(
            [*AUTOGRADE, A, "--scheduler", address, "--no-progress"],
            cwd=course,
            env=env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        victim = []

        def a_worker_is_grading() -> bool:
            assert coordinator.poll() is None, (tmp_path / "coordinator.log").read_text()[-4000:]
            found = busy_worker(address)
            if found:
                victim.append(found)
            return bool(found)

        wait_for(a_worker_is_grading, 900, "a grading task to start")
        os.killpg(workers[victim[0]].pid, signal.SIGKILL)  # the whole worker, mid-task
        coordinator.wait(timeout=1800)
        err = (tmp_path / "coordinator.log").read_text()
        assert coordinator.returncode == 0, err[-4000:]
        assert "graded 3, failed 0" in err
        same_as_serial(course, serial)
    finally:
        for proc in [*workers.values(), scheduler]:
            stop(proc)


# --- the coordinator killed mid-run, then re-run --------------------------------------------------
def test_killed_coordinator_then_rerun_loses_and_doubles_nothing(template, serial, tmp_path):
    course = copy_course(template, tmp_path / "course")
    first = subprocess.Popen(
        [*AUTOGRADE, A, "--workers", "1", "--no-progress"],
        cwd=course,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    graded = course / "autograded"
    try:
        wait_for(
            lambda: first.poll() is None and graded.is_dir() and any(graded.iterdir()),
            1200,
            "the first recorded submission",
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # coordinator and its local workers, no clean-up
        first.wait()
    done_before = sorted(p.name for p in graded.iterdir() if not p.name.startswith("."))
    assert 1 <= len(done_before) < len(STUDENTS)
    again = run(course, *AUTOGRADE, A, "--workers", "2")
    assert f"skipped {len(done_before)}" in again.stderr
    same_as_serial(course, serial)


# --- PostgreSQL gradebook -------------------------------------------------------------------------
@pytest.fixture
def postgres():
    """A real PostgreSQL server in a temporary folder on a loopback port -> SQLAlchemy URL."""
    if not (PG_BIN / "initdb").is_file():
        pytest.fail(
            f"PostgreSQL not found in {PG_BIN}: `apt-get install -y postgresql` (.ci/run does)"
        )
    folder = Path(tempfile.mkdtemp(prefix="cs231n-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(PG_BIN / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "grader",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [
                *as_user,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(folder / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_gradebook_graded_in_parallel_exports_the_same(
    template, serial, postgres, tmp_path
):
    course = copy_course(template, tmp_path / "course", db_url=postgres)
    run(
        course, sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"
    )  # the rows, in PostgreSQL
    run(course, *AUTOGRADE, A, "--workers", "2")
    same_as_serial(course, serial, db_url=postgres)
    run(course, sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv")
    assert (course / "grades.csv").read_text() == (serial / "grades.csv").read_text()


# --- the canary: the grader's own faults never zero anyone ----------------------------------------
def no_scores(db_url: str) -> bool:
    """No autograded score anywhere in the gradebook (rows may exist, scores are None)."""
    return all(
        auto is None
        for sub in gradebook(db_url).values()
        for nb in sub["notebooks"].values()
        for auto, _, _ in nb["grades"].values()
    )


def test_canary_data_missing_stops_before_any_grade(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    empty = tmp_path / "no_data"
    empty.mkdir()
    proc = run(
        course, *AUTOGRADE, A, "--workers", "1", check=False, env=env(CS231N_DATA_DIR=str(empty))
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "canary failed, so no grade was written" in proc.stderr
    assert (
        "CIFAR-10 could not be loaded" in proc.stderr
        and "cs231n_utils.data download" in proc.stderr
    )
    assert gradebook(sqlite(course)) == {} and not (course / "autograded").exists()


def test_canary_runner_broken_stops_before_any_grade(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    # an address-space limit too small for Python + numpy: the runner cannot start for anyone
    proc = run(
        course, *AUTOGRADE, A, "--workers", "1", "--SealedChecks.memory_bytes=40000000", check=False
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "runner cannot start even without any student code" in proc.stderr
    assert "pip install -e ." in proc.stderr
    assert gradebook(sqlite(course)) == {} and not (course / "autograded").exists()


def test_canary_short_of_points_stops_while_students_already_ran(template, tmp_path):
    """Students are graded while the canary runs; none of their results is written when it fails
    (here: the instructor's best_net.npz is an untrained net, short of the accuracy points)."""
    course = copy_course(template, tmp_path / "course")
    net = course / "solutions" / A / samples.NET_FILE
    with np.load(net) as params:
        np.savez(net, **{k: np.zeros_like(v) for k, v in params.items()})
    proc = run(course, *AUTOGRADE, A, "--workers", "2", check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "canary failed, so no grade was written" in proc.stderr
    assert "test_accuracy" in proc.stderr and "students' results are held" in proc.stderr
    assert gradebook(sqlite(course)) == {} and not (course / "autograded").exists()


def test_plain_nbgrader_autograde_errors_instead_of_zeros_when_data_is_missing(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    empty = tmp_path / "no_data"
    empty.mkdir()
    proc = run(
        course,
        sys.executable,
        "-m",
        "nbgrader",
        "autograde",
        A,
        "--student=reference",
        check=False,
        env=env(CS231N_DATA_DIR=str(empty)),
    )
    assert proc.returncode != 0
    assert "CIFAR-10 could not be loaded" in proc.stdout + proc.stderr
    assert "cs231n_utils.data download" in proc.stdout + proc.stderr
    assert no_scores(sqlite(course))  # the submission row nbgrader creates first holds no score
