"""Load and check ``best_net.npz``, the saved weights of your best net: the one rule, used by the
notebook's accuracy cell and by the grader alike.

    >>> params = load_net("best_net.npz")
    >>> # {'W1': (3072, H), 'b1': (H,), 'W2': (H, 10), 'b2': (10,)}

The rule: an ``np.savez`` / ``np.savez_compressed`` file holding the arrays ``W1 b1 W2 b2`` (real
numbers, finite) with shapes ``(3072, H)``, ``(H,)``, ``(H, 10)``, ``(10,)`` for some
``1 <= H <= 4096``; biases saved as ``(1, H)`` / ``(H, 1)`` are accepted as the vectors they are.
Other arrays in the file are ignored (listed in ``notes``). Nothing is decompressed before its
declared size has been checked, and pickles are never loaded, so any file (even a hostile one) costs
bounded time and memory.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

KEYS = ("W1", "b1", "W2", "b2")
D, C = 3072, 10
MAX_HIDDEN = 4096
MAX_MEMBERS = 16
MAX_HEADER_BYTES = 4096
HINT = 'save it again with np.savez("best_net.npz", W1=W1, b1=b1, W2=W2, b2=b2)'


class NetFileError(ValueError):
    """best_net.npz breaks the rule; the message says what is wrong and what to do."""


def max_file_bytes(max_hidden: int = MAX_HIDDEN) -> int:
    """Largest acceptable best_net.npz: the four float64 arrays for H = max_hidden, plus headers."""
    return 8 * ((D + 2) * max_hidden + 2 * C) + 2**20


def _member_bound(key: str, max_hidden: int) -> int:
    """Largest uncompressed .npy member for one array (float64, H = max_hidden) plus its header."""
    elements = {"W1": D * max_hidden, "b1": max_hidden, "W2": max_hidden * C, "b2": C}[key]
    return 8 * elements + MAX_HEADER_BYTES


def _open_regular(path: Path, max_bytes: int):
    """Open path for reading only if it is a regular file (never through a link) of
    at most max_bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NetFileError(
            f"{path.name} not found beside the notebook: run the tuning section to "
            f"train your best net and {HINT}"
        ) from None
    except OSError as exc:
        what = "a link" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        raise NetFileError(
            f"{path.name} is {what}, not a plain file: hand in the file itself"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NetFileError(f"{path.name} is not a regular file: {HINT}")
    if st.st_size > max_bytes:
        os.close(fd)
        raise NetFileError(
            f"{path.name} is {st.st_size / 2**20:.0f} MiB, more than a two-layer net with "
            f"at most {MAX_HIDDEN} hidden units needs: save only W1, b1, W2, b2"
        )
    return os.fdopen(fd, "rb")


def _read_npy(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, max_hidden: int
) -> np.ndarray:
    """One member's array, its header checked before any data is read. -> float64 array."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NetFileError(f"best_net.npz: {key} uses an unusual compression: {HINT}")
    if info.file_size > _member_bound(key, max_hidden):
        raise NetFileError(
            f"best_net.npz: {key} is larger than a two-layer net's {key} can be "
            f"(at most {max_hidden} hidden units): {HINT}"
        )
    with archive.open(info) as fh:  # reads at most info.file_size bytes, however it was compressed
        try:
            version = np.lib.format.read_magic(fh)
            header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )(fh, max_header_size=MAX_HEADER_BYTES)
        except Exception:  # noqa: BLE001 - any malformed header is the same mistake
            raise NetFileError(f"best_net.npz: {key} is not a saved numpy array: {HINT}") from None
        shape, fortran, dtype = header
        if dtype.hasobject or dtype.kind not in "fiu" or dtype.itemsize > 8:
            raise NetFileError(
                f"best_net.npz: {key} holds {dtype} values, not real numbers: {HINT}"
            )
        count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        nbytes = count * dtype.itemsize
        if nbytes > _member_bound(key, max_hidden):
            raise NetFileError(f"best_net.npz: {key} has shape {shape}, far too large: {HINT}")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise NetFileError(f"best_net.npz: {key} is truncated: {HINT}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(np.float64)


def _as_vector(key: str, array: np.ndarray, n: int) -> np.ndarray:
    """A bias as shape (n,): (n,), (1, n) and (n, 1) are the same vector."""
    if array.shape in ((n,), (1, n), (n, 1)):
        return array.reshape(n)
    raise NetFileError(f"best_net.npz: {key} has shape {array.shape}, expected ({n},): {HINT}")


def load_net(
    path: str | os.PathLike = "best_net.npz",
    max_hidden: int = MAX_HIDDEN,
    notes: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Read best_net.npz safely and check it against the rule (module docstring).

    Returns {"W1": (3072, H), "b1": (H,), "W2": (H, 10), "b2": (10,)} float64 arrays. Raises
    NetFileError saying what to fix. Arrays other than W1 b1 W2 b2 are ignored, and named in
    ``notes`` (a list the caller passes) so the notebook and the grader can say so.
    """
    path = Path(path)
    with _open_regular(path, max_file_bytes(max_hidden)) as fh:
        try:
            archive = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, ValueError, OSError):
            raise NetFileError(f"{path.name} is not an .npz file: {HINT}") from None
        with archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise NetFileError(f"{path.name} holds {len(infos)} arrays: {HINT}")
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise NetFileError(f"{path.name} names an array twice: {HINT}")
            members = {
                name[:-4]: info
                for name, info in zip(names, infos, strict=True)
                if name.endswith(".npy")
            }
            missing = [k for k in KEYS if k not in members]
            if missing:
                raise NetFileError(
                    f"{path.name} lacks {', '.join(missing)} (it holds "
                    f"{', '.join(sorted(members)) or 'no arrays'}): {HINT}"
                )
            extra = sorted(set(names) - {f"{k}.npy" for k in KEYS})
            if extra and notes is not None:
                notes.append(f"ignored other arrays in {path.name}: {', '.join(extra)[:200]}")
            raw = {k: _read_npy(archive, members[k], k, max_hidden) for k in KEYS}
    return _checked(raw, max_hidden)


def _checked(raw: dict[str, np.ndarray], max_hidden: int) -> dict[str, np.ndarray]:
    """Shapes (biases as vectors) and finiteness of the four arrays."""
    W1, W2 = raw["W1"], raw["W2"]
    if W1.ndim != 2 or W1.shape[0] != D or not 1 <= W1.shape[1] <= max_hidden:
        raise NetFileError(
            f"best_net.npz: W1 has shape {W1.shape}, expected ({D}, H) with "
            f"1 <= H <= {max_hidden}: {HINT}"
        )
    H = W1.shape[1]
    if W2.shape != (H, C):
        raise NetFileError(
            f"best_net.npz: W2 has shape {W2.shape}, expected ({H}, {C}) since W1 is "
            f"{W1.shape}: {HINT}"
        )
    net = {
        "W1": W1,
        "b1": _as_vector("b1", raw["b1"], H),
        "W2": W2,
        "b2": _as_vector("b2", raw["b2"], C),
    }
    for key, array in net.items():
        if not np.all(np.isfinite(array)):
            raise NetFileError(
                f"best_net.npz: {key} contains inf or nan: train with a smaller learning "
                f"rate, then {HINT}"
            )
    return net
