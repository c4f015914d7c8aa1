"""Throughput of ``cs231n-autograde --workers W`` vs serial ``nbgrader autograde`` (issue 11).

    .venv/bin/python benchmarks/bench_parallel.py [--copies 3] [--workers 2] [--rounds 2]
                                                  [--course DIR]

Builds a scratch course like the demo with the bundled class replicated ``--copies`` times
(40 x 3 = 120 submissions: student ``<id>_c<k>``), then grades the whole class alternately with
``nbgrader autograde --force`` (serial) and ``cs231n-autograde --force --workers W`` (parallel,
including its canary), so background load affects both alike. Prints the wall times, the
throughput ratio, the peak memory of one grader -- a worker process with the kernel and sealed
runner it starts, or serial nbgrader with its own; the resident memory of the process tree summed,
sampled every 0.2 s (an upper bound: pages shared between processes count in each) -- and a
projection for 700 submissions.

Projection model (stated with the figures): each worker grades one submission at a time in
``t_w`` seconds (measured: parallel wall time x W / (n + 1), the canary being one more task that
runs beside the students' -- start-up and the last stragglers are folded in), the coordinator
records one in ``t_rec`` (measured: its writing time / n); workers share nothing, so for n
submissions on W cores ``T = max((n + 1) * t_w / W, n * t_rec)``. That assumes one core per
worker, RAM for W x peak worker memory, and local data on each machine; it ignores the
scheduler's per-task overhead (milliseconds).
Goal (issue 11): >= 1.7x throughput on 2 cores, <= 1 GB per worker.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from machine import machine  # benchmarks/machine.py (scripts run from this folder)

from cs231n_grader import demo, samples

AUTOGRADE = str(Path(sys.executable).parent / "cs231n-autograde")


def setup_course(course: Path, copies: int) -> list[str]:
    """Release + the bundled class replicated ``copies`` times, as folders; returns student ids."""
    demo.ensure_data()
    demo.prepare_course(course, demo.repo_root())
    demo.nbgrader(course, "release", "generate_assignment", demo.ASSIGNMENT, "--force")
    bundled = course / "bundled"
    samples.build_class(
        course / "assignment" / demo.ASSIGNMENT / demo.NOTEBOOK,
        course / "solutions" / demo.ASSIGNMENT / demo.NOTEBOOK,
        bundled,
        log=print,
    )
    shutil.copy(
        bundled / "reference" / demo.ASSIGNMENT / samples.NET_FILE,
        course / "solutions" / demo.ASSIGNMENT / samples.NET_FILE,
    )  # the canary's net
    ids = []
    for k in range(copies):
        for s in samples.CLASS:
            sid = f"{s.student_id}_c{k}"
            shutil.copytree(
                bundled / s.student_id / demo.ASSIGNMENT,
                course / "submitted" / sid / demo.ASSIGNMENT,
            )
            ids.append(sid)
    return ids


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants, summed (psutil.Error once it is gone)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited meanwhile
            pass
    return total


def timed(course: Path, argv: list[str], per_child: bool) -> tuple[float, str, int]:
    """(wall seconds, combined output, peak bytes of one grader) of one command run in the course.
    A grader is the command's process tree, or with ``per_child`` each tree under one of its
    child processes (the Dask workers of cs231n-autograde)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=course,
        env=demo.nbgrader_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak, done = [0], threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.wait(0.2):
            try:
                trees = root.children() if per_child else [root]
                peak[0] = max([peak[0], *(tree_rss(t) for t in trees)])
            except psutil.Error:
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.communicate()[0]
    done.set()
    sampler.join()
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, out, peak[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--copies", type=int, default=3, help="class replicas (40 submissions each)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternated")
    parser.add_argument("--course", type=Path, default=None, help="scratch course folder")
    args = parser.parse_args()
    import os

    os.environ.setdefault("CS231N_GRADER_SECRET", "bench-parallel")  # same cases in both
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as tmp:
        course = (args.course or Path(tmp) / "course").resolve()
        ids = setup_course(course, args.copies)
        n = len(ids)
        serial, parallel, canary, writing = [], [], [], []
        peak = {"serial": 0, "parallel": 0}
        for r in range(args.rounds):
            order = ("serial", "parallel") if r % 2 == 0 else ("parallel", "serial")
            for kind in order:
                if kind == "serial":
                    wall, _, rss = timed(
                        course,
                        [sys.executable, "-m", "nbgrader", "autograde", demo.ASSIGNMENT, "--force"],
                        per_child=False,
                    )
                    serial.append(wall)
                else:
                    wall, out, rss = timed(
                        course,
                        [
                            AUTOGRADE,
                            demo.ASSIGNMENT,
                            "--force",
                            "--workers",
                            str(args.workers),
                            "--no-progress",
                        ],
                        per_child=True,
                    )
                    parallel.append(wall)
                    canary.append(
                        float(re.search(r"canary: full autograded points in ([\d.]+) s", out)[1])
                    )
                    writing.append(float(re.search(r"coordinator writing ([\d.]+) s", out)[1]))
                peak[kind] = max(peak[kind], rss)
                print(
                    f"  round {r + 1}/{args.rounds} {kind:8s}: {wall:7.1f} s for {n} submissions",
                    flush=True,
                )
    ts, tp = statistics.median(serial), statistics.median(parallel)
    t_w = tp * args.workers / (n + 1)
    t_rec, t_c = statistics.median(writing) / n, statistics.median(canary)
    print(f"\n{n} submissions, {args.rounds} rounds each, alternated; {machine()}")
    print(f"serial nbgrader autograde: {ts:.0f} s ({60 * n / ts:.1f} submissions/min)")
    print(
        f"cs231n-autograde --workers {args.workers}: {tp:.0f} s incl. canary ({t_c:.0f} s, run "
        "beside the students) "
        f"({60 * n / tp:.1f} submissions/min): {ts / tp:.2f}x   goal >= 1.7x"
    )
    print(
        "peak memory of one grader (process tree, RSS summed): "
        f"a worker {peak['parallel'] / 2**20:.0f} MB (goal <= 1024 MB), "
        f"serial nbgrader {peak['serial'] / 2**20:.0f} MB"
    )
    print(f"model T = max((n + 1) t_w / W, n t_rec): t_w {t_w:.2f} s, t_rec {t_rec * 1000:.0f} ms")
    for label, w in (("16 cores", 16), ("4 x 16 cores", 64)):
        t = max(701 * t_w / w, 700 * t_rec)
        print(f"  700 submissions on {label:12s}: {t / 60:5.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
