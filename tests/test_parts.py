"""The parts table (cs231n_grader.parts) against the solution notebook's nbgrader metadata, and
the modules that derive their lists of parts from it."""

from __future__ import annotations

import json

import nbformat
import pytest

from cs231n_grader import demo, exporter, feedback, parts, reference
from cs231n_grader.preprocessors import part_of
from cs231n_utils import nbcells


@pytest.fixture(scope="module")
def graded_cells() -> dict[str, dict]:
    """grade_id -> cell of every nbgrader grade or solution cell of the solution notebook."""
    nb = json.loads(reference.default_notebook().read_text(encoding="utf-8"))
    cells = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") or meta.get("solution"):
            cells[meta["grade_id"]] = cell
    return cells


def nbmeta(cell) -> dict:
    return cell["metadata"]["nbgrader"]


def test_every_part_matches_the_notebook_grade_cells_and_points(graded_cells):
    for part in parts.PARTS:
        for grade_id in part.grade_ids:
            cell = graded_cells.get(grade_id)
            assert cell is not None and nbmeta(cell)["grade"], (
                f"{part.name}: no grade cell {grade_id}"
            )
            autograded_cell = cell["cell_type"] == "code" and not nbmeta(cell)["solution"]
            assert autograded_cell == part.autograded, (
                f"{part.name}: {grade_id} is graded otherwise"
            )
        points = sum(float(nbmeta(graded_cells[g])["points"]) for g in part.grade_ids)
        assert points == part.points, f"{part.name}: the notebook gives {points} points"
        if part.function:
            cell = graded_cells.get(part.function)
            assert cell is not None and cell["cell_type"] == "code" and nbmeta(cell)["solution"], (
                part.name
            )
            assert f"def {part.function}(" in "".join(cell["source"]), part.name


def test_every_grade_cell_of_the_notebook_belongs_to_one_part(graded_cells):
    grade_ids = [g for part in parts.PARTS for g in part.grade_ids]
    assert len(grade_ids) == len(set(grade_ids))
    assert {g for g, cell in graded_cells.items() if nbmeta(cell)["grade"]} == set(grade_ids)
    assert sum(part.points for part in parts.PARTS) == 100


def test_derived_lists_follow_the_table(graded_cells):
    names = [part.name for part in parts.PARTS]
    assert (
        reference.PARTS
        == parts.FUNCTIONS
        == nbcells.PARTS
        == ("forward", "softmax_loss", "chain_rule_factors", "backward", "train", "predict")
    )
    assert parts.CALLED_PARTS[-1] == "train" and set(parts.CALLED_PARTS) == set(parts.FUNCTIONS)
    assert list(exporter.DEFAULT_PARTS) == names and demo.PART_COLUMNS == names + ["total"]
    assert {part_of(_node(graded_cells[g])) for g in graded_cells} - {None} == set(
        parts.SEALED_PARTS
    )
    for grade_id, part in parts.BY_GRADE_ID.items():
        assert feedback.DEFAULT_CHECKED[feedback.part_name(_node(graded_cells[grade_id]))] == (
            part.what_is_checked()
        )
    assert "{n}" not in "".join(p.what_is_checked() for p in parts.PARTS)
    assert parts.BY_NAME["forward"].what_is_checked(7).startswith("forward() on 7 hidden cases")


def _node(cell):
    """A notebook cell as nbformat gives it to the plug-ins (attribute access)."""
    return nbformat.from_dict(cell)
