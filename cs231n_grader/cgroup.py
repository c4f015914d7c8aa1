"""Memory and process limits for a whole sandbox (all its processes together), through a cgroup.

rlimits are per process (RLIMIT_AS: 4 children x 1.5 GB passed a "2 GiB" limit) or per uid
(RLIMIT_NPROC); a cgroup bounds the sum. When the grader is root, every sandbox gets its own child
cgroup below the grader's, with

    cgroup v2 (unified):  memory.max, memory.swap.max = 0, pids.max
    cgroup v1 (legacy):   memory.limit_in_bytes (+ memory.memsw.limit_in_bytes), pids.max

and bubblewrap is moved into it before it starts anything, so every process the student's code makes
is counted. Where no writable cgroup exists (an ordinary user without delegation, some containers)
:func:`create` returns None and the sandbox falls back to its per-process rlimits;
docs/INSTRUCTORS.md says what that means.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")


def _own_paths(proc_cgroup: str) -> dict[str, str]:
    """/proc/self/cgroup lines 'id:controllers:/path' -> {controller or '' (v2): path}."""
    paths = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def _v2_parent(own: dict[str, str]) -> Path | None:
    """Our v2 cgroup if it can host children with the memory and pids controllers."""
    for mount in (ROOT, ROOT / "unified"):
        if (mount / "cgroup.controllers").is_file() and "" in own:
            parent = mount / own[""].lstrip("/")
            enabled = (
                (parent / "cgroup.subtree_control").read_text().split()
                if (parent / "cgroup.subtree_control").is_file()
                else []
            )
            if {"memory", "pids"} <= set(enabled) and _writable(parent):
                return parent
    return None


def _v1_parents(own: dict[str, str]) -> dict[str, Path] | None:
    """Our v1 memory and pids cgroups, if both are writable."""
    parents = {c: ROOT / c / own.get(c, "/").lstrip("/") for c in ("memory", "pids")}
    return parents if all(_writable(p) for p in parents.values()) else None


@dataclass
class SandboxCgroup:
    """One sandbox's cgroup folder(s): 'v2' -> one folder; 'v1' -> a memory and a pids folder."""

    version: str
    folders: list[Path] = field(default_factory=list)

    def enter(self) -> None:
        """Move the calling process into the cgroup (a Popen preexec_fn: runs in the child)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def memory_exhausted(self) -> bool:
        """Did the kernel's OOM killer act (or the limit get hit) in this cgroup?"""
        try:
            if self.version == "v2":
                events = dict(
                    line.split()
                    for line in (self.folders[0] / "memory.events").read_text().splitlines()
                )
                return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
            return int((self.folders[0] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Kill whatever is left in the cgroup and remove it."""
        deadline = time.monotonic() + 5
        for folder in self.folders:
            while folder.exists():
                try:
                    pids = (folder / "cgroup.procs").read_text().split()
                    for pid in pids:
                        os.kill(int(pid), signal.SIGKILL)
                    if not pids:
                        folder.rmdir()
                        break
                except (ProcessLookupError, FileNotFoundError):
                    pass
                except OSError as exc:
                    if time.monotonic() > deadline:
                        log.warning("could not remove sandbox cgroup %s: %s", folder, exc)
                        break
                time.sleep(0.05)


def create(memory_bytes: int, max_processes: int) -> SandboxCgroup | None:
    """A fresh cgroup limiting memory (bytes, swap included) and processes+threads, or None where
    this grader cannot make one (then only per-process rlimits apply)."""
    try:
        own = _own_paths(Path("/proc/self/cgroup").read_text())
    except OSError:
        return None
    name = f"cs231n-sandbox-{secrets.token_hex(6)}"
    cg = None
    try:
        v2 = _v2_parent(own)
        if v2 is not None:
            folder = v2 / name
            cg = SandboxCgroup("v2")
            folder.mkdir()
            cg.folders.append(folder)
            _write(folder / "memory.max", memory_bytes)
            _write(folder / "memory.swap.max", 0, optional=True)
            _write(folder / "pids.max", max_processes)
            return cg
        v1 = _v1_parents(own)
        if v1 is not None:
            cg = SandboxCgroup("v1")
            for parent in v1.values():
                (parent / name).mkdir()
                cg.folders.append(parent / name)
            memory, pids = cg.folders
            _write(memory / "memory.limit_in_bytes", memory_bytes)
            _write(memory / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            _write(pids / "pids.max", max_processes)
            return cg
    except OSError as exc:
        log.warning(
            "cannot make a cgroup for the sandbox (%s): memory and processes are limited per "
            "process only",
            exc,
        )
        if cg is not None:
            cg.close()
    return None


def available() -> bool:
    """Can this grader make sandbox cgroups here? (makes one and removes it)"""
    cg = create(2**30, 8)
    if cg is not None:
        cg.close()
    return cg is not None


def _write(path: Path, value: int, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise
