"""SafeCellMetadata: nbgrader's DeduplicateIds + CheckCellMetadata, without aborting the class.

Stock nbgrader clears a duplicated grade_id's metadata to ``{}`` (a copied cell: nbgrader
#1083/#1941 report ~5 % of real notebooks doing it by accident), which CheckCellMetadata then
rejects as schema version 0 -- an error that stops ``nbgrader autograde`` for every student after
this one. Malformed metadata (a string where points should be, a missing grade_id) does the same.

This step, used in their place in both of Autograde's preprocessor lists, checks every cell with
nbgrader's own validator. A cell whose nbgrader metadata is invalid, or which repeats an earlier
grade_id (the last copy keeps it, as in stock nbgrader), loses its nbgrader metadata entirely (it
becomes an ordinary cell; OverwriteCells then restores locked cells from the gradebook as usual),
and the reason is stated in the notebook's intake note and the log. The run goes on for everyone.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import NbGraderPreprocessor

from cs231n_grader.intake import NOTE_MARK, note_cell


class SafeCellMetadata(NbGraderPreprocessor):
    """Drop invalid or duplicated nbgrader cell metadata with a stated reason; never raise."""

    def preprocess(self, nb, resources):
        validator = MetadataValidator()
        reasons: list[str] = []
        seen: set[str] = set()
        shown = (
            0 if not nb.cells or not nb.cells[0].metadata.get(NOTE_MARK) else -1
        )  # numbers as the student sees them
        for index in reversed(
            range(len(nb.cells))
        ):  # reversed: the last copy of a grade_id keeps it
            cell = nb.cells[index]
            if "nbgrader" not in cell.get("metadata", {}):
                continue
            why = _invalid(validator, cell)
            grade_id = cell.metadata["nbgrader"].get("grade_id") if why is None else None
            if why is None and _graded(cell) and grade_id in seen:
                why = f"repeats grade_id '{str(grade_id)[:60]}' of a later cell (a copied cell?)"
            if why is None:
                if _graded(cell):
                    seen.add(grade_id)
                continue
            del cell.metadata["nbgrader"]
            reasons.append(f"cell {index + 1 + shown} {why}: graded as an ordinary cell")
        if reasons:
            reasons.reverse()
            self.log.warning("%s: %s", _who(resources), "; ".join(reasons))
            _add_to_note(nb, reasons)
        return nb, resources


def _graded(cell) -> bool:
    return utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)


def _invalid(validator: MetadataValidator, cell) -> str | None:
    """Why nbgrader's validator rejects this cell's metadata (None: it is valid)."""
    if not isinstance(cell.metadata.get("nbgrader"), dict):
        return "has nbgrader metadata that is not a mapping"
    try:
        validator.validate_cell(cell)
        grade_id = cell.metadata["nbgrader"].get("grade_id", "")
        if not isinstance(grade_id, str):
            raise ValueError("grade_id is not text")
    except Exception as exc:  # noqa: BLE001 - jsonschema, schema version, KeyError: all the same to us
        return (
            f"has malformed nbgrader metadata ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:100]})"
        )
    return None


def _add_to_note(nb, reasons: list[str]) -> None:
    """Append to the intake note at the top of the notebook (made if there is none yet)."""
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and first.metadata.get(NOTE_MARK):
        first.source += "\n" + "\n".join(f"- {r}" for r in reasons)
    else:
        nb.cells.insert(0, note_cell(reasons))


def _who(resources) -> str:
    info = resources.get("nbgrader", {})
    return f"{info.get('student', '?')}/{info.get('assignment', '?')}"
