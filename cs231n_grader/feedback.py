"""Plug-ins for ``nbgrader generate_feedback``: safe, readable feedback HTML.

Configured in ``nbgrader_config.py``::

    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, TrimTracebacks,
                                        FeedbackSummary, CSSHTMLHeaderPreprocessor]

* :class:`HideHiddenTests` -- no hidden-test code or value reaches the HTML (hidden blocks are
  found with nbgrader's ``ClearHiddenTests`` delimiters, as at release and autograde). The kit's
  autograde already strips hidden blocks before execution (``StripHiddenTests``); this step also
  makes feedback safe for a notebook that still carries them (e.g. graded with stock settings): the
  blocks are removed from the source, and the outputs of a test cell that ran hidden code are
  withheld (only the grader's own verdict notes are kept).
* :class:`TrimTracebacks` -- tracebacks keep only the student's own frames (cells that are not
  test cells) plus the public test line that called them; library frames and hidden-test lines
  are dropped, and an error raised while hidden code was on the stack loses its message.
* :class:`FeedbackSummary` -- a table at the top: per part, what was checked, points earned/max,
  and the diagnosis that names the mistake.
* :class:`FeedbackExporter` -- the page: nbgrader's feedback template with pending manual grades
  shown as pending ("– / 10 (not graded yet)", not nbgrader's "0.0 / 10.0")::

    c.GenerateFeedback.exporter_class = "cs231n_grader.feedback.FeedbackExporter"
    c.FeedbackExporter.template_name = "cs231n_feedback"
"""

import re
from pathlib import Path

import nbformat
import nbgrader
from jinja2 import FileSystemLoader, PrefixLoader
from nbconvert.exporters import HTMLExporter
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Dict, Unicode, default

from cs231n_grader.formatting import format_score
from cs231n_grader.parts import BY_GRADE_ID
from cs231n_grader.regions import HIDDEN_NOTE, region_line_numbers, remove_regions

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"^Cell\s+In\s*\[(\d+)\],\s*line\s+(\d+)")
WITHHELD = (
    "(output of the hidden tests withheld: see the summary at the top for what the "
    "grader checked and the diagnosis)"
)

#: what the grader checks, per part (used when the verdict note does not say)
DEFAULT_CHECKED = {
    grade_id.removeprefix("test_"): part.what_is_checked() for grade_id, part in BY_GRADE_ID.items()
}


def part_name(cell) -> str:
    """grade_id without the ``test_`` prefix: ``test_forward`` -> ``forward``."""
    grade_id = cell.metadata["nbgrader"]["grade_id"]
    return grade_id[len("test_") :] if grade_id.startswith("test_") else grade_id


def is_test_cell(cell) -> bool:
    """An autograded test cell (grade, not solution, code)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def is_grader_note(output) -> bool:
    """Outputs the kit's grader appended after execution (marked in their metadata)."""
    meta = output.get("metadata") or {}
    return bool(meta.get("cs231n_grader") or meta.get("cs231n", {}).get("grader"))


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden-test code from sources and withhold outputs produced next to it (the hidden
    blocks are delimited by ClearHiddenTests' traits, as at release and autograde)."""

    def preprocess(self, nb, resources):
        """Record original sources (for TrimTracebacks) before cleaning them."""
        resources.setdefault("cs231n", {})["original_sources"] = {
            cell.get("execution_count"): cell.source
            for cell in nb.cells
            if cell.cell_type == "code" and cell.get("execution_count") is not None
        }
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        cell.source, had_hidden = remove_regions(
            cell.source, self.begin_test_delimeter, self.end_test_delimeter, HIDDEN_NOTE
        )
        if had_hidden:
            kept = [o for o in cell.outputs if is_grader_note(o) or o.output_type == "error"]
            note = nbformat.v4.new_output("stream", name="stdout", text=WITHHELD + "\n")
            cell.outputs = [note] + kept
        return cell, resources


class TrimTracebacks(ClearHiddenTests):
    """Keep only the student's own frames in tracebacks; never show hidden-test lines (found with
    ClearHiddenTests' delimiter traits: it subclasses it for them, and strips nothing itself)."""

    def preprocess(self, nb, resources):
        """Index cells by execution count so frames ``Cell In[N]`` can be classified."""
        sources = resources.get("cs231n", {}).get("original_sources", {})
        self._cells = {}
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.get("execution_count") is not None:
                count = cell.execution_count
                self._cells[count] = (cell, sources.get(count, cell.source))
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "error":
                    self.trim(output)
        return cell, resources

    def trim(self, output) -> None:
        """Rewrite one error output's traceback and message in place."""
        frames = [ANSI.sub("", entry) for entry in output.get("traceback", [])]
        kept, through_hidden = [], False
        for frame in frames:
            text, hidden = self.frame_text(frame)
            through_hidden = through_hidden or hidden
            if text:
                kept.append(text)
        evalue = output.get("evalue", "")
        if through_hidden:
            evalue = (
                "raised while the grader's hidden tests ran your code "
                "(details withheld; see the summary at the top)"
            )
        output.evalue = evalue
        output.traceback = (
            ["Traceback (only your own code is shown):"]
            + kept
            + [f"{output.get('ename', 'Error')}: {evalue}"]
        )

    def frame_text(self, frame: str) -> tuple:
        """(text to keep or '', whether the frame is a hidden-test line) for one traceback entry."""
        match = CELL_FRAME.match(frame.strip())
        if not match:
            return "", False  # header, dashes, library frames, final message: rebuilt by trim()
        count, line = int(match.group(1)), int(match.group(2))
        cell, source = self._cells.get(count, (None, ""))
        if cell is None or not is_test_cell(cell):
            return frame.rstrip("\n"), False
        if line in region_line_numbers(source, self.begin_test_delimeter, self.end_test_delimeter):
            return "", True
        lines = source.splitlines()
        code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        return f"In the test cell {grade_id}, line {line}:\n----> {code}", False


class FeedbackSummary(NbGraderPreprocessor):
    """Insert a per-part summary table (checked, points, diagnosis) as the first cell."""

    checked = Dict(
        DEFAULT_CHECKED, help="part -> what the grader checks, when the verdict note does not say"
    ).tag(config=True)
    title = Unicode("Grading summary").tag(config=True)

    def preprocess(self, nb, resources):
        self._pending = pending_manual_grades(resources)
        rows = [self.row(cell) for cell in nb.cells if utils.is_grade(cell)]
        score = resources.get("nbgrader", {}).get("score")
        max_score = resources.get("nbgrader", {}).get("max_score")
        lines = [f"## {self.title}", ""]
        if score is not None and max_score is not None:
            later = (
                " (parts marked *not graded yet* are still to be graded by hand)"
                if self._pending
                else ""
            )
            lines += [f"**Total: {_num(score)} / {_num(max_score)}**{later}", ""]
        lines += ["| Part | What was checked | Points | Diagnosis |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell_text(v) for v in row) + " |" for row in rows]
        # the page header says how many points are still to be graded by hand (kit's template)
        resources["cs231n_pending_points"] = sum(
            float(cell.metadata["nbgrader"].get("points") or 0)
            for cell in nb.cells
            if utils.is_grade(cell)
            and not is_test_cell(cell)
            and self._is_pending(cell.metadata["nbgrader"])
        )
        summary = nbformat.v4.new_markdown_cell("\n".join(lines) + "\n")
        summary.metadata["cs231n"] = {"feedback_summary": True}
        nb.cells.insert(0, summary)
        return nb, resources

    def row(self, cell) -> tuple:
        """(part, checked, 'score / points', diagnosis) for one grade cell."""
        part = part_name(cell)
        meta = cell.metadata["nbgrader"]
        verdict = read_verdict(cell)
        checked = verdict.get("checked") or self.checked.get(part, "")
        points = f"{_num(meta.get('score'))} / {_num(meta.get('points'))}"
        if verdict.get("cases") and part != "accuracy":
            points += f" ({verdict['cases']} cases correct)"
        if is_test_cell(cell):
            diagnosis = (
                verdict.get("diagnosis")
                or verdict.get("reason")
                or (
                    "all checks passed"
                    if _full(meta)
                    else verdict.get("failure")
                    or "some checks failed: see this part's test cell below"
                )
            )
        else:
            pending = self._is_pending(meta)
            diagnosis = meta.get("comment") or ("not graded yet" if pending else "")
            if pending:
                points = f"– / {_num(meta.get('points'))}"
        return part, checked, points, diagnosis

    def _is_pending(self, meta) -> bool:
        """A hand-graded cell nobody has graded yet."""
        return meta.get("grade_id") in self._pending or meta.get("score") is None


class FeedbackExporter(HTMLExporter):
    """The feedback page's exporter: nbgrader's HTMLExporter under its own config section, so
    ``c.FeedbackExporter.template_name = "cs231n_feedback"`` (the kit's template: pending manual
    grades shown as pending, templates/cs231n_feedback) applies to feedback only -- formgrader's
    pages keep nbgrader's ``formgrade`` template. The kit's template extends nbgrader's as
    ``nbgrader/feedback/index.html.j2`` (its own name would find itself first)."""

    @default("extra_loaders")
    def _nbgrader_templates(self):
        templates = (
            Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
        )
        return [PrefixLoader({"nbgrader": FileSystemLoader(str(templates))})]


def pending_manual_grades(resources) -> set:
    """grade_ids of this submission still awaiting a manual score (empty if unknown)."""
    info = resources.get("nbgrader", {})
    try:
        from nbgrader.api import Gradebook

        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(
                info["notebook"], info["assignment"], info["student"]
            )
            return {
                g.name for g in notebook.grades if g.needs_manual_grade and g.manual_score is None
            }
    except Exception:  # noqa: BLE001 - the summary still renders, without this detail
        return set()


def read_verdict(cell) -> dict:
    """The grader's verdict for a test cell: from its metadata, else from its note's text.

    Returns a dict with optional keys ``checked``, ``diagnosis``, ``reason``, ``cases``
    ("3/5"), ``failure`` (the first failed case, in words) -- strings. The kit's SealedChecks
    stores ``metadata.cs231n.verdict``; a note's "Diagnosis: ..." text is the fallback.
    """
    meta = cell.metadata.get("cs231n", {})
    verdict = dict(meta.get("verdict", meta)) if isinstance(meta, dict) else {}
    diagnosis = verdict.get("diagnosis")
    if isinstance(diagnosis, dict):
        verdict["diagnosis"] = diagnosis.get("message") or diagnosis.get("id", "")
    if verdict.get("total"):
        verdict["cases"] = f"{verdict.get('passed', 0)}/{verdict['total']}"
    if verdict.get("failures"):
        verdict["failure"] = verdict["failures"][0]
    if verdict.get("diagnosis") or verdict.get("checked"):
        keep = ("checked", "diagnosis", "reason", "cases", "failure")
        return {k: str(v) for k, v in verdict.items() if k in keep and v}
    for output in cell.get("outputs", []):
        text = _output_text(output)
        found = re.search(r"Diagnosis:\s*(.+)", text)
        if found:
            return {"diagnosis": found.group(1).strip()}
    return {}


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "")


def _full(meta: dict) -> bool:
    score, points = meta.get("score"), meta.get("points")
    return score is not None and points is not None and float(score) >= float(points)


_num = format_score  # one score format for the feedback, the grader's notes and the export


def _cell_text(value) -> str:
    """Make a value safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")
