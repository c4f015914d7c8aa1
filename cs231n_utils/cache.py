"""CIFAR-10 as uint8 arrays, from the array cache or from the batches.

``data_dir/cache/cifar10/`` holds ``train_X.npy`` ``(50000, 3072)`` uint8 (rows flattened in
(32, 32, 3) order), ``train_y.npy`` int64 ``(50000,)``, ``test_X.npy``, ``test_y.npy`` and
``manifest.json`` (the batches' fingerprint). The arrays are written with ``np.save`` and read
back with ``np.load(mmap_mode="r")``: a warm call maps 184 MB instead of unpickling 6 files, and
only the rows it converts are ever read. The cache is rebuilt when a batch changes; on a
read-only data folder an existing cache is used and a missing one is simply not written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import atomic
from .cifar10 import (
    FIX,
    TEST_BATCH,
    TRAIN_BATCHES,
    D,
    DataError,
    default_data_dir,
    load_rows,
    resolve_root,
)

CACHE_NAME = "cifar10"  # data_dir/cache/cifar10/
CACHE_VERSION = 1
ARRAYS = ("train_X", "train_y", "test_X", "test_y")


def fingerprint(root: Path) -> dict:
    """Cheap identity of the source files (size, mtime, inode): changes when a batch is replaced."""
    fp = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        path = root / name
        try:
            st = path.stat()
        except OSError:
            raise DataError(f"CIFAR-10 file not found: {path}. {FIX}.") from None
        fp[name] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return fp


def cache_dir(data_dir, root: Path) -> Path:
    """``<data_dir>/cache/cifar10`` (``data_dir`` may be the batches folder ``root`` itself)."""
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    if base.resolve() == root.resolve():
        base = root.parent
    return base / "cache" / CACHE_NAME


def from_batches(root: Path) -> dict:
    """The four arrays read from the pickles in ``root`` (see the module docstring for shapes)."""
    train_X, train_y = load_rows(root, TRAIN_BATCHES)
    test_X, test_y = load_rows(root, (TEST_BATCH,))
    return {"train_X": train_X, "train_y": train_y, "test_X": test_X, "test_y": test_y}


def open_cache(cdir: Path, fp: dict) -> dict | None:
    """The four arrays of a valid cache (images memory-mapped read-only); ``None`` if the cache is
    absent, stale (``fp`` differs) or damaged."""
    try:
        manifest = json.loads((cdir / "manifest.json").read_text())
        if manifest.get("version") != CACHE_VERSION or manifest.get("fingerprint") != fp:
            return None
        n = {"train": manifest["n_train"], "test": manifest["n_test"]}
        arrays = {}
        for split in ("train", "test"):
            # a mapping keeps its inode: a concurrent rebuild renaming the cache away is harmless
            X = np.load(cdir / f"{split}_X.npy", mmap_mode="r", allow_pickle=False)
            y = np.load(cdir / f"{split}_y.npy", allow_pickle=False)
            if X.shape != (n[split], D) or X.dtype != np.uint8 or y.shape != (n[split],):
                return None
            arrays[f"{split}_X"], arrays[f"{split}_y"] = X, y
        return arrays
    except (OSError, ValueError, KeyError, TypeError):  # a truncated .npy fails to map
        return None


def write_cache(cdir: Path, arrays: dict, fp: dict) -> bool:
    """Save ``arrays`` in a temp folder, then rename it into place at ``cdir``; ``False`` if it
    cannot be written (read-only folder, file size limit, ...)."""
    tmp = None
    try:
        cdir.parent.mkdir(parents=True, exist_ok=True)
        atomic.remove_stale(cdir.parent, (f".{CACHE_NAME}-", f".{CACHE_NAME}.old-"))
        tmp = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}-", dir=cdir.parent))
        tmp.chmod(0o755)  # readable by other users, e.g. the grading sandbox
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", arrays[name], allow_pickle=False)
        manifest = {
            "version": CACHE_VERSION,
            "fingerprint": fp,
            "n_train": len(arrays["train_y"]),
            "n_test": len(arrays["test_y"]),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        atomic.install(tmp, cdir)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cifar10_arrays(data_dir=None, cache=True) -> tuple[Path, dict]:
    """The batches folder and its four arrays: from the cache when it is valid, else from the
    pickles (then, with ``cache=True``, the cache is written for next time)."""
    root = resolve_root(data_dir)
    if not root.is_dir():
        raise DataError(
            f"CIFAR-10 not found in {root}: run `python -m cs231n_utils.data download` "
            "(or data/get_datasets.sh), or set CS231N_DATA_DIR to the folder that "
            "holds it."
        )
    fp = fingerprint(root)
    cdir = cache_dir(data_dir, root)
    arrays = open_cache(cdir, fp) if cache else None
    if arrays is None:
        arrays = from_batches(root)
        if cache and write_cache(cdir, arrays, fp):
            # continue from the mapped files: the pages of the in-memory copy go back now
            arrays = open_cache(cdir, fp) or arrays
    return root, arrays


def build_cache(data_dir=None) -> Path | None:
    """Make sure ``data_dir/cache/cifar10/`` holds the arrays ``get_cifar10_data`` reads, so
    later calls (e.g. in a read-only grading sandbox) take the fast path. Returns the cache folder,
    or ``None`` if it cannot be written (read-only folder)."""
    root = resolve_root(data_dir)
    fp = fingerprint(root)
    cdir = cache_dir(data_dir, root)
    if open_cache(cdir, fp) is not None:
        return cdir
    return cdir if write_cache(cdir, from_batches(root), fp) else None
