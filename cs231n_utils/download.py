"""Download and verify CIFAR-10: stream the archive with a progress bar, check its length and MD5,
extract it safely into a temporary folder, load every batch once, and only then rename the folder
into place (a marker file records what was verified). A failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from . import archive, atomic
from .cifar10 import (
    FOLDER,
    REQUIRED_FILES,
    DataError,
    DownloadError,
    default_data_dir,
    resolve_root,
    validate_folder,
)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
MARKER = ".cs231n_verified.json"  # written inside FOLDER after a verified download


def check_source(url, md5) -> tuple[str, str]:
    """Pick URL and checksum (argument, then environment, then official); validate them."""
    url_given = url or os.environ.get("CIFAR10_URL")
    md5_given = md5 or os.environ.get("CIFAR10_MD5")
    url = url_given or CIFAR10_URL
    if url != CIFAR10_URL and not md5_given:
        raise DownloadError(
            f"A custom CIFAR-10 URL ({url}) needs its own MD5 checksum: pass "
            "`--md5 <32 hex digits>` (md5=... in Python) or set CIFAR10_MD5."
        )
    md5 = (md5_given or CIFAR10_MD5).strip().lower()
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise DownloadError(
            f"'{md5}' is not an MD5 checksum (32 hex digits); check --md5 / CIFAR10_MD5."
        )
    if not url.startswith(("http://", "https://", "file://")):
        raise DownloadError(f"Unsupported URL '{url}': use http://, https:// or file://.")
    return url, md5


def read_marker(folder: Path) -> dict | None:
    """What a verified download recorded in ``folder`` (``md5``, ``url``, ``sizes``),
    or ``None``."""
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_cifar10_present(data_dir=None, md5=None) -> bool:
    """Fast check (no hashing): the 6 batch files and ``batches.meta`` exist with the sizes that
    a verified download recorded, and that download's MD5 equals ``md5`` (if given)."""
    folder = resolve_root(data_dir)
    marker = read_marker(folder)
    if not marker or (md5 and marker.get("md5") != md5.lower()):
        return False
    sizes = marker.get("sizes", {})
    for name in REQUIRED_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size != sizes.get(name):
            return False
    return True


def _fetch(url: str, dest: Path, md5: str, quiet: bool) -> None:
    """Stream ``url`` into ``dest`` with a progress bar; check length and MD5."""
    from tqdm import tqdm  # the plain bar: tqdm.auto warns in notebooks without ipywidgets

    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            got = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc="cifar-10-python.tar.gz",
                disable=quiet,
                file=sys.stderr,
            ) as bar:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(
            f"Download of {url} failed ({type(exc).__name__}: {exc}); nothing was kept. "
            "Check the URL and your connection, then run the download again."
        ) from None
    except Exception as exc:  # http.client.IncompleteRead and friends
        raise DownloadError(
            f"Download of {url} was cut off ({type(exc).__name__}); nothing was "
            "kept. Run the download again."
        ) from None
    if total is not None and got != total:
        raise DownloadError(
            f"Download of {url} is truncated ({got} of {total} bytes); nothing "
            "was kept. Run the download again."
        )
    if digest.hexdigest() != md5:
        raise DownloadError(
            f"Checksum mismatch for {url}: expected MD5 {md5}, got {digest.hexdigest()} "
            f"({got} bytes). The file was corrupt or incomplete and has been removed; run the "
            "download again, and if you use a mirror check that --md5 / CIFAR10_MD5 is that "
            "mirror's checksum."
        )


def download_cifar10(data_dir=None, url=None, md5=None, quiet=False, force=False) -> Path:
    """Download, verify and extract CIFAR-10 into ``data_dir`` (default ``default_data_dir()``).

    ``url``/``md5`` default to ``$CIFAR10_URL``/``$CIFAR10_MD5``, else the official ones; a custom
    URL must come with its checksum. The archive goes to a temporary file, is MD5-checked,
    extracted safely (no absolute paths, ``..``, links or devices) into a temporary folder,
    validated, and only then renamed into place. A failure leaves nothing behind. If a verified
    copy is already there (with the same MD5, when a source was named), nothing happens (a marker
    file records the verified MD5 and file sizes).
    Returns the ``cifar-10-batches-py`` folder.
    """
    # A source named by the caller (argument or environment) must be the one on disk; with none
    # named, any verified copy will do (e.g. one fetched earlier from a mirror).
    explicit = any((url, md5, os.environ.get("CIFAR10_URL"), os.environ.get("CIFAR10_MD5")))
    url, md5 = check_source(url, md5)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    final = data_dir / FOLDER
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    if not force and is_cifar10_present(data_dir, md5 if explicit else None):
        say(f"CIFAR-10 already present and verified in {final}; nothing to do.")
        return final
    if not force and final.is_dir() and read_marker(final) is None:
        try:  # extracted by hand (e.g. from CS231n's script): accept it if every batch loads
            validate_folder(final)
            say(
                f"CIFAR-10 found in {final} (not downloaded by this tool; all batches load). "
                "Use --force to download a verified copy."
            )
            return final
        except DataError as exc:
            say(f"Existing {final} is unusable ({exc}); downloading a fresh copy.")
    atomic.remove_stale(data_dir, (".cifar10-download-", f".{FOLDER}.old-"))
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".cifar10-download-", dir=data_dir))
    except OSError as exc:
        raise DownloadError(
            f"Cannot write into {data_dir} ({exc}); pass a writable folder with "
            "--dir or set CS231N_DATA_DIR."
        ) from None
    try:
        tarball = workdir / "cifar-10-python.tar.gz.part"
        say(f"Downloading {url} -> {final}")
        _fetch(url, tarball, md5, quiet)
        folder = archive.extract(tarball, workdir / "extract")
        tarball.unlink()
        try:
            validate_folder(folder)
        except DataError as exc:
            raise DownloadError(f"The downloaded archive holds bad data: {exc}") from None
        sizes = {n: (folder / n).stat().st_size for n in REQUIRED_FILES}
        marker = {"md5": md5, "url": url, "sizes": sizes}
        (folder / MARKER).write_text(json.dumps(marker, indent=1))
        atomic.install(folder, final)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"CIFAR-10 ready in {final}")
    return final
