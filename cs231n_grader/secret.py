"""The grader secret and the case generators seeded from it (trusted process only).

Secret inputs are derived deterministically from the grader secret (env ``CS231N_GRADER_SECRET``,
else ``<course root>/.grader_secret``, created on first use, mode 0600), so re-grading gives the
same cases and the same scores.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import numpy as np

from cs231n_grader.reference import repo_root

SECRET_ENV = "CS231N_GRADER_SECRET"
SECRET_FILE = ".grader_secret"


def grader_secret(course_root: str | Path | None = None) -> bytes:
    """The grader secret: ``$CS231N_GRADER_SECRET`` or ``<course_root>/.grader_secret``
    (course_root defaults to the repository root), created with mode 0600 on first use."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = Path(course_root if course_root is not None else repo_root()) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def case_rng(secret: bytes, part: str, label: str) -> np.random.Generator:
    """A generator seeded from (secret, part, case label): stable across runs, unguessable."""
    digest = hashlib.sha256(secret + b"\0" + part.encode() + b"\0" + label.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))
