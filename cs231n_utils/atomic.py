"""Folders that appear whole or not at all: build in a temporary folder, then rename into place.

Used by the download (``cifar-10-batches-py/``) and by the array cache (``cache/cifar10/``), which
may run in several processes at once (a notebook and the grader), so nothing here deletes a
temporary folder that another process may still be filling.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def install(new: Path, final: Path) -> None:
    """Move the finished folder ``new`` into place at ``final`` (replacing an old one)."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
    os.rename(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale(folder: Path, prefixes: tuple[str, ...], max_age_s: float = 3600.0) -> None:
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
