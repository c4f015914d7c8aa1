"""What a student sees in JupyterLab (issue 13): the released notebook in a real JupyterLab on
loopback, driven by Debian's headless chromium (Playwright, never a downloaded browser). The setup
and toy-model cells run, the first TODO's NotImplementedError message and a self-check report are
rendered. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_render import browser, free_port, screenshot  # noqa: F401 - browser is a fixture

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "assignment" / "two_layer_net"
NOTEBOOK = "two_layer_net.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``jupyter lab`` on 127.0.0.1 with a token, in a temp folder holding the released notebook and
    its self-check data (as a student unpacks the bundle); stopped after the module."""
    folder = tmp_path_factory.mktemp("student")
    for name in (NOTEBOOK, "selfcheck.json", "selfcheck.npz"):
        shutil.copy(RELEASE / name, folder / name)
    home = tmp_path_factory.mktemp("lab_home")
    # every cell in the page (JupyterLab 4 renders only the visible ones by default)
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "rt"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "HOME": str(home),
        "OPENBLAS_NUM_THREADS": "1",
    }
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--ServerApp.allow_root=True",  # CI runs as root
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start; log: {log.name}") from None
                time.sleep(0.5)
        yield base, token, folder
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def run_cell(page, index: int, timeout_s: float = 120) -> None:
    """Select cell ``index`` of the notebook, run it (Shift+Enter) and wait until it
    has finished."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").click()  # selects the cell in command mode
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        """i => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
                  const p = c && c.querySelector('.jp-InputArea-prompt');
                  return !c.classList.contains('jp-CodeCell') ||
                         (p && /\\[\\d+\\]/.test(p.textContent)); }""",
        arg=index,
        timeout=timeout_s * 1000,
    )


def cell_index(page, needle: str, timeout: float = 120.0) -> int:
    """Index of the first cell whose text contains ``needle``, once JupyterLab has rendered it (on
    a busy machine the notebook's cells appear over seconds after the first one)."""
    deadline = time.monotonic() + timeout
    while True:
        texts = page.locator(".jp-Notebook .jp-Cell").all_inner_texts()
        found = [i for i, text in enumerate(texts) if needle in text]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no cell containing {needle!r} rendered within {timeout:.0f} s "
                f"({len(texts)} cells in the page)"
            )
        time.sleep(0.5)


@pytest.mark.slow
def test_student_runs_the_toy_cells_and_sees_the_todo_and_the_self_check(lab, browser):  # noqa: F811
    base, token, folder = lab
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", wait_until="load")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function(  # the kernel is up
            "() => /Idle/.test(document.querySelector('.jp-Notebook-ExecutionIndicator, "
            "#jp-main-statusbar')?.textContent || '') || "
            "document.querySelector('[data-status=\"idle\"]')",
            timeout=120_000,
        )
        setup = cell_index(page, "import matplotlib.pyplot as plt")
        test_forward = cell_index(page, "# Public test: scores of the toy model")
        check_forward = cell_index(page, 'check("forward")')
        for index in range(
            setup, test_forward + 1
        ):  # setup, helpers, toy model, forward stub, its test
            run_cell(page, index)
        error = page.locator(".jp-Notebook .jp-Cell").nth(test_forward).locator(".jp-OutputArea")
        assert "NotImplementedError" in error.inner_text()
        assert "forward: implement the TODO above this line" in error.inner_text()
        page.keyboard.press("Control+s")  # the self-check reads the saved notebook
        run_cell(page, check_forward)
        report = page.locator(".jp-Notebook .jp-Cell").nth(check_forward).locator(".jp-OutputArea")
        text = report.inner_text()
        assert "Self-check of forward() on" in text
        assert "✗ a single example (N = 1): raised NotImplementedError in your forward cell" in text
        assert "0/" in text and "practice cases correct" in text
        report.scroll_into_view_if_needed()
        shot = screenshot(page, "lab_selfcheck_forward.png")
        assert shot.stat().st_size > 10_000
    finally:
        context.close()
