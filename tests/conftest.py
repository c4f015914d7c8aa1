"""Shared fixtures: small CIFAR-10 stand-ins in the real format, built once per test session.

The stand-in builder lives in ``shared/datasets/make_cifar10.py`` beside the repository (CI lays a
copy of shared/ beside the clone); ``CS231N_SHARED_DIR`` (or ``SHARED_DIR``, as .ci/run sets it)
overrides that location.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # render plots headless, before anything imports pyplot

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CS231N_SHARED_DIR") or os.environ.get("SHARED_DIR")
              or Path(__file__).resolve().parents[2] / "shared")
MAKE_CIFAR10 = SHARED / "datasets" / "make_cifar10.py"
FULL_DATA = REPO / "data"
SMALL_TRAIN_PER_CLASS = 20   # 200 training images in 5 batches of 40
SMALL_TEST_PER_CLASS = 10    # 100 test images


def md5_of(path: Path) -> str:
    """Hex MD5 of a file."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def cifar_small_tarball(tmp_path_factory) -> Path:
    """A small class-balanced ``cifar-10-python.tar.gz`` (official layout) built by make_cifar10.py."""
    if not MAKE_CIFAR10.is_file():
        pytest.fail(f"{MAKE_CIFAR10} not found: the tests need shared/ beside the repository "
                    "(or CS231N_SHARED_DIR pointing at it).")
    out = tmp_path_factory.mktemp("cifar_small_tarball")
    subprocess.run([sys.executable, str(MAKE_CIFAR10), "--out", str(out), "--tarball",
                    "--train-per-class", str(SMALL_TRAIN_PER_CLASS),
                    "--test-per-class", str(SMALL_TEST_PER_CLASS)], check=True, capture_output=True)
    return out / "cifar-10-python.tar.gz"


@pytest.fixture(scope="session")
def cifar_small_md5(cifar_small_tarball) -> str:
    return md5_of(cifar_small_tarball)


@pytest.fixture(scope="session")
def cifar_small_dir(cifar_small_tarball, tmp_path_factory) -> Path:
    """A data dir holding the small stand-in extracted (``<dir>/cifar-10-batches-py/``). Read-only
    by convention: tests that change files copy it first (``shutil.copytree``)."""
    out = tmp_path_factory.mktemp("cifar_small_dir")
    with tarfile.open(cifar_small_tarball) as tar:
        tar.extractall(out, filter="data")
    return out


@pytest.fixture(scope="session")
def cifar_full_dir() -> Path:
    """The repository's ``data/`` with the full CIFAR-10 (or stand-in); skips when it is absent."""
    if not (FULL_DATA / "cifar-10-batches-py" / "test_batch").is_file():
        pytest.skip("full CIFAR-10 not in data/: run `make data` (or `python -m cs231n_utils.data download`)")
    return FULL_DATA


@pytest.fixture(scope="session")
def make_chain():
    """make_chain(top, depth): top/d/d/.../d, depth folders deep, made one level at a time
    (os.makedirs recurses); every chain is removed again without recursion after the test (pytest's
    own clean-up of old temporary folders would overflow the stack on it)."""
    from cs231n_grader.intake import remove_tree

    made = []

    def make(top: Path, depth: int) -> Path:
        top.mkdir()
        made.append(top)
        fd = os.open(top, os.O_RDONLY)
        try:
            for _ in range(depth):
                os.mkdir("d", dir_fd=fd)
                child = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = child
        finally:
            os.close(fd)
        return top

    yield make
    for top in made:
        if top.exists():
            remove_tree(top)
