"""The kernel launcher (cs231n_grader/kernel_launcher.py) is a real file run by path: a real
ipykernel started from it, with a small output cap, executes a notebook through nbclient."""

from __future__ import annotations

import json
import sys

import nbformat
from nbclient import NotebookClient

from cs231n_grader import kernel
from cs231n_grader.kernel_launcher import NOTE


def test_launcher_run_by_path_caps_output_per_cell_and_imports_nothing_from_its_folder(
    tmp_path, monkeypatch
):
    spec = tmp_path / "kernels" / "launcher-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-P", str(kernel.LAUNCHER), "100", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "t", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell('print("x" * 500)'),
            nbformat.v4.new_code_cell('print("y" * 50)'),  # the budget is per cell
            nbformat.v4.new_code_cell(
                "import sys\nprint(any(p.rstrip('/').endswith('cs231n_grader') for p in sys.path))"
            ),
        ]
    )
    NotebookClient(nb, kernel_name="launcher-test", timeout=120, startup_timeout=120).execute()
    first, second, third = ("".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells)
    assert first == "x" * 100 + NOTE % 100
    assert second == "y" * 50 + "\n"
    assert third == "False\n"
