"""Reference loader, secret cases, scoring and diagnoses
(cs231n_grader.reference/secret/cases/scoring/diagnose).

Every mistake of the catalogue is made by a small source edit of the reference solution cell
(loaded from the solution notebook, never copied), run in the real sandbox through the sealed
runner, and must be diagnosed with its id.
"""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest

from cs231n_grader import diagnose, samples
from cs231n_grader.accuracy import accuracy_score
from cs231n_grader.cases import make_cases, toy_problem
from cs231n_grader.compare import as_plain_float_array, reference_outputs
from cs231n_grader.parts import CALLED_PARTS, DEFAULT_POINTS
from cs231n_grader.reference import (
    PARTS,
    CodeCell,
    code_for_parts,
    default_notebook,
    exec_cells,
    load_reference,
    solution_cells,
    strip_magics,
)
from cs231n_grader.scoring import part_score, score_part
from cs231n_grader.sealed import run_sealed
from cs231n_grader.secret import SECRET_ENV, SECRET_FILE, grader_secret

SECRET = b"test-secret-for-diagnoses"

# mistake id -> (part, [(exact text in the reference cell, replacement)]): the edits of the bundled
# class (cs231n_grader.samples.CLASS, one student per catalogued mistake), so the diagnoses are
# tested here on exactly the student-like code the demo and the workflow tests grade
EDITS = {
    s.mistake_id: (s.edits[0].grade_id, [(e.old, e.new) for e in s.edits])
    for s in samples.CLASS
    if s.mistake_id
}
assert all(
    {e.grade_id for e in s.edits} == {EDITS[s.mistake_id][0]} for s in samples.CLASS if s.mistake_id
)
# mistakes that only show on some secret cases: (passed, total) expected
PARTIAL = {"relu_wrong_inequality": (5, 6), "softmax_no_max_subtraction": (6, 7)}


def test_a_bundled_submission_is_the_same_bytes_on_every_build():
    """Cells a sample adds get fixed ids: a re-run of the demo sees the class unchanged and
    regrades nothing (nbformat gives a new cell a random id)."""
    release = default_notebook().parents[2] / "assignment" / "two_layer_net" / "two_layer_net.ipynb"
    with_new_cells = [
        s for s in samples.CLASS if any(isinstance(e, samples.NewCell) for e in s.edits)
    ]
    assert with_new_cells
    for student in with_new_cells:
        first, second = (
            samples.student_notebook(release, default_notebook(), student) for _ in range(2)
        )
        assert first == second, student.student_id


@pytest.fixture(scope="module")
def reference_cells():
    return solution_cells(default_notebook())


def edited_cells(cells: list[CodeCell], part: str, edits) -> list[CodeCell]:
    """The reference cells with ``edits`` applied to the ``part`` cell (each must apply once)."""
    out = []
    for cell in cells:
        source = cell.source
        if cell.key == part:  # as samples.student_notebook does: markers out, then each edit once
            source = samples.strip_markers(source)
            for old, new in edits:
                source = samples.apply_edit(source, samples.Edit(part, old, new), "test")
        out.append(CodeCell(cell.key, source))
    return out


# --- the reference --------------------------------------------------------------------------------
def test_reference_reproduces_cs231n_toy_numbers(ref):
    X, y, params, reg = toy_problem()
    correct_scores = np.asarray(
        [
            [-0.81233741, -1.27654624, -0.70335995],
            [-0.17129677, -1.18803311, -0.47310444],
            [-0.51590475, -1.01354314, -0.8504215],
            [-0.15419291, -0.48629638, -0.52901952],
            [-0.00618733, -0.12435261, -0.15226949],
        ]
    )
    S2, cache = ref.forward(X, params)
    assert np.sum(np.abs(S2 - correct_scores)) < 1e-7
    loss, P = ref.softmax_loss(S2, y, params, reg)
    assert isinstance(loss, float) and abs(loss - 1.30378789133) < 1e-10
    assert np.allclose(P.sum(axis=1), 1.0)
    # the toy parameters are exactly the notebook's init_params(4, 10, 3, std=0.1, seed=0)
    for name, value in ref.init_params(4, 10, 3, std=1e-1, seed=0).items():
        assert np.array_equal(value, params[name])


def test_reference_gradients_match_numeric_gradients(ref):
    X, y, params, reg = toy_problem()
    _, grads = ref.loss_and_grads(X, y, params, reg)
    for name in ("W1", "b1", "W2", "b2"):
        numeric = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            old = params[name][idx]
            params[name][idx] = old + 1e-5
            plus = ref.loss_and_grads(X, y, params, reg)[0]
            params[name][idx] = old - 1e-5
            minus = ref.loss_and_grads(X, y, params, reg)[0]
            params[name][idx] = old
            numeric[idx] = (plus - minus) / 2e-5
        assert (
            np.max(
                np.abs(numeric - grads[name])
                / np.maximum(1e-8, np.abs(numeric) + np.abs(grads[name]))
            )
            < 1e-7
        )


def test_reference_is_cached_per_mtime_and_missing_notebook_says_what_to_do(tmp_path, ref):
    assert load_reference() is ref
    with pytest.raises(FileNotFoundError, match="solutions/two_layer_net"):
        load_reference(tmp_path / "nope.ipynb")


def test_solution_cells_are_api_plus_the_five_parts_with_magics_stripped():
    keys = list(code_for_parts(default_notebook()))
    assert [k for k in keys if not k.startswith("api:")] == list(PARTS)
    assert any(k.startswith("api:") for k in keys)
    assert strip_magics("%matplotlib inline\nx = 1\n  !ls\n") == "\nx = 1\n\n"
    errors = {}
    ns = exec_cells(
        [
            CodeCell("forward", "def forward(X, p):\n    return X\n"),
            CodeCell("softmax_loss", "1/0\n"),
        ],
        errors=errors,
    )
    assert callable(ns["forward"]) and isinstance(errors["softmax_loss"], ZeroDivisionError)


# --- secret and cases ----------------------------------------------------------------------------
def test_secret_file_is_created_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    first = grader_secret(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode)
    assert mode == 0o600 and len(first) >= 32
    assert grader_secret(tmp_path) == first
    monkeypatch.setenv(SECRET_ENV, "from-env")
    assert grader_secret(tmp_path) == b"from-env"


def test_cases_are_deterministic_secret_dependent_and_shaped_to_catch_axis_mistakes(ref):
    for part in CALLED_PARTS:
        a, b = make_cases(part, SECRET, ref), make_cases(part, SECRET, ref)
        c = make_cases(part, b"another secret", ref)
        assert [x.id for x in a] == [x.id for x in b]
        for x, y in zip(a, b, strict=True):
            assert all(np.array_equal(x.arrays[k], y.arrays[k]) for k in x.arrays)
        differ = [
            any(
                not np.array_equal(x.arrays[k], z.arrays[k])
                for k in x.arrays
                if x.arrays[k].shape == z.arrays[k].shape
            )
            or any(x.arrays[k].shape != z.arrays[k].shape for k in x.arrays)
            for x, z in zip(a, c, strict=True)
            if x.kind != "toy"
        ]
        assert all(differ), f"{part}: a different secret must give different hidden inputs"
    kinds = {
        c.kind for p in ("forward", "softmax_loss", "backward") for c in make_cases(p, SECRET, ref)
    }
    assert {"toy", "random", "single_example", "zero_rows", "large_scores"} <= kinds
    for case in make_cases("backward", SECRET, ref):
        N, D = case.arrays["X"].shape
        H, C = case.arrays["W2"].shape
        if case.kind in ("random", "zero_rows"):
            assert len({N, D, H, C}) == 4
        if case.kind == "zero_rows":
            assert np.any(case.arrays["S1"] == 0) and not np.any(case.arrays["b1"])
    large = [c for c in make_cases("softmax_loss", SECRET, ref) if c.kind == "large_scores"][0]
    assert np.min(np.abs(large.arrays["S2"])) > 500
    with np.errstate(over="ignore"):
        assert not np.all(np.isfinite(np.exp(large.arrays["S2"])))  # naive softmax overflows here


def test_scores_are_partial_rounded_and_capped():
    assert part_score(10, 5, 6) == 8.33
    assert part_score(20, 6, 6) == 20
    assert part_score(10, 0, 6) == 0
    assert part_score(10, 7, 6) == 10  # never above the cell's points
    assert accuracy_score(0.48, 10) == 10 and accuracy_score(0.9, 10) == 10
    assert accuracy_score(0.35, 10) == 0 and accuracy_score(0.1, 10) == 0
    assert accuracy_score(0.415, 10) == 5.0


def test_coercion_rejects_non_plain_arrays():
    assert as_plain_float_array(np.array([object()], dtype=object)) is None
    assert as_plain_float_array(np.zeros(3, dtype=[("a", "f8")])) is None
    assert (
        as_plain_float_array(np.zeros(3).view(np.matrix)) is None
    )  # subclasses never reach the comparison
    assert as_plain_float_array(np.arange(3)).dtype == np.float64


# --- diagnoses -----------------------------------------------------------------------------------
def test_every_catalogued_mistake_has_a_student_like_edit():
    assert set(EDITS) == {m.id for m in diagnose.CATALOGUE}
    for entry in diagnose.catalogue():
        assert entry["part"] in PARTS and len(entry["message"]) > 30
        assert (
            10 < len(entry["name"]) < len(entry["message"])
        )  # a short name (tests/test_leak.py: no formula)
    assert len({m.id for m in diagnose.CATALOGUE}) == len(diagnose.CATALOGUE)


@pytest.fixture(scope="module")
def sealed_cases(ref):
    return {part: make_cases(part, SECRET, ref) for part in CALLED_PARTS}


def grade_in_sandbox(cells, cases, ref, part):
    results, _ = run_sealed(cells, cases)
    return score_part(part, cases, results, ref, DEFAULT_POINTS[part])


def test_reference_cells_earn_full_marks_in_the_sandbox(reference_cells, sealed_cases, ref):
    cases = [c for part in CALLED_PARTS for c in sealed_cases[part]]
    results, cell_errors = run_sealed(reference_cells, cases)
    assert cell_errors == {}
    for part in CALLED_PARTS:
        res = score_part(part, sealed_cases[part], results, ref, DEFAULT_POINTS[part])
        assert (res.score, res.diagnosis, res.failures) == (DEFAULT_POINTS[part], None, [])


@pytest.mark.parametrize("mistake_id", sorted(EDITS))
def test_mistake_is_diagnosed_by_id(mistake_id, reference_cells, sealed_cases, ref):
    part, edits = EDITS[mistake_id]
    res = grade_in_sandbox(
        edited_cells(reference_cells, part, edits), sealed_cases[part], ref, part
    )
    assert res.diagnosis is not None, f"{mistake_id} not diagnosed; failures: {res.failures}"
    assert res.diagnosis == (mistake_id, diagnose.BY_ID[mistake_id].message)
    passed, total = PARTIAL.get(mistake_id, (None, len(sealed_cases[part])))
    assert res.total == total
    if passed is not None:
        assert res.passed == passed
    else:
        assert res.passed <= total // 3 + 1  # the mistake shows on (almost) every case
    if mistake_id == "forward_cache_order":  # S2 exact on every case, the cache swapped: S2's share
        assert res.score == 0.7 * res.max_points
    else:
        assert res.score == part_score(DEFAULT_POINTS[part], res.passed, res.total) < res.max_points
    # what the student reads never holds hidden values: no long decimals, no arrays
    shown = res.summary() + " ".join(res.failures)
    assert not re.search(r"\d\.\d{3,}|\[\s*-?\d+\.", shown), shown


def test_diagnose_returns_none_for_correct_outputs(sealed_cases, ref):
    for part, cases in sealed_cases.items():
        for case in cases:
            assert diagnose.diagnose(part, case, reference_outputs(case, ref), ref) is None


# --- train and predict are graded on their own ---------------------------------------------------
def test_train_and_predict_do_not_depend_on_the_other_parts(reference_cells, sealed_cases, ref):
    """A wrong forward/backward costs nothing in train/predict (they run with stand-in helpers);
    a train or predict that computes everything itself, bypassing the helpers, still gets full
    marks; a train that never decays the learning rate does not."""
    broken = edited_cells(reference_cells, "backward", EDITS["grad_wrong_sign"][1])
    broken = edited_cells(broken, "forward", EDITS["forward_bias_forgotten"][1])
    cases = sealed_cases["train"] + sealed_cases["predict"]
    results, _ = run_sealed(broken, cases)
    for part in ("train", "predict"):
        res = score_part(part, sealed_cases[part], results, ref, DEFAULT_POINTS[part])
        assert res.score == DEFAULT_POINTS[part], res.failures
    inline = edited_cells(
        reference_cells,
        "train",
        [
            (
                "loss, grads = loss_and_grads(X_batch, y_batch, params, reg)\n",
                "S2, cache = forward(X_batch, params)\n"
                "        loss, P = softmax_loss(S2, y_batch, params, reg)\n"
                "        grads = backward(P, y_batch, cache, params, reg)\n",
            )
        ],
    )
    inline = edited_cells(
        inline,
        "predict",
        [
            (
                "    S2, _ = forward(X, params)\n",
                "    S2 = np.maximum(0, X @ params['W1'] + params['b1']) @ params['W2'] + "
                "params['b2']\n",
            )
        ],
    )
    no_decay = edited_cells(
        reference_cells, "train", [("            learning_rate *= learning_rate_decay\n", "")]
    )
    for cells, expected in ((inline, DEFAULT_POINTS["train"]), (no_decay, 0)):
        res = grade_in_sandbox(cells, sealed_cases["train"], ref, "train")
        assert res.score == expected, res.failures
    res = grade_in_sandbox(inline, sealed_cases["predict"], ref, "predict")
    assert res.score == DEFAULT_POINTS["predict"], res.failures
