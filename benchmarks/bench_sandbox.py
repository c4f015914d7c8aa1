"""Sandbox overhead: the same work with and without the bubblewrap sandbox
(issue 5 §6 goal: ≤ 25 %).

    .venv/bin/python benchmarks/bench_sandbox.py [--repeat N] [--students N]

Prints medians of
  1. `python -c 'import numpy'`                       plain subprocess vs run_sandboxed
  2. executing a small notebook (numpy two-layer forward, prints) with nbclient:
                                                      stock python3 kernel vs SandboxedExecute
  3. `nbgrader autograde --force` of a small assignment, seconds per submission (rounds alternate):
                                                      stock Execute vs SandboxedExecute
Run it on an otherwise idle machine: the figures are medians but load from other work still shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

from cs231n_grader.execute import SandboxedExecute
from cs231n_grader.sandbox import run_sandboxed, sandbox_available

PY = sys.executable
NOTEBOOK_CELLS = [
    "import numpy as np\nrng = np.random.default_rng(0)",
    "X = rng.standard_normal((200, 3072)).astype(np.float32)\n"
    "W1 = 1e-4 * rng.standard_normal((3072, 100)).astype(np.float32); "
    "b1 = np.zeros(100, np.float32)\n"
    "W2 = 1e-4 * rng.standard_normal((100, 10)).astype(np.float32); b2 = np.zeros(10, np.float32)",
    "S1 = X @ W1 + b1\nX2 = np.maximum(S1, 0)\nS2 = X2 @ W2 + b2\nprint(S2.shape, float(S2.std()))",
    "for i in range(20):\n    print('iteration', i, float((X2 @ W2).mean()))",
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "plt.plot(S2[:, 0]); plt.close()",
]


def timed(fn, repeat: int) -> list[float]:
    """Wall seconds of `repeat` calls of fn (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def report(name: str, plain: list[float], boxed: list[float]) -> None:
    """One line: medians and the relative overhead."""
    p, b = statistics.median(plain), statistics.median(boxed)
    print(
        f"{name:<44} plain {p:7.3f} s   sandboxed {b:7.3f} s   overhead {b - p:+.3f} s "
        f"({100 * (b - p) / p:+.0f} %)"
    )


def bench_import(repeat: int, work: Path) -> None:
    """`python -c 'import numpy'` as a plain subprocess and in the sandbox."""
    argv = [PY, "-c", "import numpy"]
    plain = timed(lambda: subprocess.run(argv, cwd=work, check=True), repeat)
    boxed = timed(lambda: run_sandboxed(argv, workdir=work), repeat)
    report("python -c 'import numpy'", plain, boxed)


def small_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def bench_notebook(repeat: int, work: Path) -> None:
    """Execute the small notebook with the stock kernel and with SandboxedExecute."""
    resources = {"metadata": {"path": str(work)}}
    plain = timed(
        lambda: ExecutePreprocessor(timeout=60).preprocess(small_notebook(), resources), repeat
    )
    boxed = timed(
        lambda: SandboxedExecute(timeout=60).preprocess(small_notebook(), resources), repeat
    )
    report("small notebook execution (nbclient)", plain, boxed)


CONFIG = """\
c = get_config()
c.CourseDirectory.root = "."
{extra}
"""
SANDBOXED = """\
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                    LimitOutput, SaveAutoGrades)
from cs231n_grader.execute import SandboxedExecute
c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
"""


def make_course(root: Path, students: int, sandboxed: bool) -> None:
    """A course with the small notebook plus one graded cell,
    released and submitted by N students."""
    (root / "source" / "hw").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(extra=SANDBOXED if sandboxed else ""))
    nb = small_notebook()
    meta = {
        "nbgrader": {
            "schema_version": 3,
            "grade_id": "test_shape",
            "grade": True,
            "points": 1,
            "locked": True,
            "solution": False,
        }
    }
    nb.cells.append(nbformat.v4.new_code_cell("assert S2.shape == (200, 10)", metadata=meta))
    nbformat.write(nb, root / "source" / "hw" / "hw.ipynb")
    nbgrader(root, "generate_assignment", "hw")
    for i in range(students):
        dest = root / "submitted" / f"s{i:02d}" / "hw"
        dest.mkdir(parents=True)
        shutil.copy(root / "release" / "hw" / "hw.ipynb", dest / "hw.ipynb")


def nbgrader(root: Path, *args: str) -> float:
    """Run an nbgrader command in the course; returns wall seconds."""
    env = {**os.environ, "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"}
    t0 = time.perf_counter()
    p = subprocess.run(
        [str(Path(PY).parent / "nbgrader"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if p.returncode:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return time.perf_counter() - t0


def bench_autograde(students: int, rounds: int, tmp: Path) -> None:
    """Seconds per submission of `nbgrader autograde --force`, stock Execute vs SandboxedExecute,
    alternating the two courses round by round so that load from other work affects both alike."""
    roots = {
        sandboxed: tmp / ("sandboxed" if sandboxed else "plain") for sandboxed in (False, True)
    }
    for sandboxed, root in roots.items():
        make_course(root, students, sandboxed)
    per: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for sandboxed, root in roots.items():
            per[sandboxed].append(nbgrader(root, "autograde", "hw", "--force") / students)
    report(f"nbgrader autograde, per submission (n={students}x{rounds})", per[False], per[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ok, why = sandbox_available()
    if not ok:
        raise SystemExit(f"no sandbox: {why}")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, uid {os.geteuid()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        bench_import(args.repeat, work)
        bench_notebook(max(3, args.repeat // 2), work)
        bench_autograde(args.students, args.rounds, Path(tmp))


if __name__ == "__main__":
    main()
