"""Runs inside the sandbox, by path: ipykernel whose stdout/stderr keep at most MAX
characters per cell.

    python -P .../cs231n_grader/kernel_launcher.py MAX -f CONNECTION_FILE [ipykernel args]

A courtesy that keeps honest huge prints small at the source (the student controls this process);
the grader's own caps in SandboxedExecute are what bound memory against a hostile kernel. Run by
path with -P (not ``-m cs231n_grader...``) so that starting the kernel imports neither the kit's
packages nor anything from the script's folder: only the standard library and ipykernel.
"""

import sys

from ipykernel import iostream
from ipykernel.kernelapp import IPKernelApp

NOTE = "\n[output truncated in the kernel: more than %d characters]\n"


def main() -> None:
    """Patch OutStream.write with a per-cell character budget, then start the kernel."""
    limit = int(sys.argv[1])
    original = iostream.OutStream.write
    state = {"n": 0, "noted": False}

    def write(self, string):
        room = limit - state["n"]
        if len(string) <= room:
            original(self, string)
        elif not state["noted"]:
            state["noted"] = True
            original(self, string[: max(room, 0)])
            original(self, NOTE % limit)
        state["n"] += len(string)
        return len(string)

    def reset(*_):
        state.update(n=0, noted=False)

    iostream.OutStream.write = write
    app = IPKernelApp.instance()
    app.initialize(sys.argv[2:])
    app.shell.events.register("pre_execute", reset)
    app.start()


if __name__ == "__main__":
    main()
