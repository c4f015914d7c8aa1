"""Median ``nbgrader autograde`` seconds per submission on the bundled class.

    .venv/bin/python benchmarks/bench_grading.py [--course DIR] [--students N]

Builds a scratch course like the demo (release, bundled class, roster, submissions as folders),
runs one real ``nbgrader autograde`` over the class (sandboxed execution + sealed checks +
CIFAR accuracy), and times each submission from the moment nbgrader starts it ("Sanitizing …"
in its log) to the start of the next one (the last one ends with the process). Prints the
per-student times, the median and the machine. Goal (issue 4): median <= 8 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from cs231n_utils.grading import demo, samples


def machine() -> str:
    """CPU model and core count, for the README."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def setup_course(course: Path, students: int | None) -> list[str]:
    """Release + bundled class (all as folders) + roster in ``course``; returns student ids."""
    repo = demo.repo_root()
    demo.ensure_data()
    demo.prepare_course(course, repo)
    demo.nbgrader(course, "release", "generate_assignment", demo.ASSIGNMENT, "--force")
    class_ = list(samples.CLASS[:students] if students else samples.CLASS)
    bundled = course / "bundled"
    samples.build_class(course / "assignment" / demo.ASSIGNMENT / demo.NOTEBOOK,
                        course / "solutions" / demo.ASSIGNMENT / demo.NOTEBOOK, bundled,
                        students=tuple(class_), log=print)
    samples.write_roster(class_, course / "roster.csv")
    demo.nbgrader(course, "roster", "db", "student", "import", str(course / "roster.csv"))
    ids = [s.student_id for s in class_]
    demo.collect(course, bundled, ids, zip_every=None)  # all as folders
    return ids


def time_autograde(course: Path) -> tuple[dict, float]:
    """{student: seconds} for one ``nbgrader autograde --force`` run, and its wall time."""
    starts = []

    def on_line(line: str) -> None:
        if "Sanitizing" in line:
            starts.append((time.monotonic(), demo._student_from_log(line)))

    t0 = time.monotonic()
    demo.nbgrader(course, "autograde", "autograde", demo.ASSIGNMENT, "--force", progress=on_line)
    end = time.monotonic()
    times = {}
    for (t, student), (t_next, _) in zip(starts, starts[1:] + [(end, None)]):
        times[student] = t_next - t
    return times, end - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course", type=Path, default=None, help="scratch course folder")
    parser.add_argument("--students", type=int, default=None, help="first N students of the class")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
        course = (args.course or Path(tmp) / "course").resolve()
        ids = setup_course(course, args.students)
        times, wall = time_autograde(course)
    print(f"\nautograde per submission ({len(times)} of {len(ids)} submissions), {machine()}")
    for student, seconds in times.items():
        print(f"  {student:32s} {seconds:6.2f} s")
    values = sorted(times.values())
    print(f"median {statistics.median(values):.2f} s   mean {statistics.mean(values):.2f} s   "
          f"min {values[0]:.2f} s   max {values[-1]:.2f} s   whole run {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
