#!/usr/bin/env python3
"""Load + preprocess CIFAR-10: the kit's get_cifar10_data() against CS231n's float64 path.

Every measurement runs in a fresh child process; its wall and CPU time are taken around the load
and preprocessing inside the child (imports excluded), its peak RSS from the kernel's accounting of
that child (os.wait4 -> ru_maxrss, the per-child form of getrusage(RUSAGE_CHILDREN)), cross-checked
with the child's own VmHWM from /proc/self/status. (ru_maxrss also counts the parent's RSS at the
moment of exec, which is why the parent stays small.) Modes alternate within each round, so load
from other work on the machine hits them alike.

    python benchmarks/bench_data.py [--dir data] [--repeat 3] [--against REV]

Modes:
    kit cold      get_cifar10_data() with its cache removed first (reads the pickles, writes the
                  cache)
    kit warm      get_cifar10_data() again (maps the uint8 cache)
    kit no cache  get_cifar10_data(cache=False)
    cs231n f64    CS231n's data_utils.load_CIFAR10 (astype("float") per batch, concatenate) and the
                  notebook's get_CIFAR10_data split / mean subtraction / reshape, all float64
    import only   python + numpy + cs231n_utils.data imported, nothing loaded (the floor)
    ... @REV      with --against REV: the same mode run by cs231n_utils as of git revision REV
                  (e.g. the commit before a change to the loader), in the same rounds

Exits 1 when a warm call misses the goal (<= 1 s wall, <= 900 MB peak), so `make bench` says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine  # benchmarks/machine.py (scripts run from this folder)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- what the children run


def cs231n_float64(data_dir: Path, num_training=49000, num_validation=1000, num_test=1000):
    """CS231n's assignment-1 code path, as published (data_utils.py + the notebook's helper)."""
    import pickle

    import numpy as np

    def load_CIFAR_batch(filename):
        with open(filename, "rb") as f:
            datadict = pickle.load(f, encoding="latin1")
            X = datadict["data"]
            Y = datadict["labels"]
            X = X.reshape(10000, 3, 32, 32).transpose(0, 2, 3, 1).astype("float")
            Y = np.array(Y)
            return X, Y

    def load_CIFAR10(ROOT):
        xs, ys = [], []
        for b in range(1, 6):
            X, Y = load_CIFAR_batch(os.path.join(ROOT, "data_batch_%d" % (b,)))  # noqa: UP031 (CS231n verbatim)
            xs.append(X)
            ys.append(Y)
        Xtr, Ytr = np.concatenate(xs), np.concatenate(ys)
        del X, Y
        Xte, Yte = load_CIFAR_batch(os.path.join(ROOT, "test_batch"))
        return Xtr, Ytr, Xte, Yte

    X_train, y_train, X_test, y_test = load_CIFAR10(str(data_dir / "cifar-10-batches-py"))
    mask = list(range(num_training, num_training + num_validation))
    X_val, y_val = X_train[mask], y_train[mask]
    mask = list(range(num_training))
    X_train, y_train = X_train[mask], y_train[mask]
    mask = list(range(num_test))
    X_test, y_test = X_test[mask], y_test[mask]
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image
    X_train = X_train.reshape(num_training, -1)
    X_val = X_val.reshape(num_validation, -1)
    X_test = X_test.reshape(num_test, -1)
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_val": X_val,
        "y_val": y_val,
        "X_test": X_test,
        "y_test": y_test,
    }


def child(mode: str, data_dir: Path) -> None:
    import numpy as np  # noqa: F401  (imports are not timed)

    from cs231n_utils.data import get_cifar10_data

    t, c = time.perf_counter(), time.process_time()
    if mode in ("kit cold", "kit warm"):
        out = get_cifar10_data(data_dir=data_dir)
    elif mode == "kit no cache":
        out = get_cifar10_data(data_dir=data_dir, cache=False)
    elif mode == "cs231n f64":
        out = cs231n_float64(data_dir)
    else:
        out = {}
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    shapes = {k: [list(v.shape), str(v.dtype)] for k, v in out.items() if k.startswith("X_train")}
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
    print(json.dumps({"seconds": seconds, "cpu": cpu, "hwm_mb": int(hwm) / 1024, "shapes": shapes}))


# --------------------------------------------------------------------------- the parent


def measure(mode: str, data_dir: Path, pythonpath: str | None = None) -> dict:
    """Run one mode in a fresh process: wall time (from the child) and peak RSS (from the kernel).
    ``pythonpath`` puts another copy of cs231n_utils first on the child's path."""
    if mode == "kit cold":
        shutil.rmtree(data_dir / "cache" / "cifar10", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=pythonpath) if pythonpath else None
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, "--dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)  # reap it ourselves to get this child's rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"{mode}: child failed\n{err.read()}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def checkout(rev: str, into: Path) -> str:
    """``cs231n_utils/`` as of git revision ``rev``, unpacked under ``into``; returns ``into``."""
    blob = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "cs231n_utils"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=blob, check=True)
    return str(into)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--dir", default=None, help="data folder holding cifar-10-batches-py (default: the kit's)"
    )
    p.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    p.add_argument(
        "--against",
        metavar="REV",
        default=None,
        help="also run the kit modes with cs231n_utils as of this git revision",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    from cs231n_utils.data import default_data_dir

    data_dir = Path(a.dir) if a.dir else default_data_dir()
    if a.child:
        child(a.child, data_dir)
        return 0
    if not (data_dir / "cifar-10-batches-py" / "test_batch").is_file():
        sys.exit(f"No CIFAR-10 in {data_dir}: run `make data` first.")
    print(f"machine: {machine()}")
    print(f"data: {data_dir / 'cifar-10-batches-py'}")
    print(
        f"load average before: {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates wall time)"
    )
    variants = [("", None)]
    with tempfile.TemporaryDirectory() as old:
        if a.against:
            variants.append((f" @{a.against}", checkout(a.against, Path(old))))
        modes = [("import only", None)]
        for mode in ("kit cold", "kit warm", "kit no cache"):
            modes += [(mode + tag, path) for tag, path in variants]  # interleaved: now, REV
        modes.append(("cs231n f64", None))
        runs = {name: [] for name, _ in modes}
        for _ in range(a.repeat):
            for name, path in modes:
                runs[name].append(measure(name.split(" @")[0], data_dir, path))
    print(
        f"{'mode':<22}{'wall s (median)':>16}{'CPU s (median)':>16}{'peak RSS MB (max)':>19}"
        f"{'VmHWM MB':>10}   wall runs"
    )
    for name, results in runs.items():
        secs = [r["seconds"] for r in results]
        peak = max(r["peak_mb"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        hwm = max(r["hwm_mb"] for r in results)
        print(
            f"{name:<22}{statistics.median(secs):>16.2f}{cpu:>16.2f}{peak:>19.0f}{hwm:>10.0f}   "
            + " ".join(f"{s:.2f}" for s in secs),
            flush=True,
        )
    warm = runs["kit warm"]
    wall, peak = statistics.median(r["seconds"] for r in warm), max(r["peak_mb"] for r in warm)
    met = wall <= 1.0 and peak <= 900
    print(
        f"goal (issue 2): kit warm <= 1 s and <= 900 MB peak: {'met' if met else 'MISSED'} "
        f"({wall:.2f} s, {peak:.0f} MB)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
