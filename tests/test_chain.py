"""The per-example chain-rule part (issue 14): the reference's factors, the secret cases, scoring
and feedback of the sealed check (cs231n_utils.chain, cs231n_grader.chain_check).

The reference is the solution notebook's ``chain_rule_factors`` (conftest's ``ref``); its factors
are checked here against numeric Jacobians and its gradients against the batched ``backward``.
The catalogued mistakes are made by the bundled class's edits and graded in the real sandbox by
tests/test_diagnose.py (``test_mistake_is_diagnosed_by_id``); here they are graded in-process.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from cs231n_grader import diagnose, samples
from cs231n_grader.cases import make_cases
from cs231n_grader.compare import reference_outputs
from cs231n_grader.reference import CodeCell, default_notebook, exec_cells, solution_cells
from cs231n_grader.scoring import score_part
from cs231n_grader.sealed import run_in_process
from cs231n_utils import chain
from cs231n_utils.gradient_check import eval_numerical_jacobian, rel_error

SECRET = b"test-secret-for-the-chain-rule"
PART = chain.PART
CHAIN_STUDENTS = [s for s in samples.CLASS if s.mistake_id and s.edits[0].grade_id == PART]


@pytest.fixture(scope="module")
def cases(ref):
    return make_cases(PART, SECRET, ref)


def params_of(case) -> dict[str, np.ndarray]:
    return {k: case.arrays[k].copy() for k in ("W1", "b1", "W2", "b2")}


def grade(cells, cases, ref):
    """Score the part from ``cells`` run in this process (the runner's own code path)."""
    return score_part(PART, cases, run_in_process(exec_cells(cells), cases), ref, 10)


def test_the_contract_names_every_key_with_its_shape():
    assert tuple(chain.OUTPUTS) == chain.FACTORS + chain.GRADIENTS
    assert chain.SHAPES["ds1_dW1"] == "(H, D, H)" and chain.SHAPES["ds2_dW2"] == "(C, H, C)"
    assert diagnose.catalogue(PART) and {m["id"] for m in diagnose.catalogue(PART)} == {
        "chain_numeric",
        "chain_factor_transposed",
        "chain_mask_vector",
        "chain_mask_dense",
        "chain_no_one_hot",
        "chain_contraction_order",
    }


def close(got: np.ndarray, numeric: np.ndarray) -> bool:
    """Same shape, and the largest difference is tiny next to the largest entry."""
    return got.shape == numeric.shape and np.max(np.abs(got - numeric)) <= 1e-6 * np.max(
        np.abs(numeric)
    )


def check_factors(case, ref) -> None:
    """The reference's factors on one case against numeric Jacobians of the forward equations."""
    x, y, p = case.arrays["x"].copy(), int(case.arrays["y"]), params_of(case)
    got = reference_outputs(case, ref)
    s1 = x @ p["W1"] + p["b1"]
    x2 = np.maximum(0, s1)
    s2 = x2 @ p["W2"] + p["b2"]
    H, C = p["W2"].shape
    assert close(
        got["dL_ds2"],
        eval_numerical_jacobian(
            lambda s: ref.softmax_loss(s[None, :], np.array([y]), p, 0.0)[0], s2.copy()
        ),
    )
    assert close(got["ds2_dx2"], eval_numerical_jacobian(lambda v: v @ p["W2"], x2.copy()))
    assert close(got["ds1_dW1"], eval_numerical_jacobian(lambda W: x @ W, p["W1"].copy()))
    assert close(got["ds2_dW2"], eval_numerical_jacobian(lambda W: x2 @ W, p["W2"].copy()))
    # the ReLU's Jacobian is diagonal; at s1 = 0 exactly its entry is 0 (max(0, s1) is flat there)
    mask = got["dx2_ds1"]
    assert mask.shape == (H, H) and not np.any(mask[~np.eye(H, dtype=bool)])
    assert np.array_equal(np.diag(mask), (s1 > 0).astype(float))
    assert got["dL_ds2"].shape == (C,)


def test_reference_factors_are_the_numeric_jacobians(ref, cases):
    """Each factor of the reference, with its documented index order, on every secret case."""
    for case in cases:
        check_factors(case, ref)


def test_reference_gradients_averaged_are_backward(ref, cases):
    """The per-example gradients are backward's at N = 1, reg = 0; their mean over a minibatch plus
    the regularisation term is backward's on the minibatch (the notebook's link cell)."""
    for case in cases:
        x, y, p = case.arrays["x"], int(case.arrays["y"]), params_of(case)
        S2, cache = ref.forward(x[None, :], p)
        _, P = ref.softmax_loss(S2, np.array([y]), p, 0.0)
        grads = ref.backward(P, np.array([y]), cache, p, 0.0)
        got = reference_outputs(case, ref)
        for k in ("W1", "b1", "W2", "b2"):
            assert np.allclose(got["d" + k], grads[k], rtol=1e-10, atol=1e-14), (case.label, k)
    case, reg = (
        make_cases("backward", SECRET, ref)[1],
        0.3,
    )  # a random minibatch of backward's cases
    X, y, p = case.arrays["X"], case.arrays["y"], params_of(case)
    per_example = [ref.chain_rule_factors(X[i], int(y[i]), p) for i in range(len(X))]
    _, grads = ref.loss_and_grads(X, y, p, reg)
    for k in ("W1", "b1", "W2", "b2"):
        reg_grad = (
            eval_numerical_jacobian(lambda W: reg * np.sum(W**2), p[k].copy()) if k[0] == "W" else 0
        )
        mean = np.mean([f["d" + k] for f in per_example], axis=0)
        assert rel_error(mean + reg_grad, grads[k]) < 1e-7, k


def test_secret_cases_cover_shapes_relu_zeros_and_a_confident_label(ref, cases):
    kinds = [c.kind for c in cases]
    assert kinds == ["toy", "random", "random", "random", "relu_zeros", "confident"]
    dims = set()
    for case in cases:
        D, H = case.arrays["W1"].shape
        C = case.arrays["W2"].shape[1]
        assert (
            case.arrays["x"].shape == (D,)
            and case.arrays["y"].shape == ()
            and 0 <= case.arrays["y"] < C
        )
        assert len({D, H, C}) == 3, "distinct D, H, C: a transposed factor shows as a wrong shape"
        dims.add((D, H, C))
        p = params_of(case)
        s1 = case.arrays["x"] @ p["W1"] + p["b1"]
        s2 = np.maximum(0, s1) @ p["W2"] + p["b2"]
        prob = np.exp(s2 - s2.max()) / np.exp(s2 - s2.max()).sum()
        if case.kind == "relu_zeros":
            assert np.sum(s1 == 0) >= 2 and np.any(s1 > 0)
        if case.kind == "confident":
            assert 1 - 1e-4 < prob[int(case.arrays["y"])] < 1
    assert len(dims) >= 4, "hidden cases have other shapes than the toy model"
    again, other = make_cases(PART, SECRET, ref), make_cases(PART, b"another secret", ref)
    assert all(
        np.array_equal(a.arrays["x"], b.arrays["x"]) for a, b in zip(cases, again, strict=True)
    )
    assert not any(
        a.arrays["x"].shape == b.arrays["x"].shape and np.array_equal(a.arrays["x"], b.arrays["x"])
        for a, b in zip(cases[1:], other[1:], strict=True)
    )


def test_reference_cells_earn_full_marks(ref, cases):
    res = grade(solution_cells(default_notebook()), cases, ref)
    assert (res.score, res.passed, res.failures, res.diagnosis) == (10, 6, [], None)


@pytest.mark.parametrize("student", CHAIN_STUDENTS, ids=[s.student_id for s in CHAIN_STUDENTS])
def test_each_bundled_mistake_is_diagnosed_and_scores_zero(student, ref, cases):
    """The bundled class's edit of the reference cell (one sample per catalogued mistake): every
    case fails (the mistake shows whatever the example), the diagnosis names it, and what the
    student reads names the key and its symbolic shape, never a hidden value."""
    cells = []
    for cell in solution_cells(default_notebook()):
        source = cell.source
        if cell.key == PART:
            source = samples.strip_markers(source)
            for edit in student.edits:
                source = samples.apply_edit(source, edit, student.student_id)
        cells.append(CodeCell(cell.key, source))
    res = grade(cells, cases, ref)
    assert res.diagnosis == (student.mistake_id, diagnose.BY_ID[student.mistake_id].message)
    assert (res.score, res.passed, res.total) == (0, 0, 6)
    shown = res.summary() + " ".join(res.failures)
    assert "factors" in shown and not re.search(r"\d\.\d{3,}|\[\s*-?\d+\.", shown), shown
    assert not re.search(r"\(\d+, \d+", shown), (
        "shapes are given in symbols, never the case's numbers"
    )


def test_wrong_shape_names_the_factor_in_symbols(ref, cases):
    """A student who returns ds1_dW1 in W1's index order first (D, H, H) reads its name and
    (H, D, H); the hard-coded toy answers earn nothing (the public-only rule)."""
    source = samples.strip_markers(
        next(c.source for c in solution_cells(default_notebook()) if c.key == PART)
    )
    source = source.replace('"ds1_dW1": ds1_dW1,', '"ds1_dW1": ds1_dW1.transpose(1, 0, 2),')
    cells = [
        c if c.key != PART else CodeCell(PART, source) for c in solution_cells(default_notebook())
    ]
    res = grade(cells, cases, ref)
    assert res.score == 0 and res.diagnosis[0] == "chain_factor_transposed"
    assert "factors['ds1_dW1'] (∂s1/∂W1): wrong shape, expected (H, D, H)" in res.failures[0]
    toy = reference_outputs(cases[0], ref)
    stub = (
        "def chain_rule_factors(x, y, params):\n"
        "    return {k: np.array(v) for k, v in TOY.items()}\n"
    )
    namespace = exec_cells([CodeCell(PART, stub)], {"np": np, "TOY": toy})
    res = score_part(PART, cases, run_in_process(namespace, cases), ref, 10)
    assert res.score == 0 and res.passed == 0 and "public toy example" in res.note


NUMERIC_STUDENT = """
from cs231n_utils.gradient_check import eval_numerical_jacobian as numeric  # an alias


def chain_rule_factors(x, y, params):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    x = np.array(x, dtype=float)
    s1 = x @ W1 + b1
    x2 = np.maximum(0, s1)

    def loss(s2):
        return -(s2[y] - s2.max() - np.log(np.exp(s2 - s2.max()).sum()))
    s2 = x2 @ W2 + b2
    J = numeric
    out = {"dL_ds2": J(loss, s2.copy()), "ds2_dx2": J(lambda v: v @ W2 + b2, x2.copy()),
           "dx2_ds1": J(lambda v: np.maximum(0, v), s1.copy()),
           "ds1_dW1": J(lambda W: x @ W + b1, W1.copy()),
           "ds2_dW2": J(lambda W: x2 @ W + b2, W2.copy())}
    out["db2"] = out["dL_ds2"]
    out["db1"] = out["dL_ds2"] @ out["ds2_dx2"] @ out["dx2_ds1"]
    out["dW2"] = np.tensordot(out["dL_ds2"], out["ds2_dW2"], axes=1)
    out["dW1"] = np.tensordot(out["db1"], out["ds1_dW1"], axes=1)
    return out
"""


def test_factors_made_by_numeric_differentiation_earn_nothing(ref, cases):
    """A chain_rule_factors that builds its factors with the kit's eval_numerical_jacobian (under
    another name) is close to the reference on every case but the kink at s1 = 0; it earns nothing,
    the feedback says why, and the helpers are themselves again afterwards."""
    from cs231n_utils import gradient_check

    original = gradient_check.eval_numerical_jacobian
    res = grade([CodeCell(PART, NUMERIC_STUDENT)], cases, ref)
    assert (res.score, res.passed) == (0, 0)
    assert res.diagnosis[0] == "chain_numeric"
    assert all(chain.NUMERIC_REASON in f for f in res.failures)
    assert gradient_check.eval_numerical_jacobian is original and sys.getprofile() is None
    # the same code with the record of its calls hidden from the comparison is right on 5 of 6
    # cases: only the record stands between numeric Jacobians and the points
    outcomes = run_in_process(exec_cells([CodeCell(PART, NUMERIC_STUDENT)]), cases)
    right = 0
    for case in cases:
        got = {**outcomes[case.id].outputs, chain.NUMERIC_CALLS: np.array(0.0)}
        exp = reference_outputs(case, ref)
        right += all(np.allclose(got[k], exp[k], rtol=1e-5, atol=1e-8) for k in chain.OUTPUTS)
    assert right == 5


def test_a_mistake_outside_the_catalogue_is_located_at_the_first_wrong_output(ref, cases):
    """No catalogued mistake: the feedback names the first wrong output in the order of the chain
    and where to look (cs231n_grader.locate), never a value."""
    source = samples.strip_markers(
        next(c.source for c in solution_cells(default_notebook()) if c.key == PART)
    )
    assert '"db1": dL_ds1,' in source
    cells = [CodeCell(PART, source.replace('"db1": dL_ds1,', '"db1": 2 * dL_ds1,'))]
    res = grade(cells, cases, ref)
    assert res.score == 0 and res.diagnosis[0] == "located_db1"
    assert res.diagnosis[1].startswith("factors['db1'] (∂L/∂b1) is wrong (while factors['dL_ds2']")
    assert "look at the chaining of ∂L/∂s2 through ∂s2/∂x2 and ∂x2/∂s1" in res.diagnosis[1]
