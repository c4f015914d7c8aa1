"""docs/INSTRUCTORS.md's worked example, run as written: a course with a roster, a due date and
a late policy, LMS zips through `nbgrader zip_collect`, sandboxed autograde, a manual grade
through nbgrader's Gradebook API, a regrade, feedback, and the export of two assignments (the
kit's two_layer_net and a plain nbgrader hw0). Real nbgrader commands, run in a copy of the
course files in a scratch folder, with the venv "activated" (its bin/ first on PATH).

Kept short: three students, and an empty CIFAR-10 folder, so the notebooks' training cells
fail at once (the sealed parts are graded on secret inputs, without data; nobody hands in a net).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from cs231n_grader import samples
from cs231n_utils import handin

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
A = "two_layer_net"
DUE = "2026-11-20 10:00:00 UTC"
ON_TIME = datetime(2026, 11, 20, 9, 58, 12)  # jdoe: 108 s early
LATE = datetime(2026, 11, 21, 12, 0, 0)  # asmith: 26 h late -> 2 started days -> 20 %
MANUAL = {"derivation": 8.0, "q_train_test_gap": 5.0, "q_max_subtraction": 4.0, "q_dead_relu": 5.0}
ROSTER = (
    "id,first_name,last_name,email\n"
    "jdoe,Jane,Doe,jdoe@example.edu\n"
    "asmith,Alan,Smith,asmith@example.edu\n"
)
# the late policy the guide shows, uncommented
LATE_POLICY = (
    '\nc.AssignLatePenalties.plugin_class = "cs231n_grader.course.PercentPerDayPenalty"\n'
    "c.PercentPerDayPenalty.percent_per_day = 10.0\n"
)

HW0_SOLUTION = (
    'def add(a, b):\n    """a + b"""\n'
    "    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n"
)
HW0_TEST = (
    "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(2, 2) == 4\n### END HIDDEN TESTS\n"
)


def activated_env(extra: dict | None = None, path: str | None = None) -> dict:
    """The environment after `source .venv/bin/activate` (or with the given PATH)."""
    env = dict(os.environ)
    env["PATH"] = path if path is not None else f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def new_course(root: Path) -> Path:
    """A fresh course: the repo's nbgrader_config.py, solutions/ and the committed release."""
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(
        REPO / "solutions" / A,
        root / "solutions" / A,
        ignore=shutil.ignore_patterns("best_net.npz", "__pycache__", ".ipynb_checkpoints"),
    )
    shutil.copytree(REPO / "assignment" / A, root / "assignment" / A)
    return root


def write_hw0(root: Path) -> None:
    """A plain nbgrader assignment: one solution cell, one 2-point test cell with a hidden test."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    sol = nbformat.v4.new_code_cell(HW0_SOLUTION)
    sol.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "add",
        "schema_version": 3,
    }
    test = nbformat.v4.new_code_cell(HW0_TEST)
    test.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 2,
        "grade_id": "test_add",
        "schema_version": 3,
    }
    nb.cells = [sol, test]
    (root / "solutions" / "hw0").mkdir(parents=True)
    nbformat.write(nb, str(root / "solutions" / "hw0" / "hw0.ipynb"))


def run(course: Path, *args: str, env: dict | None = None, check: bool = True) -> str:
    """One command of the guide, from the course root; returns its combined output."""
    proc = subprocess.run(
        list(args),
        cwd=course,
        env=env or activated_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-4000:]}"
        )
    return proc.stdout


def problems(log: str) -> list[str]:
    """Log lines an instructor would have to read: warnings, errors, Python warnings."""
    return [
        line
        for line in log.splitlines()
        if re.search(r"WARNING|ERROR|CRITICAL|Warning:|not absolute", line)
    ]


def hand_in(course: Path, student: str, nb, when: datetime) -> str:
    """Zip a notebook the way students hand in (cs231n_utils.handin) into the LMS
    download folder."""
    archive = course / "downloaded" / A / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    name = handin.zip_name(A, student, when)
    with zipfile.ZipFile(archive / name, "w") as zf:
        zf.writestr(f"{A}.ipynb", nbformat.writes(nb))
    return name


def read_csv(path: Path) -> dict:
    """{(assignment, student_id): row} of an exported CSV."""
    with open(path, newline="") as fh:
        return {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}


# --- 0. pieces, without nbgrader commands ---------------------------------------------------------


def test_hand_in_names_parse_to_the_hand_in_time_in_nbgrader():
    from nbgrader.utils import parse_utc

    name = handin.zip_name(A, "j-doe", ON_TIME)
    assert name == "two_layer_net--j-doe--20261120T095812Z.zip"
    found = re.match(
        handin.ZIP_NAME_REGEXP, f"/course/downloaded/{A}/extracted/{name[:-4]}/{A}.ipynb"
    )
    assert found and found["student_id"] == "j-doe" and found["file_id"] == f"{A}.ipynb"
    assert parse_utc(found["timestamp"]) == ON_TIME == handin.parse_timestamp(found["timestamp"])
    assert parse_utc("2026-11-20-09-58-12") != ON_TIME  # the old documented form: read as an offset


def test_export_names_in_every_command_line_form():
    from cs231n_grader.exporter import _names

    for given in (["[jdoe,asmith]"], ["jdoe,asmith"], ["jdoe", "asmith"], ["['jdoe', 'asmith']"]):
        assert _names(given) == ["jdoe", "asmith"], given


def test_percent_per_day_penalty():
    from cs231n_grader.course import PercentPerDayPenalty

    policy = PercentPerDayPenalty(percent_per_day=10.0)
    assert policy.late_submission_penalty("x", 80.0, 60) == pytest.approx(8.0)  # 1 started day
    assert policy.late_submission_penalty("x", 80.0, 26 * 3600) == pytest.approx(16.0)
    assert policy.late_submission_penalty("x", 80.0, 30 * 86400) == pytest.approx(
        80.0
    )  # at most all


# --- 1. the release, from a fresh clone -----------------------------------------------------------


def test_nbgrader_works_without_activating_the_venv(tmp_path):
    course = new_course(tmp_path)
    write_hw0(course)
    # nbgrader runs `alembic` from PATH to create the gradebook: the config makes the venv's found
    out = run(
        course,
        str(VENV_BIN / "nbgrader"),
        "generate_assignment",
        "hw0",
        env=activated_env(path="/usr/bin:/bin"),
    )
    assert (course / "assignment" / "hw0" / "hw0.ipynb").is_file()
    assert "not absolute" not in out


def test_a_failed_release_keeps_the_committed_one(tmp_path):
    course = new_course(tmp_path)
    released = course / "assignment" / A / f"{A}.ipynb"
    before = released.read_bytes()
    source = course / "solutions" / A / f"{A}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "### END SOLUTION" in c.source)
    cell.source = cell.source.replace("### END SOLUTION", "")  # an unclosed solution region
    nbformat.write(nb, str(source))
    out = run(course, sys.executable, "-m", "cs231n_grader.course", "release", A, check=False)
    assert "release failed" in out and "left as it was" in out
    assert released.read_bytes() == before
    assert not list(course.glob(".release-*"))


# --- 2. the worked example ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course(tmp_path_factory, cifar_full_dir):
    """The guide's example up to the export; returns (course, {step: output}). CIFAR-10 is there:
    without it the accuracy part is the grader's fault and autograde stops
    (cs231n_grader.faults)."""
    root = new_course(tmp_path_factory.mktemp("course"))
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(LATE_POLICY)
    env = activated_env(
        {"CS231N_DATA_DIR": str(cifar_full_dir), "CS231N_GRADER_SECRET": "test-course"}
    )
    out = {}

    def step(name, *args, check=True):
        out[name] = run(root, *args, env=env, check=check)
        return out[name]

    step("release", sys.executable, "-m", "cs231n_grader.course", "release", A)
    step("duedate", "nbgrader", "db", "assignment", "add", A, f"--duedate={DUE}")
    (root / "roster.csv").write_text(ROSTER)
    step("roster", "nbgrader", "db", "student", "import", "roster.csv")

    release_nb = root / "assignment" / A / f"{A}.ipynb"
    reference = next(s for s in samples.CLASS if s.student_id == "reference")
    solved = samples.student_notebook(release_nb, root / "solutions" / A / f"{A}.ipynb", reference)
    untouched = nbformat.read(str(release_nb), as_version=4)
    slipped = next(s for s in samples.CLASS if s.student_id == "loss_not_averaged")
    answered = samples.student_notebook(release_nb, root / "solutions" / A / f"{A}.ipynb", slipped)
    hand_in(root, "jdoe", solved, ON_TIME)
    hand_in(root, "asmith", answered, LATE)  # written answers too: awaiting manual grading
    hand_in(root, "bsmith", untouched, ON_TIME)  # not on the roster
    step("zip_collect", "nbgrader", "zip_collect", A, "--force")

    step("autograde_jdoe", "nbgrader", "autograde", A, "--student=jdoe")
    step("autograde", "nbgrader", "autograde", A)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # what formgrader does on a score
        for grade_id, points in MANUAL.items():
            grade = gb.find_grade(grade_id, A, A, "jdoe")
            grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()
    step("regrade", "nbgrader", "autograde", A, "--force", "--student=jdoe")

    write_hw0(root)
    step("release_hw0", sys.executable, "-m", "cs231n_grader.course", "release", "hw0")
    hw0 = root / "submitted" / "jdoe" / "hw0"
    hw0.mkdir(parents=True)
    done = nbformat.read(str(root / "assignment" / "hw0" / "hw0.ipynb"), as_version=4)
    done.cells[0].source = "def add(a, b):\n    return a + b\n"  # jdoe solves hw0
    nbformat.write(done, str(hw0 / "hw0.ipynb"))
    step("autograde_hw0", "nbgrader", "autograde", "hw0")

    step("feedback", "nbgrader", "generate_feedback", A)
    step("export", "nbgrader", "export", "--to", "grades.csv")
    return root, out


def test_zip_timestamps_are_read_as_utc(course):
    root, _ = course
    assert (
        (root / "submitted" / "jdoe" / A / "timestamp.txt")
        .read_text()
        .startswith("2026-11-20 09:58:12")
    )
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "jdoe").timestamp == ON_TIME
        assert gb.find_submission(A, "jdoe").total_seconds_late == 0
        assert gb.find_submission(A, "asmith").total_seconds_late == 26 * 3600


def test_zip_collect_warns_about_students_not_on_the_roster(course):
    _, out = course
    warned = problems(out["zip_collect"])  # and nothing else
    assert len(warned) == 1 and "not on the roster" in warned[0] and "'bsmith'" in warned[0]
    assert "nbgrader db student add bsmith" in warned[0]


def test_a_clean_autograde_logs_nothing_to_act_on(course):
    _, out = course
    assert "jdoe" in out["autograde_jdoe"] and problems(out["autograde_jdoe"]) == []
    # --force says what it replaces (asked for): nothing else
    assert [
        line for line in problems(out["regrade"]) if "Removing existing assignment" not in line
    ] == []
    assert problems(out["release"]) == [] and problems(out["export"]) == []


def test_regrading_keeps_manual_grades_done(course):
    root, _ = course
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for grade_id, points in MANUAL.items():
            grade = gb.find_grade(grade_id, A, A, "jdoe")
            assert (grade.score, grade.needs_manual_grade) == (points, False), grade_id
    rows = read_csv(root / "grades.csv")
    assert rows[(A, "jdoe")]["needs_manual_grading"] == "no"
    assert rows[(A, "asmith")]["needs_manual_grading"] == "yes"


def test_export_has_parts_late_penalty_and_both_assignments(course):
    root, _ = course
    rows = read_csv(root / "grades.csv")
    assert set(rows) == {(a, s) for a in (A, "hw0") for s in ("jdoe", "asmith", "bsmith")}
    jdoe = rows[(A, "jdoe")]
    auto = ["forward", "softmax_loss", "chain_rule_factors", "backward", "train", "predict"]
    assert [jdoe[p] for p in auto] == ["10", "10", "10", "20", "10", "5"] and jdoe[
        "accuracy"
    ] == "0"
    assert (jdoe["derivation"], jdoe["written"]) == ("8", "14")
    assert (jdoe["raw_total"], jdoe["late_penalty"], jdoe["total"]) == ("87", "0", "87")
    assert jdoe["timestamp"].startswith("2026-11-20 09:58:12") and jdoe["seconds_late"] == "0"
    asmith = rows[(A, "asmith")]
    assert asmith["seconds_late"] == str(26 * 3600) and asmith["derivation"] == "pending"
    cents = {"abs": 0.011}  # the CSV rounds to 2 decimals
    assert float(asmith["late_penalty"]) == pytest.approx(0.2 * float(asmith["raw_total"]), **cents)
    assert float(asmith["total"]) == pytest.approx(
        float(asmith["raw_total"]) - float(asmith["late_penalty"]), **cents
    )
    hw0 = rows[("hw0", "jdoe")]
    assert (hw0["forward"], hw0["derivation"], hw0["total"], hw0["max_total"]) == ("", "", "2", "2")
    assert rows[("hw0", "asmith")]["total"] == "0"


def test_late_penalty_matches_nbgraders_own_csv(course):
    root, _ = course
    run(
        root,
        "nbgrader",
        "export",
        "--exporter=nbgrader.plugins.CsvExportPlugin",
        "--to",
        "stock.csv",
    )
    with open(root / "stock.csv", newline="") as fh:
        stock = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
    for key, row in read_csv(root / "grades.csv").items():
        cents = {"abs": 0.006}  # the kit's CSV rounds to 2 decimals
        assert float(row["total"]) == pytest.approx(float(stock[key]["score"]), **cents), key
        assert float(row["late_penalty"]) == pytest.approx(
            float(stock[key]["late_submission_penalty"]), **cents
        ), key


@pytest.mark.parametrize(
    "args",
    [
        ["--assignment=[two_layer_net]", "--student=[jdoe,asmith]"],
        ["--assignment=two_layer_net", "--student=jdoe,asmith"],
        ['--assignment=["two_layer_net"]', '--student=["jdoe", "asmith"]'],
    ],
)
def test_export_filters_in_every_documented_form(course, args):
    root, _ = course
    run(root, "nbgrader", "export", "--to", "some.csv", *args)
    assert set(read_csv(root / "some.csv")) == {(A, "jdoe"), (A, "asmith")}


def test_export_names_what_exists_when_asked_for_something_else(course):
    root, _ = course
    out = run(root, "nbgrader", "export", "--assignment=[hw1]", check=False)
    assert "'hw1'" in out and "two_layer_net" in out and "--assignment=two_layer_net" in out
    out = run(root, "nbgrader", "export", "--student=[jdoe,nobody]", check=False)
    assert "'nobody'" in out and "nbgrader db student list" in out


def test_feedback_was_written_for_every_submission(course):
    root, _ = course
    for student in ("jdoe", "asmith", "bsmith"):
        assert (root / "feedback" / student / A / f"{A}.html").is_file()


def test_changing_points_after_grading_warns_and_says_how_to_regrade(course):
    root, _ = course
    source = root / "solutions" / A / f"{A}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q_dead_relu"
    )
    cell.metadata["nbgrader"]["points"] = 6
    nbformat.write(nb, str(source))
    out = run(root, sys.executable, "-m", "cs231n_grader.course", "release", A)
    warned = [line for line in problems(out) if "Points changed" in line]
    assert (
        warned
        and "q_dead_relu: 5 -> 6" in warned[0]
        and f"nbgrader autograde {A} --force" in warned[0]
    )
