"""Student-written HTML made inert wherever an instructor or a student views it.

A submission controls every byte of its markdown answers, raw cells, attachments, cell metadata
and -- through the code it runs in the kernel -- every output: any MIME bundle, any metadata.
formgrader serves the autograded notebook rendered by nbconvert's ``HTMLExporter`` on the
instructor's Jupyter origin (a script there could call the server's REST API: terminals, files),
and ``generate_feedback`` renders it with the same exporter. Both read ``HTMLExporter`` settings
from ``nbgrader_config.py``; the kit plugs in there::

    c.HTMLExporter.preprocessors = [InertNotebook]   # outputs, raw cells, metadata (below)
    c.HTMLExporter.filters = FILTERS                 # markdown and HTML pass through clean_html
    c.HTMLExporter.sanitize_html = True              # nbconvert drops JS/widget outputs too

* :func:`clean_html` -- an allow-list sanitiser (``nh3``, i.e. ammonia): formatting, tables,
  images, links survive; scripts, event handlers, ``style``, iframes, SVG/MathML, forms and any
  URL other than ``http(s):``/``mailto:`` links, ``#`` anchors and ``data:image`` pictures do not.
  Element ids are prefixed so an answer cannot shadow the grading page's own ids.
* :func:`markdown2html` -- nbconvert's markdown rendering (math kept for MathJax), then
  :func:`clean_html`. nbgrader's formgrade and feedback templates call ``markdown2html`` without
  nbconvert's own ``clean_html`` step, so the filter itself must be safe.
* :class:`InertNotebook` -- outputs keep only MIME types that render as text, pictures or
  sanitised HTML (a note replaces the rest); image data must be plain base64; output metadata
  keeps only integer sizes; metadata the templates print raw (``grade_id``, execution counts,
  widget state) is made plain.
"""

from __future__ import annotations

import re

import nbformat
import nh3
from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from pygments.token import STANDARD_TYPES

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
}
ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
}
ID_PREFIX = "user-content-"
#: classes nbconvert's own rendering uses (pygments tokens, anchors, pandas tables); any other
#: class is dropped, so an answer cannot borrow the grading page's (bootstrap's) classes
CLASSES = ({"highlight", "anchor-link", "dataframe", "ansi"} | set(STANDARD_TYPES.values())) - {""}
CLASS_PATTERN = re.compile(r"hl-[A-Za-z0-9_+-]+|ansi-[a-z-]+|language-[A-Za-z0-9_+-]+")
LINK = re.compile(r"(?:https?://|mailto:)[^\s\"'<>`]+", re.IGNORECASE)
#: pictures only as inline data (attachments, embedded outputs) or a file beside the notebook
DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*")
RELATIVE_IMAGE = re.compile(r"(?!.*\.\.)(?!.*//)[A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:png|jpe?g|gif)")
NUMBER = re.compile(r"[0-9]{1,5}%?")

#: output MIME types rendered as text, pictures or sanitised HTML; any other is withheld
SAFE_MIME = (
    "text/plain",
    "text/html",
    "text/markdown",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/svg+xml",
)
IMAGE_MIME = ("image/png", "image/jpeg", "image/gif")
ATTACHMENT_MIME = IMAGE_MIME + ("image/svg+xml",)  # shown through <img>, where SVG runs nothing
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
GRADE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
#: output metadata the kit's own grader notes carry (read by cs231n_grader.feedback)
GRADER_KEYS = ("cs231n_grader", "cs231n")
WITHHELD = "[{types} output not shown: scripts and widgets from submissions never run here]"


# --- HTML --------------------------------------------------------------------------------------


def _attribute(tag: str, name: str, value: str) -> str | None:
    """nh3 attribute filter: the value to keep, or None to drop the attribute."""
    value = value.strip()
    if name == "href":
        if value.startswith("#"):
            return "#" + _prefixed(value[1:]) if re.fullmatch(r"#[\w.:-]+", value) else None
        return value if LINK.fullmatch(value) else None
    if name == "src":
        return value if DATA_IMAGE.fullmatch(value) or RELATIVE_IMAGE.fullmatch(value) else None
    if name == "id":
        return _prefixed(value) if re.fullmatch(r"[\w.:-]{1,200}", value) else None
    if name == "class":
        kept = [c for c in value.split() if c in CLASSES or CLASS_PATTERN.fullmatch(c)]
        return " ".join(kept) or None
    if name in ("width", "height", "colspan", "rowspan"):
        return value if NUMBER.fullmatch(value) else None
    if name == "align":
        return value if value in ("left", "right", "center") else None
    return value


def _prefixed(element_id: str) -> str:
    """``element_id`` in the students' namespace (idempotent: HTML may be cleaned twice)."""
    return element_id if element_id.startswith(ID_PREFIX) else ID_PREFIX + element_id


def clean_html(html) -> str:
    """Sanitise an HTML fragment (str or bytes) with the kit's allow-list; returns HTML."""
    html = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )


@pass_context
def markdown2html(context, source: str) -> str:
    """Jinja filter: markdown (with attachments and $math$) to sanitised HTML.

    Replaces ``HTMLExporter.markdown2html`` (same rendering: nbconvert's mistune renderer,
    which leaves math for MathJax), followed by :func:`clean_html`.
    """
    cell = context.get("cell", {}) or {}
    attachments = _Attachments(cell.get("attachments", {}) if hasattr(cell, "get") else {})
    renderer = IPythonRenderer(
        escape=False,
        attachments=attachments,
        embed_images=False,
        exclude_anchor_links=False,
        anchor_link_text="¶",
    )
    return clean_html(MarkdownWithMath(renderer=renderer).render(str(source)))


class _Attachments(dict):
    """A cell's attachments; a missing or withheld one renders as an empty picture instead of
    aborting the page (nbconvert raises on it, which would cost the student their feedback)."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return {"image/png": ""}


#: ``c.HTMLExporter.filters``: every markdown and HTML rendering goes through clean_html
FILTERS = {"markdown2html": markdown2html, "clean_html": clean_html}


# --- the notebook ------------------------------------------------------------------------------


class InertNotebook(Preprocessor):
    """Make everything a submission wrote render as inert text, pictures and sanitised HTML."""

    def preprocess(self, nb, resources):
        """Drop notebook-level widget state (the templates load a widget manager for it)."""
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        """Outputs, attachments, raw source, execution count and grade_id of one cell."""
        nbgrader = cell.metadata.get("nbgrader")
        if isinstance(nbgrader, dict) and "grade_id" in nbgrader:
            if not GRADE_ID.fullmatch(str(nbgrader["grade_id"])):
                nbgrader["grade_id"] = f"cell-{index}"  # printed raw into ids and links
        tags = cell.metadata.get("tags")
        if tags is not None:
            cell.metadata["tags"] = [
                t for t in tags if isinstance(t, str) and GRADE_ID.fullmatch(t)
            ]
        if "attachments" in cell:
            cell.attachments = safe_attachments(cell.attachments)
        if cell.cell_type == "raw":
            cell.source = clean_html(cell.source)
        if cell.cell_type == "code":
            count = cell.get("execution_count")
            cell.execution_count = (
                count if isinstance(count, int) and not isinstance(count, bool) else None
            )
            cell.outputs = [safe_output(output) for output in cell.get("outputs", [])]
        return cell, resources


def safe_attachments(attachments) -> dict:
    """Attachments kept: name -> {image MIME: base64} with plain base64 data only."""
    kept = {}
    for name, bundle in (attachments or {}).items():
        if not isinstance(bundle, dict):
            continue
        images = {
            m: d
            for m, d in bundle.items()
            if m in ATTACHMENT_MIME and isinstance(d, str) and BASE64.fullmatch(d)
        }
        if images:
            kept[str(name)] = images
    return kept


def safe_output(output):
    """One output with its data reduced to SAFE_MIME and its metadata to integer image sizes."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output  # stream and error outputs are escaped by the templates
    data = output.get("data", {})
    kept, dropped = {}, []
    for mime, value in data.items():
        if mime not in SAFE_MIME:
            dropped.append(mime)
        elif mime in IMAGE_MIME and not (isinstance(value, str) and BASE64.fullmatch(value)):
            dropped.append(mime)
        elif mime == "text/html":
            kept[mime] = clean_html("".join(value) if isinstance(value, list) else value)
        else:
            kept[mime] = value
    if dropped and not any(m != "text/plain" for m in kept):
        note = WITHHELD.format(types=", ".join(sorted(dropped)))
        kept["text/plain"] = note + ("\n" + kept["text/plain"] if "text/plain" in kept else "")
    output.data = nbformat.from_dict(kept)
    output.metadata = nbformat.from_dict(safe_metadata(output.get("metadata", {})))
    return output


def safe_metadata(metadata) -> dict:
    """Output metadata the templates read, as plain values: ``{image MIME: {width, height}}``."""
    kept = {k: metadata[k] for k in GRADER_KEYS if k in metadata}
    for mime in IMAGE_MIME:
        sizes = metadata.get(mime)
        if isinstance(sizes, dict):
            ints = {
                k: v
                for k, v in sizes.items()
                if k in ("width", "height")
                and isinstance(v, int)
                and not isinstance(v, bool)
                and 0 < v < 100_000
            }
            if ints:
                kept[mime] = ints
    return kept
