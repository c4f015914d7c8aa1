"""Student-written HTML renders inert, and LaTeX renders with the local MathJax, for real.

Fast tests call the sanitiser and the notebook clean-up directly. The slow ones grade one
hostile submission with the real ``nbgrader autograde`` (sandbox, sealed checks) and
``generate_feedback``, then open (1) its feedback HTML from disk and (2) formgrader's manual
grading page on a real Jupyter server started here on loopback, in headless Chromium (Debian's
package, driven by Playwright). Every payload tries to set ``window.__pwned``, change the title
and fetch a loopback URL this module listens on; the pages must run none of them, make no
request off loopback, and show the derivation's LaTeX typeset by MathJax. Screenshots land in
``build/screenshots/``.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import nbgrader
import pytest

from cs231n_grader import demo, mathjax, samples
from cs231n_grader.safehtml import InertNotebook, clean_html

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP_CSS = str(
    Path(nbgrader.__file__).parent
    / "server_extensions"
    / "formgrader"
    / "static"
    / "node_modules"
    / "bootstrap"
    / "dist"
    / "css"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "build" / "screenshots"
STUDENT = "mallory"
TITLE = "Grading page"
#: a 1x1 PNG: a legitimate attachment and output that must keep rendering
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
DERIVATION = r"""**Forward.** $S_1 = X W_1 + b_1$, $X_2 = \max(0, S_1)$, $S_2 = X_2 W_2 + b_2$.

$$L = \frac{1}{N} \sum_{i=1}^{N} -\log P_{i, y_i} + \lambda \left(\|W_1\|^2 + \|W_2\|^2\right)$$

Links in TeX must not work: $\href{javascript:top.__pwned=1}{x}$ and $\style{color:red}{y}$.
"""


# --- payloads -----------------------------------------------------------------------------------


def js(name: str, port: int) -> str:
    """Script a payload runs if it ever executes (single quotes only, fits in any attribute)."""
    return (
        f"top.__pwned=(top.__pwned||[]).concat('{name}');top.document.title='PWNED {name}';"
        f"fetch('http://127.0.0.1:{port}/pwned/{name}')"
    )


def markdown_payloads(port: int) -> str:
    """A markdown answer carrying every markup attack (and some legitimate formatting)."""

    def j(name):
        return js(name, port)

    srcdoc = f"&lt;script&gt;{j('iframe')}&lt;/script&gt;"
    data_html = base64.b64encode(f"<script>{j('object')}</script>".encode()).decode()
    return (
        "\n\n".join(
            [
                "## My answer\n\nSome **bold**, a [safe link](https://example.org) and `code`.",
                f"<script>{j('script')}</script>",
                f'<img src="x" onerror="{j("onerror")}">',
                f"<svg><script>{j('svg_script')}</script></svg>",
                f'<svg onload="{j("svg_onload")}"></svg>',
                f'<iframe srcdoc="{srcdoc}"></iframe>',
                f'<a id="jslink" href="javascript:{j("javascript_link")}">click me</a>',
                "[markdown link](javascript:top.__pwned=['markdown_link'])",
                f'<a href="data:text/html;base64,{data_html}">data link</a>',
                f'<object data="data:text/html;base64,{data_html}"></object>'
                f'<embed src="data:text/html;base64,{data_html}">',
                f'<details open ontoggle="{j("ontoggle")}"><summary>s</summary>d</details>',
                f'<form action="javascript:{j("form")}">'
                '<button id="formbutton">send</button></form>',
                '<meta http-equiv="refresh" '
                f'content="0;url=http://127.0.0.1:{port}/pwned/refresh">',
                f'<base href="http://127.0.0.1:{port}/pwned/base/">',
                f"<style>@import 'http://127.0.0.1:{port}/pwned/style_import';</style>",
                f'<div style="background:url(http://127.0.0.1:{port}/pwned/style_url)">'
                "styled</div>",
                f'<img src="http://127.0.0.1:{port}/pwned/remote_image">',
                '<math><maction actiontype="statusline" '
                f'xlink:href="javascript:{j("mathml")}">m</maction></math>',
                "![picture](attachment:ok.png) ![svg](attachment:evil.svg)",
            ]
        )
        + "\n"
    )


def output_payload_cell(port: int) -> str:
    """A code cell whose outputs (made in the sandboxed kernel) carry the output attacks."""
    payload = {
        name: js(name, port)
        for name in (
            "html_output",
            "javascript_output",
            "svg_output",
            "markdown_output",
            "png_breakout",
            "png_metadata",
            "isolated_html",
            "latex_output",
        )
    }
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{payload["svg_output"]}">'
        f"<script>{payload['svg_output']}</script></svg>"
    )
    return f"""from IPython.display import HTML, SVG, Javascript, Markdown, display
p = {json.dumps(payload)}
display(HTML('<b id="kept-html">html output kept</b><script>' + p['html_output'] + '</script>'
             '<img src=x onerror="' + p['html_output'] + '">'))
display(Javascript(p['javascript_output']))
display({{'application/vnd.jupyter.widget-view+json': {{'model_id': 'x', 'version_major': 2,
         'version_minor': 0}}, 'text/plain': 'a widget'}}, raw=True)
display(SVG({svg!r}))
display(Markdown('<img src=x onerror="' + p['markdown_output'] + '">'))
display({{'image/png': '" onerror="' + p['png_breakout']}}, raw=True)
display({{'image/png': {PNG!r}}}, raw=True, metadata={{
    'image/png': {{'width': '1 onerror=' + p['png_metadata']}},
    'filenames': {{'image/png': 'javascript:' + p['png_metadata']}}}})
display({{'text/html': '<script>' + p['isolated_html'] + '</script>'}}, raw=True,
        metadata={{'text/html': {{'isolated': True}}}})
display({{'text/latex': '</div><script>' + p['latex_output'] + '</script>',
        'text/plain': 'l'}}, raw=True)
"""


def hostile_submission(release_nb: Path, solution_nb: Path, port: int):
    """The reference submission, with payloads in its answers, a raw cell and outputs."""
    nb = samples.student_notebook(release_nb, solution_nb, samples.CLASS[0])
    answers = samples.cells_by_grade_id(nb)
    answers["derivation"].source = DERIVATION
    evil_svg = base64.b64encode(
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js("attachment", port)}">'
        f"<script>{js('attachment', port)}</script></svg>".encode()
    ).decode()
    for grade_id in ("q_train_test_gap", "q_max_subtraction", "q_dead_relu"):
        answers[grade_id].source = markdown_payloads(port)
        answers[grade_id].attachments = {
            "ok.png": {"image/png": PNG},
            "evil.svg": {"image/svg+xml": evil_svg},
        }
    raw = nbformat.v4.new_raw_cell(
        f'<script>{js("raw_cell", port)}</script><img src=x onerror="{js("raw_cell", port)}">'
    )
    raw.metadata["raw_mimetype"] = "text/html"
    nb.cells += [raw, nbformat.v4.new_code_cell(output_payload_cell(port))]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {},
            "version_major": 2,
            "</script><script>" + js("widget_state", port): 1,
        }
    }
    return nb


# --- fast: the sanitiser and the notebook clean-up ------------------------------------------------

DANGER = re.compile(
    r"<script|<iframe|<svg|<object|<embed|<form|<meta|<base|<style|<math|\son\w+\s*="
    r"|javascript:|data:text|srcdoc|127\.0\.0\.1",
    re.IGNORECASE,
)


def test_clean_html_drops_every_payload_and_keeps_formatting():
    from cs231n_grader.safehtml import markdown2html

    evil = base64.b64encode(b'<svg onload="alert(1)"><script>alert(1)</script></svg>').decode()
    attachments = {"ok.png": {"image/png": PNG}, "evil.svg": {"image/svg+xml": evil}}
    html = markdown2html(
        {"cell": {"attachments": attachments}},
        markdown_payloads(9) + "\n$x < y$ and $$\\frac{a}{b}$$\n",
    )
    assert not DANGER.findall(html), DANGER.findall(html)
    assert "<h2" in html and "<strong>bold</strong>" in html and "https://example.org" in html
    assert f'src="data:image/png;base64,{PNG}"' in html  # the legitimate attachment
    assert "$x &lt; y$" in html and "$$\\frac{a}{b}$$" in html  # math left for MathJax
    assert 'id="user-content-jslink"' in html  # ids cannot shadow the grading page's
    assert clean_html(html) == html  # cleaning twice (preprocessor, then template) changes nothing


def test_inert_notebook_withholds_scripts_widgets_and_hostile_metadata():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x", execution_count=3)
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"application/javascript": "alert(1)"}),
        nbformat.v4.new_output(
            "display_data",
            {
                "text/html": "<b>b</b><script>alert(1)</script>",
                "application/vnd.jupyter.widget-view+json": {},
            },
        ),
        nbformat.v4.new_output("display_data", {"image/png": '" onerror="alert(1)'}),
        nbformat.v4.new_output(
            "display_data",
            {"image/png": PNG},
            metadata={
                "image/png": {"width": "1 onerror=alert(1)", "height": 20},
                "filenames": {"image/png": "javascript:alert(1)"},
                "cs231n_grader": True,
            },
        ),
    ]
    cell.metadata["nbgrader"] = {"grade_id": '"><script>alert(1)</script>', "grade": False}
    cell.metadata["tags"] = ["ok", '" onmouseover="alert(1)']
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    nb, _ = InertNotebook().preprocess(nb, {})
    js_out, html_out, bad_png, png = nb.cells[0].outputs
    assert dict(js_out.data) == {
        "text/plain": "[application/javascript output not shown: scripts "
        "and widgets from submissions never run here]"
    }
    assert dict(html_out.data) == {"text/html": "<b>b</b>"}
    assert "image/png" not in bad_png.data
    assert dict(png.metadata) == {"cs231n_grader": True, "image/png": {"height": 20}}
    assert nb.cells[0].metadata["nbgrader"]["grade_id"] == "cell-0"
    assert nb.cells[0].metadata["tags"] == ["ok"] and "widgets" not in nb.metadata


def test_nbgrader_templates_get_the_local_mathjax_not_the_cdn():
    """formgrade and feedback pages, rendered with the course config: MathJax inline, no URL."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$x$")])
    for template, resources in [
        ("formgrade", {"base_url": "", "index": 0, "total": 1}),
        ("feedback", {"nbgrader": {"score": 0, "max_score": 1, "late_penalty": 0}}),
    ]:
        config.HTMLExporter.template_name = template
        config.HTMLExporter.extra_template_paths = [BOOTSTRAP_CSS]  # as generate_feedback does
        page, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
        page = page.replace(mathjax.mathjax_source(), "MATHJAX")
        assert "cdnjs" not in page and "<script>MATHJAX</script>" in page, template
        assert ("Content-Security-Policy" in page) == (template == "feedback")


def test_feedback_shows_a_pending_manual_grade_as_pending_not_zero():
    """Issue 12: nbgrader's template prints "Score: 0.0 / 10.0" for a derivation nobody graded yet;
    the kit's feedback page says it is not graded yet, in the kit's score
    format, header included."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from cs231n_grader.feedback import FeedbackExporter, FeedbackSummary

    config = Config()
    config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config())
    config.HTMLExporter.template_name = (
        "feedback"  # what generate_feedback sets; the kit's section wins
    )
    config.HTMLExporter.extra_template_paths = [BOOTSTRAP_CSS]
    test = nbformat.v4.new_code_cell(
        "check()",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "grade_id": "test_forward",
                "points": 10,
                "score": 10.0,
            }
        },
    )
    derivation = nbformat.v4.new_markdown_cell(
        "$x$",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": True,
                "grade_id": "derivation",
                "points": 10,
                "score": None,
            }
        },
    )
    graded = nbformat.v4.new_markdown_cell(
        "ok",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": True,
                "grade_id": "written",
                "points": 5,
                "score": 2.5,
            }
        },
    )
    nb = nbformat.v4.new_notebook(cells=[test, derivation, graded])
    resources = {"nbgrader": {"score": 12.5, "max_score": 25, "late_penalty": 0, "notebook": "nb"}}
    nb, resources = FeedbackSummary().preprocess(nb, resources)
    page, _ = FeedbackExporter(config=config).from_notebook_node(nb, resources=resources)
    text = re.sub(r"\s+", " ", page)
    assert "(Score: 12.5 / 25; 10 points not graded yet)" in text
    assert "Score: – / 10 (not graded yet)" in text
    assert "Score: 10 / 10" in text and "Score: 2.5 / 5" in text
    assert "0.0 / 10" not in text and "/ 10.0" not in text
    assert "check" in text and "$x$" in text  # the cells themselves
    assert (
        text.count("(not graded yet)") == 2 and text.count("<h4>") == 1
    )  # toc + cell heading; one header
    assert "<script>" in page and "cdnjs" not in page  # still the kit's inline MathJax


# --- slow: a graded hostile submission in a real browser ------------------------------------------


class Listener:
    """An HTTP server on loopback that records every request a payload manages to send."""

    def __init__(self):
        self.hits = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def graded(cifar_full_dir, listener, tmp_path_factory):
    """A course where the hostile submission went through autograde and generate_feedback."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium): "
            "the browser tests need it"
        )
    course = tmp_path_factory.mktemp("render_course")
    demo.prepare_course(course, REPO)
    env = {"CS231N_GRADER_SECRET": "test-render-secret"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        demo.nbgrader(course, "release", "generate_assignment", demo.ASSIGNMENT, "--force")
        nb = hostile_submission(
            course / "assignment" / demo.ASSIGNMENT / demo.NOTEBOOK,
            course / "solutions" / demo.ASSIGNMENT / demo.NOTEBOOK,
            listener.port,
        )
        folder = course / "submitted" / STUDENT / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / demo.NOTEBOOK))
        demo.nbgrader(
            course,
            "roster",
            "db",
            "student",
            "add",
            STUDENT,
            "--last-name=Mallory",
            "--first-name=M",
        )
        demo.nbgrader(course, "autograde", "autograde", demo.ASSIGNMENT, "--force")
        demo.nbgrader(course, "feedback", "generate_feedback", demo.ASSIGNMENT, "--force")
    return course


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright  # the test extra; never `playwright install`

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


class Visit:
    """One page in a fresh browser context; records requests off loopback and dialogs."""

    def __init__(self, browser, headers=None):
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, extra_http_headers=headers
        )
        self.page = self.context.new_page()
        self.off_loopback, self.requests, self.dialogs, self.errors = [], [], [], []
        self.context.route("**/*", self._route)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if re.match(r"(file|data|blob|about):", url) or re.match(r"https?://127\.0\.0\.1[:/]", url):
            route.continue_()
        else:
            self.off_loopback.append(url)
            route.abort()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000
        )
        self.page.evaluate("() => MathJax.startup.promise")
        self.page.wait_for_timeout(1500)  # let timers, image errors and late fetches fire

    def try_clicks(self):
        """Click what a grader might click: the payload links and the form button."""
        for selector in ("text=click me", "text=markdown link", "text=data link", "#formbutton"):
            for element in self.page.query_selector_all(selector):
                try:
                    element.click(timeout=2000, no_wait_after=True)
                except Exception:  # noqa: BLE001 - hidden or inert elements may not be clickable
                    pass
        self.page.wait_for_timeout(1000)

    def close(self):
        self.context.close()


def assert_inert(visit: Visit, listener: Listener):
    page = visit.page
    assert page.evaluate("() => window.__pwned") is None, "a payload ran"
    assert "PWNED" not in page.title()
    assert not listener.hits, f"payloads reached the loopback listener: {listener.hits}"
    assert not [u for u in visit.requests if "/pwned" in u]
    assert visit.off_loopback == [], "requests off loopback (CDN or payload)"
    assert visit.dialogs == []
    links = page.evaluate("""() => [...document.querySelectorAll('[href], [src], [action]')]
        .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))
        .filter(u => /^\\s*(javascript|data:text|vbscript)/i.test(u))""")
    assert links == []
    assert page.query_selector_all("iframe, object, embed, form, base") == []
    assert page.query_selector_all("#notebook script, #notebook-container script") == []


def assert_math_rendered(page, cell_selector: str):
    cell = page.locator(cell_selector)
    assert cell.locator("mjx-container").count() >= 6, "the derivation's LaTeX was not typeset"
    text = cell.evaluate("""c => { const d = c.cloneNode(true);
        d.querySelectorAll('mjx-container').forEach(m => m.remove()); return d.textContent; }""")
    assert "\\frac" not in text and "S_1" not in text, "raw LaTeX left in the derivation"
    # \href and \style are not TeX commands here: no link or style inside typeset math
    assert cell.locator("mjx-container a, mjx-container [style*='red']").count() == 0


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.mark.slow
def test_the_payloads_do_run_in_a_stock_nbconvert_page(browser, tmp_path):
    """Control: without the kit's settings the same payloads execute,
    so the tests below have teeth."""
    from nbconvert import HTMLExporter

    listener = Listener()  # its own: the other tests' listener must stay silent
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_markdown_cell(markdown_payloads(listener.port))
    answer.attachments = {"ok.png": {"image/png": PNG}, "evil.svg": {"image/svg+xml": PNG}}
    code = nbformat.v4.new_code_cell("display(HTML(...))")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            {"text/html": (f'<img src=x onerror="{js("html_output", listener.port)}">')},
        )
    ]
    nb.cells = [answer, code]
    page = tmp_path / "stock.html"
    page.write_text(HTMLExporter(template_name="classic").from_notebook_node(nb)[0])
    visit = Visit(browser)
    try:
        visit.page.goto(page.as_uri(), wait_until="load")
        visit.page.wait_for_timeout(3000)
        ran = set(visit.page.evaluate("() => window.__pwned") or [])
        assert {"script", "onerror", "svg_onload", "ontoggle", "html_output"} <= ran, ran
        assert visit.off_loopback  # the stock page asks a CDN for MathJax (blocked here)
        assert any("/pwned/" in hit for hit in listener.hits)
    finally:
        visit.close()
        listener.close()


@pytest.mark.slow
def test_feedback_html_runs_no_payload_and_typesets_the_derivation(graded, browser, listener):
    page_path = graded / "feedback" / STUDENT / demo.ASSIGNMENT / "two_layer_net.html"
    html = page_path.read_text()
    assert "<script>" + mathjax.mathjax_source() in html  # MathJax travels inside the file
    visit = Visit(browser)
    try:
        visit.open(page_path.as_uri())
        visit.page.locator('.nbgrader_cell:has(a[name="derivation"])').scroll_into_view_if_needed()
        screenshot(visit.page, "feedback_derivation.png")
        visit.try_clicks()
        assert_inert(visit, listener)
        assert_math_rendered(visit.page, '.nbgrader_cell:has(a[name="derivation"])')
        # legitimate content survives: headings, the PNG attachment, plots, the summary table
        page = visit.page
        assert page.locator("h2:has-text('My answer')").count() == 3
        assert page.locator(f'img[src="data:image/png;base64,{PNG}"]').count() >= 3
        assert page.locator("#user-content-kept-html").count() == 1
        assert page.locator("table:has-text('What was checked')").count() == 1
        assert page.locator("text=application/javascript output not shown").count() == 1
        page.locator('.nbgrader_cell:has(a[name="q_dead_relu"])').scroll_into_view_if_needed()
        screenshot(page, "feedback_payloads.png")
    finally:
        visit.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """A real Jupyter server with nbgrader's formgrader, on loopback, token auth; stopped after."""
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter_home")
    env = {
        **demo.nbgrader_env(),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "CS231N_GRADER_SECRET": "test-render-secret",
    }
    log = open(graded / "logs" / "jupyter_server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={graded}",
            "--ServerApp.allow_root=True",
        ],  # CI runs as root
        cwd=graded,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter server did not start; log: {log.name}") from None
                time.sleep(0.5)
        yield base, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.mark.slow
def test_formgrader_grading_page_runs_no_payload_and_typesets_the_derivation(
    graded, formgrader, browser, listener
):
    from nbgrader.api import Gradebook

    base, token = formgrader
    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(demo.NOTEBOOK[:-6], demo.ASSIGNMENT, STUDENT).id
    visit = Visit(browser, headers={"Authorization": f"token {token}"})  # page and its API calls
    try:
        visit.open(f"{base}/formgrader/submissions/{submission}/")
        page = visit.page
        cell = ".nbgrader_cell:has(input#derivation)"
        page.locator(cell).scroll_into_view_if_needed()
        screenshot(page, "formgrader_derivation.png")
        visit.try_clicks()
        assert_inert(visit, listener)
        assert_math_rendered(page, cell)
        assert page.evaluate("() => typeof submission_id") == "string"  # formgrader's own JS ran
        # the grader can still grade: a score typed in the derivation's box reaches the gradebook
        page.fill("input#derivation", "7")
        page.keyboard.press("Tab")
        page.wait_for_timeout(2000)
        with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
            grade = gb.find_grade("derivation", demo.NOTEBOOK[:-6], demo.ASSIGNMENT, STUDENT)
            assert grade.manual_score == 7
    finally:
        visit.close()
