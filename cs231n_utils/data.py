"""CIFAR-10 for the two-layer-net assignment: CS231n's ``data_utils`` API and the download CLI.

Public API (names as in CS231n's ``data_utils``):

- ``default_data_dir() -> Path``
- ``download_cifar10(data_dir=None, url=None, md5=None, quiet=False, force=False) -> Path``
- ``load_CIFAR_batch(path) -> (X uint8 (N, 32, 32, 3), y int64 (N,))``
- ``load_CIFAR10(root) -> (Xtr, ytr, Xte, yte)``
- ``load_class_names(root) -> list[str]``
- ``get_cifar10_data(...) -> dict`` rows of D = 3072 (flattened in (32, 32, 3) order),
  mean-subtracted
- ``build_cache(data_dir=None)``: the uint8 array cache that makes ``get_cifar10_data`` fast
- CLI: ``python -m cs231n_utils.data download [--dir D] [--url U --md5 M] [--force] [--no-cache]``
  and ``python -m cs231n_utils.data check [--dir D]``

The work is done by one module per job, which this one only composes:
``cifar10`` (the format: file names, reading and checking batches), ``archive`` (safe
extraction), ``download`` (fetch + verify + install), ``cache`` (the uint8 arrays, from the
``.npy`` cache or the batches).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .cache import CACHE_NAME, build_cache, cifar10_arrays
from .cifar10 import (
    FOLDER,
    NUM_CLASSES,
    REQUIRED_FILES,
    D,
    DataError,
    DownloadError,
    default_data_dir,
    load_CIFAR10,
    load_CIFAR_batch,
    load_class_names,
    resolve_root,
    validate_folder,
)
from .download import (
    CIFAR10_MD5,
    CIFAR10_URL,
    MARKER,
    download_cifar10,
    is_cifar10_present,
    read_marker,
)

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CACHE_NAME",
    "D",
    "FOLDER",
    "MARKER",
    "NUM_CLASSES",
    "REQUIRED_FILES",
    "DataError",
    "DownloadError",
    "build_cache",
    "default_data_dir",
    "download_cifar10",
    "get_cifar10_data",
    "is_cifar10_present",
    "load_CIFAR10",
    "load_CIFAR_batch",
    "load_class_names",
    "main",
]

CHUNK = 8192  # rows converted at a time: bounds the float temporaries to ~100 MB


def get_cifar10_data(
    num_training=49000,
    num_validation=1000,
    num_test=1000,
    subtract_mean=True,
    dtype=np.float32,
    data_dir=None,
    cache=True,
    train_sample=None,
) -> dict:
    """CIFAR-10 split and preprocessed the CS231n way, memory-frugally.

    - ``X_train`` ``(num_training, 3072)`` = training images ``[0, num_training)``
    - ``X_val`` ``(num_validation, 3072)`` = training images
      ``[num_training, num_training + num_validation)`` (so the default validation set is
      ``train[49000:50000]``)
    - ``X_test`` ``(num_test, 3072)`` = the first ``num_test`` test images
    - ``y_*`` int64 labels ``(N,)`` in ``[0, 10)``

    Rows are flattened in (32, 32, 3) order (``X.reshape(N, -1)`` of HWC images, as CS231n does),
    cast to ``dtype`` (float32 by default; float64 reproduces CS231n's numbers exactly), and, if
    ``subtract_mean``, the mean image of the *training split* (computed in float64) is subtracted
    from all three sets. ``data_dir`` is the folder holding ``cifar-10-batches-py`` (default
    ``default_data_dir()``).

    With ``cache=True`` the raw uint8 arrays are kept in ``data_dir/cache/cifar10/`` (~184 MB) and
    memory-mapped, so a warm call takes well under a second and peaks near the size of the result.
    The cache is rebuilt when a source batch changes; if ``data_dir`` is read-only an existing
    cache is still used and a missing one is simply not written.

    ``train_sample=k`` returns only the first ``k`` training images as ``X_train``/``y_train``
    (the mean image is still that of all ``num_training``, so every set is preprocessed exactly
    as without it): ~600 MB less memory when the full float training set is not needed.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(
            f"dtype must be a floating type such as np.float32 or np.float64, got {dtype}."
        )
    for name, val in (
        ("num_training", num_training),
        ("num_validation", num_validation),
        ("num_test", num_test),
        ("train_sample", num_training if train_sample is None else train_sample),
    ):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {val!r}.")
    if subtract_mean and num_training == 0:
        raise ValueError(
            "subtract_mean needs num_training > 0 (the mean comes from the training split)."
        )
    root, arrays = cifar10_arrays(data_dir, cache=cache)
    train_X, train_y, test_X, test_y = (
        arrays[k] for k in ("train_X", "train_y", "test_X", "test_y")
    )
    if num_training + num_validation > len(train_X) or num_test > len(test_X):
        raise ValueError(
            f"Asked for {num_training} training + {num_validation} validation images and "
            f"{num_test} test images, but {root} has {len(train_X)} training and {len(test_X)} "
            "test images: pass smaller sizes."
        )
    mean = _mean_image(train_X[:num_training]) if subtract_mean else None
    val = slice(num_training, num_training + num_validation)
    kept = num_training if train_sample is None else min(train_sample, num_training)
    return {
        "X_train": _to_float(train_X[:kept], mean, dtype),
        "y_train": np.array(train_y[:kept], dtype=np.int64),
        "X_val": _to_float(train_X[val], mean, dtype),
        "y_val": np.array(train_y[val], dtype=np.int64),
        "X_test": _to_float(test_X[:num_test], mean, dtype),
        "y_test": np.array(test_y[:num_test], dtype=np.int64),
    }


def _mean_image(X) -> np.ndarray:
    """Mean of uint8 rows ``X`` ``(N, 3072)`` as float64 ``(3072,)``, from exact integer sums."""
    total = np.zeros(D, np.int64)
    for i in range(0, len(X), CHUNK):  # uint32 partial sums are exact for chunks < 16.8M rows
        total += np.add.reduce(X[i : i + CHUNK], axis=0, dtype=np.uint32)
    return total / len(X)


def _to_float(X, mean, dtype) -> np.ndarray:
    """Uint8 rows ``X`` ``(N, 3072)`` as ``dtype`` ``(N, 3072)``, minus ``mean`` ``(3072,)`` if
    given; converted ``CHUNK`` rows at a time so no float temporary of the whole ``X`` exists."""
    out = np.empty(X.shape, dtype)
    m = None if mean is None else mean.astype(dtype)
    for i in range(0, len(X), CHUNK):
        if m is None:
            out[i : i + CHUNK] = X[i : i + CHUNK]
        else:
            np.subtract(X[i : i + CHUNK], m, out=out[i : i + CHUNK], dtype=dtype)
    return out


# --------------------------------------------------------------------------- CLI


def _cmd_download(args) -> int:
    path = download_cifar10(
        args.dir, url=args.url, md5=args.md5, quiet=args.quiet, force=args.force
    )
    if not args.no_cache:
        cdir = build_cache(args.dir)
        if not args.quiet:
            print(
                f"array cache: {cdir}" if cdir else "array cache not written (read-only folder)",
                file=sys.stderr,
            )
    print(path)
    return 0


def _cmd_check(args) -> int:
    root = resolve_root(args.dir)
    validate_folder(root)
    verified = read_marker(root)
    how = f"verified download, MD5 {verified['md5']}" if verified else "not downloaded by this tool"
    print(f"CIFAR-10 OK in {root} ({how}); classes: {', '.join(load_class_names(root))}")
    return 0


def main(argv=None) -> int:
    """``python -m cs231n_utils.data {download,check}``; exit 0 on success, 1 with a message
    otherwise."""
    p = argparse.ArgumentParser(
        prog="python -m cs231n_utils.data",
        description="Fetch and check CIFAR-10 for the CS231n two-layer-net kit.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    dir_help = "data folder (default: $CS231N_DATA_DIR or the repo's data/)"
    d = sub.add_parser("download", help="download, verify and extract cifar-10-python.tar.gz")
    d.add_argument("--dir", default=None, help=dir_help)
    d.add_argument(
        "--url",
        default=None,
        help="mirror URL (http(s):// or file://); default $CIFAR10_URL or the official one",
    )
    d.add_argument("--md5", default=None, help="MD5 of the archive at --url (default $CIFAR10_MD5)")
    d.add_argument(
        "--force", action="store_true", help="download again even if a verified copy exists"
    )
    d.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    d.add_argument(
        "--no-cache",
        action="store_true",
        help="do not build the uint8 array cache (data/cache/cifar10) that makes loading fast",
    )
    d.set_defaults(func=_cmd_download)
    c = sub.add_parser("check", help="check that every batch file loads")
    c.add_argument("--dir", default=None, help=dir_help)
    c.set_defaults(func=_cmd_check)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing partial was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
