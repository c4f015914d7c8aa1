"""CIFAR-10 for the two-layer-net assignment: download, verify, extract, load, preprocess.

The official "python version" archive ``cifar-10-python.tar.gz`` unpacks to::

    cifar-10-batches-py/
        batches.meta                 {'label_names': [10 str], ...}
        data_batch_1 .. data_batch_5 {'data': uint8 (10000, 3072) rows R|G|B planes, 'labels': [10000 int]}
        test_batch                   same, 10000 test images
        readme.html

The pickles were written by Python 2; they load with ``encoding='latin1'`` (str keys) and,
when re-pickled by Python 3, may carry ``bytes`` keys -- both are accepted.

Public API (names as in CS231n's ``data_utils``):

- ``default_data_dir() -> Path``
- ``download_cifar10(data_dir=None, url=None, md5=None, quiet=False) -> Path``
- ``load_CIFAR_batch(path) -> (X uint8 (N, 32, 32, 3), y int64 (N,))``
- ``load_CIFAR10(root) -> (Xtr, ytr, Xte, yte)``
- ``load_class_names(root) -> list[str]``
- ``get_cifar10_data(...) -> dict`` rows of D = 3072 (flattened in (32, 32, 3) order), mean-subtracted
- ``build_cache(data_dir=None)``: the uint8 array cache that makes ``get_cifar10_data`` fast
- CLI: ``python -m cs231n_utils.data download [--dir D] [--url U --md5 M] [--force] [--no-cache]`` and
  ``python -m cs231n_utils.data check [--dir D]``
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

import numpy as np

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
REQUIRED_FILES = (META, *TRAIN_BATCHES, TEST_BATCH)
OPTIONAL_FILES = ("readme.html",)
MARKER = ".cs231n_verified.json"      # written inside FOLDER after a verified download
IMAGE_SHAPE = (32, 32, 3)
D = 32 * 32 * 3
NUM_CLASSES = 10
MAX_EXTRACT_BYTES = 1 << 30           # the real archive unpacks to ~178 MB
CACHE_NAME = "cifar10"                # data_dir/cache/cifar10/
CACHE_VERSION = 1
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


def _resolve_root(data_dir) -> Path:
    """The ``cifar-10-batches-py`` folder for a data dir (or that folder itself)."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if (data_dir / META).exists() or (data_dir / TEST_BATCH).exists():
        return data_dir
    return data_dir / FOLDER


# --------------------------------------------------------------------------- loading

def _load_pickle(path: Path) -> dict:
    """Unpickle one CIFAR file; keys normalised to ``str`` (Python 2 str or ``bytes`` keys)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CIFAR-10 file not found: {path}. {FIX}.")
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except Exception as exc:  # any unpickling failure means a damaged file
        raise DataError(f"CIFAR-10 file {path} is damaged ({type(exc).__name__}: {exc}). {FIX}.") from None
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR-10 file {path} does not hold a dict but a {type(obj).__name__}. {FIX}.")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_CIFAR_batch(path):
    """Load one batch file.

    Returns ``X`` uint8 ``(N, 32, 32, 3)`` (HWC, like CS231n) and ``y`` int64 ``(N,)`` in ``[0, 10)``.
    Raises ``DataError`` naming the file when it is missing, damaged, or has the wrong dtype/shape.
    """
    path = Path(path)
    batch = _load_pickle(path)
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"CIFAR-10 file {path} has no 'data'/'labels' entries "
                        f"(keys: {sorted(map(str, batch))}). {FIX}.")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != D:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"CIFAR-10 file {path}: 'data' should be uint8 of shape (N, {D}), got {desc}. {FIX}.")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"CIFAR-10 file {path}: 'labels' are not integers. {FIX}.") from None
    if y.shape != (data.shape[0],):
        raise DataError(f"CIFAR-10 file {path}: {data.shape[0]} images but labels of shape {y.shape}. {FIX}.")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(f"CIFAR-10 file {path}: labels outside [0, {NUM_CLASSES}). {FIX}.")
    X = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # R|G|B planes -> (N, 32, 32, 3)
    return np.ascontiguousarray(X), y


def load_CIFAR10(root):
    """Load all of CIFAR-10 from ``root`` (the ``cifar-10-batches-py`` folder or its parent).

    Returns ``Xtr`` uint8 ``(50000, 32, 32, 3)``, ``ytr`` int64 ``(50000,)``,
    ``Xte`` uint8 ``(10000, 32, 32, 3)``, ``yte`` int64 ``(10000,)``.
    """
    root = _resolve_root(root)
    parts = [load_CIFAR_batch(root / name) for name in TRAIN_BATCHES]
    Xtr = np.concatenate([X for X, _ in parts])
    ytr = np.concatenate([y for _, y in parts])
    del parts
    Xte, yte = load_CIFAR_batch(root / TEST_BATCH)
    return Xtr, ytr, Xte, yte


def load_class_names(root=None) -> list[str]:
    """The 10 class names (``['airplane', 'automobile', ...]``) from ``batches.meta``."""
    root = _resolve_root(root)
    path = root / META
    names = _load_pickle(path).get("label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise DataError(f"CIFAR-10 file {path} has no list of {NUM_CLASSES} 'label_names'. {FIX}.")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _rows_hwc(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as uint8 rows ``(N, 3072)`` flattened in (32, 32, 3) order, and labels ``(N,)``."""
    X, y = load_CIFAR_batch(path)
    return X.reshape(len(X), D), y


# --------------------------------------------------------------------------- download

def _check_source(url, md5):
    """Pick URL and checksum (argument, then environment, then official); validate them."""
    url_given = url or os.environ.get("CIFAR10_URL")
    md5_given = md5 or os.environ.get("CIFAR10_MD5")
    url = url_given or CIFAR10_URL
    if url != CIFAR10_URL and not md5_given:
        raise DownloadError(
            f"A custom CIFAR-10 URL ({url}) needs its own MD5 checksum: pass "
            "`--md5 <32 hex digits>` (md5=... in Python) or set CIFAR10_MD5.")
    md5 = (md5_given or CIFAR10_MD5).strip().lower()
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise DownloadError(f"'{md5}' is not an MD5 checksum (32 hex digits); check --md5 / CIFAR10_MD5.")
    if not url.startswith(("http://", "https://", "file://")):
        raise DownloadError(f"Unsupported URL '{url}': use http://, https:// or file://.")
    return url, md5


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_cifar10_present(data_dir=None, md5=None) -> bool:
    """Fast check (no hashing): the 6 batch files and ``batches.meta`` exist with the sizes that
    a verified download recorded, and that download's MD5 equals ``md5`` (if given)."""
    folder = _resolve_root(data_dir)
    marker = _read_marker(folder)
    if not marker or (md5 and marker.get("md5") != md5.lower()):
        return False
    sizes = marker.get("sizes", {})
    for name in REQUIRED_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size != sizes.get(name):
            return False
    return True


def _validate_folder(folder: Path) -> None:
    """Load every batch once (shape/dtype/labels); raises ``DataError`` naming a bad file."""
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise DataError(f"CIFAR-10 file not found: {folder / name}. {FIX}.")
    load_class_names(folder)
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        load_CIFAR_batch(folder / name)


def _fetch(url: str, dest: Path, md5: str, quiet: bool) -> None:
    """Stream ``url`` into ``dest`` with a progress bar; check length and MD5."""
    from tqdm import tqdm  # the plain bar: tqdm.auto warns in notebooks without ipywidgets

    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            got = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc="cifar-10-python.tar.gz",
                      disable=quiet, file=sys.stderr) as bar:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"Download of {url} failed ({type(exc).__name__}: {exc}); nothing was kept. "
                            "Check the URL and your connection, then run the download again.") from None
    except Exception as exc:  # http.client.IncompleteRead and friends
        raise DownloadError(f"Download of {url} was cut off ({type(exc).__name__}); nothing was kept. "
                            "Run the download again.") from None
    if total is not None and got != total:
        raise DownloadError(f"Download of {url} is truncated ({got} of {total} bytes); nothing was kept. "
                            "Run the download again.")
    if digest.hexdigest() != md5:
        raise DownloadError(
            f"Checksum mismatch for {url}: expected MD5 {md5}, got {digest.hexdigest()} "
            f"({got} bytes). The file was corrupt or incomplete and has been removed; run the download "
            "again, and if you use a mirror check that --md5 / CIFAR10_MD5 is that mirror's checksum.")


def _safe_members(tar: tarfile.TarFile):
    """Yield the archive's members after refusing anything unsafe or unexpected."""
    total = 0
    for m in tar:
        p = PurePosixPath(m.name)
        if not p.parts or m.name.startswith(("/", "\\")) or p.is_absolute() or ":" in p.parts[0]:
            raise DownloadError(f"Refusing archive member with an absolute path: {m.name!r}.")
        if ".." in p.parts:
            raise DownloadError(f"Refusing archive member that climbs out with '..': {m.name!r}.")
        if m.issym() or m.islnk():
            raise DownloadError(f"Refusing link in archive: {m.name!r} -> {m.linkname!r}.")
        if not (m.isfile() or m.isdir()):
            raise DownloadError(f"Refusing special file (device/fifo) in archive: {m.name!r}.")
        if p.parts[0] != FOLDER:
            raise DownloadError(f"Unexpected archive member {m.name!r}: everything should be under {FOLDER}/.")
        total += m.size
        if total > MAX_EXTRACT_BYTES:
            raise DownloadError(f"Archive unpacks to more than {MAX_EXTRACT_BYTES} bytes; refusing it.")
        yield m, p


def _extract(archive: Path, into: Path) -> Path:
    """Extract the archive's regular files into ``into`` (no links, no metadata); return the folder."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m, p in _safe_members(tar):
                target = into.joinpath(*p.parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except DownloadError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DownloadError(f"The archive {archive.name} is damaged ({type(exc).__name__}: {exc}); "
                            "nothing was kept. Run the download again.") from None
    folder = into / FOLDER
    missing = [n for n in REQUIRED_FILES if not (folder / n).is_file()]
    if missing:
        raise DownloadError(f"The archive lacks {', '.join(f'{FOLDER}/{n}' for n in missing)}; nothing was "
                            "kept. Check the URL points at cifar-10-python.tar.gz and download again.")
    return folder


def _remove_stale(folder: Path, prefixes: tuple[str, ...], max_age_s: float = 3600.0) -> None:
    """Delete temp folders that a killed run left in ``folder`` (only ones older than ``max_age_s``,
    so a download or cache build running right now in another process is never touched)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    now = time.time()
    for p in entries:
        try:
            if p.name.startswith(prefixes) and p.is_dir() and now - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _install(new: Path, final: Path) -> None:
    """Move the verified folder ``new`` into place at ``final`` (replacing an old one)."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
    os.rename(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def download_cifar10(data_dir=None, url=None, md5=None, quiet=False, force=False) -> Path:
    """Download, verify and extract CIFAR-10 into ``data_dir`` (default ``default_data_dir()``).

    ``url``/``md5`` default to ``$CIFAR10_URL``/``$CIFAR10_MD5``, else the official ones; a custom URL
    must come with its checksum. The archive goes to a temporary file, is MD5-checked, extracted
    safely (no absolute paths, ``..``, links or devices) into a temporary folder, validated, and only
    then renamed into place. A failure leaves nothing behind. If a verified copy is already there
    (with the same MD5, when a source was named), nothing happens (a marker file records the
    verified MD5 and file sizes).
    Returns the ``cifar-10-batches-py`` folder.
    """
    # A source named by the caller (argument or environment) must be the one on disk; with none
    # named, any verified copy will do (e.g. one fetched earlier from a mirror).
    explicit = any((url, md5, os.environ.get("CIFAR10_URL"), os.environ.get("CIFAR10_MD5")))
    url, md5 = _check_source(url, md5)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    final = data_dir / FOLDER
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    if not force and is_cifar10_present(data_dir, md5 if explicit else None):
        say(f"CIFAR-10 already present and verified in {final}; nothing to do.")
        return final
    if not force and final.is_dir() and _read_marker(final) is None:
        try:  # extracted by hand (e.g. from CS231n's script): accept it if every batch loads
            _validate_folder(final)
            say(f"CIFAR-10 found in {final} (not downloaded by this tool; all batches load). "
                "Use --force to download a verified copy.")
            return final
        except DataError as exc:
            say(f"Existing {final} is unusable ({exc}); downloading a fresh copy.")
    _remove_stale(data_dir, (".cifar10-download-", f".{FOLDER}.old-"))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".cifar10-download-", dir=data_dir))
    except OSError as exc:
        raise DownloadError(f"Cannot write into {data_dir} ({exc}); pass a writable folder with --dir "
                            "or set CS231N_DATA_DIR.") from None
    try:
        archive = workdir / "cifar-10-python.tar.gz.part"
        say(f"Downloading {url} -> {final}")
        _fetch(url, archive, md5, quiet)
        folder = _extract(archive, workdir / "extract")
        archive.unlink()
        try:
            _validate_folder(folder)
        except DataError as exc:
            raise DownloadError(f"The downloaded archive holds bad data: {exc}") from None
        sizes = {n: (folder / n).stat().st_size for n in REQUIRED_FILES}
        (folder / MARKER).write_text(json.dumps({"md5": md5, "url": url, "sizes": sizes}, indent=1))
        _install(folder, final)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"CIFAR-10 ready in {final}")
    return final


# --------------------------------------------------------------------------- cache + preprocessing

def _fingerprint(root: Path) -> dict:
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


def _npy_data(path: Path, shape, dtype) -> int:
    """Offset of the data in a ``.npy`` file after checking its header and length."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            hdr = np.lib.format.read_array_header_1_0(f)
        else:
            hdr = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
    got_shape, fortran, got_dtype = hdr
    if fortran or got_dtype != np.dtype(dtype) or tuple(got_shape) != tuple(shape):
        raise ValueError(f"{path.name}: header {hdr} != {shape} {dtype}")
    if path.stat().st_size != offset + int(np.prod(shape)) * np.dtype(dtype).itemsize:
        raise ValueError(f"{path.name}: wrong length")
    return offset


class _Rows:
    """Uint8 image rows ``(N, 3072)`` read in slices, either from per-batch arrays in memory (never
    concatenated) or from a cache ``.npy`` file (plain reads, not mmap, so only the requested slice
    counts towards this process's memory)."""

    def __init__(self, parts=None, path=None, n=None):
        self.parts, self.path = parts, path
        if parts is not None:
            self.starts = np.cumsum([0] + [len(p) for p in parts])
            self.n, self.file = int(self.starts[-1]), None
        else:
            self.n = n
            self.offset = _npy_data(path, (n, D), np.uint8)
            # keep the file open: a concurrent cache rebuild may rename or delete it under us
            self.file = open(path, "rb", buffering=0)

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.parts is not None:
            pieces = [p[max(start - s, 0):stop - s] for p, s in zip(self.parts, self.starts[:-1])
                      if s < stop and s + len(p) > start]
            return pieces[0] if len(pieces) == 1 else np.concatenate(pieces or [np.empty((0, D), np.uint8)])
        buf = np.empty((stop - start, D), np.uint8)
        view = memoryview(buf).cast("B")
        self.file.seek(self.offset + start * D)
        while view.nbytes:
            got = self.file.readinto(view)
            if not got:
                raise DataError(f"Cache file {self.path} is truncated; delete {self.path.parent} and retry.")
            view = view[got:]
        return buf

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _build_arrays(root: Path) -> dict:
    """Read the pickles: ``train_X``/``test_X`` as ``_Rows`` of uint8 HWC rows, ``train_y``/``test_y`` int64."""
    train = [_rows_hwc(root / name) for name in TRAIN_BATCHES]
    test_X, test_y = _rows_hwc(root / TEST_BATCH)
    return {"train_X": _Rows(parts=[X for X, _ in train]), "train_y": np.concatenate([y for _, y in train]),
            "test_X": _Rows(parts=[test_X]), "test_y": test_y}


def _cache_dir(data_dir, root: Path) -> Path:
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    if base.resolve() == root.resolve():  # data_dir was the batches folder itself
        base = root.parent
    return base / "cache" / CACHE_NAME


def _open_cache(cdir: Path, fp: dict) -> dict | None:
    """Open a valid cache as ``_Rows`` + label arrays; ``None`` if absent, stale or damaged."""
    opened = []
    try:
        manifest = json.loads((cdir / "manifest.json").read_text())
        if manifest.get("version") != CACHE_VERSION or manifest.get("fingerprint") != fp:
            return None
        n_tr, n_te = manifest["n_train"], manifest["n_test"]
        train_y, test_y = np.load(cdir / "train_y.npy"), np.load(cdir / "test_y.npy")
        if train_y.shape != (n_tr,) or test_y.shape != (n_te,):
            return None
        opened.append(_Rows(path=cdir / "train_X.npy", n=n_tr))
        opened.append(_Rows(path=cdir / "test_X.npy", n=n_te))
        return {"train_X": opened[0], "test_X": opened[1], "train_y": train_y, "test_y": test_y}
    except (OSError, ValueError, KeyError, TypeError):
        for rows in opened:
            rows.close()
        return None


_HEADER = 128  # bytes reserved for a .npy v1.0 header of shape (N, 3072) uint8 (always 128 in practice)


def _stream_rows(paths: list[Path], dest: Path) -> np.ndarray:
    """Write the batches' uint8 HWC rows into one ``.npy`` at ``dest`` one batch at a time (only one
    batch in memory); return the labels ``(N,)``."""
    labels = []
    with open(dest, "wb") as f:
        f.seek(_HEADER)
        for path in paths:
            X, y = _rows_hwc(path)
            f.write(memoryview(np.ascontiguousarray(X)).cast("B"))
            labels.append(y)
            del X
        y = np.concatenate(labels)
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, {"descr": "|u1", "fortran_order": False, "shape": (len(y), D)})
        if len(head.getvalue()) != _HEADER:
            raise OSError(f"unexpected .npy header size {len(head.getvalue())}")
        f.seek(0)
        f.write(head.getvalue())
    return y


def _write_cache(cdir: Path, root: Path, fp: dict) -> bool:
    """Build the cache from the pickles in a temp folder, then rename it into place; ``False`` if
    it cannot be written (read-only folder, file size limit, ...)."""
    tmp = None
    try:
        cdir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(cdir.parent, (f".{CACHE_NAME}-", f".{CACHE_NAME}.old-"))
        tmp = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}-", dir=cdir.parent))
        tmp.chmod(0o755)  # readable by other users, e.g. the grading sandbox
        train_y = _stream_rows([root / n for n in TRAIN_BATCHES], tmp / "train_X.npy")
        test_y = _stream_rows([root / TEST_BATCH], tmp / "test_X.npy")
        np.save(tmp / "train_y.npy", train_y)
        np.save(tmp / "test_y.npy", test_y)
        manifest = {"version": CACHE_VERSION, "fingerprint": fp, "n_train": len(train_y), "n_test": len(test_y)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _install(tmp, cdir)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build_cache(data_dir=None) -> Path | None:
    """Make sure ``data_dir/cache/cifar10/`` holds the uint8 arrays ``get_cifar10_data`` reads, so
    later calls (e.g. in a read-only grading sandbox) take the fast path. Returns the cache folder,
    or ``None`` if it cannot be written (read-only folder)."""
    root = _resolve_root(data_dir)
    fp = _fingerprint(root)
    cdir = _cache_dir(data_dir, root)
    src = _open_cache(cdir, fp)
    if src is not None:
        src["train_X"].close()
        src["test_X"].close()
        return cdir
    return cdir if _write_cache(cdir, root, fp) else None


def _mean_rows(rows: _Rows, stop: int, chunk: int) -> np.ndarray:
    """Mean image over rows ``[0, stop)`` as float64 ``(3072,)`` (exact integer sums)."""
    total = np.zeros(D, np.int64)
    for i in range(0, stop, chunk):  # uint32 partial sums are exact for chunk < 16.8M rows
        total += np.add.reduce(rows.read(i, min(i + chunk, stop)), axis=0, dtype=np.uint32)
    return total / stop


def _convert(rows: _Rows, start: int, stop: int, mean, dtype, chunk: int) -> np.ndarray:
    """Rows ``[start, stop)`` as ``dtype`` ``(stop - start, 3072)``, minus ``mean`` if given."""
    out = np.empty((stop - start, D), dtype)
    m = None if mean is None else mean.astype(dtype)
    for i in range(start, stop, chunk):
        j = min(i + chunk, stop)
        block = out[i - start:j - start]
        if m is None:
            block[...] = rows.read(i, j)
        else:
            np.subtract(rows.read(i, j), m, out=block, dtype=dtype)
    return out


def get_cifar10_data(num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True,
                     dtype=np.float32, data_dir=None, cache=True) -> dict:
    """CIFAR-10 split and preprocessed the CS231n way, memory-frugally.

    - ``X_train`` ``(num_training, 3072)`` = training images ``[0, num_training)``
    - ``X_val`` ``(num_validation, 3072)`` = training images ``[num_training, num_training + num_validation)``
      (so the default validation set is ``train[49000:50000]``)
    - ``X_test`` ``(num_test, 3072)`` = the first ``num_test`` test images
    - ``y_*`` int64 labels ``(N,)`` in ``[0, 10)``

    Rows are flattened in (32, 32, 3) order (``X.reshape(N, -1)`` of HWC images, as CS231n does), cast
    to ``dtype`` (float32 by default; float64 reproduces CS231n's numbers exactly), and, if
    ``subtract_mean``, the mean image of the *training split* (computed in float64) is subtracted from
    all three sets. ``data_dir`` is the folder holding ``cifar-10-batches-py`` (default
    ``default_data_dir()``).

    With ``cache=True`` the raw uint8 arrays are kept in ``data_dir/cache/cifar10/`` (~184 MB) and read
    back in slices, so a warm call takes well under a second and peaks near the size of the result.
    The cache is rebuilt when a source batch changes; if ``data_dir`` is read-only an existing cache
    is still used and a missing one is simply not written.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type such as np.float32 or np.float64, got {dtype}.")
    for name, val in (("num_training", num_training), ("num_validation", num_validation),
                      ("num_test", num_test)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {val!r}.")
    if subtract_mean and num_training == 0:
        raise ValueError("subtract_mean needs num_training > 0 (the mean comes from the training split).")
    root = _resolve_root(data_dir)
    if not root.is_dir():
        raise DataError(f"CIFAR-10 not found in {root}: run `python -m cs231n_utils.data download` "
                        "(or data/get_datasets.sh), or set CS231N_DATA_DIR to the folder that holds it.")
    fp = _fingerprint(root)
    src = None
    cdir = _cache_dir(data_dir, root)
    if cache:
        src = _open_cache(cdir, fp)
        if src is None and _write_cache(cdir, root, fp):
            src = _open_cache(cdir, fp)
    if src is None:  # no cache wanted, or the folder is read-only: keep the batches in memory
        src = _build_arrays(root)
    train, test = src["train_X"], src["test_X"]
    try:
        return _split(train, test, src["train_y"], src["test_y"], root, num_training, num_validation,
                      num_test, subtract_mean, dtype)
    finally:
        train.close()
        test.close()


def _split(train: _Rows, test: _Rows, train_y, test_y, root, num_training, num_validation, num_test,
           subtract_mean, dtype) -> dict:
    """The CS231n split of uint8 rows into float ``dtype`` arrays (see ``get_cifar10_data``)."""
    n_tr, n_te = train.n, test.n
    if num_training + num_validation > n_tr or num_test > n_te:
        raise ValueError(
            f"Asked for {num_training} training + {num_validation} validation images and {num_test} test "
            f"images, but {root} has {n_tr} training and {n_te} test images: pass smaller sizes.")
    chunk = 8192
    mean = _mean_rows(train, num_training, chunk) if subtract_mean else None
    tr, va = slice(0, num_training), slice(num_training, num_training + num_validation)
    return {
        "X_train": _convert(train, tr.start, tr.stop, mean, dtype, chunk),
        "y_train": np.array(train_y[tr], dtype=np.int64),
        "X_val": _convert(train, va.start, va.stop, mean, dtype, chunk),
        "y_val": np.array(train_y[va], dtype=np.int64),
        "X_test": _convert(test, 0, num_test, mean, dtype, chunk),
        "y_test": np.array(test_y[:num_test], dtype=np.int64),
    }


# --------------------------------------------------------------------------- CLI

def _cmd_download(args) -> int:
    path = download_cifar10(args.dir, url=args.url, md5=args.md5, quiet=args.quiet, force=args.force)
    if not args.no_cache:
        cdir = build_cache(args.dir)
        if not args.quiet:
            print(f"array cache: {cdir}" if cdir else "array cache not written (read-only folder)",
                  file=sys.stderr)
    print(path)
    return 0


def _cmd_check(args) -> int:
    root = _resolve_root(args.dir)
    _validate_folder(root)
    verified = _read_marker(root)
    how = f"verified download, MD5 {verified['md5']}" if verified else "not downloaded by this tool"
    print(f"CIFAR-10 OK in {root} ({how}); classes: {', '.join(load_class_names(root))}")
    return 0


def main(argv=None) -> int:
    """``python -m cs231n_utils.data {download,check}``; exit 0 on success, 1 with a message otherwise."""
    p = argparse.ArgumentParser(prog="python -m cs231n_utils.data",
                                description="Fetch and check CIFAR-10 for the CS231n two-layer-net kit.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="download, verify and extract cifar-10-python.tar.gz")
    d.add_argument("--dir", default=None, help="data folder (default: $CS231N_DATA_DIR or the repo's data/)")
    d.add_argument("--url", default=None, help="mirror URL (http(s):// or file://); default $CIFAR10_URL "
                                               "or the official one")
    d.add_argument("--md5", default=None, help="MD5 of the archive at --url (default $CIFAR10_MD5)")
    d.add_argument("--force", action="store_true", help="download again even if a verified copy exists")
    d.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    d.add_argument("--no-cache", action="store_true",
                   help="do not build the uint8 array cache (data/cache/cifar10) that makes loading fast")
    d.set_defaults(func=_cmd_download)
    c = sub.add_parser("check", help="check that every batch file loads")
    c.add_argument("--dir", default=None, help="data folder (default: $CS231N_DATA_DIR or the repo's data/)")
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
