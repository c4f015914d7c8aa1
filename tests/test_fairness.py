"""Fair to every correct notebook, precise about every wrong one (issue 10; issue 8 item 6).

Every notebook here is built the way the bundled class is (cs231n_grader.samples: the release
filled with the solution cells, then small source edits and cells of the student's own), its
sealed cells are extracted as the grader extracts them, and it is graded in the real sandbox.

* correct notebooks laid out in ordinary ways keep every point (own helper cells, setup-cell
  imports, constants, a training run in a cell of their own, a cell tagged ``api``);
* wrong train() loops fail, each with its own message (the check sees the minibatches);
* a backward computed by finite differences of the student's own loss earns nothing;
* feedback never carries a location the student's code chooses;
* a mutation suite of single-point mistakes: >= 80 % of the behaviour-changing ones get a
  message naming the wrong quantity and where to look.
"""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

from cs231n_grader import samples
from cs231n_grader.cases import make_cases
from cs231n_grader.cells import sealed_cells
from cs231n_grader.parts import CALLED_PARTS, DEFAULT_POINTS
from cs231n_grader.reference import default_notebook, repo_root
from cs231n_grader.sandbox import sandbox_available
from cs231n_grader.scoring import score_part
from cs231n_grader.sealed import run_sealed

SECRET = b"test-secret-for-fairness"
RELEASE = repo_root() / "assignment" / "two_layer_net" / "two_layer_net.ipynb"
E, New = samples.Edit, samples.NewCell

pytestmark = pytest.mark.skipif(
    not sandbox_available()[0], reason=f"no sandbox: {sandbox_available()[1]}"
)


@pytest.fixture(scope="module")
def cases(ref):
    return {part: make_cases(part, SECRET, ref) for part in CALLED_PARTS}


def student(sid: str, *edits) -> samples.Student:
    return samples.Student(sid, "T", "Est", sid, None, tuple(edits))


def grade(stu: samples.Student, cases, ref, parts=CALLED_PARTS):
    """{part: PartResult} of the student's notebook graded in the real sandbox."""
    nb = samples.student_notebook(RELEASE, default_notebook(), stu)
    todo = [c for p in parts for c in cases[p]]
    results, cell_errors = run_sealed(sealed_cells(nb), todo)
    return {p: score_part(p, cases[p], results, ref, DEFAULT_POINTS[p], cell_errors) for p in parts}


def shown(res) -> str:
    """Everything the student reads about a part."""
    return res.summary() + " " + " ".join(res.failures)


# --- correct notebooks laid out in ordinary ways --------------------------------------------------
OWN_HELPERS = student(
    "own_helpers",
    New(
        "forward",
        "RELU_FLOOR = 0.0  # a constant of the student's own\n\n"
        "def relu(Z):\n    return np.maximum(RELU_FLOOR, Z)\n\n"
        "def stable_softmax(S):\n    shifted = S - S.max(axis=1, keepdims=True)\n"
        "    E = np.exp(shifted)\n    return E / E.sum(axis=1, keepdims=True)\n",
    ),
    E("forward", "X2 = np.maximum(0, S1)", "X2 = relu(S1)"),
    E("softmax_loss", "P = np.exp(log_P)", "P = stable_softmax(S2)"),
    E(
        "train",
        "    rng = np.random.default_rng(seed)\n",
        "    started = time.time()  # the setup cell imports time\n"
        "    rng = np.random.default_rng(seed)\n",
    ),
    # a training run in a cell of its own: under the sealed run it must not execute
    New(
        "predict",
        "import os\nwhile True:\n    pass\nstats = train(init_params(3072, 50, 10), "
        "data['X_train'], data['y_train'], data['X_val'], data['y_val'])\nos._exit(7)\n",
    ),
)


def test_own_helpers_setup_imports_constants_and_a_training_cell_keep_every_point(cases, ref):
    res = grade(OWN_HELPERS, cases, ref)
    assert {p: r.score for p, r in res.items()} == {
        p: float(DEFAULT_POINTS[p]) for p in CALLED_PARTS
    }, {p: r.failures[:2] for p, r in res.items()}


def test_the_sealed_run_keeps_definitions_only_outside_the_solution_cells():
    nb = samples.student_notebook(RELEASE, default_notebook(), OWN_HELPERS)
    code = "\n".join(c.source for c in sealed_cells(nb))
    assert "def relu(" in code and "RELU_FLOOR = 0.0" in code and "import time" in code
    assert (
        "while True" not in code
        and "os._exit(7)" not in code
        and "data = get_cifar10_data(" not in code
    )
    assert "plot_history(" not in code  # the notebook's own training/plot cells stay out too


def test_a_cell_tagged_api_by_the_student_is_not_trusted(cases, ref):
    """Tagging a cell ``api`` used to make the runner execute it whole;
    now only its definitions run."""
    tagged = student("tagged_api", New("predict", "import os\nos._exit(3)\n", tags=("api",)))
    res = grade(tagged, cases, ref, parts=("forward", "predict"))
    assert (
        res["forward"].score == DEFAULT_POINTS["forward"]
        and res["predict"].score == DEFAULT_POINTS["predict"]
    )


def test_in_place_relu_keeps_the_scores_points(cases, ref):
    """X2 = np.maximum(S1, 0, out=S1) overwrites the cached S1: exact S2, wrong cache[1]."""
    inplace = student(
        "inplace_relu", E("forward", "X2 = np.maximum(0, S1)", "X2 = np.maximum(S1, 0, out=S1)")
    )
    res = grade(inplace, cases, ref, parts=("forward",))["forward"]
    assert 0.6 * DEFAULT_POINTS["forward"] <= res.score < DEFAULT_POINTS["forward"]
    assert "cache[1] (S1)" in shown(res) and "scores S2" not in " ".join(res.failures)


ALTERNATIVES = {
    "forward": """
def forward(X, params):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    S1 = np.einsum("nd,dh->nh", X, W1) + b1
    X2 = S1 * (S1 > 0)
    return X2 @ W2 + b2, (X, S1, X2)
""",
    "softmax_loss": """
def softmax_loss(S2, y, params, reg):
    N = S2.shape[0]
    m = S2.max(axis=1)
    lse = m + np.log(np.exp(S2 - m[:, None]).sum(axis=1))
    P = np.exp(S2 - lse[:, None])
    W1, W2 = params["W1"], params["W2"]
    loss = np.mean(lse - S2[np.arange(N), y]) + reg * (
        np.einsum("ij,ij->", W1, W1) + np.einsum("ij,ij->", W2, W2)
    )
    return float(loss), P
""",
    "backward": """
def backward(P, y, cache, params, reg):
    X, S1, X2 = cache
    N = P.shape[0]
    dS2 = P.copy()
    np.add.at(dS2, (np.arange(N), y), -1)
    dS2 /= N
    grads = {"W1": 2 * reg * params["W1"], "b1": np.zeros_like(params["b1"]),
             "W2": 2 * reg * params["W2"], "b2": np.zeros_like(params["b2"])}
    for i in range(N):  # one example at a time
        grads["W2"] += np.outer(X2[i], dS2[i])
        grads["b2"] += dS2[i]
        dS1_i = (dS2[i] @ params["W2"].T) * (S1[i] > 0)
        grads["W1"] += np.outer(X[i], dS1_i)
        grads["b1"] += dS1_i
    return grads
""",
    "predict": "def predict(X, params):\n    return forward(X, params)[0].argmax(1)\n",
}


def test_independent_correct_implementations_keep_every_point(cases, ref):
    """einsum, log-sum-exp, a per-example loop with np.add.at, a method-call argmax."""
    stu = student(
        "alternatives",
        *(e for gid, src in ALTERNATIVES.items() for e in replace_cell("x", gid, src).edits),
    )
    res = grade(stu, cases, ref, parts=tuple(ALTERNATIVES))
    assert {p: r.score for p, r in res.items()} == {
        p: float(DEFAULT_POINTS[p]) for p in ALTERNATIVES
    }, {p: r.failures[:2] for p, r in res.items()}


# --- train sees the minibatches -------------------------------------------------------------------
TRAIN_MISTAKES = {
    # id: (edit, a word the message must contain)
    "train_sequential_batches": (
        E(
            "train",
            "batch = rng.choice(N, size=batch_size, replace=True)",
            "batch = np.arange(it * batch_size, (it + 1) * batch_size) % N",
        ),
        "sequential",
    ),
    "train_shuffled_X_only": (
        E(
            "train",
            "    rng = np.random.default_rng(seed)\n",
            "    rng = np.random.default_rng(seed)\n    np.random.shuffle(X)\n",
        ),
        "labels",
    ),
    "train_choice_N_minus_1": (E("train", "rng.choice(N, size", "rng.choice(N - 1, size"), "N - 1"),
    "train_float_epoch": (
        E("train", "max(N // batch_size, 1)", "max(N / batch_size, 1)"),
        "integer",
    ),
    "train_val_counts": (
        E(
            "train",
            "float(np.mean(predict(X_val, params) == y_val))",
            "float(np.sum(predict(X_val, params) == y_val))",
        ),
        "fraction",
    ),
}


@pytest.fixture(scope="module")
def train_results(cases, ref):
    return {
        mid: grade(student(mid, edit), cases, ref, parts=("train",))["train"]
        for mid, (edit, _) in TRAIN_MISTAKES.items()
    }


@pytest.mark.parametrize("mistake_id", sorted(TRAIN_MISTAKES))
def test_each_wrong_train_loop_fails_with_its_own_message(mistake_id, train_results):
    res = train_results[mistake_id]
    assert res.score == 0, res.failures
    assert res.diagnosis is not None and res.diagnosis[0] == mistake_id, (
        res.diagnosis,
        res.failures,
    )
    assert TRAIN_MISTAKES[mistake_id][1] in res.diagnosis[1]


def test_train_messages_are_all_different(train_results):
    messages = [r.diagnosis[1] for r in train_results.values() if r.diagnosis]
    assert len(set(messages)) == len(TRAIN_MISTAKES)


# --- points without the work ----------------------------------------------------------------------
FD_BACKWARD = '''
def backward(P, y, cache, params, reg):
    """Numeric gradients of the student's own loss (centred differences)."""
    X = cache[0]
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + 1e-6
            plus = softmax_loss(forward(X, params)[0], y, params, reg)[0]
            value[idx] = old - 1e-6
            minus = softmax_loss(forward(X, params)[0], y, params, reg)[0]
            value[idx] = old
            grad[idx] = (plus - minus) / 2e-6
        grads[name] = grad
    return grads
'''

FD_INLINED = """
def _loss(X, y, params, reg):
    S2 = np.maximum(0, X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    S2 = S2 - S2.max(axis=1, keepdims=True)
    log_P = S2 - np.log(np.exp(S2).sum(axis=1, keepdims=True))
    return -log_P[np.arange(len(y)), y].mean() + reg * (
        np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)
    )

def backward(P, y, cache, params, reg):
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + 1e-6
            plus = _loss(cache[0], y, params, reg)
            value[idx] = old - 1e-6
            minus = _loss(cache[0], y, params, reg)
            value[idx] = old
            grad[idx] = (plus - minus) / 2e-6
        grads[name] = grad
    return grads
"""


def replace_cell(sid, grade_id, source) -> samples.Student:
    """A student whose solution cell ``grade_id`` is ``source`` (the reference's own
    cell replaced)."""
    nb = nbformat.read(str(default_notebook()), as_version=4)
    old = samples.strip_markers(samples.cells_by_grade_id(nb)[grade_id].source)
    return student(sid, E(grade_id, old, source))


@pytest.mark.parametrize(
    "source", [FD_BACKWARD, FD_INLINED], ids=["own_forward_and_loss", "inlined_loss"]
)
def test_backward_by_finite_differences_earns_nothing(source, cases, ref):
    res = grade(replace_cell("fd", "backward", source), cases, ref, parts=("backward",))["backward"]
    assert res.score == 0, res.failures


def test_error_locations_the_code_chooses_never_reach_the_feedback(cases, ref):
    """The line an exception is raised on (or the cell a compile() names) used to be shown: code
    that raises on line k, with k a hidden value, read the hidden inputs back."""
    leaker = replace_cell(
        "leaker",
        "forward",
        (
            "def forward(X, params):\n"
            "    k = X.shape[0]\n"
            "    exec(compile('\\n' * k + 'raise ValueError()', '<cell softmax_loss>', 'exec'))\n"
        ),
    )
    leaker = samples.Student(
        "leaker",
        "L",
        "K",
        "",
        None,
        leaker.edits
        + (
            E(
                "predict",
                "    S2, _ = forward(X, params)\n",
                "    S2, _ = forward(X, params)\n"
                + "".join(f"    if X.shape[0] == {n}: raise KeyError\n" for n in range(1, 17)),
            ),
        ),
    )
    res = grade(leaker, cases, ref, parts=("forward", "predict"))
    text = shown(res["forward"]) + shown(res["predict"])
    assert res["forward"].score == 0 and res["predict"].score == 0
    assert not re.search(r"line \d", text), text
    assert "softmax_loss" not in shown(res["forward"])
    assert "forward() raised ValueError" in text and "predict() raised KeyError" in text


def test_a_syntax_error_is_located_by_the_grader_not_by_the_student(cases, ref):
    broken = replace_cell(
        "syntax", "softmax_loss", "def softmax_loss(S2, y, params, reg)\n    return 0\n"
    )
    res = grade(broken, cases, ref, parts=("softmax_loss",))["softmax_loss"]
    assert res.score == 0 and "has a syntax error on line 1" in res.note


# --- regularising the biases ----------------------------------------------------------------------
def test_regularised_biases_are_named_precisely(cases, ref):
    biased = student(
        "bias_regularised",
        E(
            "softmax_loss",
            'np.sum(params["W2"] ** 2))',
            'np.sum(params["W2"] ** 2) + np.sum(params["b1"] ** 2) + np.sum(params["b2"] ** 2))',
        ),
        E("backward", "db2 = dS2.sum(axis=0)", "db2 = dS2.sum(axis=0) + 2 * reg * params['b2']"),
        E("backward", "db1 = dS1.sum(axis=0)", "db1 = dS1.sum(axis=0) + 2 * reg * params['b1']"),
    )
    res = grade(biased, cases, ref, parts=("softmax_loss", "backward"))
    for part, mistake in (("softmax_loss", "reg_loss_biases"), ("backward", "reg_grad_biases")):
        assert res[part].diagnosis and res[part].diagnosis[0] == mistake, res[part].failures
        assert "biases" in res[part].diagnosis[1]


# --- the mutation suite ---------------------------------------------------------------------------
# (grade_id, old, new, words of which the message must contain one: the wrong quantity /
# where to look)
MUTANTS = [
    ("forward", "S1 = X @ W1 + b1", "S1 = X @ W1 - b1", ("S1", "b1")),
    ("forward", "np.maximum(0, S1)", "np.minimum(0, S1)", ("X2", "ReLU")),
    ("forward", "np.maximum(0, S1)", "np.maximum(0.01, S1)", ("X2", "ReLU")),
    ("forward", "S2 = X2 @ W2 + b2", "S2 = S1 @ W2 + b2", ("S2",)),
    ("forward", "S2 = X2 @ W2 + b2", "S2 = X2 @ W2", ("bias",)),
    ("forward", "return S2, (X, S1, X2)", "return S2, (X, X2, S1)", ("cache",)),
    (
        "softmax_loss",
        "S2.max(axis=1, keepdims=True)",
        "S2.max(axis=0, keepdims=True)",
        ("P", "probabilities"),
    ),
    (
        "softmax_loss",
        "np.exp(shifted).sum(axis=1, keepdims=True)",
        "np.exp(shifted).sum(axis=0, keepdims=True)",
        ("axis",),
    ),
    (
        "softmax_loss",
        "log_P[np.arange(N), y].mean()",
        "log_P[np.arange(N), y].sum()",
        ("averaged", "N"),
    ),
    ("softmax_loss", "data_loss = -log_P", "data_loss = log_P", ("data term", "loss")),
    ("softmax_loss", "reg_loss = reg * (", "reg_loss = 0.5 * reg * (", ("regularisation",)),
    ("softmax_loss", 'np.sum(params["W2"] ** 2)', 'np.sum(params["b2"] ** 2)', ("regularisation",)),
    ("softmax_loss", "P = np.exp(log_P)", "P = np.exp(shifted)", ("P", "probabilities")),
    (
        "softmax_loss",
        "shifted = S2 - S2.max(axis=1, keepdims=True)",
        "shifted = S2",
        ("large", "overflow"),
    ),
    ("backward", "Y[np.arange(N), y] = 1", "Y[np.arange(N), y] = -1", ("dS2",)),
    ("backward", "dS2 = (P - Y) / N", "dS2 = (P - Y) / (N - 1)", ("dS2", "N")),
    ("backward", "dS2 = (P - Y) / N", "dS2 = (Y - P) / N", ("sign", "dS2")),
    ("backward", "dW2 = X2.T @ dS2", "dW2 = S1.T @ dS2", ("dW2", "grads['W2']")),
    ("backward", "+ 2 * reg * W2", "- 2 * reg * W2", ("regularisation",)),
    ("backward", "db2 = dS2.sum(axis=0)", "db2 = dS2.mean(axis=0)", ("db2", "grads['b2']")),
    ("backward", "dX2 = dS2 @ W2.T", "dX2 = dS2 @ W2.T / N", ("dX2", "dS1")),
    ("backward", "(S1 > 0)", "(S1 >= 0)", ("mask",)),
    ("backward", "(S1 > 0)", "(S1 < 0)", ("mask", "dS1")),
    ("backward", "dW1 = X.T @ dS1", "dW1 = X.T @ dX2", ("dW1", "grads['W1']")),
    ("backward", "+ 2 * reg * W1", "+ reg * W1", ("regularisation",)),
    ("backward", "db1 = dS1.sum(axis=0)", "db1 = dX2.sum(axis=0)", ("db1", "grads['b1']")),
    ("backward", "db1 = dS1.sum(axis=0)", "db1 = dS1.sum(axis=1)", ("axis",)),
    (
        "train",
        "params[name] -= learning_rate * grads[name]",
        "params[name] += learning_rate * grads[name]",
        ("sign",),
    ),
    (
        "train",
        "learning_rate *= learning_rate_decay",
        "learning_rate = learning_rate_decay",
        ("decay",),
    ),
    (
        "train",
        "if (it + 1) % iterations_per_epoch == 0:",
        "if it % iterations_per_epoch == 0:",
        ("epoch",),
    ),
    ("train", "rng.choice(N, size", "rng.choice(N - 1, size", ("N - 1",)),
    ("train", "max(N // batch_size, 1)", "max(N / batch_size, 1)", ("integer",)),
    (
        "train",
        "float(np.mean(predict(X_val, params) == y_val))",
        "float(np.sum(predict(X_val, params) == y_val))",
        ("fraction",),
    ),
    (
        "train",
        "predict(X_batch, params) == y_batch",
        "predict(X_val, params) == y_val",
        ("train_acc_history",),
    ),
    ("predict", "np.argmax(S2, axis=1)", "np.argmin(S2, axis=1)", ("argmax", "highest")),
    ("predict", "np.argmax(S2, axis=1)", "np.argmax(S2, axis=0)", ("axis",)),
]


@pytest.fixture(scope="module")
def mutation_results(cases, ref):
    out = []
    for i, (gid, old, new, words) in enumerate(MUTANTS):
        res = grade(student(f"mutant{i}", E(gid, old, new)), cases, ref, parts=(gid,))[gid]
        out.append((gid, old, new, words, res))
    return out


def test_mutants_are_caught_and_named_where_to_look(mutation_results):
    caught = [m for m in mutation_results if m[4].score < m[4].max_points]
    named = [m for m in caught if m[4].diagnosis and any(w in m[4].diagnosis[1] for w in m[3])]
    unnamed = [(g, o, n, m.diagnosis) for g, o, n, _, m in caught if (g, o, n, _, m) not in named]
    assert len(caught) >= 0.9 * len(mutation_results), [
        m[:3] for m in mutation_results if m not in caught
    ]
    assert len(named) >= 0.8 * len(caught), unnamed
    print(
        f"mutation suite: {len(caught)}/{len(mutation_results)} caught, "
        f"{len(named)}/{len(caught)} named"
    )


def test_messages_never_reveal_hidden_values(mutation_results):
    for *_, res in mutation_results:
        assert not re.search(r"\d\.\d{3,}|\[\s*-?\d+\.", shown(res)), shown(res)


# --- accuracy cannot be earned by memorising labelled images --------------------------------------
def test_a_net_that_memorises_the_validation_images_earns_nothing_and_is_flagged(
    cifar_full_dir, ref, trained_net, tmp_path
):
    """A nearest-neighbour net over X_val (W1 = the images, b1 = -|x|²/2, W2 = their one-hot labels)
    scores ~0.73 on validation; scored on test + mirrored validation images it earns nothing, and
    the gap flags it. A really trained net keeps its points and is not flagged."""
    from cs231n_grader.accuracy import check_accuracy, evaluation_data

    data = evaluation_data()
    X_val = np.asarray(data["X_val"], dtype=np.float64)
    memo = {
        "W1": X_val.T,
        "b1": -0.5 * np.sum(X_val**2, axis=1),
        "W2": np.eye(10)[data["y_val"]],
        "b2": np.zeros(10),
    }
    np.savez(tmp_path / "memo.npz", **memo)
    res = check_accuracy(tmp_path / "memo.npz", ref)
    assert res.score == 0 and res.review and "flagged" in res.note, res.note
    res = check_accuracy(trained_net, ref)
    assert res.score > 0 and res.review is None, res.note
