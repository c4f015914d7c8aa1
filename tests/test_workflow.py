"""The instructor's cycle on the bundled class, for real: release, roster, folder + zip_collect,
sandboxed autograde, feedback, per-part export (cs231n_grader.demo runs nbgrader's CLI).

One module-scoped run of the whole cycle; the assertions below read its gradebook, CSV,
feedback HTML and autograded notebooks.
"""

from __future__ import annotations

import csv
import html
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cs231n_grader import demo, diagnose, samples
from cs231n_grader.exporter import PartsExporter
from cs231n_utils import handin

AUTO_PARTS = {
    "forward": 10,
    "softmax_loss": 10,
    "chain_rule_factors": 10,
    "backward": 20,
    "train": 10,
    "predict": 5,
    "accuracy": 10,
}
F, Z, P, L = "full", "zero", "partial", "lost"  # full points, none, strictly between, not full
ALL_FULL = {part: F for part in AUTO_PARTS}
SECRET = "test-workflow-secret"  # fixed grader secret: the same hidden cases on every run


def _row(**changes):
    return {**ALL_FULL, **changes}


# Expected autograded outcome per sample (the full CIFAR-10 stand-in, the secret above). Each
# mistake loses points in its own part only (L = not full; P or Z where the mistake shows on some
# secret cases only, or on all): the grader runs train() and predict() with stand-in helpers, so a
# wrong forward/backward never costs them points.
EXPECTED = {
    "reference": ALL_FULL,
    "own_helpers": ALL_FULL,  # helpers, constants and a training cell of its own: nothing lost
    "inplace_relu": _row(forward=P),  # exact S2 (most of each case), overwritten cache[1]
    "untouched": {part: Z for part in AUTO_PARTS},
    "forward_bias_forgotten": _row(forward=L),  # right where the biases are 0
    "forward_cache_order": _row(forward=P),  # S2 exact: 70 % of every case (issue 10: was Z)
    "loss_not_averaged": _row(softmax_loss=L),  # right for N = 1
    "reg_loss_missing": _row(softmax_loss=L),
    "reg_loss_factor": _row(softmax_loss=L),
    "reg_loss_biases": _row(softmax_loss=P),  # right where reg = 0 or the biases are 0
    "softmax_no_max_subtraction": _row(softmax_loss=P),  # wrong on large scores only
    "softmax_wrong_axis": _row(softmax_loss=Z),
    "chain_factor_transposed": _row(chain_rule_factors=Z),  # every case: the shapes differ
    "chain_mask_vector": _row(chain_rule_factors=Z),
    "chain_mask_dense": _row(chain_rule_factors=Z),
    "chain_no_one_hot": _row(chain_rule_factors=Z),
    "chain_contraction_order": _row(chain_rule_factors=Z),
    "chain_numeric": _row(chain_rule_factors=Z),  # numeric Jacobians earn nothing
    "grad_not_divided_by_N": _row(backward=L),  # right for N = 1
    "reg_grad_missing": _row(backward=L),
    "reg_grad_factor": _row(backward=L),
    "reg_grad_biases": _row(backward=P),  # right where reg = 0 or the biases are 0
    "backward_numeric": _row(backward=Z),  # calls forward()/softmax_loss(): earns nothing
    "relu_mask_missing": _row(backward=Z),
    "relu_wrong_inequality": _row(backward=P),  # wrong where S1 is exactly 0 only
    "bias_grad_wrong_axis": _row(backward=Z),
    "grad_wrong_sign": _row(backward=Z),
    "backward_bias_forgotten": _row(backward=Z),
    "train_params_not_in_place": _row(train=Z),
    "train_history_per_iteration": _row(train=Z),
    "train_sequential_batches": _row(train=Z),
    "train_shuffled_X_only": _row(train=Z),
    "train_choice_N_minus_1": _row(train=Z),
    "train_float_epoch": _row(train=Z),
    "train_val_counts": _row(train=Z),
    "predict_returns_scores": _row(predict=Z),
    "predict_wrong_axis": _row(predict=Z),
    "weak_net": _row(accuracy=Z),  # CS231n's default net, ~29 % validation
    "partial_net": _row(accuracy=P),  # ~41 % validation
    "kernel_dies": _row(train=Z),  # train() kills the process: the parts checked before it count
}


def matches(score: float, points: float, expected: str) -> bool:
    """Whether a part's score has the expected level."""
    if expected == L:
        return score < points
    return level(score, points) == expected


@pytest.fixture(scope="module")
def cycle(cifar_full_dir, tmp_path_factory):
    """The whole cycle in a scratch course; returns (course, exported rows)."""
    course = tmp_path_factory.mktemp("demo_course")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CS231N_GRADER_SECRET", SECRET)
        rows = demo.run_cycle(course)
        yield course, {row["student_id"]: row for row in rows}


def gradebook_scores(course: Path) -> dict:
    """{student: {grade_id: score}} read straight from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(demo.ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            out[student.id] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


def level(score: float, points: float) -> str:
    return F if score >= points else Z if score <= 0 else P


# --- the class ------------------------------------------------------------------------------


def test_class_has_one_sample_per_catalogued_mistake():
    sampled = [s.mistake_id for s in samples.CLASS if s.mistake_id]
    assert sorted(sampled) == sorted(m.id for m in diagnose.CATALOGUE)
    assert len(samples.CLASS) >= 8 and set(EXPECTED) == {s.student_id for s in samples.CLASS}


def test_an_edit_that_no_longer_applies_fails_loudly():
    edit = samples.Edit("backward", "dS1 = dX2 * (S1 > 0)", "dS1 = dX2")
    with pytest.raises(samples.SampleError, match="solution notebook changed"):
        samples.apply_edit("dS1 = dX2 * np.heaviside(S1, 0)", edit, "relu_mask_missing")


def test_best_hyperparameters_are_parsed_without_running_code(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "best_hyperparameters = dict(hidden_size=7, reg=0.5)\nimport os"
    )
    cell.metadata["tags"] = ["best-hyperparameters"]
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    assert samples.best_hyperparameters(tmp_path / "nb.ipynb") == {"hidden_size": 7, "reg": 0.5}


# --- the cycle --------------------------------------------------------------------------------


def test_every_sample_scores_as_expected_per_part(cycle):
    course, _ = cycle
    scores = gradebook_scores(course)
    wrong = {}
    for student, expected in EXPECTED.items():
        for part, points in AUTO_PARTS.items():
            score = scores[student][f"test_{part}"]
            if not matches(score, points, expected[part]):
                wrong.setdefault(student, {})[part] = (score, expected[part])
    assert not wrong, "(score, expected level) per student and part"


def test_reference_gets_every_autograded_point_and_untouched_none(cycle):
    course, rows = cycle
    assert sum(float(rows["reference"][p]) for p in AUTO_PARTS) == sum(AUTO_PARTS.values())
    assert float(rows["untouched"]["total"]) == 0
    assert rows["reference"]["needs_manual_grading"] == "yes"  # derivation + written answers


def test_csv_has_per_part_columns_matching_the_gradebook(cycle):
    course, rows = cycle
    with open(course / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == PartsExporter().columns()
    assert header[:4] == ["student_id", "last_name", "first_name", "email"]
    scores = gradebook_scores(course)
    for student, row in rows.items():
        if student == samples.ABSENT.student_id:
            continue
        s = scores[student]
        for part in AUTO_PARTS:
            assert float(row[part]) == pytest.approx(s[f"test_{part}"]), (student, part)
        answered = (
            samples.CLASS[[c.student_id for c in samples.CLASS].index(student)].code != "release"
        )
        # nobody graded by hand yet; unchanged answers are nbgrader's "No response" (0)
        assert row["derivation"] == row["written"] == ("pending" if answered else "0")
        # a release handed in unchanged has nothing to grade by hand (nbgrader: "No response", 0)
        assert row["needs_manual_grading"] == ("yes" if answered else "no")
        assert row["assignment"] == demo.ASSIGNMENT
        assert float(row["total"]) == pytest.approx(sum(s.values()))
        assert float(row["max_total"]) == 100 and row["late_penalty"] == "0"


def test_export_with_the_explicit_exporter_flag_gives_the_same_csv(cycle):
    course, _ = cycle
    out = course / "grades_explicit.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "export",
            "--to",
            str(out),
            "--exporter=cs231n_grader.exporter.PartsExporter",
        ],
        cwd=course,
        check=True,
        capture_output=True,
        env=demo.nbgrader_env(),
    )
    assert out.read_text() == (course / "grades.csv").read_text()


def test_roster_student_without_submission_exports_zeros(cycle):
    _, rows = cycle
    absent = rows[samples.ABSENT.student_id]
    assert absent["last_name"] == samples.ABSENT.last_name
    assert all(float(absent[p]) == 0 for p in list(AUTO_PARTS) + ["derivation", "written", "total"])
    assert len(rows) == len(samples.CLASS) + 1


def feedback_html(course: Path, student: str) -> str:
    path = course / "feedback" / student / demo.ASSIGNMENT / "two_layer_net.html"
    assert path.is_file(), f"no feedback for {student}"
    return path.read_text()


def visible_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_feedback_never_shows_hidden_tests(cycle):
    course, _ = cycle
    for student in EXPECTED:
        page = feedback_html(course, student)
        text = visible_text(page)
        assert "hidden_check" not in text and "BEGIN HIDDEN TESTS" not in text, student
        assert SECRET not in page


def verdicts(course: Path, student: str) -> dict:
    """part -> the sealed verdict SealedChecks stored in the autograded notebook."""
    path = course / "autograded" / student / demo.ASSIGNMENT / "two_layer_net.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    found = (c.metadata.get("cs231n", {}).get("verdict") for c in nb.cells)
    return {v["part"]: v for v in found if v}


def test_each_mistake_is_diagnosed_by_its_catalogue_id(cycle):
    course, _ = cycle
    for student in samples.CLASS:
        if student.mistake_id:
            part = diagnose.BY_ID[student.mistake_id].part
            diagnosis = verdicts(course, student.student_id)[part]["diagnosis"]
            assert diagnosis and diagnosis["id"] == student.mistake_id, student.student_id
    assert not any(v["diagnosis"] for v in verdicts(course, "reference").values())


def test_feedback_summary_names_the_diagnosis(cycle):
    course, _ = cycle
    for student in samples.CLASS:
        text = visible_text(feedback_html(course, student.student_id))
        assert "Grading summary" in text and "What was checked" in text
        summary = text[text.index("Grading summary") :]
        if student.mistake_id:
            message = diagnose.BY_ID[student.mistake_id].message
            part = diagnose.BY_ID[student.mistake_id].part
            scores = gradebook_scores(course)[student.student_id]
            if scores[f"test_{part}"] < AUTO_PARTS[part]:
                assert message in summary, (student.student_id, message)


def test_feedback_tracebacks_keep_only_the_students_frames(cycle):
    course, _ = cycle
    text = visible_text(feedback_html(course, "untouched"))
    assert "NotImplementedError" in text
    assert "Traceback (only your own code is shown)" in text
    assert "site-packages" not in text


def test_kernel_death_is_graded_with_a_reason(cycle):
    course, rows = cycle
    scores = gradebook_scores(course)["kernel_dies"]
    assert scores["test_forward"] == 10 and scores["test_accuracy"] == 10
    nb = nbformat.read(
        str(course / "autograded" / "kernel_dies" / demo.ASSIGNMENT / "two_layer_net.ipynb"),
        as_version=4,
    )
    outputs = " ".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs).lower()
    assert "died" in outputs or "dead" in outputs


def test_zip_collect_collected_part_of_the_class(cycle):
    course, _ = cycle
    zips = sorted((course / "downloaded" / demo.ASSIGNMENT / "archive").glob("*.zip"))
    assert len(zips) >= 4
    for z in zips:
        student = z.name.split("--")[1]
        folder = course / "submitted" / student / demo.ASSIGNMENT
        assert (folder / "two_layer_net.ipynb").is_file()
        stamp = z.name.split("--")[2][: -len(".zip")]  # 20261120T095912Z: UTC, read as such
        assert (
            (folder / "timestamp.txt")
            .read_text()
            .startswith(handin.parse_timestamp(stamp).isoformat(" "))
        )
        if samples.CLASS[[s.student_id for s in samples.CLASS].index(student)].net:
            assert (folder / "best_net.npz").is_file()


def test_score_table_shows_maxima_and_pending():
    row = {c: "10" for c in demo.PART_COLUMNS} | {"student_id": "jdoe", "derivation": "pending"}
    table = demo.score_table([row], {"forward": 10, "derivation": 20, "total": 100})
    head, line = table.splitlines()[:2]
    assert "fwd/10" in head and "deriv/20" in head and "total/100" in head
    assert "pending" in line and "awaits manual grading" in table


def test_a_second_run_redoes_only_what_changed(cycle, capsys):
    course, rows = cycle
    original = samples.student_notebook

    def edited(release_nb, solution_nb, student):  # "untouched" hands in a note this time
        nb = original(release_nb, solution_nb, student)
        if student.student_id == "untouched":
            # a fixed cell id: nbformat gives new cells random ones, a change on every run
            nb.cells.append(
                nbformat.v4.new_markdown_cell("I will do it next week.", id="late-note")
            )
        return nb

    def rerun() -> tuple[list, str]:
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CS231N_GRADER_SECRET", SECRET)
            mp.setattr(samples, "student_notebook", edited)
            again = demo.run_cycle(course)
        return again, capsys.readouterr().out

    again, said = rerun()
    assert "release: unchanged" in said
    assert f"1 changed submission(s) graded again, {len(samples.CLASS) - 1} unchanged kept" in said
    graded = (course / "logs" / "autograde.log").read_text()
    assert "/submitted/untouched/" in graded and "/submitted/reference/" not in graded
    assert {r["student_id"]: r for r in again} == rows
    again, said = rerun()
    assert f"0 changed submission(s) graded again, {len(samples.CLASS)} unchanged kept" in said
    assert "feedback: nothing regraded, kept" in said
    assert not (course / "logs" / "autograde.log").exists()  # nbgrader autograde did not run


def test_regrading_is_idempotent(cycle):
    course, _ = cycle
    before = gradebook_scores(course)
    again = ["relu_wrong_inequality", "kernel_dies"]  # a partial score and a dead kernel
    for student in again:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "autograde",
                demo.ASSIGNMENT,
                "--force",
                f"--student={student}",
            ],
            cwd=course,
            check=True,
            capture_output=True,
            env=demo.nbgrader_env(),
        )
    after = gradebook_scores(course)
    assert after == before


# --- feedback for a notebook graded with stock settings (hidden tests ran in the kernel) ---------

STOCK_SOLUTION = '''def f(x):
    """x + 1"""
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION
'''
STOCK_TESTS = {
    "test_value": """assert f(1) == 2, "f(1) should be 2"
### BEGIN HIDDEN TESTS
print("SECRET-PRINT-4242")
assert f(41) == 42, "SECRET-MESSAGE-777"
### END HIDDEN TESTS
""",
    "test_crash": """x = 3
### BEGIN HIDDEN TESTS
secret_input = "SECRET-INPUT-99"
f(secret_input)
### END HIDDEN TESTS
""",
}


def _stock_course(root: Path) -> None:
    """A one-notebook course with stock autograde and the kit's feedback settings."""
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor\n"
        "from nbgrader.preprocessors import GetGrades\n"
        "from cs231n_grader.feedback import FeedbackSummary, HideHiddenTests, TrimTracebacks\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, TrimTracebacks, "
        "FeedbackSummary, CSSHTMLHeaderPreprocessor]\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    sol = nbformat.v4.new_code_cell(STOCK_SOLUTION)
    sol.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "f",
        "schema_version": 3,
    }
    nb.cells = [sol]
    for grade_id, source in STOCK_TESTS.items():
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {
            "grade": True,
            "solution": False,
            "locked": True,
            "points": 2,
            "grade_id": grade_id,
            "schema_version": 3,
        }
        nb.cells.append(cell)
    (root / "source" / "ps").mkdir(parents=True)
    nbformat.write(nb, str(root / "source" / "ps" / "ps.ipynb"))


def test_feedback_is_safe_for_a_notebook_graded_with_stock_settings(tmp_path):
    _stock_course(tmp_path)

    def run(*args):
        subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            env=demo.nbgrader_env(),
        )

    run("generate_assignment", "ps")
    student = tmp_path / "submitted" / "alice" / "ps"
    student.mkdir(parents=True)
    nb = nbformat.read(str(tmp_path / "release" / "ps" / "ps.ipynb"), as_version=4)
    nb.cells[0].source = (
        'def f(x):\n    if isinstance(x, str):\n        raise TypeError("no strings")\n'
        "    return 2 if x == 1 else 0\n"
    )
    nbformat.write(nb, str(student / "ps.ipynb"))
    run("autograde", "ps")
    graded = (tmp_path / "autograded" / "alice" / "ps" / "ps.ipynb").read_text()
    assert "SECRET-PRINT-4242" in graded and "SECRET-MESSAGE-777" in graded  # stock leaks them
    run("generate_feedback", "ps")
    page = (tmp_path / "feedback" / "alice" / "ps" / "ps.html").read_text()
    text = visible_text(page)
    assert "SECRET" not in page and "BEGIN HIDDEN TESTS" not in text
    assert "Grading summary" in text and "test_value" not in text.split("Grading summary")[0]
    assert "TypeError: no strings" not in text  # raised under hidden code: message withheld
    assert "TypeError: raised while the grader's hidden tests ran your code" in text
    assert "----> 3" in text  # ... but the student's own frame (line 3 of their cell) is kept
    assert "only your own code is shown" in text
