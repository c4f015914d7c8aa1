"""MathJax for formgrader and feedback pages, served from the page itself: no CDN, no network.

Graders are often offline, and nbgrader's templates load MathJax 2 from a CDN (their
``{{ mathjax() }}`` ignores ``HTMLExporter.mathjax_url``), so a 20-point derivation would be graded
from raw ``$...$``. ``release_feedback`` hands students the feedback ``.html`` file alone, so a copy
beside it would not travel: the page carries MathJax inline. The packaged MathJax 3 single-file
build (``tex-svg-full.js`` from the PyPI package ``django-static-mathjax``, which ships MathJax's
own release files and needs no Django) renders to SVG with its fonts built in: no other file is
ever fetched. Configured in ``nbgrader_config.py``::

    c.HTMLExporter.extra_template_basedirs = [<nbgrader's templates>, TEMPLATES]
    c.HTMLExporter.filters = {..., "local_mathjax": LocalMathJax}

``TEMPLATES/base/mathjax.html.j2`` replaces nbconvert's macro with ``{{ url | local_mathjax }}``.

Student TeX is hostile input too: the TeX packages that emit links, CSS, ids or load more code
(``html``: ``\\href \\style \\class \\cssId``; ``bbox``; ``require``; ``autoload``) are removed,
and the context menu (which can load more code) is off. A standalone page (feedback) also gets a
Content-Security-Policy that allows exactly these two scripts and no network at all, so even
markup that slipped past the sanitiser could neither run nor call home.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from traitlets.config import LoggingConfigurable

TEMPLATES = Path(__file__).resolve().parent / "templates"
MATHJAX_JS = ("mathjax", "static/mathjax/es5/tex-svg-full.js")  # (package, file) of MathJax 3
CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "packages": {"[-]": ["html", "bbox", "require", "autoload"]},
    },
    "svg": {"fontCache": "global"},
    "options": {"enableMenu": False},
    "loader": {"load": []},
}
NOTICE = (
    "<!-- MathJax 3 (Apache License 2.0, https://www.mathjax.org), inlined by "
    "cs231n_grader.mathjax so this page needs no network -->\n"
)
#: templates whose pages formgrader serves inside its own app (its scripts must keep running)
SERVED_TEMPLATES = ("formgrade",)


@lru_cache(maxsize=1)
def mathjax_source() -> str:
    """Text of the packaged MathJax 3 build; a clear error when the package is missing."""
    package, name = MATHJAX_JS
    try:
        path = resources.files(package) / name
        text = path.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise RuntimeError(
            "MathJax not installed: `pip install django-static-mathjax` (the kit's "
            "runtime dependency; `make setup` installs it)"
        ) from exc
    if "</script" in text.lower():  # would end the inline <script> early
        raise RuntimeError(f"{path} contains '</script': it cannot be inlined")
    return text


def script_tags() -> tuple:
    """(config script, MathJax script) as inline ``<script>`` elements."""
    config = "window.MathJax = " + json.dumps(CONFIG).replace("</", "<\\/") + ";"
    return config, mathjax_source()


def csp_hash(script: str) -> str:
    """CSP source expression allowing exactly one inline script: ``'sha256-…'``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(scripts) -> str:
    """No network, no plugin, no form; only the given inline scripts run."""
    return (
        "default-src 'none'; script-src "
        + " ".join(csp_hash(s) for s in scripts)
        + "; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
        "form-action 'none'"
    )


class LocalMathJax(LoggingConfigurable):
    """Jinja filter ``{{ url | local_mathjax }}``: the page's MathJax, inline (``url`` ignored).

    nbconvert constructs it with the exporter as parent; pages of templates other than
    formgrader's (feedback) also get :func:`content_security_policy`.
    """

    def __call__(self, url=None) -> str:
        scripts = script_tags()
        html = NOTICE + "".join(f"<script>{s}</script>\n" for s in scripts)
        if getattr(self.parent, "template_name", None) not in SERVED_TEMPLATES:
            csp = content_security_policy(scripts)
            html = f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n' + html
        return html
