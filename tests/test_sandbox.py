"""The grading sandbox: real bubblewrap, real kernels, real `nbgrader autograde` (issue 5 §1, §4;
issue 4).

Part 1 attacks `run_sandboxed` directly: reading/writing course files, network, wall/CPU/memory/file
limits, a fork storm, a gigabyte of output, killing the parent, os._exit.
Part 2 grades a small assignment in a scratch nbgrader course whose students attack the grader from
their notebooks (truncate the gradebook, os._exit, infinite loop, huge print, read solutions, write
into another student's folder, kill the parent) and checks that the run completes with exit code 0,
the gradebook is intact and every student gets exactly the score their code deserves.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from cs231n_grader import cgroup
from cs231n_grader import kernel as sandbox_kernel
from cs231n_grader.sandbox import (
    SANDBOX_HOME,
    Limits,
    SandboxUnavailable,
    interpreter_binds,
    run_sandboxed,
)

PY = sys.executable
# every test here is marked `sandbox` (tests/conftest.py) and skipped, with the reason, without it


def py(code: str, workdir: Path, **kw):
    """Run Python source inside the sandbox."""
    return run_sandboxed([PY, "-c", textwrap.dedent(code)], workdir=workdir, **kw)


@pytest.fixture
def course(tmp_path):
    """A fake course root: solutions, gradebook, another student's submission,
    and alice's private copy."""
    root = tmp_path / "course"
    (root / "solutions" / "hw").mkdir(parents=True)
    (root / "solutions" / "hw" / "hw.ipynb").write_text("SOLUTION-SECRET")
    (root / "gradebook.db").write_text("GRADEBOOK-CONTENT")
    (root / "submitted" / "bob" / "hw").mkdir(parents=True)
    (root / "submitted" / "bob" / "hw" / "hw.ipynb").write_text("BOB-WORK")
    work = root / "autograded" / "alice" / "hw"
    work.mkdir(parents=True)
    (work / "hw.ipynb").write_text("ALICE-WORK")
    return root, work


# --------------------------------------------------------------------------- part 1: run_sandboxed
def test_cannot_read_course_files_or_homes(course):
    root, work = course
    targets = [
        "../../../solutions/hw/hw.ipynb",
        "../../../gradebook.db",
        "../../bob/hw/hw.ipynb",
        str(root / "solutions/hw/hw.ipynb"),
        str(root / "gradebook.db"),
        str(root / "submitted/bob/hw/hw.ipynb"),
        str(Path.home() / ".bash_history"),
        str(Path(sandbox_kernel.__file__).parents[1] / "nbgrader_config.py"),
    ]
    r = py(
        f"""
        import json, os
        got = {{}}
        for t in {targets!r}:
            try:
                got[t] = os.listdir(t) if os.path.isdir(t) else open(t).read()
            except OSError as e:
                got[t] = None
        print(json.dumps({{"got": got, "cwd": os.getcwd(), "mine": open("hw.ipynb").read(),
                          "uid": os.getuid(), "home": os.listdir({str(Path.home())!r}),
                          "repo": os.listdir({str(Path(sandbox_kernel.__file__).parents[1])!r})}}))
        """,
        work,
    )
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    leaked = {t: v for t, v in seen["got"].items() if v}
    assert leaked == {}, f"sandbox could read {leaked}"
    assert seen["cwd"] == SANDBOX_HOME and seen["mine"] == "ALICE-WORK"
    assert seen["uid"] != 0
    assert sorted(seen["repo"]) == [
        ".venv",
        "cs231n_grader",
        "cs231n_utils",
    ]  # the packages and the venv, never the repo
    home = Path.home()
    on_the_way = {p.relative_to(home).parts[0] for p in interpreter_binds() if home in p.parents}
    assert (
        set(seen["home"]) <= on_the_way
    )  # the instructor's home shows at most the interpreter's path


def test_cannot_write_outside_private_copy(course, tmp_path):
    root, work = course
    host_tmp_marker = Path("/tmp") / f"sandbox-escape-{uuid.uuid4().hex}"
    targets = [
        str(root / "gradebook.db"),
        "../../../gradebook.db",
        str(root / "submitted/bob/hw/hw.ipynb"),
        str(host_tmp_marker),
        "/usr/escape",
        f"{sys.prefix}/escape.txt",
        str(Path(sandbox_kernel.__file__).parent / "escape.py"),
    ]
    r = py(
        f"""
        import json
        wrote = []
        for t in {targets!r}:
            try:
                open(t, "w").write("PWNED"); wrote.append(t)
            except OSError:
                pass
        open("result.txt", "w").write("mine")
        import os
        open("suid", "w").write("#!/bin/sh\\n"); os.chmod("suid", 0o6755)
        print(json.dumps(wrote))
        """,
        work,
    )
    assert r.returncode == 0, r.stderr
    wrote = json.loads(r.stdout)
    assert wrote in ([], [str(host_tmp_marker)])  # the sandbox's own /tmp is private and writable
    assert (root / "gradebook.db").read_text() == "GRADEBOOK-CONTENT"
    assert (root / "submitted/bob/hw/hw.ipynb").read_text() == "BOB-WORK"
    assert not host_tmp_marker.exists() and not Path(sys.prefix, "escape.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["hw.ipynb"]  # the private copy stayed inside
    assert {p.stat().st_uid for p in work.parent.rglob("*")} == {
        os.geteuid()
    }  # nothing was chowned


def test_symlink_in_submission_does_not_reach_host_files(course):
    root, work = course
    (work / "link.db").symlink_to(root / "gradebook.db")
    r = py(
        """
        try:
            open("link.db", "w").write("PWNED")
        except OSError as e:
            print("refused", e)
        """,
        work,
    )
    assert r.returncode == 0
    assert (root / "gradebook.db").read_text() == "GRADEBOOK-CONTENT"
    assert (
        root / "gradebook.db"
    ).stat().st_uid == os.geteuid()  # the chown never followed the link


def test_private_copy_holds_regular_files_only_within_bounds(course, make_chain):
    """Links, special files, deep folder chains and excess files stay out of the private copy; a
    1,500-deep chain costs no recursion (the walk is breadth first)."""
    root, work = course
    (work / "secret").symlink_to(root / "gradebook.db")
    (work / "dirlink").symlink_to(root / "solutions")
    os.mkfifo(work / "fifo")
    make_chain(work / "deep", 1500)
    (work / "many").mkdir()
    for i in range(100):
        (work / "many" / f"f{i:03d}").write_text("x")
    r = py(
        """
        import json, os
        print(json.dumps(sorted(os.path.relpath(os.path.join(d, f)) for d, ds, fs in os.walk(".")
                                for f in fs + ds)))
        """,
        work,
        limits=Limits(max_copied_files=20),
    )
    seen = json.loads(r.stdout)
    assert "hw.ipynb" in seen and not {"secret", "dirlink", "fifo"} & set(seen)
    assert max(p.count("/") for p in seen) < 4 and len(seen) <= 20


def test_disk_of_the_private_copy_is_bounded_and_vanishes(course):
    root, work = course
    r = py(
        """
        import os
        written = 0
        try:
            for i in range(100):
                with open(f"blob{i}", "wb") as fh:
                    fh.write(b"x" * 2**20)
                written += 2**20
        except OSError as e:
            print("stopped", e.strerror)
        print(written // 2**20)
        """,
        work,
        limits=Limits(max_disk_bytes=16 * 2**20),
    )
    assert r.stdout.split(b"\n")[0] == b"stopped No space left on device"
    assert int(r.stdout.split()[-1]) <= 16
    assert sorted(p.name for p in work.iterdir()) == ["hw.ipynb"]


@pytest.mark.skipif(
    os.geteuid() != 0 or not cgroup.available(),
    reason="whole-sandbox memory needs a writable cgroup (root)",
)
def test_memory_is_limited_for_all_processes_together(course):
    """4 children x 300 MB each stay under a 512 MiB per-process limit but not under
    the sandbox's."""
    _, work = course
    r = py(
        """
        import os, time
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = bytearray(300 * 2**20)
                for j in range(0, len(block), 4096):
                    block[j] = 1
                time.sleep(2)
                os._exit(0)
            kids.append(pid)
        print(sum(os.waitpid(p, 0)[1] == 0 for p in kids))
        """,
        work,
        limits=Limits(memory_bytes=512 * 2**20, wall_seconds=60),
    )
    assert int(r.stdout) <= 1


@pytest.mark.skipif(
    os.geteuid() != 0 or not cgroup.available(), reason="needs a writable cgroup (root)"
)
def test_sandbox_cgroup_is_removed_with_its_processes():
    group = cgroup.create(64 * 2**20, 4)
    child = subprocess.Popen(["sleep", "60"], preexec_fn=group.enter)
    assert all(str(child.pid) in (f / "cgroup.procs").read_text() for f in group.folders)
    group.close()
    assert child.wait(timeout=10) == -9 and not any(f.exists() for f in group.folders)


def test_no_network_even_to_loopback(course):
    _, work = course
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # a connection would complete into this backlog even without accept()
    port = listener.getsockname()[1]
    r = py(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"LEAK")
            print("connected")
        except OSError as e:
            print("refused", type(e).__name__)
        """,
        work,
    )
    listener.settimeout(0.2)
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    assert r.stdout.startswith(b"refused"), r.stdout


def test_infinite_loop_killed_at_wall_limit(course):
    _, work = course
    t0 = time.monotonic()
    r = py("while True: pass", work, limits=Limits(wall_seconds=2))
    assert r.timed_out and r.returncode is None
    assert r.reason == "killed: exceeded 2 s wall time"
    assert time.monotonic() - t0 < 8


def test_cpu_limit(course):
    _, work = course
    r = py("while True: pass", work, limits=Limits(cpu_seconds=1, wall_seconds=20))
    assert not r.timed_out and r.returncode == -24  # SIGXCPU
    assert r.reason == "killed: exceeded 1 s CPU time"


def test_10gb_allocation_fails_with_memory_reason(course):
    _, work = course
    r = py("import numpy as np; a = np.ones(10 * 2**30, dtype=np.uint8); print('allocated')", work)
    assert r.returncode == 1 and b"allocated" not in r.stdout
    assert r.reason == "memory limit 2 GiB exceeded (MemoryError)"


def test_file_size_limit(course):
    _, work = course
    r = py(
        "open('big', 'wb').write(b'x' * (32 * 2**20))",
        work,
        limits=Limits(max_file_bytes=8 * 2**20),
    )
    assert r.reason == "file size limit 8 MiB exceeded"
    assert not (work / "big").exists()


def test_fork_storm_is_contained(course):
    _, work = course
    marker = f"forkstorm-{uuid.uuid4().hex}"
    r = py(
        f"""
        import os, sys, time
        made = 0
        for i in range(1000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30); os._exit(0)   # children linger: only the limit stops the storm
            made += 1
        print(made, {marker!r})
        sys.stdout.flush()
        os._exit(0)
        """,
        work,
        limits=Limits(max_processes=16, wall_seconds=20),
    )
    made = int(r.stdout.split()[0])
    assert 0 < made < 16
    time.sleep(0.5)
    leftover = subprocess.run(
        ["pgrep", "-f", marker], capture_output=True, text=True
    ).stdout.split()
    assert leftover == []  # the whole pid namespace died with the sandbox
    assert subprocess.run(["true"]).returncode == 0  # and the machine can still fork


def test_gigabyte_of_output_is_capped_in_bounded_memory(course):
    _, work = course
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = py(
        """
        import sys
        chunk = "x" * 2**20
        for _ in range(1024):
            sys.stdout.write(chunk)
        sys.stderr.write("e" * 2**20)
        """,
        work,
        limits=Limits(max_output_bytes=2**20, wall_seconds=60),
    )
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert r.returncode == 0
    assert r.stdout_truncated and len(r.stdout) < 2**20 + 200
    assert r.stdout.endswith(
        b"[output truncated by the grader: the process printed more than 1 MiB; "
        b"the rest was dropped]\n"
    )
    assert grown_mb < 100, f"the grader grew by {grown_mb:.0f} MB while draining 1 GiB"


def test_killing_the_parent_does_not_hurt_the_grader(course):
    _, work = course
    r = py(
        f"""
        import os, signal
        for pid in (os.getppid(), 1, {os.getpid()}, {os.getppid()}):
            try:
                os.kill(pid, signal.SIGKILL); print("sent", pid)
            except OSError as e:
                print("refused", pid, type(e).__name__)
        print("still here")
        """,
        work,
    )
    assert r.returncode == 0 and b"still here" in r.stdout
    assert b"sent %d" % os.getpid() not in r.stdout  # the grader is not even visible inside


def test_os_exit_and_signals_are_reported(course):
    _, work = course
    r = py("import os; os._exit(1)", work)
    assert r.returncode == 1 and r.reason == "exited with status 1"
    r = py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", work)
    assert r.returncode == -11 and r.reason == "killed by signal 11 (SIGSEGV)"


def test_stdin_and_minimal_environment(course, monkeypatch):
    _, work = course
    monkeypatch.setenv("CS231N_GRADER_SECRET", "do-not-leak")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    payload = os.urandom(5 * 2**20)
    r = py(
        """
        import hashlib, json, os, sys
        data = sys.stdin.buffer.read()
        print(json.dumps({"sha": hashlib.sha256(data).hexdigest(), "env": dict(os.environ)}))
        """,
        work,
        stdin=payload,
        env={"EXTRA": "1"},
    )
    out = json.loads(r.stdout)
    import hashlib

    assert out["sha"] == hashlib.sha256(payload).hexdigest()
    env = out["env"]
    assert "CS231N_GRADER_SECRET" not in env and env["NBGRADER_EXECUTION"] == "autograde"
    assert env["HOME"] == SANDBOX_HOME and env["MPLBACKEND"] == "Agg" and env["EXTRA"] == "1"
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"


def test_missing_bubblewrap_refuses_with_instructions_unless_opted_out(course, monkeypatch, caplog):
    _, work = course
    empty = work.parent / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CS231N_UNSAFE_NO_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        py("print('ran')", work)
    monkeypatch.setenv("CS231N_UNSAFE_NO_SANDBOX", "1")
    with caplog.at_level("WARNING"):
        r = py("import os; print('ran', os.getcwd())", work)
    assert r.stdout.split() == [b"ran", str(work.resolve()).encode()] and not r.sandboxed
    assert "WITHOUT a sandbox" in caplog.text


# --------------------------------------------------------------------------- kernelspec
def test_kernelspec_install_is_idempotent(tmp_path):
    folder = sandbox_kernel.install(tmp_path)
    spec = json.loads((folder / "kernel.json").read_text())
    assert folder.name == "cs231n-sandbox" and spec["argv"][:4] == [
        PY,
        "-m",
        "cs231n_grader.kernel",
        "run",
    ]
    assert spec["interrupt_mode"] == "message"
    mtime = (folder / "kernel.json").stat().st_mtime_ns
    time.sleep(0.01)
    sandbox_kernel.install(tmp_path)
    assert (folder / "kernel.json").stat().st_mtime_ns == mtime


def test_kernel_refuses_tcp_transport(tmp_path):
    cf = tmp_path / "kernel-tcp.json"
    cf.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1}))
    report = tmp_path / "report.json"
    p = subprocess.run(
        [PY, "-m", "cs231n_grader.kernel", "run", "-f", str(cf)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, sandbox_kernel.REPORT_ENV: str(report)},
    )
    assert p.returncode == 2 and "needs ZMQ transport 'ipc'" in p.stderr
    assert "ipc" in json.loads(report.read_text())["error"]


# ----------------------------------------------------------------------- part 2: nbgrader autograde
SOLUTION = "def add(a, b):\n    return a + b  # SOLUTION-MARKER-7f3a"
STUDENTS = {
    "good": "def add(a, b):\n    return a + b",
    "wrong": "def add(a, b):\n    return a - b",
    "vandal": """\
        import glob, os
        for path in (['../../../gradebook.db', '{root}/gradebook.db'] + glob.glob('/*/gradebook.db')
                     + glob.glob('/home/**/gradebook.db', recursive=True)):
            try:
                open(path, 'w').close(); print('TRUNCATED', path)
            except OSError as e:
                print('refused', path, type(e).__name__)
        def add(a, b):
            return a + b""",
    "exiter": "import os\nos._exit(1)\ndef add(a, b):\n    return a + b",
    "looper": "while True:\n    pass\ndef add(a, b):\n    return a + b",
    "printer": "import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 2**20)\n"
    "def add(a, b):\n    return a + b",
    "spy": """\
        import os
        for path in ['../../../source/hw/hw.ipynb', '{root}/source/hw/hw.ipynb',
                     '../../../gradebook.db', '{root}/gradebook.db', '../../good/hw/hw.ipynb']:
            try:
                print(open(path).read())
            except OSError as e:
                print('refused', path, type(e).__name__)
        print(os.listdir('../../..'), os.listdir('/'))
        def add(a, b):
            return a + b""",
    "meddler": """\
        for path in ['../../good/hw/hw.ipynb', '{root}/submitted/good/hw/hw.ipynb',
                     '{root}/autograded/good/hw/hw.ipynb']:
            try:
                open(path, 'w').write('{{}}'); print('OVERWROTE', path)
            except OSError as e:
                print('refused', path, type(e).__name__)
        def add(a, b):
            return a + b""",
    "killer": "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
    "except OSError:\n    pass\ndef add(a, b):\n    return a + b",
    "stubborn": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "while True:\n    pass",
    "hog": "import numpy as np\nhog = np.ones(10 * 2**30, dtype=np.uint8)\n"
    "def add(a, b):\n    return a + b",
    "forker": """\
        import os, time
        children = 0
        for _ in range(500):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            children += 1
        for _ in range(children):
            os.wait()
        print('forked', children)
        def add(a, b):
            return a + b""",
}
STUDENTS["socket_filler"] = """\
        import glob, os
        for folder in glob.glob('/tmp/cs231n-ipc-*'):
            print('FOLDER', folder)
            try:
                for i in range(200):
                    open(os.path.join(folder, 'junk' + str(i)), 'w').write('x' * 100000)
                os.makedirs(os.path.join(folder, 'd/' * 200))
                print('WROTE')
            except OSError as e:
                print('refused', type(e).__name__)
        def add(a, b):
            return a + b"""
EXPECTED = {
    "good": 2,
    "wrong": 0,
    "vandal": 2,
    "exiter": 0,
    "looper": 0,
    "printer": 2,
    "spy": 2,
    "meddler": 2,
    "killer": 2,
    "stubborn": 0,
    "hog": 0,
    "forker": 2,
}
CONFIG = """\
c = get_config()
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                    LimitOutput, SaveAutoGrades)
from cs231n_grader.execute import SandboxedExecute
c.CourseDirectory.root = "."
c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
c.Execute.timeout = 6
"""


def _source_notebook() -> nbformat.NotebookNode:
    """hw.ipynb: one solution cell and two 1-point test cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }

    def meta(**kw):
        return {
            "nbgrader": {
                "schema_version": 3,
                "locked": False,
                "solution": False,
                "grade": False,
                **kw,
            }
        }

    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "Implement `add`.", metadata=meta(grade_id="intro", locked=True)
        ),
        nbformat.v4.new_code_cell(
            f"### BEGIN SOLUTION\n{SOLUTION}\n### END SOLUTION",
            metadata=meta(grade_id="add", solution=True),
        ),
        nbformat.v4.new_code_cell(
            "assert add(1, 2) == 3",
            metadata=meta(grade_id="test_a", grade=True, locked=True, points=1),
        ),
        nbformat.v4.new_code_cell(
            "assert add(-1, 1) == 0",
            metadata=meta(grade_id="test_b", grade=True, locked=True, points=1),
        ),
    ]
    return nb


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}
    env.pop("CS231N_UNSAFE_NO_SANDBOX", None)
    return subprocess.run(
        [str(Path(PY).parent / "nbgrader"), *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """Release hw, submit one notebook per student (most attack),
    run `nbgrader autograde hw` once."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(CONFIG)
    (course / "source" / "hw").mkdir(parents=True)
    nbformat.write(_source_notebook(), course / "source" / "hw" / "hw.ipynb")
    p = _nbgrader(course, "generate_assignment", "hw")
    assert p.returncode == 0, p.stdout + p.stderr
    released = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    for student, code in STUDENTS.items():
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        nb.cells[1].source = textwrap.dedent(code).format(root=course)
        (course / "submitted" / student / "hw").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "hw" / "hw.ipynb")
    gradebook_before = (course / "gradebook.db").stat().st_ino
    t0 = time.monotonic()
    run = _nbgrader(course, "autograde", "hw")
    return course, run, time.monotonic() - t0, gradebook_before


def _scores(course: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions("hw")}


def _autograded(course: Path, student: str) -> str:
    """Everything the student's cells output during autograde (not their source)."""
    nb = nbformat.read(course / "autograded" / student / "hw" / "hw.ipynb", as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def test_autograde_completes_with_exit_code_zero(graded_course):
    course, run, seconds, _ = graded_course
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "error processing assignment" not in run.stderr  # time per submission: bench_grading.py


def test_every_student_gets_exactly_the_score_their_code_deserves(graded_course):
    course, *_ = graded_course
    scores = _scores(course)
    assert scores.pop("socket_filler") in (0, 2)  # see test_kernel_socket_folder_stays_empty
    assert scores == EXPECTED


def test_kernel_socket_folder_stays_empty(graded_course):
    """The socket folder is the one host folder bound writable: a root grader takes it back before
    student code runs; anything written there anyway stops the kernel (0 points, reason stated)."""
    course, *_ = graded_course
    out = _autograded(course, "socket_filler")
    assert not glob.glob("/tmp/cs231n-ipc-*/junk*")  # the folder was removed after the run
    if "refused" in out:
        assert _scores(course)["socket_filler"] == 2 and "WROTE" not in out
    else:
        assert (
            _scores(course)["socket_filler"] == 0
            and "file(s) into the kernel's socket folder" in out
        )


def test_gradebook_intact(graded_course):
    course, _, _, inode = graded_course
    db = course / "gradebook.db"
    assert db.stat().st_ino == inode and db.stat().st_uid == os.geteuid()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM student").fetchone() == (len(STUDENTS),)
    assert "TRUNCATED" not in _autograded(course, "vandal")
    assert "refused" in _autograded(course, "vandal")


def test_attacks_got_nothing(graded_course):
    course, *_ = graded_course
    spy = _autograded(course, "spy")
    assert "SOLUTION-MARKER" not in spy and "refused" in spy
    assert "OVERWROTE" not in _autograded(course, "meddler")
    good = nbformat.read(course / "autograded" / "good" / "hw" / "hw.ipynb", as_version=4)
    assert "return a + b" in good.cells[1].source
    assert json.loads((course / "submitted" / "good" / "hw" / "hw.ipynb").read_text())["cells"]
    owners = {p.stat().st_uid for p in (course / "autograded").rglob("*")}
    assert owners == {os.geteuid()}  # nothing left owned by a sandbox uid


def test_failures_are_explained_in_the_cells(graded_course):
    course, *_ = graded_course
    exiter = nbformat.read(course / "autograded" / "exiter" / "hw" / "hw.ipynb", as_version=4)
    errors = [
        o
        for c in exiter.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors[0].ename == "KernelDied" and "exited with status 1" in errors[0].evalue
    assert all(e.ename == "NotRun" for e in errors[1:]) and len(errors) == 3
    looper = _autograded(course, "looper")
    assert "CellTimeoutError" in looper and "longer than 6 s" in looper
    stubborn = _autograded(course, "stubborn")
    assert (
        "did not stop when interrupted; the grader stopped the kernel" in stubborn
        and "NotRun" in stubborn
    )
    assert "MemoryError" in _autograded(course, "hog")
    forked = int(_autograded(course, "forker").split("forked ")[1].split("\\n")[0])
    assert 0 < forked < 64  # the kernel's own threads count too
    printer = _autograded(course, "printer")
    assert "output truncated by the grader" in printer and len(printer) < 3 * 2**20
    assert (course / "autograded" / "printer" / "hw" / "hw.ipynb").stat().st_size < 3 * 2**20


def test_kernel_goes_away_when_the_grader_is_killed(tmp_path):
    """A grader killed with SIGKILL leaves no sandboxed kernel behind (it watches its parent)."""
    script = textwrap.dedent(f"""
        import sys, time
        from jupyter_client.manager import KernelManager
        from cs231n_grader.kernel import make_ipc_dir
        km = KernelManager(kernel_name="cs231n-sandbox", transport="ipc",
                           ip=str(make_ipc_dir() / "k"))
        km.start_kernel(cwd={str(tmp_path)!r})
        kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
        print(km.provisioner.process.pid, km.ip, flush=True)
        time.sleep(600)
        """)
    sandbox_kernel.ensure_installed()
    grader = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True)
    wrapper_pid, ip = grader.stdout.readline().split()
    grader.kill()
    grader.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{wrapper_pid}").exists():
        time.sleep(0.2)
    leftovers = subprocess.run(["pgrep", "-f", ip], capture_output=True, text=True).stdout.split()
    assert not Path(f"/proc/{wrapper_pid}").exists() or _is_zombie(wrapper_pid)
    assert [p for p in leftovers if not _is_zombie(p)] == []
    shutil.rmtree(Path(ip).parent, ignore_errors=True)


def _is_zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


def test_sandboxed_execute_refuses_without_bubblewrap(tmp_path, monkeypatch):
    """No sandbox and no opt-out: the Execute step raises (grading refuses) instead
    of running unprotected."""
    from cs231n_grader.execute import SandboxedExecute

    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CS231N_UNSAFE_NO_SANDBOX", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('ran')")])
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        SandboxedExecute().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert nb.cells[0].get("outputs", []) == []


def test_kernel_sees_only_the_cifar_data_not_other_caches(tmp_path):
    """Trained nets cached under data/cache/ (e.g. the reference's best net) stay
    invisible to students."""
    for sub in ("cifar-10-batches-py", "cache/cifar10", "cache/nets"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "cache" / "nets" / "best_net.npz").write_bytes(b"REFERENCE-NET")
    binds = sandbox_kernel.data_binds(tmp_path)
    assert sorted(dest for _, dest in binds) == [
        f"{sandbox_kernel.DATA_MOUNT}/cache/cifar10",
        f"{sandbox_kernel.DATA_MOUNT}/cifar-10-batches-py",
    ]
    work = tmp_path / "work"
    work.mkdir()
    r = py(
        f"import os; print(sorted(os.listdir({sandbox_kernel.DATA_MOUNT + '/cache'!r})))",
        work,
        ro_binds=binds,
    )
    assert r.stdout.strip() == b"['cifar10']"
