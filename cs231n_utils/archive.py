"""Safe extraction of ``cifar-10-python.tar.gz``: the archive is untrusted input (a mirror, a
file someone handed over), so only regular files and folders under ``cifar-10-batches-py/`` are
written -- never absolute paths, ``..``, links or devices, and never more than
``MAX_EXTRACT_BYTES``.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath

from .cifar10 import FOLDER, REQUIRED_FILES, DownloadError

MAX_EXTRACT_BYTES = 1 << 30  # the real archive unpacks to ~178 MB


def _safe_members(tar: tarfile.TarFile):
    """Yield ``(member, path)`` of the archive after refusing anything unsafe or unexpected."""
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
            raise DownloadError(
                f"Unexpected archive member {m.name!r}: everything should be under {FOLDER}/."
            )
        total += m.size
        if total > MAX_EXTRACT_BYTES:
            raise DownloadError(
                f"Archive unpacks to more than {MAX_EXTRACT_BYTES} bytes; refusing it."
            )
        yield m, p


def extract(archive: Path, into: Path) -> Path:
    """Extract the archive's regular files into ``into`` (no links, no metadata); return the
    ``cifar-10-batches-py`` folder. Raises ``DownloadError`` on anything unsafe, damaged or missing
    (``into`` may then hold a partial extraction: the caller removes it)."""
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
        raise DownloadError(
            f"The archive {archive.name} is damaged ({type(exc).__name__}: {exc}); "
            "nothing was kept. Run the download again."
        ) from None
    folder = into / FOLDER
    missing = [n for n in REQUIRED_FILES if not (folder / n).is_file()]
    if missing:
        raise DownloadError(
            f"The archive lacks {', '.join(f'{FOLDER}/{n}' for n in missing)}; nothing was kept. "
            "Check the URL points at cifar-10-python.tar.gz and download again."
        )
    return folder
