"""The hand-in step (issue 13): python -m cs231n_utils.submit / submit() refuses unfinished or
out-of-order notebooks and invalid nets, and writes a zip that real ``nbgrader zip_collect`` files
under the right student with the right (UTC) time."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n_grader import samples
from cs231n_utils import submit as handin_tool

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "two_layer_net" / "two_layer_net.ipynb"
RELEASE = REPO / "assignment" / "two_layer_net" / "two_layer_net.ipynb"
WHEN = datetime(2026, 11, 20, 9, 58, 12, tzinfo=UTC)


def saved_after_run_all(nb) -> dict:
    """``nb`` as JupyterLab saves it after Run All: every code cell numbered 1, 2, ... in order."""
    nb = json.loads(nbformat.writes(nb))
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
    return nb


def finished(folder: Path, H: int = 20) -> Path:
    """A finished assignment folder: the reference student's notebook, saved after Run All, and a
    valid best_net.npz."""
    nb = saved_after_run_all(samples.student_notebook(RELEASE, SOLUTION, samples.CLASS[0]))
    (folder / handin_tool.NOTEBOOK).write_text(json.dumps(nb), encoding="utf-8")
    rng = np.random.default_rng(0)
    np.savez(
        folder / "best_net.npz",
        W1=rng.normal(0, 0.01, (3072, H)),
        b1=np.zeros(H),
        W2=rng.normal(0, 0.01, (H, 10)),
        b2=np.zeros(10),
    )
    return folder


@pytest.fixture
def data():
    """Small CIFAR-shaped splits (N, 3072) for the accuracy line."""
    rng = np.random.default_rng(1)
    return {
        "X_val": rng.normal(size=(30, 3072)),
        "y_val": rng.integers(0, 10, 30),
        "X_test": rng.normal(size=(40, 3072)),
        "y_test": rng.integers(0, 10, 40),
    }


def test_the_release_is_not_ready(tmp_path, capsys):
    (tmp_path / handin_tool.NOTEBOOK).write_bytes(RELEASE.read_bytes())
    assert handin_tool.submit("jdoe", tmp_path) is None
    out = capsys.readouterr().out
    assert "(forward): still raises NotImplementedError" in out
    assert "(derivation): still reads YOUR ANSWER HERE" in out
    assert "has not been run" in out and "best_net.npz not found" in out
    assert list(tmp_path.glob("*.zip")) == []


def test_out_of_order_runs_and_bad_ids_are_refused(tmp_path, capsys, data):
    folder = finished(tmp_path)
    nb = json.loads((folder / handin_tool.NOTEBOOK).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[3]["execution_count"] = 99  # a cell above was re-run after the ones below
    (folder / handin_tool.NOTEBOOK).write_text(json.dumps(nb))
    assert handin_tool.submit("jdoe", folder, data=data) is None
    assert "ran before the cell above it" in capsys.readouterr().out
    finished(folder)
    assert handin_tool.submit("jdoe--x", folder, data=data) is None
    assert "no '--'" in capsys.readouterr().out


def test_a_bias_saved_as_a_row_is_the_graders_rule_too(tmp_path, capsys, data):
    """(1, H) biases and an extra array pass the one validator, with a note."""
    folder = finished(tmp_path)
    with np.load(folder / "best_net.npz") as npz:
        net = dict(npz)
    np.savez(folder / "best_net.npz", **{**net, "b1": net["b1"][None, :], "extra": np.ones(3)})
    assert handin_tool.submit("jdoe", folder, when=WHEN, data=data) is not None
    out = capsys.readouterr().out
    assert "ignored other arrays in best_net.npz: extra.npy" in out
    assert "accuracy the grader will score:" in out


def test_mirrored_flips_each_image_left_right():
    X = np.arange(2 * 3072, dtype=float).reshape(2, 3072)
    M = handin_tool.mirrored(X)
    images, flipped = X.reshape(2, 32, 32, 3), M.reshape(2, 32, 32, 3)
    assert np.array_equal(flipped[:, 5, 0, :], images[:, 5, 31, :])
    assert np.array_equal(handin_tool.mirrored(M), X)


@pytest.mark.slow  # a real nbgrader run
def test_zip_collect_files_the_hand_in_at_its_utc_time(tmp_path, data, capsys):
    """The zip goes through real `nbgrader zip_collect` with the name pattern of
    cs231n_utils.handin: the student id and the recorded time (09:58:12 UTC, not 21:00) are
    right."""
    (tmp_path / "student").mkdir()
    folder = finished(tmp_path / "student")
    course = tmp_path / "course"
    archive = course / "downloaded" / "two_layer_net" / "archive"
    archive.mkdir(parents=True)
    zip_path = handin_tool.submit("j.doe", folder, out_dir=archive, when=WHEN, data=data)
    assert zip_path.name == "two_layer_net--j.doe--20261120T095812Z.zip"
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == ["best_net.npz", "two_layer_net.ipynb"]
    (course / "nbgrader_config.py").write_text(
        "from cs231n_utils.handin import ZIP_NAME_REGEXP\n"
        "c = get_config()\n"
        "c.CourseDirectory.root = '.'\n"
        "c.FileNameCollectorPlugin.named_regexp = ZIP_NAME_REGEXP\n"
        "c.FileNameCollectorPlugin.valid_ext = ['.ipynb', '.npz']\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "zip_collect", "two_layer_net", "--force"],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    submitted = course / "submitted" / "j.doe" / "two_layer_net"
    assert sorted(p.name for p in submitted.iterdir()) == [
        "best_net.npz",
        "timestamp.txt",
        "two_layer_net.ipynb",
    ]
    from nbgrader.utils import parse_utc

    recorded = parse_utc((submitted / "timestamp.txt").read_text().strip())
    assert recorded.replace(tzinfo=UTC) == WHEN, (submitted / "timestamp.txt").read_text()


def test_cli_refuses_the_release(tmp_path):
    (tmp_path / handin_tool.NOTEBOOK).write_bytes(RELEASE.read_bytes())
    run = subprocess.run(
        [sys.executable, "-m", "cs231n_utils.submit", "--student-id", "jdoe"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "Not ready to hand in" in run.stdout
