#!/usr/bin/env python3
"""The solution notebook top to bottom on CIFAR-10 (goal, issue 3: <= 3 minutes on 2 cores).

Executes solutions/two_layer_net/two_layer_net.ipynb with nbclient in a fresh python3 kernel in a
scratch folder (it writes best_net.npz there), as tests/test_notebook.py's full run does; that test
checks the outputs, this script times the run.

    python benchmarks/bench_notebook.py [--repeat 1] [--notebook PATH]

Exits 1 when the median run takes longer than the goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from machine import machine  # benchmarks/machine.py (scripts run from this folder)
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "two_layer_net" / "two_layer_net.ipynb"
GOAL_S = 180


def run_once(path: Path) -> float:
    """Wall seconds of one execution of the notebook at ``path`` (errors abort the benchmark)."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as workdir:
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": workdir}}
        )
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    p.add_argument("--notebook", type=Path, default=SOLUTION, help="another notebook to time")
    a = p.parse_args()
    from cs231n_utils.data import default_data_dir

    if not (default_data_dir() / "cifar-10-batches-py" / "test_batch").is_file():
        sys.exit(f"No CIFAR-10 in {default_data_dir()}: run `make data` first.")
    print(f"machine: {machine()}")
    print(
        f"load average before: {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates wall time)"
    )
    runs = [run_once(a.notebook) for _ in range(a.repeat)]
    median = statistics.median(runs)
    print(
        f"{a.notebook.name}: {median:.0f} s median ({' '.join(f'{s:.0f}' for s in runs)}); "
        f"goal <= {GOAL_S} s: {'met' if median <= GOAL_S else 'MISSED'}"
    )
    return 0 if median <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
