"""SandboxedExecute: nbgrader's Execute step, with the notebook's kernel inside the grading sandbox.

Use it in `c.Autograde.autograde_preprocessors` in place of `nbgrader.preprocessors.Execute`. It

* runs the kernel `cs231n-sandbox` (cs231n_grader.kernel; installed on the fly if missing)
  over ZMQ ipc sockets in a fresh folder shared with the sandbox only;
* caps captured output per cell and per notebook *while the kernel prints* (the rest is dropped with
  the note "output truncated by the grader"), and bounds ZMQ message size/queue so
  memory stays bounded;
* never lets a student's notebook abort grading: a kernel that dies (os._exit, crash, limits), hangs
  past the per-cell timeout (`c.Execute.timeout`) and ignores the interrupt, or cannot start gets an
  error output with the stated reason in the affected cell, and "not run" errors in the remaining
  cells. The preprocessor returns normally, so nbgrader records a grade for this student
  and moves on.

Only SandboxUnavailable (no bubblewrap here and no explicit opt-out) is raised: that is the
instructor's setup, and grading must refuse rather than run student code unprotected.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode

from cs231n_grader import kernel as sandbox_kernel
from cs231n_grader import sandbox
from cs231n_grader.formatting import format_bytes, truncation_note
from cs231n_grader.intake import remove_tree


class BoundedKernelManager(AsyncKernelManager):
    """Kernel manager whose clients use a ZMQ context with bounded message size and queue length."""

    def client(self, **kwargs):
        """A client sharing this manager's bounded context (see SandboxedExecute._zmq_context)."""
        kwargs.setdefault("context", self.context)
        return super().client(**kwargs)


def bounded_context(max_message_bytes: int, max_queued_messages: int) -> zmq.asyncio.Context:
    """A ZMQ context whose sockets drop peers sending bigger messages and queue few messages."""
    ctx = zmq.asyncio.Context()
    ctx.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    ctx.setsockopt(zmq.RCVHWM, max_queued_messages)
    return ctx


def output_size(msg: dict) -> int:
    """Approximate size in characters of what an iopub message would add to the notebook."""
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    size = sum(len(str(v)) for v in (content.get("data") or {}).values())
    size += sum(len(line) for line in content.get("traceback") or [])
    return size + len(str(content.get("evalue", "")))


class SandboxedExecute(Execute):
    """nbgrader Execute with the kernel in a bubblewrap sandbox, bounded output, and no aborts."""

    sandbox_kernel_name = Unicode(
        sandbox_kernel.KERNEL_NAME, help="Kernelspec started for grading (installed on the fly)."
    ).tag(config=True)
    max_cell_output_bytes = Integer(1 << 20, help="Output kept per cell; the rest dropped.").tag(
        config=True
    )
    max_notebook_output_bytes = Integer(4 << 20, help="Output kept per notebook.").tag(config=True)
    max_message_bytes = Integer(16 << 20, help="Bigger ZMQ messages are refused.").tag(config=True)
    max_queued_messages = Integer(64, help="ZMQ receive queue length (bounds memory).").tag(
        config=True
    )
    kernel_cpu_seconds = Integer(1800, help="CPU seconds for the whole notebook's kernel.").tag(
        config=True
    )
    kernel_wall_seconds = Float(3600.0, help="Wall seconds for the whole notebook's kernel.").tag(
        config=True
    )
    kernel_memory_bytes = Integer(2 * 2**30, help="Address-space limit of the kernel.").tag(
        config=True
    )
    kernel_max_processes = Integer(64, help="Processes/threads the kernel may have.").tag(
        config=True
    )
    kernel_max_file_bytes = Integer(64 * 2**20, help="Largest file the kernel may write.").tag(
        config=True
    )
    kernel_disk_bytes = Integer(
        512 * 2**20,
        help="Size of the kernel's private copy of the submission "
        "folder (a tmpfs; /tmp is 4 x the file limit).",
    ).tag(config=True)
    allow_unsandboxed = Bool(
        False,
        help=(
            "DANGEROUS: run student notebooks without the sandbox where bubblewrap is unavailable "
            f"(same as {sandbox.UNSAFE_ENV_VAR}=1). Student code can then read solutions and "
            "change grades."
        ),
    ).tag(config=True)
    death_report_wait = Float(5.0, help="Seconds to wait for a dead kernel's report.").tag(
        config=True
    )

    # ------------------------------------------------------------------ setup
    def _sandbox_limits(self) -> sandbox.Limits:
        """Kernel limits from this preprocessor's traits."""
        return sandbox.Limits(
            cpu_seconds=self.kernel_cpu_seconds,
            wall_seconds=self.kernel_wall_seconds,
            memory_bytes=self.kernel_memory_bytes,
            max_processes=self.kernel_max_processes,
            max_file_bytes=self.kernel_max_file_bytes,
            max_disk_bytes=self.kernel_disk_bytes,
            max_output_bytes=self.max_cell_output_bytes,
        )

    def create_kernel_manager(self):
        """The sandbox kernel over ipc in a fresh socket folder (whatever kernel
        the notebook names)."""
        ctx = bounded_context(self.max_message_bytes, self.max_queued_messages)
        self._contexts.append(ctx)
        self.kernel_name = self.sandbox_kernel_name
        self._ipc_dir = sandbox_kernel.make_ipc_dir()
        self.km = BoundedKernelManager(
            kernel_name=self.kernel_name,
            config=self.config,
            context=ctx,
            transport="ipc",
            ip=str(self._ipc_dir / "kernel"),
        )
        return self.km

    async def async_start_new_kernel(self, **kwargs):
        """Start the kernel with the limits and the report file passed through its environment."""
        env = dict(os.environ)
        env[sandbox_kernel.LIMITS_ENV] = json.dumps(self._sandbox_limits().__dict__)
        env[sandbox_kernel.REPORT_ENV] = str(self._report_path)
        if (
            not self._sandboxed
        ):  # the instructor opted out (trait or env): the kernel runs unprotected
            env[sandbox.UNSAFE_ENV_VAR] = "1"
        data_dir = (
            sandbox_kernel.host_data_dir()
        )  # resolved here: the kernel wrapper stays numpy-free
        if data_dir is not None:
            env["CS231N_DATA_DIR"] = str(data_dir)
        kwargs.setdefault("env", env)
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the base coroutine by name

    # ------------------------------------------------------------------ main loop
    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        """Execute every cell; never raises for anything the notebook does (see
        module docstring)."""
        self._sandboxed = sandbox.require_sandbox(True if self.allow_unsandboxed else None)
        if self._sandboxed:
            sandbox_kernel.ensure_installed()
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._contexts, self._ipc_dir, self._next_cell = [], None, 0
        self._nb_bytes = 0
        report_dir = Path(tempfile.mkdtemp(prefix="cs231n-report-"))
        self._report_path = report_dir / "kernel-report.json"
        # the kernel works on a private copy of the notebook's folder: nothing to give back here
        try:
            self._execute_all(resources)
        finally:
            self._cleanup(report_dir)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _execute_all(self, resources) -> None:
        """Start the kernel, run the cells; on any failure, explain it in the cells not yet run."""
        try:
            with self.setup_kernel():
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg is None:
                    raise RuntimeError("the kernel did not answer its first request")
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    self._next_cell = index + 1
                    stop = self._run_cell(cell, resources, index)
                    if stop:
                        self._mark_not_run(index + 1, stop)
                        self._stop_kernel()
                        break
        except sandbox.SandboxUnavailable:
            raise
        except Exception as exc:  # kernel failed to start or to shut down
            if self._report().get(
                "unavailable"
            ):  # no sandbox after all: refuse, never run unprotected
                raise sandbox.SandboxUnavailable(self._report()["error"]) from exc
            reason = self._death_reason(default=f"{type(exc).__name__}: {exc}")
            self.log.warning("Kernel failure (%s); remaining cells are marked as not run", reason)
            self._mark_not_run(self._next_cell, f"the kernel failed: {reason}")

    def _run_cell(self, cell, resources, index) -> str | None:
        """Run one cell. Returns None to go on, or the reason why the remaining cells cannot run."""
        self._cell_bytes, self._cell_truncated, self._timeout_hit = 0, False, False
        try:
            self.preprocess_cell(cell, resources, index)
            return None
        except DeadKernelError:
            reason = self._death_reason(default="the kernel process ended")
            self._add_error(
                cell, "KernelDied", f"the kernel died while running this cell: {reason}"
            )
            return f"the kernel died in an earlier cell ({reason})"
        except CellTimeoutError:
            if not self._timeout_hit and self._kernel_alive():
                self._add_note(
                    cell, "\n[some output of this cell was lost: the kernel sent too much]\n"
                )
                return None
            self._add_error(
                cell,
                "CellTimeoutError",
                f"this cell ran longer than {self.timeout} s and did not stop when interrupted; "
                "the grader stopped the kernel",
            )
            return f"the grader stopped the kernel after a cell ran longer than {self.timeout} s"
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            self._add_error(cell, "GraderError", f"the grader could not run this cell: {reason}")
            return f"the grader stopped the kernel after an error ({reason})"

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient's timeout handling (interrupt), remembering it happened and saying so
        in words."""
        self._timeout_hit = True
        evalue = f"this cell ran longer than {timeout} s; the grader interrupted it"
        self.error_on_timeout = {
            "ename": "CellTimeoutError",
            "evalue": evalue,
            "traceback": [f"CellTimeoutError: {evalue}"],
        }
        return await super()._async_handle_timeout(timeout, cell)

    # ------------------------------------------------------------------ output caps
    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handling, keeping at most the per-cell / per-notebook budget."""
        size = output_size(msg)
        budget = min(
            self.max_cell_output_bytes - self._cell_bytes,
            self.max_notebook_output_bytes - self._nb_bytes,
        )
        if size > budget and msg.get("msg_type") == "stream" and budget > 0:
            msg = {**msg, "content": {**msg["content"], "text": msg["content"]["text"][:budget]}}
            size = budget
        if size > budget:
            self._truncated(outs)
            return None
        self._cell_bytes += size
        self._nb_bytes += size
        out = super().output(outs, msg, display_id, cell_index)
        if (
            self._cell_bytes >= self.max_cell_output_bytes
            or self._nb_bytes >= self.max_notebook_output_bytes
        ):
            self._truncated(outs)
        return out

    def handle_comm_msg(self, outs, msg, cell_index):
        """Widget messages count against the notebook budget too."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self._nb_bytes + size > self.max_notebook_output_bytes:
            return None
        self._nb_bytes += size
        return super().handle_comm_msg(outs, msg, cell_index)

    def _truncated(self, outs) -> None:
        """Append the truncation note once per cell."""
        if self._cell_truncated:
            return
        self._cell_truncated = True
        if self._cell_bytes >= self.max_cell_output_bytes:
            what, limit = "this cell", format_bytes(self.max_cell_output_bytes)
        else:
            what, limit = "this notebook", format_bytes(self.max_notebook_output_bytes)
        outs.append(
            NotebookNode(output_type="stream", name="stdout", text=truncation_note(what, limit))
        )

    # ------------------------------------------------------------------ failures
    def _add_error(self, cell, ename: str, evalue: str) -> None:
        """Append an error output stating the reason (shown in feedback; scores 0
        in stock nbgrader)."""
        cell.setdefault("outputs", []).append(
            NotebookNode(
                output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
            )
        )

    def _add_note(self, cell, text: str) -> None:
        cell.setdefault("outputs", []).append(
            NotebookNode(output_type="stream", name="stdout", text=text)
        )

    def _mark_not_run(self, start: int, reason: str) -> None:
        """Give every remaining code cell an error output saying why it did not run."""
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = []
                self._add_error(cell, "NotRun", f"this cell was not run: {reason}")

    def _kernel_alive(self) -> bool:
        try:
            return bool(self.km is not None and self._run(self.km.is_alive()))
        except Exception:
            return False

    def _run(self, maybe_awaitable):
        """Resolve an awaitable from jupyter_client on nbclient's loop."""

        async def wrap():
            return await ensure_async(maybe_awaitable)

        return run_sync(wrap)()

    def _death_reason(self, default: str) -> str:
        """Why the kernel ended: the wrapper's report (sandbox.SandboxResult.reason),
        else default."""
        deadline = time.monotonic() + self.death_report_wait
        while (
            not self._report_path.exists() and time.monotonic() < deadline and self._kernel_alive()
        ):
            time.sleep(0.1)
        if not self._report_path.exists():
            time.sleep(0.2)
        report = self._report()
        return report.get("error") or report.get("reason") or default

    def _report(self) -> dict:
        """The kernel wrapper's JSON report ({} when there is none yet)."""
        try:
            return json.loads(self._report_path.read_text())
        except (OSError, ValueError):
            return {}

    def _stop_kernel(self) -> None:
        """Stop the kernel now: SIGTERM lets its wrapper take the sandbox down and tidy up;
        then kill."""
        try:
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            if process is not None and process.poll() is None:
                process.terminate()
                deadline = time.monotonic() + 3
                while process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
            if self.km is not None and self._kernel_alive():
                self._run(self.km.shutdown_kernel(now=True))
        except Exception as exc:
            self.log.warning("Could not stop the kernel cleanly: %s", exc)

    def _cleanup(self, report_dir: Path) -> None:
        """Remove the socket and report folders (without recursion: the sandbox could write into
        the socket folder until the kernel's guard stopped it); close our ZMQ contexts."""
        for folder in (self._ipc_dir, report_dir):
            if folder is not None:
                try:
                    remove_tree(folder)
                except OSError as exc:
                    self.log.warning("Could not remove %s: %s", folder, exc)
        for ctx in self._contexts:
            ctx.destroy(linger=0)
