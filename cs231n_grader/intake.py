"""Submission intake: before nbgrader or the kit reads a student's folder, make it safe to read.

nbgrader's Autograde copies every file of ``submitted/<student>/<assignment>/`` into ``autograded/``
with ``shutil.copy`` (which follows links: a link to ``.grader_secret`` becomes a copy of the
secret), chmods what it wrote (through links too), and reads the notebook wherever a link points; a
FIFO hangs the copy and a 1,500-deep folder chain overflows every recursive walk; and formgrader
serves every file of an autograded folder on the instructor's Jupyter origin
(``/formgrader/submissions/<id>/<path>``), where a submitted web page's script could call the
server's API with the instructor's rights. So, plugged in as
nbgrader's ``pre_convert_hook`` (run per submission after nbgrader picks the folder, before it
copies or reads anything)::

    c.Autograde.pre_convert_hook = Intake()
    c.GenerateFeedback.pre_convert_hook = Intake(step="feedback")   # same rules for autograded/

:class:`Intake` moves everything a submission may not contain out of the folder into
``quarantine/<student>/<assignment>/`` (moved, never read, copied or followed; kept for the
instructor): links, special files (FIFOs, sockets, devices), web pages and scripts a browser would
run (HTML, SVG, XML, JavaScript: :func:`is_web_page`), folders deeper than ``max_depth``,
entries beyond ``max_entries``, files over ``max_file_bytes`` or beyond ``max_total_bytes`` in all,
and a notebook that is not a readable notebook of at most ``max_notebook_bytes``. A refused notebook
is replaced by an empty notebook saying why (its autograded parts then score 0). Every reason is
appended to ``quarantine/<student>/<assignment>/reasons.json``; the sanitize step
:class:`SubmissionNotes` puts them at the top of that student's graded notebook (and so in the
feedback), and refuses to grade a submission the intake has not seen (a hook that failed or
is not configured).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from cs231n_grader.formatting import format_bytes

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"
REASONS_FILE = "reasons.json"
NOTE_MARK = "cs231n_intake"
MAX_REASONS = 20
"""Reasons named one by one; further set-aside entries are counted in one line."""
_SEEN: set[str] = set()
"""Submission folders the intake has made safe in this process (SubmissionNotes checks it)."""
WEB_SUFFIXES = (
    *(".html", ".htm", ".shtml", ".xhtml", ".xht", ".svg", ".svgz"),
    *(".xml", ".xsl", ".xslt", ".js", ".mjs"),
)
"""Suffixes of pages and scripts, whatever this machine's MIME table says."""


@dataclass
class Intake:
    """nbgrader pre_convert_hook making one submission folder safe to read (module docstring)."""

    step: str = "autograde"
    max_depth: int = 4
    max_entries: int = 64
    max_file_bytes: int = 256 * 2**20
    max_total_bytes: int = 512 * 2**20
    max_notebook_bytes: int = 32 * 2**20

    def __call__(self, assignment=None, student=None, notebooks=(), **_) -> None:
        """nbgrader calls this once per submission with the notebook paths it found there."""
        if not notebooks:
            return
        folder = Path(notebooks[0]).parent
        if (
            folder.is_symlink() or folder.parent.is_symlink()
        ):  # the course's own layout: never follow
            raise RuntimeError(f"{folder} is reached through a link: replace it by a plain folder")
        reasons = self.clean(folder, [Path(nb).name for nb in notebooks])
        if reasons:
            record(folder, reasons, self.step)
        _SEEN.add(str(folder.resolve()))

    # ---------------------------------------------------------------------------------------------
    def clean(self, folder: Path, notebook_names: list[str]) -> list[str]:
        """Move what breaks the rules out of folder; replace a refused notebook. -> reasons."""
        reasons: list[str] = []
        total, kept, excess = 0, 0, 0
        queue = [(folder, 0)]
        while queue:  # breadth first, never deeper than max_depth: no recursion, no long paths
            current, depth = queue.pop(0)
            for entry in sorted(os.scandir(current), key=lambda e: e.name):
                if depth == 0 and entry.name in notebook_names:
                    continue  # checked (and if need be replaced) below
                st = entry.stat(follow_symlinks=False)
                why = self._breaks_rule(entry.name, st, depth, total)
                if why is None and kept < self.max_entries:
                    kept += 1
                    if stat.S_ISDIR(st.st_mode):
                        queue.append((Path(entry.path), depth + 1))
                    else:
                        total += st.st_size
                    continue
                quarantine(folder, Path(entry.path))
                if why is None or len(reasons) >= MAX_REASONS:
                    excess += 1
                else:
                    rel = Path(entry.path).relative_to(folder).as_posix()
                    reasons.append(f"`{rel[:200]}` {why}: it was set aside, not graded")
        if excess:
            reasons.append(
                f"{excess} more files and folders (beyond the first {self.max_entries} kept) "
                "were set aside, not graded"
            )
        for name in notebook_names:
            reasons += self._check_notebook(folder, folder / name)
        return reasons

    def _breaks_rule(self, name: str, st: os.stat_result, depth: int, total: int) -> str | None:
        """Why an entry (its name, lstat, depth below the folder) may not stay (None: it may)."""
        if stat.S_ISLNK(st.st_mode):
            return "is a link (only plain files are graded)"
        if stat.S_ISDIR(st.st_mode):
            return (
                f"is a folder nested deeper than {self.max_depth} levels"
                if depth + 1 >= self.max_depth
                else None
            )
        if not stat.S_ISREG(st.st_mode):
            return "is a special file (only plain files are graded)"
        if st.st_size > self.max_file_bytes:
            return f"is larger than {format_bytes(self.max_file_bytes)}"
        if total + st.st_size > self.max_total_bytes:
            return f"would make the submission larger than {format_bytes(self.max_total_bytes)}"
        if is_web_page(name):
            return "is a web page or script (only notebooks and data files are graded)"
        return None

    def _check_notebook(self, folder: Path, path: Path) -> list[str]:
        """Refuse (quarantine + placeholder) a notebook that is missing, too big or unreadable."""
        why = notebook_problem(path, self.max_notebook_bytes)
        if why is None:
            return []
        if os.path.lexists(path):
            quarantine(folder, path)
        reason = f"`{path.name}` {why}: it was set aside, and every autograded part scores 0"
        nbformat.write(placeholder(), path)
        return [reason]


def is_web_page(name: str) -> bool:
    """Whether a browser would render ``name`` as a page or run it, served by formgrader (Tornado's
    static files take their type from :mod:`mimetypes`, as here)."""
    name = name.lower()
    mime = mimetypes.guess_type(name, strict=False)[0] or ""
    return (
        name.endswith(WEB_SUFFIXES)
        or "html" in mime
        or "javascript" in mime
        or mime.endswith(("/xml", "+xml", "/xsl", "xslt"))
    )


def notebook_problem(path: Path, max_bytes: int) -> str | None:
    """Why path is not a notebook nbgrader can safely read (None: it is one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"cannot be opened as a plain file ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return "is not a plain file"
        if st.st_size > max_bytes:
            return f"is larger than {format_bytes(max_bytes)}"
        data = fh.read(max_bytes + 1)
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except RecursionError:
        return "is nested too deeply to be a notebook"
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is refused the same way
        return f"is not a valid notebook ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def placeholder() -> nbformat.NotebookNode:
    """The empty notebook graded instead of a refused one (SubmissionNotes adds the reason)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def note_cell(reasons: list[str]) -> nbformat.NotebookNode:
    """A markdown cell stating the intake's reasons (first in the graded notebook and feedback)."""
    text = "**The grader set parts of your submission aside:**\n\n" + "\n".join(
        f"- {r}" for r in reasons
    )
    return nbformat.v4.new_markdown_cell(text, metadata={NOTE_MARK: True})


# --- quarantine ----------------------------------------------------------------------------------
def quarantine_dir(folder: Path) -> Path:
    """<course root>/quarantine/<student>/<assignment> for a
    <step>/<student>/<assignment> folder."""
    return folder.parent.parent.parent / QUARANTINE / folder.parent.name / folder.name


def quarantine(folder: Path, path: Path) -> Path:
    """Move path (a file, link or whole folder tree: one rename, nothing followed) out of folder."""
    dest_dir = quarantine_dir(folder) / time.strftime("%Y%m%dT%H%M%S")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{len(os.listdir(dest_dir)):03d}-{path.name[:200]}"
    os.rename(path, dest)
    log.warning("intake: moved %s to %s", path, dest)
    return dest


def record(folder: Path, reasons: list[str], step: str) -> None:
    """Append reasons to the submission's reasons.json (kept across runs: --force re-runs
    say it too)."""
    path = quarantine_dir(folder) / REASONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    known = recorded(folder)
    known += [{"step": step, "reason": r} for r in reasons if r not in [k["reason"] for k in known]]
    path.write_text(json.dumps(known, indent=1))
    for reason in reasons:
        log.warning("intake %s/%s: %s", folder.parent.name, folder.name, reason)


def recorded(folder: Path) -> list[dict]:
    """The reasons recorded for a submission folder ([] when none)."""
    try:
        return json.loads((quarantine_dir(folder) / REASONS_FILE).read_text())
    except (OSError, ValueError):
        return []


def remove_tree(path: Path) -> None:
    """Delete a folder tree of any depth without recursion and without following links: each
    sub-folder is first moved up beside path, so no path ever gets long."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    holding, pending, count = path.parent, [path], 0
    while pending:
        current = pending.pop()
        for entry in os.scandir(current):
            if entry.is_dir(follow_symlinks=False):
                count += 1
                hoisted = holding / f".{path.name}.rm{count}"
                os.rename(entry.path, hoisted)
                pending.append(hoisted)
            else:
                os.unlink(entry.path)
        os.rmdir(current)


# --- sanitize step --------------------------------------------------------------------------------
class SubmissionNotes(NbGraderPreprocessor):
    """Sanitize step (first): refuse a submission the Intake hook has not made safe; put the
    intake's reasons for this student at the top of their graded notebook."""

    def preprocess(self, nb, resources):
        cd = CourseDirectory(config=self.config)
        info = resources.get("nbgrader", {})
        folder = Path(
            cd.format_path(
                cd.submitted_directory, info.get("student", "."), info.get("assignment", ".")
            )
        )
        if str(folder.resolve()) not in _SEEN:
            raise RuntimeError(
                f"{folder} was not checked by the submission intake: set "
                "c.Autograde.pre_convert_hook = cs231n_grader.intake.Intake() in "
                "nbgrader_config.py (the kit's config does)"
            )
        reasons = [r["reason"] for r in recorded(folder)]
        if reasons:
            nb.cells.insert(0, note_cell(reasons))
        return nb, resources
