"""The sandboxed Jupyter kernel used during `nbgrader autograde`: kernelspec `cs231n-sandbox`.

The kernelspec's argv starts this module's `run` command *outside* the sandbox; it starts ipykernel
*inside* bubblewrap (cs231n_grader.sandbox), in a private copy of the kernel's working directory
(nbgrader's autograded/<student>/<assignment>/): a size-limited tmpfs holding copies of its regular
files only. The kernel never touches the host folder, and nothing it writes comes back: the executed
notebook returns over the kernel protocol (output capped by SandboxedExecute). The sandbox has no
network, so the kernel talks ZMQ over **ipc** (unix sockets): the kernel manager must use transport
"ipc" with `ip` set to a socket path prefix inside a dedicated folder named `cs231n-ipc-*` (see
`make_ipc_dir`); that folder alone is bound writable into the sandbox at the same path, so both
sides see the same sockets. SandboxedExecute sets all this up; starting the kernel with TCP is
refused with an explanation.

Settings travel in environment variables (the kernel inherits the grader's environment):
    CS231N_SANDBOX_LIMITS   JSON object of sandbox.Limits fields for the kernel
    CS231N_SANDBOX_REPORT   file where `run` writes a JSON report {returncode, timed_out, reason,
                            stderr}
    CS231N_DATA_DIR         host CIFAR-10 data folder (default:
                            cs231n_utils.data.default_data_dir()); mounted read-only at DATA_MOUNT,
                            which the kernel sees as CS231N_DATA_DIR

CLI:
    python -m cs231n_grader.kernel install        write the kernelspec into sys.prefix (idempotent)
    python -m cs231n_grader.kernel run -f FILE    (used by the kernelspec) run the sandboxed kernel
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from cs231n_grader import sandbox

KERNEL_NAME = "cs231n-sandbox"
DATA_MOUNT = "/opt/cs231n/data"
IPC_PREFIX = "cs231n-ipc-"
LIMITS_ENV = "CS231N_SANDBOX_LIMITS"
REPORT_ENV = "CS231N_SANDBOX_REPORT"
DATA_SUBDIRS = ("cifar-10-batches-py", "cache/cifar10")
"""Only these parts of the data folder are visible to student code (never other caches,
e.g. trained nets)."""
#: run by path inside the sandbox (-P: nothing from its folder is importable): ipykernel
#: + output cap
LAUNCHER = Path(__file__).resolve().with_name("kernel_launcher.py")
KERNEL_LIMITS = sandbox.Limits(cpu_seconds=1800, wall_seconds=3600.0, max_output_bytes=1 << 20)


# --------------------------------------------------------------------------- kernelspec
def kernelspec() -> dict:
    """The kernel.json content: ipykernel inside the grading sandbox, interrupted by message."""
    return {
        "argv": [sys.executable, "-m", "cs231n_grader.kernel", "run", "-f", "{connection_file}"],
        "display_name": "Python 3 (cs231n grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {
            "debugger": False,
            "cs231n": "runs student code in a bubblewrap sandbox; ipc only",
        },
    }


def kernelspec_dir(prefix: str | Path | None = None) -> Path:
    """Where the kernelspec lives: <prefix>/share/jupyter/kernels/cs231n-sandbox
    (prefix = sys.prefix)."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def install(prefix: str | Path | None = None) -> Path:
    """Write the kernelspec (only if missing or different). Returns its folder."""
    folder = kernelspec_dir(prefix)
    target = folder / "kernel.json"
    text = json.dumps(kernelspec(), indent=1) + "\n"
    if not (target.exists() and target.read_text() == text):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")  # concurrent installers never clash
        tmp.write_text(text)
        tmp.replace(target)
    return folder


def ensure_installed() -> Path:
    """install() into sys.prefix; the autograde calls this so instructors need no manual step."""
    return install()


# --------------------------------------------------------------------------- ipc folder, data
def make_ipc_dir(parent: str | Path | None = None) -> Path:
    """A fresh private folder for one kernel's sockets (short path: unix socket names are limited).

    run_kernel hands it to the sandbox uid for the kernel's
    lifetime (sandbox.run_sandboxed rw_binds)."""
    return Path(tempfile.mkdtemp(prefix=IPC_PREFIX, dir=parent or "/tmp"))


def host_data_dir() -> Path | None:
    """The instructor's CIFAR-10 data folder ($CS231N_DATA_DIR, else the kit's default), or None."""
    env = os.environ.get("CS231N_DATA_DIR")
    if env:
        return Path(env)
    try:
        from cs231n_utils.data import default_data_dir

        return Path(default_data_dir())
    except Exception:  # data module missing or broken: grade without data
        return None


def data_binds(data_dir: Path | None = None) -> list[tuple[Path, str]]:
    """Read-only binds exposing just the CIFAR-10 batches (and their array cache) at DATA_MOUNT."""
    data_dir = data_dir or host_data_dir()
    if data_dir is None:
        return []
    binds = []
    for sub in DATA_SUBDIRS:
        src = Path(data_dir) / sub
        if src.is_dir() and os.access(src, os.R_OK | os.X_OK):
            binds.append((src.resolve(), f"{DATA_MOUNT}/{sub}"))
    return binds


def kernel_limits() -> sandbox.Limits:
    """Limits for the kernel: KERNEL_LIMITS overridden by $CS231N_SANDBOX_LIMITS (JSON)."""
    raw = os.environ.get(LIMITS_ENV)
    if not raw:
        return KERNEL_LIMITS
    fields = {f.name for f in dataclasses.fields(sandbox.Limits)}
    given = {k: v for k, v in json.loads(raw).items() if k in fields}
    return dataclasses.replace(KERNEL_LIMITS, **given)


# --------------------------------------------------------------------------- run
class KernelConfigError(RuntimeError):
    """The kernel was started in a way that cannot be sandboxed (says how to start it instead)."""


def _ipc_dir_of(info: dict) -> Path:
    """The socket folder named by an ipc connection file; refuses TCP or foreign folders."""
    if info.get("transport") != "ipc":
        raise KernelConfigError(
            f"the {KERNEL_NAME} kernel has no network, so it needs ZMQ transport 'ipc' (got "
            f"{info.get('transport')!r}). Run it through cs231n_grader.execute.SandboxedExecute "
            "(nbgrader autograde with the kit's nbgrader_config.py), which sets this up."
        )
    folder = Path(info["ip"]).parent
    if not folder.name.startswith(IPC_PREFIX) or not folder.is_dir():
        raise KernelConfigError(
            f"kernel socket prefix {info['ip']!r} must lie in a folder made by "
            "cs231n_grader.kernel.make_ipc_dir() (named cs231n-ipc-*), so that only that folder "
            "is shared with the sandbox"
        )
    return folder


def _write_report(
    result: sandbox.SandboxResult | None, error: str | None = None, unavailable: bool = False
) -> None:
    """Tell the grader (SandboxedExecute) how the kernel ended, via $CS231N_SANDBOX_REPORT."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    report = {"error": error, "unavailable": unavailable}
    if result is not None:
        report.update(
            returncode=result.returncode,
            timed_out=result.timed_out,
            reason=result.reason,
            stderr=result.stderr[-4000:].decode(errors="replace"),
        )
    Path(path).write_text(json.dumps(report))


def run_kernel(
    connection_file: str | Path, extra_args: list[str], workdir: Path | None = None
) -> int:
    """Run ipykernel in the sandbox until it exits. Returns an exit status for the wrapper."""
    info = json.loads(Path(connection_file).read_text())
    ipc_dir = _ipc_dir_of(info)
    inner_cf = ipc_dir / "kernel.json"
    shutil.copyfile(connection_file, inner_cf)
    os.chmod(inner_cf, 0o600)
    env: dict[str, str] = {}
    binds = data_binds()
    if binds:
        env["CS231N_DATA_DIR"] = DATA_MOUNT
    if sandbox.unsafe_opt_out() and host_data_dir() is not None:  # no mounts: the real folder
        env["CS231N_DATA_DIR"] = str(host_data_dir())
    limits = kernel_limits()
    argv = [
        sys.executable,
        "-P",
        str(LAUNCHER),
        str(limits.max_output_bytes),
        "-f",
        str(inner_cf),
        *extra_args,
    ]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts arrive as messages (interrupt_mode)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    _watch_parent(os.getppid())
    _guard_socket_folder(ipc_dir, socket_names(info) | {inner_cf.name})
    result = sandbox.run_sandboxed(
        argv,
        workdir=Path(workdir or Path.cwd()),
        ro_binds=binds,
        rw_binds=[ipc_dir],
        env=env,
        limits=limits,
    )
    _write_report(result)
    sys.stderr.buffer.write(result.stderr[-20000:])
    if result.reason:
        print(f"[{KERNEL_NAME}] kernel ended: {result.reason}", file=sys.stderr)
    return 0 if result.returncode == 0 else 1


def _watch_parent(parent: int, interval: float = 1.0) -> None:
    """If the grader that started this kernel dies without shutting it down, take the sandbox down.

    (The sandboxed ipykernel cannot watch the grader itself: it lives in its own pid namespace.)"""

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-grader", daemon=True).start()


CHANNELS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def socket_names(info: dict) -> set[str]:
    """File names of the kernel's ipc sockets: '<ip basename>-<port>' per channel."""
    return {f"{Path(info['ip']).name}-{info[c]}" for c in CHANNELS if c in info}


def _guard_socket_folder(folder: Path, allowed: set[str], interval: float = 0.5) -> None:
    """The socket folder is the one host folder the sandbox can write: student code must not store
    files there. Once the kernel's sockets exist, a root grader takes the folder back (the sandbox
    can then create nothing in it); in any mode, an entry other than the sockets
    stops the kernel."""

    def watch():
        locked = False
        while True:
            time.sleep(interval if locked else interval / 10)  # lock before student code can run
            try:
                names = set(os.listdir(folder))
            except OSError:
                return
            if not locked and os.geteuid() == 0 and allowed - {"kernel.json"} <= names:
                os.chown(folder, 0, 0)
                os.chmod(folder, 0o755)
                locked = True
            stray = names - allowed
            if stray:
                _write_report(
                    None,
                    error=f"student code wrote {len(stray)} file(s) into the kernel's "
                    "socket folder on the grading host; the grader stopped the kernel",
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="guard-sockets", daemon=True).start()


def _raise_exit(signum, frame):
    """SIGTERM/SIGHUP: leave run_sandboxed through an exception so it kills the sandbox."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (see module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m cs231n_grader.kernel", description="The cs231n grading sandbox kernel."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser(
        "install", help="install the cs231n-sandbox kernelspec into this environment"
    )
    p_install.add_argument("--prefix", default=None, help="install prefix (default: sys.prefix)")
    p_run = sub.add_parser("run", help="run the sandboxed kernel (used by the kernelspec)")
    p_run.add_argument("-f", dest="connection_file", required=True)
    args, extra = parser.parse_known_args(argv)
    if args.command == "install":
        print(f"installed kernelspec {KERNEL_NAME} in {install(args.prefix)}")
        return 0
    try:
        return run_kernel(args.connection_file, extra)
    except sandbox.SandboxUnavailable as exc:
        _write_report(None, error=str(exc), unavailable=True)
        print(f"[{KERNEL_NAME}] {exc}", file=sys.stderr)
        return 2
    except KernelConfigError as exc:
        _write_report(None, error=str(exc))
        print(f"[{KERNEL_NAME}] {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
