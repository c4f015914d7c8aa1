"""The students' self-check (issue 13): practice cases from a public seed, judged and worded as the
grader judges them, on the code the grader runs.

Real parts: the committed data files, real notebooks (the release, the reference, the bundled
mistake students of cs231n_grader.samples), the grader's own scoring (score_part on the same
cases, through the runner's code path) as the yardstick.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n_grader import diagnose, samples, scoring, sealed, selfcheck_data
from cs231n_grader.cases import make_cases
from cs231n_grader.compare import HELPERS_IN_BACKWARD
from cs231n_grader.parts import CALLED_PARTS
from cs231n_utils import mistakes, selfcheck
from cs231n_utils.nbcells import exec_cells, graded_cells

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "two_layer_net" / "two_layer_net.ipynb"
RELEASE = REPO / "assignment" / "two_layer_net" / "two_layer_net.ipynb"
DATA_FILES = ("selfcheck.json", "selfcheck.npz")


def folder_with(tmp_path: Path, nb) -> Path:
    """A student's folder: the notebook ``nb`` (nbformat or path) saved beside the released data."""
    for name in DATA_FILES:
        shutil.copy(RELEASE.parent / name, tmp_path / name)
    path = tmp_path / selfcheck.NOTEBOOK
    if isinstance(nb, Path):
        shutil.copy(nb, path)
    else:
        nbformat.write(nb, str(path))
    return path


def test_data_files_in_sync_with_the_reference(ref):
    """The committed data (solutions/ and its release in assignment/) is what the release step
    computes now from the reference: run `python -m cs231n_grader.selfcheck_data` after a change."""
    manifest, arrays = selfcheck_data.build(ref)
    for folder in (SOLUTION.parent, RELEASE.parent):
        assert json.loads((folder / "selfcheck.json").read_text()) == manifest, folder
        with np.load(folder / "selfcheck.npz", allow_pickle=False) as npz:
            assert sorted(npz.files) == sorted(arrays), folder
            for k in npz.files:
                np.testing.assert_array_equal(npz[k], arrays[k], err_msg=f"{folder}: {k}")


def test_practice_cases_are_the_grader_kinds_but_not_its_inputs(ref):
    """Same generator, same kinds (N = 1, exact ReLU zeros, large scores); a public seed, so no
    practice input equals an input the grader draws from a secret."""
    practice = selfcheck_data.practice_cases(ref)
    for part, cases in practice.items():
        hidden = [c for c in make_cases(part, b"some course secret", ref) if c.kind != "toy"]
        assert [c.kind for c in cases] == [c.kind for c in hidden]
        for p, h in zip(cases, hidden, strict=True):
            for name in p.arrays:
                # labels and constant arrays (train's zero biases from init_params) may coincide
                if not name.startswith("y") and np.ptp(p.arrays[name]) > 0:
                    assert not np.array_equal(p.arrays[name], h.arrays[name]), (part, p.label, name)
    kinds = {c.kind for cases in practice.values() for c in cases}
    assert {"single_example", "zero_rows", "large_scores"} <= kinds


def test_the_reference_passes_every_case(tmp_path):
    path = folder_with(tmp_path, SOLUTION)
    for part in selfcheck.SELF_CHECKED:
        report = selfcheck.run_check(part, path)
        assert report.ok and report.total >= (2 if part == "train" else 5), report.text()
        assert report.diagnosis is None


def test_every_part_the_grader_calls_is_self_checked():
    assert set(selfcheck.SELF_CHECKED) == set(CALLED_PARTS) == set(selfcheck_data.PARTS)


def test_the_release_says_not_implemented(tmp_path):
    path = folder_with(tmp_path, RELEASE)
    for part in selfcheck.SELF_CHECKED:
        report = selfcheck.run_check(part, path)
        assert report.passed == 0 and report.total >= 2, report.text()
        assert f"raised NotImplementedError in your {part} cell, line" in report.text()
        assert "(not implemented yet)" in report.text()


def test_the_released_notebook_calls_the_self_check():
    """Each self-checked part has a cell calling check("<part>") after its public test."""
    nb = nbformat.read(str(RELEASE), as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    for part in selfcheck.SELF_CHECKED:
        assert any(f'check("{part}")' in s for s in sources), part


def graded_on_practice(part: str, nb, ref):
    """The grader's PartResult of ``nb`` on the practice cases (score_part, the runner's
    code path)."""
    cases = selfcheck_data.practice_cases(ref)[part]
    return scoring.score_part(
        part,
        cases,
        sealed.run_in_process(exec_cells(graded_cells(nb), errors={}), cases),
        ref,
        points=10,
    )


# every bundled student with a mistake in a self-checked part (not the one whose train() ends its
# own process: run in the student's kernel, the self-check would end with it, as the notebook does)
MISTAKES = [
    s
    for s in samples.CLASS
    if s.edits
    and getattr(s.edits[0], "grade_id", None) in selfcheck.SELF_CHECKED
    and not any("_exit" in getattr(e, "new", "") for e in s.edits)
]


@pytest.mark.parametrize("student", MISTAKES, ids=lambda s: s.student_id)
def test_same_verdict_words_and_diagnosis_as_the_grader(student, tmp_path, ref):
    """A bundled mistake student: the self-check's per-case lines are the grader's failures on the
    same practice cases (score_part through the runner's code path), and it names the grader's
    diagnosis, by the catalogue's short name (a diagnosis the grader finds beyond the catalogue,
    cs231n_grader.locate, needs the reference's code: the self-check names none)."""
    part = student.edits[0].grade_id
    nb = samples.student_notebook(RELEASE, SOLUTION, student)
    report = selfcheck.run_check(part, folder_with(tmp_path, nb))
    graded = graded_on_practice(part, nb, ref)
    crosses = [line[len("  ✗ ") :] for line in report.lines if line.startswith("  ✗ ")]
    assert crosses == graded.failures
    assert (report.passed, report.total) == (graded.passed, graded.total)
    assert graded.failures, f"{student.student_id}: the practice cases do not show this mistake"
    if graded.diagnosis and graded.diagnosis[0] in diagnose.BY_ID:
        assert report.diagnosis == diagnose.BY_ID[graded.diagnosis[0]].name
    else:
        assert report.diagnosis is None
    if student.mistake_id:
        assert graded.diagnosis[0] == student.mistake_id


#: a backward() through the kit's own numeric gradient helper (the sample student writes the loop)
NUMERIC_BY_HELPER = """\
    from cs231n_utils.gradient_check import eval_numerical_gradient
    loss = lambda _: softmax_loss(forward(X, params)[0], y, params, reg)[0]
    return {name: eval_numerical_gradient(loss, params[name]) for name in params}
"""


@pytest.mark.parametrize("how", ["own_loop", "gradient_check"])
def test_a_numeric_backward_earns_nothing_here_as_with_the_grader(how, tmp_path, ref):
    """backward() by centred differences of forward + softmax_loss (the sample student's loop, or
    cs231n_utils.gradient_check): right values on the toy case, but the self-check counts its
    helper calls as the grader does, gives the grader's verdict and says it earns no points."""
    student = next(s for s in samples.CLASS if s.mistake_id == "backward_numeric")
    nb = samples.student_notebook(RELEASE, SOLUTION, student)
    if how == "gradient_check":
        cell = next(
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "backward"
        )
        cell.source = cell.source.replace(samples.NUMERIC_BACKWARD, NUMERIC_BY_HELPER)
        assert "eval_numerical_gradient" in cell.source
    report = selfcheck.run_check("backward", folder_with(tmp_path, nb))
    graded = graded_on_practice("backward", nb, ref)
    assert report.passed == graded.passed == 0 and report.total == graded.total >= 5
    crosses = [line[len("  ✗ ") :] for line in report.lines if line.startswith("  ✗ ")]
    assert crosses == graded.failures and all(HELPERS_IN_BACKWARD in c for c in crosses)
    assert (
        report.diagnosis == diagnose.BY_ID["backward_numeric"].name
        and graded.diagnosis[0] == "backward_numeric"
    )
    assert "no points" in report.text()


def _edited(grade_id: str, old: str, new: str):
    nb = nbformat.read(str(SOLUTION), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    if (
        grade_id == "train"
    ):  # np.argmax(forward(X, params)[0], axis=1) in place of predict(X, params)
        cell.source = cell.source.replace(", params) ==", ", params)[0], axis=1) ==")
    return nb


@pytest.mark.parametrize(
    "part,old,new",
    [
        # train() that computes its accuracies without predict(): the grader compares it with the
        # reference that bypasses the stand-in predict too, and so does the self-check
        ("train", "predict(", "np.argmax(forward("),
        # predict() that computes the scores itself, without forward()
        (
            "predict",
            "S2, _ = forward(X, params)",
            "S2 = np.maximum(0, X @ params['W1'] + params['b1']) @ params['W2'] + params['b2']",
        ),
    ],
    ids=["train_own_val_accuracy", "predict_own_scores"],
)
def test_bypassing_a_stand_in_is_judged_as_the_grader_judges_it(part, old, new, tmp_path, ref):
    nb = _edited(part, old, new)
    report = selfcheck.run_check(part, folder_with(tmp_path, nb))
    graded = graded_on_practice(part, nb, ref)
    assert report.ok and (report.passed, report.total) == (graded.passed, graded.total), (
        report.text()
    )


def _with_cell(source: str, after: str, code: str):
    """The reference notebook with ``code`` as a new cell after solution cell ``after``, and the
    ReLU of backward written through a helper."""
    nb = nbformat.read(str(SOLUTION), as_version=4)
    index = next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after
    )
    nb.cells.insert(index, nbformat.v4.new_code_cell(code))
    cell = nb.cells[index + 1]
    assert "dS1 = dX2 * (S1 > 0)" in cell.source
    cell.source = cell.source.replace("dS1 = dX2 * (S1 > 0)", source)
    return nb


def test_a_helper_the_grader_cannot_see_is_reported_now(tmp_path):
    """A helper made by a call in its own cell is dropped by the grader's rule: NameError now,
    with what to do; the same helper written as a def is seen and passes."""
    hidden = _with_cell(
        "dS1 = relu_grad(S1) * dX2", "backward", "relu_grad = np.vectorize(lambda s: float(s > 0))"
    )
    report = selfcheck.run_check("backward", folder_with(tmp_path, hidden))
    assert report.passed == 0
    assert "raised NameError in your backward cell, line" in report.text()
    assert "define helpers that way" in report.text()
    (tmp_path / "ok").mkdir()
    seen = _with_cell(
        "dS1 = relu_grad(S1) * dX2",
        "backward",
        "def relu_grad(S):\n    return (S > 0).astype(float)\n",
    )
    assert selfcheck.run_check("backward", folder_with(tmp_path / "ok", seen)).ok


def test_missing_data_says_what_to_do(tmp_path):
    shutil.copy(RELEASE, tmp_path / selfcheck.NOTEBOOK)
    report = selfcheck.run_check("forward", tmp_path / selfcheck.NOTEBOOK)
    assert report.total == 0 and "Keep selfcheck.npz and selfcheck.json" in report.text()


def test_the_data_holds_numbers_and_names_never_code_or_diagnosis_text():
    """selfcheck.npz: plain numeric arrays only; selfcheck.json: labels, ids, output names, the
    mistakes' short names and the names of the rules (functions of the students' own
    cs231n_utils.mistakes). The catalogue's messages (which state the formulas) stay with the
    grader; tests/test_leak.py checks that no name gives a formula away."""
    with np.load(RELEASE.parent / "selfcheck.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype.kind in "fiu" for k in npz.files)
    text = (RELEASE.parent / "selfcheck.json").read_text()
    for mistake in diagnose.CATALOGUE:
        assert mistake.message not in text
    manifest = json.loads(text)
    assert set(manifest) == {"seed", "parts", "mistakes", "diagnoses"}
    assert manifest["mistakes"] == {
        m.id: m.name for m in diagnose.CATALOGUE if m.part in selfcheck.SELF_CHECKED
    }
    for part, order in manifest["diagnoses"].items():
        assert [i for i, _ in order] == [m.id for m in diagnose.CATALOGUE if m.part == part]
        assert all(
            rule is None or getattr(mistakes, rule) is diagnose.BY_ID[i].rule for i, rule in order
        )


def test_the_chain_rule_part_is_self_checked_in_its_own_words(tmp_path):
    """check("chain_rule_factors"): practice examples of the grader's kinds, a wrong factor named by
    its key and its shape in symbols, factors made with eval_numerical_jacobian refused as the
    grader refuses them, a transposed factor named from the release-time variants."""
    manifest = json.loads((RELEASE.parent / "selfcheck.json").read_text())
    kinds = [c["kind"] for c in manifest["parts"]["chain_rule_factors"]]
    assert kinds == ["random", "random", "random", "relu_zeros", "confident"]
    nb = nbformat.read(str(SOLUTION), as_version=4)
    cell = next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "chain_rule_factors"
    )
    source = samples.strip_markers(cell.source)
    assert '"ds1_dW1": ds1_dW1,' in source
    cell.source = source.replace('"ds1_dW1": ds1_dW1,', '"ds1_dW1": ds1_dW1.transpose(1, 0, 2),')
    report = selfcheck.run_check("chain_rule_factors", folder_with(tmp_path, nb))
    assert report.passed == 0 and report.total == 5
    assert "factors['ds1_dW1'] (∂s1/∂W1): wrong shape, expected (H, D, H)" in report.text()
    assert report.diagnosis == diagnose.BY_ID["chain_factor_transposed"].name
    released = selfcheck.run_check("chain_rule_factors", folder_with(tmp_path, RELEASE))
    assert (
        released.passed == 0
        and "raised NotImplementedError in your chain_rule_factors cell" in released.text()
    )
