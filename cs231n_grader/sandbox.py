"""Run untrusted student code in a bubblewrap sandbox with resource limits.

What the sandboxed process sees (everything else of the host is absent):

    /home/student/work      a *private copy* of the caller's workdir (cwd and $HOME): a size-limited
                            tmpfs holding copies of workdir's regular files and folders (never
                            links, bounded in bytes, count and depth); nothing written there ever
                            reaches the host
    sys.base_prefix         the Python interpreter (read-only, same path as on the host)
    sys.prefix              the virtualenv (read-only, same path)
    <cs231n_utils>, <cs231n_grader>  the kit's two package folders only (read-only, same path; never
                            the repo root)
    /usr /bin /lib /lib64   system libraries (read-only); a handful of /etc files; synthetic
                            passwd/group
    /proc /dev              a private /proc (own pid namespace) and a minimal /dev
    /tmp /dev/shm           private, size-limited tmpfs
    ro_binds                explicit extra read-only folders (e.g. the CIFAR-10 data folder)

No network (own network namespace: only an empty loopback), own pid/ipc/uts namespaces, a new
session (no terminal injection), the sandbox dies with its parent. The code never runs as the
grader's user: when the grader is root, bubblewrap runs privileged and `setpriv` drops to a fresh,
otherwise unused host uid (ROOT_UID_RANGE, one per run; named "student" in the sandbox's
/etc/passwd) with no capabilities and no_new_privs, so RLIMIT_NPROC bounds a fork storm (root itself
ignores RLIMIT_NPROC, and a uid per run keeps sandboxes running side by side from sharing one
process budget); when the grader is an ordinary user, an unprivileged user namespace maps the
grader's uid to 65534 inside. Folders bound writable (rw_binds: the kernel's socket folder) are
chowned (never following symlinks) to that uid for the run and given back after.

Limits: RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE=0 and RLIMIT_NPROC are set inside
the sandbox by `prlimit` just before the command; when the grader is root, a cgroup per sandbox
(cs231n_grader.cgroup) also bounds memory and processes of all its processes together. Disk: the
private home, /tmp and /dev/shm are tmpfs with a size each (their pages count as the sandbox's
memory) and vanish with it. A wall-clock timeout kills the whole process group (bubblewrap; its pid
namespace dies with it); stdout/stderr are captured up to a cap and the rest is drained and
discarded, so a gigabyte of output never sits in memory.

Where bubblewrap is missing or cannot create namespaces (macOS, locked-down containers) grading
refuses with `SandboxUnavailable`, unless the instructor opts out explicitly with the environment
variable ``CS231N_UNSAFE_NO_SANDBOX=1`` (or ``allow_unsandboxed=True``): then the code runs with
rlimits only and a loud warning is logged on every run.
"""

from __future__ import annotations

import logging
import os
import resource
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cs231n_utils
from cs231n_grader import cgroup
from cs231n_grader.formatting import format_bytes, truncation_note

log = logging.getLogger(__name__)

SANDBOX_HOME = "/home/student/work"
"""Where the private copy of the submission appears inside the sandbox (cwd and $HOME)."""
SANDBOX_UID = 65534
"""The student's uid as seen inside the sandbox when the grader is not root (user namespace)."""
ROOT_UID_RANGE = (1_900_000_000, 1_900_000_000 + 2**20)
"""When the grader is root, each run gets a fresh unused host uid from this range: RLIMIT_NPROC is
counted per host uid, so one sandbox's fork storm cannot starve another
sandbox running alongside."""
UNSAFE_ENV_VAR = "CS231N_UNSAFE_NO_SANDBOX"
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: "
    "`dnf install bubblewrap`; conda: `conda install -c conda-forge bubblewrap`) on a Linux "
    "host that allows namespaces. To grade WITHOUT isolation anyway (student code can then read "
    f"and damage course files), set {UNSAFE_ENV_VAR}=1."
)
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "fonts",
    "localtime",
    "nsswitch.conf",
    "hosts",
    "mime.types",
    "host.conf",
    "gai.conf",
)
MAX_COPY_DEPTH = 4
"""Folders deeper than this below workdir are not copied into the sandbox."""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here; the message says how to fix it."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed run. Per process: CPU, file size, address space; for the
    whole sandbox (cgroup, root only): memory_bytes and max_processes; disk: the
    private home's size."""

    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    memory_bytes: int = 2 * 2**30
    max_processes: int = 64
    max_file_bytes: int = 64 * 2**20
    max_output_bytes: int = 8 * 2**20
    max_disk_bytes: int = 512 * 2**20
    max_copied_files: int = 64


@dataclass
class SandboxResult:
    """What happened. returncode: exit status, negative signal number when killed,
    None on timeout."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    reason: str | None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    seconds: float = 0.0
    sandboxed: bool = True

    @property
    def ok(self) -> bool:
        """True when the command exited normally with status 0."""
        return self.returncode == 0 and not self.timed_out


# --------------------------------------------------------------------------- availability
def _helpers_missing() -> list[str]:
    """Names of the host programs the sandbox needs but cannot find."""
    need = ["bwrap", "prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    return [name for name in need if shutil.which(name) is None]


def unsafe_opt_out(allow_unsandboxed: bool | None = None) -> bool:
    """True when the instructor explicitly chose to grade without a sandbox."""
    if allow_unsandboxed is not None:
        return bool(allow_unsandboxed)
    return os.environ.get(UNSAFE_ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


def sandbox_available() -> tuple[bool, str]:
    """Check that a real sandbox can start here. Returns (ok, why-not with install instructions)."""
    if not sys.platform.startswith("linux"):
        return False, f"the grading sandbox needs Linux (this is {sys.platform}); {INSTALL_HINT}"
    missing = _helpers_missing()
    if missing:
        return False, f"{', '.join(missing)} not found on PATH; {INSTALL_HINT}"
    try:
        argv = bwrap_argv(with_launcher=False) + ["/bin/true"]
        proc = subprocess.run(argv, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap failed to start ({exc}); {INSTALL_HINT}"
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        return False, (
            f"bubblewrap cannot create a sandbox here ({msg}); enable unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root; "
            f"{INSTALL_HINT}"
        )
    return True, ""


def require_sandbox(allow_unsandboxed: bool | None = None, probe: bool = True) -> bool:
    """Return True if the sandbox is usable, False if the instructor opted out; else raise.

    probe=False only checks that the programs exist (run_sandboxed detects a namespace failure from
    bubblewrap's status report instead, saving a bubblewrap start per run)."""
    if unsafe_opt_out(allow_unsandboxed):
        warn_unsafe()
        return False
    if probe:
        ok, why = sandbox_available()
    else:
        missing = (
            _helpers_missing() if sys.platform.startswith("linux") else ["bubblewrap (Linux only)"]
        )
        ok, why = not missing, f"{', '.join(missing)} not found on PATH; {INSTALL_HINT}"
    if not ok:
        raise SandboxUnavailable(f"Refusing to run student code without a sandbox: {why}")
    return True


def warn_unsafe() -> None:
    """The loud warning logged on every unsandboxed run."""
    log.warning(
        "!!! %s is set: student code runs WITHOUT a sandbox (rlimits only). It can read "
        "solutions/ and the gradebook, change grades and use the network. !!!",
        UNSAFE_ENV_VAR,
    )


# --------------------------------------------------------------------------- command line
def _as_pair(item) -> tuple[Path, str]:
    """A bind given as a path (same path inside) or as a (host_path, sandbox_path) pair."""
    if isinstance(item, (str, os.PathLike)):
        return Path(item).resolve(), str(Path(item).resolve())
    src, dest = item
    return Path(src).resolve(), str(dest)


def _ancestors(dest: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b'] (the folders bubblewrap must create before binding dest)."""
    parts = Path(dest).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _mkdirs(dest: str, made: set[str]) -> list[str]:
    """bwrap arguments creating dest's parent folders as world-traversable (0755)."""
    args: list[str] = []
    for folder in _ancestors(dest):
        if folder not in made:
            made.add(folder)
            args += ["--perms", "0755", "--dir", folder]
    return args


def interpreter_binds() -> list[Path]:
    """Read-only host folders the sandboxed Python needs: interpreter, venv, the kit's package."""
    folders = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
    folders.append(Path(cs231n_utils.__file__).resolve().parent)
    folders.append(Path(__file__).resolve().parent)  # cs231n_grader: the runner and kernel launcher
    unique: list[Path] = []
    for folder in folders:
        if not any(folder == u or u in folder.parents for u in unique):
            unique = [u for u in unique if folder not in u.parents] + [folder]
    return unique


def _system_args(made: set[str]) -> list[str]:
    """/usr, the /bin /lib ... links or binds, and the minimal /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    made.add("/etc")
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def sandbox_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The minimal environment inside the sandbox, plus the caller's additions."""
    # One BLAS thread: the matrices of a submission are small (extra threads cost more than they
    # gain), and graders run one sandbox per core side by side (cs231n-autograde --workers N).
    threads = "1"
    base = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_HOME,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    if "NBGRADER_EXECUTION" in os.environ:
        base["NBGRADER_EXECUTION"] = os.environ["NBGRADER_EXECUTION"]
    base.update(env or {})
    return base


def sandbox_uid() -> int:
    """The uid student code runs as: a fresh one per run when root,
    else 65534 in a user namespace."""
    if os.geteuid() != 0:
        return SANDBOX_UID
    return ROOT_UID_RANGE[0] + secrets.randbelow(ROOT_UID_RANGE[1] - ROOT_UID_RANGE[0])


def _launcher(limits: Limits, root_mode: bool, uid: int) -> list[str]:
    """Commands run inside the sandbox before the target: set the rlimits, drop to the student uid.

    Setting the limits here rather than in a preexec_fn lets Python start bubblewrap with vfork
    (fast even from a big grader process); RLIMIT_NPROC must be set inside anyway
    (see module docstring)."""
    args = [
        "prlimit",
        f"--nproc={limits.max_processes}:{limits.max_processes}",
        f"--as={limits.memory_bytes}:{limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--fsize={limits.max_file_bytes}:{limits.max_file_bytes}",
        "--core=0:0",
        "--",
    ]
    if root_mode:
        args += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--",
        ]
    return args


def bwrap_argv(
    ro_binds: Iterable = (),
    *,
    rw_binds: Iterable = (),
    env: Mapping[str, str] | None = None,
    limits: Limits = Limits(),
    data_fds: Mapping[str, int] | None = None,
    home: PrivateCopy | None = None,
    with_launcher: bool = True,
    uid: int = SANDBOX_UID,
) -> list[str]:
    """The bubblewrap command line up to (not including) the command to run.

    SANDBOX_HOME (cwd) is a tmpfs of limits.max_disk_bytes filled with ``home`` (see private_copy;
    pass its fds to the child). ro_binds / rw_binds: paths (same path inside) or (host_path,
    sandbox_path) pairs. data_fds: sandbox file path -> readable fd whose content becomes that
    read-only file (pass_fds too). The returned list ends with a launcher that applies RLIMIT_NPROC
    and drops privileges to uid (see sandbox_uid()); append the command to it.
    """
    root_mode = os.geteuid() == 0
    made: set[str] = set()
    args = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]
    if not root_mode:
        args += [
            "--unshare-user",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--disable-userns",
        ]
    args += _system_args(made)
    args += ["--proc", "/proc", "--dev", "/dev"]
    for dest, size, mode in (
        ("/tmp", 4 * limits.max_file_bytes, "1777"),
        ("/dev/shm", limits.max_file_bytes, "1777"),
    ):
        args += ["--perms", mode, "--size", str(size), "--tmpfs", dest]
    made.update(
        {"/proc", "/dev", "/tmp", "/dev/shm"}
    )  # exist now: binds below them keep their modes
    for src in interpreter_binds():
        args += _mkdirs(str(src), made) + ["--ro-bind", str(src), str(src)]
    for item in ro_binds:
        src, dest = _as_pair(item)
        args += _mkdirs(dest, made) + ["--ro-bind", str(src), dest]
    for item in rw_binds:
        src, dest = _as_pair(item)
        args += _mkdirs(dest, made) + ["--bind", str(src), dest]
    for dest, fd in (data_fds or {}).items():
        args += _mkdirs(dest, made) + ["--perms", "0644", "--ro-bind-data", str(fd), dest]
    # world-writable is safe here: only the student's uid exists inside, and root made the tmpfs
    args += _mkdirs(SANDBOX_HOME, made) + [
        "--perms",
        "0777",
        "--size",
        str(limits.max_disk_bytes),
        "--tmpfs",
        SANDBOX_HOME,
    ]
    args += home.args if home else []
    # the root itself read-only (as a user namespace it would be a writable, unbounded tmpfs)
    args += ["--remount-ro", "/", "--chdir", SANDBOX_HOME, "--clearenv"]
    for key, value in sandbox_env(env).items():
        args += ["--setenv", key, value]
    return args + (_launcher(limits, root_mode, uid) if with_launcher else [])


# --------------------------------------------------------------------------- private copy
@dataclass
class PrivateCopy:
    """workdir's regular files and folders, opened for bubblewrap to copy into the private home.

    args: bwrap ``--dir`` / ``--file FD`` arguments; fds: the open files (pass them to bubblewrap,
    then close()); skipped: what was left out and why (links, special files, over the bounds)."""

    args: list[str]
    fds: list[int]
    skipped: list[str]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _open_regular(path: str) -> tuple[int, int] | None:
    """(fd, size) of path if it is a regular file, opened without following a link; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        return fd, st.st_size
    os.close(fd)
    return None


def private_copy(workdir: Path, limits: Limits) -> PrivateCopy:
    """Plan the sandbox's private copy of workdir: its regular files and folders (never links or
    special files), breadth first, at most limits.max_copied_files entries, MAX_COPY_DEPTH levels
    and limits.max_disk_bytes bytes. Walks without recursion, so no folder chain can
    exhaust the stack."""
    copy = PrivateCopy([], [], [])
    budget, queue = limits.max_disk_bytes, [(str(Path(workdir).resolve()), SANDBOX_HOME, 0)]
    while queue:
        host, inside, depth = queue.pop(0)
        try:
            entries = sorted(os.scandir(host), key=lambda e: e.name)
        except OSError as exc:
            copy.skipped.append(f"{inside}: unreadable ({exc.strerror})")
            continue
        for entry in entries:
            dest = f"{inside}/{entry.name}"
            if copy.args.count("--dir") + len(copy.fds) >= limits.max_copied_files:
                copy.skipped.append(
                    f"{dest}: more than {limits.max_copied_files} files and folders"
                )
            elif entry.is_dir(follow_symlinks=False):
                if depth + 1 >= MAX_COPY_DEPTH:
                    copy.skipped.append(f"{dest}: folders nested deeper than {MAX_COPY_DEPTH}")
                    continue
                copy.args += ["--perms", "0777", "--dir", dest]
                queue.append((entry.path, dest, depth + 1))
            elif (opened := _open_regular(entry.path)) is None:
                copy.skipped.append(f"{dest}: not a regular file (link or special file)")
            elif opened[1] > budget:
                os.close(opened[0])
                copy.skipped.append(
                    f"{dest}: over the {limits.max_disk_bytes} bytes of the private copy"
                )
            else:
                budget -= opened[1]
                copy.fds.append(opened[0])
                copy.args += ["--perms", "0666", "--file", str(opened[0]), dest]
    return copy


# --------------------------------------------------------------------------- limits, ownership
def limit_preexec(limits: Limits):
    """A preexec_fn applying RLIMIT_AS/CPU/FSIZE/CORE in the child (only for
    the unsandboxed opt-out)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))

    return apply


def _walk_lchown(top: Path, uid: int, gid: int) -> None:
    """chown top and everything below it without ever following a symlink."""
    os.lchown(top, uid, gid)
    for root, dirs, files in os.walk(top, followlinks=False):
        for name in dirs + files:
            try:
                os.lchown(os.path.join(root, name), uid, gid)
            except FileNotFoundError:
                pass


def give_to_sandbox(*folders: Path, uid: int = SANDBOX_UID) -> dict[Path, tuple[int, int]]:
    """Make folders writable by the sandbox uid (root mode). Returns the owners to restore."""
    if os.geteuid() != 0:
        return {}
    owners = {}
    for folder in folders:
        st = os.lstat(folder)
        owners[Path(folder)] = (st.st_uid, st.st_gid)
        _walk_lchown(Path(folder), uid, uid)
    return owners


def take_back(owners: Mapping[Path, tuple[int, int]]) -> None:
    """Give folders (and whatever the sandbox created in them) back to their original owners,
    with any setuid/setgid bits the sandbox set removed."""
    for folder, (uid, gid) in owners.items():
        if folder.exists():
            _walk_lchown(folder, uid, gid)
            _strip_setid(folder)


def _strip_setid(top: Path) -> None:
    """Clear S_ISUID/S_ISGID on regular files below top (symlinks are never followed)."""
    for root, _, files in os.walk(top, followlinks=False):
        for name in files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


def _passwd_data(uid: int) -> tuple[bytes, bytes]:
    """Synthetic /etc/passwd and /etc/group naming only root and the student."""
    passwd = (
        f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"student:x:{uid}:{uid}:student:{SANDBOX_HOME}:/bin/sh\n"
    )
    group = f"root:x:0:\nstudent:x:{uid}:\n"
    return passwd.encode(), group.encode()


def _data_pipe(content: bytes) -> int:
    """A pipe read end pre-filled with content (small: below the pipe buffer)."""
    r, w = os.pipe()
    os.write(w, content)
    os.close(w)
    return r


# --------------------------------------------------------------------------- capture
class _Capture:
    """Accumulates one stream up to a cap; beyond it counts and discards."""

    def __init__(self, cap: int):
        self.cap, self.chunks, self.kept, self.dropped = cap, [], 0, 0

    def feed(self, data: bytes) -> None:
        room = self.cap - self.kept
        if room > 0:
            self.chunks.append(data[:room])
            self.kept += min(room, len(data))
        self.dropped += max(0, len(data) - max(room, 0))

    def value(self) -> bytes:
        out = b"".join(self.chunks)
        return out + (
            truncation_note("the process", format_bytes(self.cap)).encode() if self.dropped else b""
        )


def _pump(proc: subprocess.Popen, stdin: bytes, limits: Limits, deadline: float):
    """Feed stdin, drain stdout/stderr with caps, kill on the wall deadline.

    -> (out, err, timed_out).
    """
    out, err = _Capture(limits.max_output_bytes), _Capture(limits.max_output_bytes)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, None)
    else:
        proc.stdin.close()
    timed_out = False
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not timed_out:
            timed_out = True
            _kill_group(proc)
            deadline = time.monotonic() + 10  # drain what the dying processes left in the pipes
            continue
        if remaining <= 0:
            break
        for key, _ in sel.select(timeout=min(remaining, 1.0)):
            if key.data is None:
                pending = _write_some(proc, sel, pending)
                continue
            chunk = os.read(key.fd, 1 << 16)
            if chunk:
                key.data.feed(chunk)
            else:
                sel.unregister(key.fileobj)
    sel.close()
    return out, err, timed_out


def _write_some(proc: subprocess.Popen, sel, pending: memoryview) -> memoryview:
    """Write as much of stdin as the pipe takes; close it when done or when the reader is gone."""
    try:
        pending = pending[os.write(proc.stdin.fileno(), pending[: 1 << 16]) :]
    except (BrokenPipeError, BlockingIOError) as exc:
        if isinstance(exc, BlockingIOError):
            return pending
        pending = pending[len(pending) :]
    if not pending:
        sel.unregister(proc.stdin)
        proc.stdin.close()
    return pending


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the sandbox's process group (bwrap; its pid namespace dies with it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- reasons
def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def normalize_returncode(code: int | None, sandboxed: bool) -> int | None:
    """bwrap reports a child killed by signal N as 128+N; turn that into -N like subprocess."""
    if sandboxed and code is not None and 128 < code < 128 + 65:
        return -(code - 128)
    return code


def explain(returncode: int | None, stderr: bytes, timed_out: bool, limits: Limits) -> str | None:
    """Words an instructor understands for what ended the run; None for a clean exit 0."""
    tail = stderr[-4000:]
    if timed_out:
        return f"killed: exceeded {limits.wall_seconds:g} s wall time"
    if b"MemoryError" in tail or b"Cannot allocate memory" in tail or b"bad_alloc" in tail:
        return f"memory limit {format_bytes(limits.memory_bytes)} exceeded (MemoryError)"
    if returncode == -signal.SIGXCPU:
        return f"killed: exceeded {limits.cpu_seconds} s CPU time"
    if returncode == -signal.SIGXFSZ or b"File too large" in tail:
        return f"file size limit {format_bytes(limits.max_file_bytes)} exceeded"
    if returncode is not None and returncode < 0:
        return f"killed by signal {-returncode} ({_signal_name(-returncode)})"
    if returncode:
        return f"exited with status {returncode}"
    return None


# --------------------------------------------------------------------------- run
def _unsafe_translate(value: str, mapping: Mapping[str, str]) -> str:
    """In unsafe mode, rewrite sandbox paths in argv/env to the host paths they stand for."""
    for dest, src in mapping.items():
        if value == dest or value.startswith(dest + "/"):
            return src + value[len(dest) :]
    return value


def _start(
    argv: Sequence[str],
    workdir: Path,
    ro_binds,
    rw_binds,
    env,
    limits: Limits,
    sandboxed: bool,
    uid: int,
    group: cgroup.SandboxCgroup | None = None,
):
    """Popen the sandboxed (or, opted out, the plain) command.

    -> (proc, bwrap status fd or None).
    """
    common = dict(
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if group is not None:  # bubblewrap joins the cgroup before it starts anything
        common["preexec_fn"] = group.enter
    if not sandboxed:
        common["preexec_fn"] = limit_preexec(limits)
        mapping = {SANDBOX_HOME: str(workdir.resolve())}
        mapping.update({dest: str(src) for src, dest in map(_as_pair, [*ro_binds, *rw_binds])})
        full_env = {k: _unsafe_translate(v, mapping) for k, v in sandbox_env(env).items()}
        full_env["HOME"] = str(workdir.resolve())
        cmd = [_unsafe_translate(a, mapping) for a in argv]
        return subprocess.Popen(cmd, cwd=workdir, env=full_env, **common), None
    passwd, groups = _passwd_data(uid)
    fds = {"/etc/passwd": _data_pipe(passwd), "/etc/group": _data_pipe(groups)}
    home = private_copy(workdir, limits)
    for item in home.skipped:
        log.warning("not copied into the sandbox: %s", item)
    status_r, status_w = os.pipe()
    cmd = bwrap_argv(
        ro_binds, rw_binds=rw_binds, env=env, limits=limits, data_fds=fds, home=home, uid=uid
    )
    cmd[1:1] = ["--json-status-fd", str(status_w)]
    try:
        proc = subprocess.Popen(
            cmd + list(argv), pass_fds=[*fds.values(), *home.fds, status_w], **common
        )
    except FileNotFoundError as exc:
        os.close(status_r)
        raise SandboxUnavailable(f"cannot start bubblewrap ({exc}); {INSTALL_HINT}") from exc
    finally:
        home.close()
        for fd in [*fds.values(), status_w]:
            os.close(fd)
    return proc, status_r


def _child_started(status_fd: int) -> bool:
    """Did bubblewrap get as far as starting the command? (its --json-status-fd names
    a child-pid)"""
    os.set_blocking(status_fd, False)
    try:
        data = os.read(status_fd, 1 << 16)
    except BlockingIOError:
        data = b""
    finally:
        os.close(status_fd)
    return b'"child-pid"' in data


def run_sandboxed(
    argv: Sequence[str],
    *,
    workdir: Path,
    ro_binds: Iterable = (),
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    limits: Limits = Limits(),
    allow_unsandboxed: bool | None = None,
    rw_binds: Iterable = (),
) -> SandboxResult:
    """Run argv inside the sandbox, its cwd/$HOME a private copy of workdir (see private_copy).

    Nothing the command writes comes back to workdir or anywhere else on the host (only stdout and
    stderr, capped). argv: command as seen inside (e.g. [sys.executable, "-m",
    "cs231n_grader.runner"]; paths of the interpreter/venv are the host's). ro_binds: extra
    read-only folders, as paths or (host_path, sandbox_path) pairs; rw_binds: the same, writable
    (e.g. the kernel's socket folder). env: extra environment variables. Never raises for anything
    the command does (see the result's reason); raises SandboxUnavailable (with install
    instructions) when no sandbox can be made, unless the instructor opted out
    (CS231N_UNSAFE_NO_SANDBOX=1 or allow_unsandboxed=True).
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(
            f"sandbox workdir {workdir} does not exist: create the private copy first"
        )
    ro_binds, rw_binds = list(ro_binds), list(rw_binds)
    sandboxed = require_sandbox(allow_unsandboxed, probe=False)
    uid = sandbox_uid()
    owners = give_to_sandbox(*(_as_pair(b)[0] for b in rw_binds), uid=uid) if sandboxed else {}
    group = (
        cgroup.create(limits.memory_bytes, limits.max_processes)
        if sandboxed and os.geteuid() == 0
        else None
    )
    started = time.monotonic()
    try:
        proc, status_fd = _start(
            argv, workdir, ro_binds, rw_binds, env, limits, sandboxed, uid, group
        )
        try:
            out, err, timed_out = _pump(proc, stdin, limits, started + limits.wall_seconds)
        except (
            BaseException
        ):  # the grader itself is stopping (signal, Ctrl-C): take the sandbox down too
            _kill_group(proc)
            proc.wait()
            raise
        if timed_out:
            _kill_group(proc)
        code = proc.wait()
    finally:
        out_of_memory = group is not None and group.memory_exhausted()
        if group is not None:
            group.close()
        take_back(owners)
    returncode = None if timed_out else normalize_returncode(code, sandboxed)
    stderr = err.value()
    if out_of_memory and returncode == -signal.SIGKILL:
        stderr += b"\nMemoryError: the sandbox's processes together exceeded its memory limit\n"
    if status_fd is not None and not _child_started(status_fd) and not timed_out:
        message = stderr.decode(errors="replace").strip()
        raise SandboxUnavailable(f"bubblewrap failed: {message}; {INSTALL_HINT}")
    return SandboxResult(
        returncode=returncode,
        stdout=out.value(),
        stderr=stderr,
        timed_out=timed_out,
        reason=explain(returncode, stderr, timed_out, limits),
        stdout_truncated=bool(out.dropped),
        stderr_truncated=bool(err.dropped),
        seconds=time.monotonic() - started,
        sandboxed=sandboxed,
    )
