"""The CIFAR-10 "python version" on disk: where it lives, its file names, reading
and checking batches.

The official archive ``cifar-10-python.tar.gz`` unpacks to::

    cifar-10-batches-py/
        batches.meta                 {'label_names': [10 str], ...}
        data_batch_1 .. data_batch_5 {'data': uint8 (10000, 3072) rows R|G|B planes,
                                      'labels': [10000 int]}
        test_batch                   same, 10000 test images
        readme.html

The pickles were written by Python 2; they load with ``encoding='latin1'`` (str keys) and,
when re-pickled by Python 3, may carry ``bytes`` keys -- both are accepted.

Every other data module builds on this one (``archive``, ``download``, ``cache``, ``data``); it
imports none of them.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
REQUIRED_FILES = (META, *TRAIN_BATCHES, TEST_BATCH)
D = 32 * 32 * 3
NUM_CLASSES = 10
FIX = "run `python -m cs231n_utils.data download` (or data/get_datasets.sh) to fetch it again"


class DataError(RuntimeError):
    """CIFAR-10 is missing, damaged or not in the expected format; the message says what to do."""


class DownloadError(DataError):
    """A download failed, was truncated or did not match its checksum; nothing was kept."""


# --------------------------------------------------------------------------- locations


def default_data_dir() -> Path:
    """Where CIFAR-10 lives: ``$CS231N_DATA_DIR`` if set, else the repository's ``data/``
    (found from this package's location), else ``./data``."""
    env = os.environ.get("CS231N_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path("data")


def resolve_root(data_dir) -> Path:
    """The ``cifar-10-batches-py`` folder for a data dir (or that folder itself)."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if (data_dir / META).exists() or (data_dir / TEST_BATCH).exists():
        return data_dir
    return data_dir / FOLDER


# --------------------------------------------------------------------------- reading


def _load_pickle(path: Path) -> dict:
    """Unpickle one CIFAR file; keys normalised to ``str`` (Python 2 str or ``bytes`` keys)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CIFAR-10 file not found: {path}. {FIX}.")
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except Exception as exc:  # any unpickling failure means a damaged file
        raise DataError(
            f"CIFAR-10 file {path} is damaged ({type(exc).__name__}: {exc}). {FIX}."
        ) from None
    if not isinstance(obj, dict):
        raise DataError(
            f"CIFAR-10 file {path} does not hold a dict but a {type(obj).__name__}. {FIX}."
        )
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_CIFAR_batch(path):
    """Load one batch file.

    Returns ``X`` uint8 ``(N, 32, 32, 3)`` (HWC, like CS231n) and ``y`` int64 ``(N,)`` in
    ``[0, 10)``. Raises ``DataError`` naming the file when it is missing, damaged, or has
    the wrong dtype/shape.
    """
    path = Path(path)
    batch = _load_pickle(path)
    if "data" not in batch or "labels" not in batch:
        raise DataError(
            f"CIFAR-10 file {path} has no 'data'/'labels' entries "
            f"(keys: {sorted(map(str, batch))}). {FIX}."
        )
    data, labels = batch["data"], batch["labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != D
    ):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(
            f"CIFAR-10 file {path}: 'data' should be uint8 of shape (N, {D}), got {desc}. {FIX}."
        )
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"CIFAR-10 file {path}: 'labels' are not integers. {FIX}.") from None
    if y.shape != (data.shape[0],):
        raise DataError(
            f"CIFAR-10 file {path}: {data.shape[0]} images but labels of shape {y.shape}. {FIX}."
        )
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(f"CIFAR-10 file {path}: labels outside [0, {NUM_CLASSES}). {FIX}.")
    X = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # R|G|B planes -> (N, 32, 32, 3)
    return np.ascontiguousarray(X), y


def load_CIFAR10(root):
    """Load all of CIFAR-10 from ``root`` (the ``cifar-10-batches-py`` folder or its parent).

    Returns ``Xtr`` uint8 ``(50000, 32, 32, 3)``, ``ytr`` int64 ``(50000,)``,
    ``Xte`` uint8 ``(10000, 32, 32, 3)``, ``yte`` int64 ``(10000,)``.
    """
    root = resolve_root(root)
    parts = [load_CIFAR_batch(root / name) for name in TRAIN_BATCHES]
    Xtr = np.concatenate([X for X, _ in parts])
    ytr = np.concatenate([y for _, y in parts])
    del parts
    Xte, yte = load_CIFAR_batch(root / TEST_BATCH)
    return Xtr, ytr, Xte, yte


def load_class_names(root=None) -> list[str]:
    """The 10 class names (``['airplane', 'automobile', ...]``) from ``batches.meta``."""
    root = resolve_root(root)
    path = root / META
    names = _load_pickle(path).get("label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise DataError(f"CIFAR-10 file {path} has no list of {NUM_CLASSES} 'label_names'. {FIX}.")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def load_rows(root: Path, names) -> tuple[np.ndarray, np.ndarray]:
    """The batches ``names`` of ``root`` as one uint8 array ``(N, 3072)`` of image rows flattened
    in (32, 32, 3) order (CS231n's ``X.reshape(N, -1)``) and their labels int64 ``(N,)``."""
    parts = [load_CIFAR_batch(root / name) for name in names]
    X = np.concatenate([X.reshape(len(X), D) for X, _ in parts])
    y = np.concatenate([y for _, y in parts])
    return X, y


def validate_folder(folder: Path) -> None:
    """Load every batch once (shape/dtype/labels); raises ``DataError`` naming a bad file."""
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise DataError(f"CIFAR-10 file not found: {folder / name}. {FIX}.")
    load_class_names(folder)
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        load_CIFAR_batch(folder / name)
