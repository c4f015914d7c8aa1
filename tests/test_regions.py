"""Hidden-test regions: one parser (cs231n_grader.regions) driven by nbgrader's own
``ClearHiddenTests`` delimiter traits, at release, autograde and feedback alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cs231n_grader import demo
from cs231n_grader.regions import HIDDEN_NOTE, find_regions, region_line_numbers, remove_regions
from cs231n_grader.sandbox import sandbox_available

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def test_regions_include_their_delimiters_and_an_unterminated_one_runs_to_the_end():
    lines = [
        "a",
        "### BEGIN HIDDEN TESTS",
        "x",
        "### END HIDDEN TESTS",
        "b",
        "  ### BEGIN HIDDEN TESTS",
        "y",
    ]
    assert find_regions(lines, BEGIN, END) == [(1, 3), (5, 6)]
    source = "\n".join(lines)
    assert region_line_numbers(source, BEGIN, END) == {2, 3, 4, 6, 7}
    assert remove_regions(source, BEGIN, END, "# gone") == ("a\n# gone\nb\n  # gone", True)
    assert remove_regions("a\n### END HIDDEN TESTS", BEGIN, END, "# gone") == (
        "a\n### END HIDDEN TESTS",
        False,
    )


# --- end to end: custom delimiters configured once, on nbgrader's ClearHiddenTests ----------------
SOLUTION = '''def f(x):
    """x + 1"""
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION
'''
TEST = """assert f(1) == 2, "f(1) should be 2"
## >>> SECRET CHECKS
print("SECRET-PRINT-4242")
assert f("SECRET-INPUT-99") == 42, "SECRET-MESSAGE-777"
## <<< SECRET CHECKS
"""


def _course(root: Path) -> None:
    """A one-notebook course: the repo's nbgrader_config.py, other hidden-test delimiters."""
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(root / 'gradebook.db')!r}\n"
        "c.ClearHiddenTests.begin_test_delimeter = '>>> SECRET CHECKS'\n"
        "c.ClearHiddenTests.end_test_delimeter = '<<< SECRET CHECKS'\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    sol = nbformat.v4.new_code_cell(SOLUTION)
    sol.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "f",
        "schema_version": 3,
    }
    test = nbformat.v4.new_code_cell(TEST)
    test.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 2,
        "grade_id": "test_value",
        "schema_version": 3,
    }
    nb.cells = [sol, test]
    (root / "solutions" / "ps").mkdir(parents=True)
    nbformat.write(nb, str(root / "solutions" / "ps" / "ps.ipynb"))


@pytest.mark.skipif(
    not sandbox_available(), reason="needs bubblewrap (the kit's autograde refuses without it)"
)
def test_delimiters_configured_on_clear_hidden_tests_hold_at_release_autograde_and_feedback(
    tmp_path,
):
    _course(tmp_path)

    def run(*args):
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=tmp_path,
            text=True,
            capture_output=True,
            env=demo.nbgrader_env(),
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run("generate_assignment", "ps")
    released = (tmp_path / "assignment" / "ps" / "ps.ipynb").read_text()
    assert "SECRET" not in released
    student = tmp_path / "submitted" / "alice" / "ps"
    student.mkdir(parents=True)
    nb = nbformat.read(str(tmp_path / "assignment" / "ps" / "ps.ipynb"), as_version=4)
    nb.cells[
        0
    ].source = (
        "def f(x):\n    if isinstance(x, str):\n        raise TypeError(x)\n    return x + 1\n"
    )
    nbformat.write(nb, str(student / "ps.ipynb"))
    run("autograde", "ps")
    graded = (tmp_path / "autograded" / "alice" / "ps" / "ps.ipynb").read_text()
    assert "SECRET" not in graded and HIDDEN_NOTE[2:] in graded  # stripped before the kernel ran
    run("generate_feedback", "ps")
    page = (tmp_path / "feedback" / "alice" / "ps" / "ps.html").read_text()
    assert "SECRET" not in page and "f(1) should be 2" in page
