"""The bundled class: example submissions generated from the notebooks (never committed as copies).

Every student starts from the *released* notebook (``assignment/two_layer_net/two_layer_net.ipynb``)
with each solution cell (code, and the written answers) filled with the reference solution cell
of the *solution* notebook (matched by grade_id). A mistake student then gets one small source edit
of that reference (each edit is asserted to apply, so a notebook change that breaks a sample fails
loudly); a student may also add cells of their own (:class:`NewCell`).

Students (see :data:`CLASS`): ``reference`` (all correct, good best_net.npz), ``untouched`` (the
release as is, no best_net.npz), one per catalogued mistake (ids from
``cs231n_grader.diagnose``), a weak and a partial best_net.npz, and a kernel that dies.

best_net.npz of the reference: the reference's own ``train()`` with the hyperparameters of the
solution notebook's cell tagged ``best-hyperparameters``, on ``get_cifar10_data()``; trained nets
are cached under ``<data>/cache/nets/`` keyed by hyperparameters + data checksum + reference code.

    >>> build_class(release_nb, solution_nb, out_dir)      # out_dir/<student>/two_layer_net/...
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from cs231n_grader import reference
from cs231n_grader.release import marker_patterns

NOTEBOOK = "two_layer_net.ipynb"
NET_FILE = "best_net.npz"
HPARAMS_TAG = "best-hyperparameters"
#: CS231n's default net (hidden 50, 1000 iterations, ...): ~29 % validation -> 0 accuracy points
DEFAULT_HPARAMS = dict(
    hidden_size=50,
    std=1e-4,
    learning_rate=1e-4,
    learning_rate_decay=0.95,
    reg=0.25,
    num_iters=1000,
    batch_size=200,
    seed=0,
)
DATA_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
)


class SampleError(RuntimeError):
    """A sample could not be built (e.g. an edit no longer applies to the solution notebook)."""


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new`` in the solution cell ``grade_id`` (``count`` occurrences)."""

    grade_id: str
    old: str
    new: str
    count: int = 1


@dataclass(frozen=True)
class NewCell:
    """A code cell of the student's own (``source``, with ``tags``), inserted just before the
    solution cell ``before`` (a grade_id): helpers, constants, a training run of their own."""

    before: str
    source: str
    tags: tuple = ()


@dataclass(frozen=True)
class Student:
    """One bundled submission.

    ``code``: "reference" (filled solution cells), or "release" (untouched TODOs).
    ``net``: "best" (reference train, best hyperparameters), "default" (CS231n default net),
    "partial" (the best net with hidden units cut off, ~41 % val), or None (no best_net.npz).
    """

    student_id: str
    first_name: str
    last_name: str
    description: str
    mistake_id: str | None = None
    edits: tuple = ()
    code: str = "reference"
    net: str | None = "best"

    @property
    def email(self) -> str:
        return f"{self.student_id}@example.edu"


def repo_root() -> Path:
    return reference.repo_root()


# --- the class ---------------------------------------------------------------------------------
#: a backward() that differentiates its own forward + loss numerically (lines put at the top of the
#: reference's body, so the rest never runs): it must earn nothing
NUMERIC_BACKWARD = """\
    grads = {}
    for name, value in params.items():
        grads[name] = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + 1e-6
            plus = softmax_loss(forward(X, params)[0], y, params, reg)[0]
            value[idx] = old - 1e-6
            minus = softmax_loss(forward(X, params)[0], y, params, reg)[0]
            value[idx] = old
            grads[name][idx] = (plus - minus) / 2e-6
    return grads
"""


# Edits are written against the reference source of the solution notebook; each names the
# catalogued mistake it makes (cs231n_grader.diagnose.CATALOGUE ids, one sample each).
def _define_class() -> tuple[Student, ...]:
    S, E, New = Student, Edit, NewCell
    return (
        S("reference", "Ada", "Reference", "the reference solution, good best net"),
        S(
            "own_helpers",
            "Olga",
            "Wnhelpers",
            "correct, laid out in ordinary ways: relu()/stable_softmax() and a "
            "constant in a cell of its own, time.time() in train (the setup cell imports time), a "
            "cell that trains on CIFAR-10 (never run by the grader)",
            None,
            (
                New(
                    "forward",
                    "RELU_FLOOR = 0.0\n\ndef relu(Z):\n    return np.maximum(RELU_FLOOR, Z)\n\n"
                    "def stable_softmax(S):\n    E = np.exp(S - S.max(axis=1, keepdims=True))\n"
                    "    return E / E.sum(axis=1, keepdims=True)\n",
                ),
                E("forward", "X2 = np.maximum(0, S1)", "X2 = relu(S1)"),
                E("softmax_loss", "P = np.exp(log_P)", "P = stable_softmax(S2)"),
                E(
                    "train",
                    "    rng = np.random.default_rng(seed)\n",
                    "    started = time.time()\n    rng = np.random.default_rng(seed)\n",
                ),
                New(
                    "tuning",
                    "own_params = init_params(3072, 50, 10)\n"
                    "own_stats = train(own_params, data['X_train'], data['y_train'], "
                    "data['X_val'], data['y_val'], num_iters=10)\n",
                ),
            ),
        ),
        S(
            "inplace_relu",
            "Ines",
            "Place",
            "forward's ReLU in place, np.maximum(S1, 0, out=S1): exact scores, "
            "the cached S1 overwritten (the scores keep most of the points)",
            None,
            (E("forward", "X2 = np.maximum(0, S1)", "X2 = np.maximum(S1, 0, out=S1)"),),
        ),
        S(
            "untouched",
            "Una",
            "Touched",
            "the release as is, no best_net.npz",
            code="release",
            net=None,
        ),
        # forward
        S(
            "forward_bias_forgotten",
            "Bia",
            "Sless",
            "forward without the biases b1, b2",
            "forward_bias_forgotten",
            (
                E("forward", "S1 = X @ W1 + b1", "S1 = X @ W1"),
                E("forward", "S2 = X2 @ W2 + b2", "S2 = X2 @ W2"),
            ),
        ),
        S(
            "forward_cache_order",
            "Cash",
            "Swap",
            "cache returned as (X, X2, S1)",
            "forward_cache_order",
            (E("forward", "return S2, (X, S1, X2)", "return S2, (X, X2, S1)"),),
        ),
        # softmax_loss
        S(
            "loss_not_averaged",
            "Lou",
            "Sum",
            "data loss summed, not averaged over N",
            "loss_not_averaged",
            (E("softmax_loss", "log_P[np.arange(N), y].mean()", "log_P[np.arange(N), y].sum()"),),
        ),
        S(
            "reg_loss_missing",
            "Reg",
            "Less",
            "loss without the regularisation term",
            "reg_loss_missing",
            (
                E(
                    "softmax_loss",
                    "return float(data_loss + reg_loss), P",
                    "return float(data_loss), P",
                ),
            ),
        ),
        S(
            "reg_loss_factor",
            "Reggie",
            "Half",
            "reg term 0.5 * reg * sum W^2 in the loss",
            "reg_loss_factor",
            (E("softmax_loss", "reg_loss = reg * (", "reg_loss = 0.5 * reg * ("),),
        ),
        S(
            "reg_loss_biases",
            "Bea",
            "Sreg",
            "biases regularised in the loss: reg * (ΣW1² + ΣW2² + Σb1² + Σb2²)",
            "reg_loss_biases",
            (
                E(
                    "softmax_loss",
                    'np.sum(params["W2"] ** 2))',
                    'np.sum(params["W2"] ** 2) + np.sum(params["b1"] ** 2) '
                    '+ np.sum(params["b2"] ** 2))',
                ),
            ),
        ),
        S(
            "softmax_no_max_subtraction",
            "Max",
            "Overflow",
            "softmax without subtracting the row max",
            "softmax_no_max_subtraction",
            (E("softmax_loss", "shifted = S2 - S2.max(axis=1, keepdims=True)", "shifted = S2"),),
        ),
        S(
            "softmax_wrong_axis",
            "Sam",
            "Axis",
            "softmax normalised over axis 0",
            "softmax_wrong_axis",
            (
                E(
                    "softmax_loss",
                    "np.exp(shifted).sum(axis=1, keepdims=True)",
                    "np.exp(shifted).sum(axis=0, keepdims=True)",
                ),
            ),
        ),
        # chain_rule_factors
        S(
            "chain_factor_transposed",
            "Tess",
            "Pose",
            "∂s2/∂x2 stored as W2 (H×C), chained consistently",
            "chain_factor_transposed",
            (
                E("chain_rule_factors", "ds2_dx2 = W2.T", "ds2_dx2 = W2"),
                E(
                    "chain_rule_factors",
                    "dL_ds1 = dL_ds2 @ ds2_dx2 @ dx2_ds1",
                    "dL_ds1 = ds2_dx2 @ dL_ds2 @ dx2_ds1",
                ),
            ),
        ),
        S(
            "chain_mask_vector",
            "Vic",
            "Tor",
            "the ReLU Jacobian as the mask vector (H,)",
            "chain_mask_vector",
            (
                E(
                    "chain_rule_factors",
                    "dx2_ds1 = np.diag((s1 > 0).astype(float))",
                    "dx2_ds1 = (s1 > 0).astype(float)",
                ),
                E(
                    "chain_rule_factors",
                    "dL_ds1 = dL_ds2 @ ds2_dx2 @ dx2_ds1",
                    "dL_ds1 = (dL_ds2 @ ds2_dx2) * dx2_ds1",
                ),
            ),
        ),
        S(
            "chain_mask_dense",
            "Den",
            "Se",
            "the ReLU Jacobian with the mask in every row",
            "chain_mask_dense",
            (
                E(
                    "chain_rule_factors",
                    "dx2_ds1 = np.diag((s1 > 0).astype(float))",
                    "dx2_ds1 = np.ones((H, H)) * (s1 > 0)",
                ),
            ),
        ),
        S(
            "chain_no_one_hot",
            "Nona",
            "Hot",
            "∂L/∂s2 = p, without the label's term",
            "chain_no_one_hot",
            (E("chain_rule_factors", "dL_ds2 = p - e_y", "dL_ds2 = p"),),
        ),
        S(
            "chain_numeric",
            "Newt",
            "Merical",
            "∂x2/∂s1 taken with eval_numerical_jacobian",
            "chain_numeric",
            (
                E(
                    "chain_rule_factors",
                    "dx2_ds1 = np.diag((s1 > 0).astype(float))",
                    "from cs231n_utils.gradient_check import eval_numerical_jacobian\n"
                    "    dx2_ds1 = eval_numerical_jacobian(lambda v: np.maximum(0, v), s1.copy())",
                ),
            ),
        ),
        S(
            "chain_contraction_order",
            "Con",
            "Tracta",
            "∂L/∂W1 contracted over W1's column index (H×D)",
            "chain_contraction_order",
            (
                E(
                    "chain_rule_factors",
                    "np.tensordot(dL_ds1, ds1_dW1, axes=1)",
                    "np.tensordot(dL_ds1, ds1_dW1, axes=([0], [2]))",
                ),
            ),
        ),
        # backward
        S(
            "grad_not_divided_by_N",
            "Enn",
            "Forgot",
            "dS2 = P - Y: gradient not divided by N",
            "grad_not_divided_by_N",
            (E("backward", "dS2 = (P - Y) / N", "dS2 = P - Y"),),
        ),
        S(
            "reg_grad_missing",
            "Greta",
            "Less",
            "weight gradients without 2 * reg * W",
            "reg_grad_missing",
            (E("backward", " + 2 * reg * W2", ""), E("backward", " + 2 * reg * W1", "")),
        ),
        S(
            "reg_grad_factor",
            "Greg",
            "Factor",
            "reg gradient reg * W instead of 2 * reg * W",
            "reg_grad_factor",
            (
                E("backward", "+ 2 * reg * W2", "+ reg * W2"),
                E("backward", "+ 2 * reg * W1", "+ reg * W1"),
            ),
        ),
        S(
            "reg_grad_biases",
            "Bias",
            "Reg",
            "bias gradients with a regularisation term 2 * reg * b",
            "reg_grad_biases",
            (
                E(
                    "backward",
                    "db2 = dS2.sum(axis=0)",
                    "db2 = dS2.sum(axis=0) + 2 * reg * params['b2']",
                ),
                E(
                    "backward",
                    "db1 = dS1.sum(axis=0)",
                    "db1 = dS1.sum(axis=0) + 2 * reg * params['b1']",
                ),
            ),
        ),
        S(
            "backward_numeric",
            "Num",
            "Eric",
            "backward by centred differences of its own forward and loss",
            "backward_numeric",
            (E("backward", "    N = P.shape[0]\n", "    N = P.shape[0]\n" + NUMERIC_BACKWARD),),
        ),
        S(
            "relu_mask_missing",
            "Mask",
            "Less",
            "backward without the ReLU mask",
            "relu_mask_missing",
            (E("backward", "dS1 = dX2 * (S1 > 0)", "dS1 = dX2"),),
        ),
        S(
            "relu_wrong_inequality",
            "Ineq",
            "Uality",
            "ReLU mask S1 >= 0 in backward",
            "relu_wrong_inequality",
            (E("backward", "dX2 * (S1 > 0)", "dX2 * (S1 >= 0)"),),
        ),
        S(
            "bias_grad_wrong_axis",
            "Axel",
            "Wrongaxis",
            "bias gradients summed over axis 1",
            "bias_grad_wrong_axis",
            (
                E("backward", "db2 = dS2.sum(axis=0)", "db2 = dS2.sum(axis=1)"),
                E("backward", "db1 = dS1.sum(axis=0)", "db1 = dS1.sum(axis=1)"),
            ),
        ),
        S(
            "grad_wrong_sign",
            "Neg",
            "Ative",
            "dS2 = (Y - P) / N: the data gradients have the wrong sign",
            "grad_wrong_sign",
            (E("backward", "dS2 = (P - Y) / N", "dS2 = (Y - P) / N"),),
        ),
        S(
            "backward_bias_forgotten",
            "Bea",
            "Zero",
            "bias gradients left at zero",
            "backward_bias_forgotten",
            (
                E("backward", "db2 = dS2.sum(axis=0)", "db2 = np.zeros(dS2.shape[1])"),
                E("backward", "db1 = dS1.sum(axis=0)", "db1 = np.zeros(dS1.shape[1])"),
            ),
        ),
        # train
        S(
            "train_params_not_in_place",
            "Ina",
            "Place",
            "train() updates a new dict, not params",
            "train_params_not_in_place",
            (
                E(
                    "train",
                    "for name in params:\n            params[name] -= learning_rate * grads[name]",
                    "params = {name: params[name] - learning_rate * grads[name] "
                    "for name in params}",
                ),
            ),
        ),
        S(
            "train_history_per_iteration",
            "Ike",
            "Every",
            "accuracies and decay every iteration",
            "train_history_per_iteration",
            (
                E(
                    "train",
                    "if (it + 1) % iterations_per_epoch == 0:",
                    "if True:  # every iteration",
                ),
            ),
        ),
        S(
            "train_sequential_batches",
            "Seq",
            "Uential",
            "minibatches as sequential slices of X",
            "train_sequential_batches",
            (
                E(
                    "train",
                    "batch = rng.choice(N, size=batch_size, replace=True)",
                    "batch = np.arange(it * batch_size, (it + 1) * batch_size) % N",
                ),
            ),
        ),
        S(
            "train_shuffled_X_only",
            "Shu",
            "Ffle",
            "np.random.shuffle(X) before the loop, y left as it is",
            "train_shuffled_X_only",
            (
                E(
                    "train",
                    "    rng = np.random.default_rng(seed)\n",
                    "    rng = np.random.default_rng(seed)\n    np.random.shuffle(X)\n",
                ),
            ),
        ),
        S(
            "train_choice_N_minus_1",
            "Last",
            "Left",
            "minibatch indices drawn by rng.choice(N - 1, ...)",
            "train_choice_N_minus_1",
            (E("train", "rng.choice(N, size", "rng.choice(N - 1, size"),),
        ),
        S(
            "train_float_epoch",
            "Flo",
            "At",
            "iterations_per_epoch = max(N / batch_size, 1), a float",
            "train_float_epoch",
            (E("train", "max(N // batch_size, 1)", "max(N / batch_size, 1)"),),
        ),
        S(
            "train_val_counts",
            "Cou",
            "Nts",
            "val_acc_history holds counts of correct predictions",
            "train_val_counts",
            (
                E(
                    "train",
                    "float(np.mean(predict(X_val, params) == y_val))",
                    "float(np.sum(predict(X_val, params) == y_val))",
                ),
            ),
        ),
        # predict
        S(
            "predict_returns_scores",
            "Scor",
            "Es",
            "predict returns the scores S2",
            "predict_returns_scores",
            (E("predict", "return np.argmax(S2, axis=1)", "return S2"),),
        ),
        S(
            "predict_wrong_axis",
            "Arg",
            "Max",
            "argmax over axis 0",
            "predict_wrong_axis",
            (E("predict", "np.argmax(S2, axis=1)", "np.argmax(S2, axis=0)"),),
        ),
        # the saved net and robustness
        S(
            "weak_net",
            "Wanda",
            "Weak",
            "correct code, CS231n's default net (~29 % val)",
            net="default",
        ),
        S(
            "partial_net",
            "Parker",
            "Tial",
            "correct code, a net with hidden units cut off (~41 % val: partial credit)",
            net="partial",
        ),
        S(
            "kernel_dies",
            "Kurt",
            "Exit",
            "correct code except train() kills its process (os._exit)",
            None,
            (
                E(
                    "train",
                    "    rng = np.random.default_rng(seed)\n",
                    "    import os; os._exit(1)  # the kernel dies here\n"
                    "    rng = np.random.default_rng(seed)\n",
                ),
            ),
        ),
    )


CLASS = _define_class()
#: on the roster but never submits: exported with zeros
ABSENT = Student("no_submission", "Abe", "Sent", "on the roster, submitted nothing", net=None)


# --- notebooks ---------------------------------------------------------------------------------
def cells_by_grade_id(nb) -> dict:
    """grade_id -> cell for the nbgrader solution cells of ``nb`` (code and written answers)."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def strip_markers(source: str) -> str:
    """The solution code without nbgrader's ``### BEGIN/END SOLUTION`` marker lines (the release's
    :func:`cs231n_grader.release.marker_patterns`, with nbgrader's default delimiters)."""
    begin_re, end_re = marker_patterns()
    lines = source.splitlines(keepends=True)
    return "".join(line for line in lines if not (begin_re.match(line) or end_re.match(line)))


def apply_edit(source: str, edit: Edit, student_id: str) -> str:
    """``source`` with ``edit`` applied; SampleError if ``edit.old`` does not occur as expected."""
    found = source.count(edit.old)
    if found != edit.count:
        raise SampleError(
            f"sample {student_id!r}: expected {edit.count} occurrence(s) of {edit.old!r} in the "
            f"{edit.grade_id!r} solution cell, found {found}. The solution notebook changed: "
            "update the edit in cs231n_grader/samples.py (CLASS) to the new reference code."
        )
    return source.replace(edit.old, edit.new)


def student_notebook(release_nb, solution_nb, student: Student):
    """The student's notebook: the release with solution cells filled and edited."""
    nb = nbformat.read(str(release_nb), as_version=4)
    if student.code == "release":
        return nb
    solved = cells_by_grade_id(nbformat.read(str(solution_nb), as_version=4))
    released = cells_by_grade_id(nb)
    missing = sorted(set(solved) - set(released))
    if missing:
        raise SampleError(
            f"the released notebook {release_nb} lacks solution cells {missing}: "
            "re-run `nbgrader generate_assignment two_layer_net --force`"
        )
    for grade_id, cell in released.items():
        cell.source = strip_markers(solved[grade_id].source)
    for number, edit in enumerate(student.edits):
        target = edit.before if isinstance(edit, NewCell) else edit.grade_id
        if target not in released:
            raise SampleError(f"sample {student.student_id!r}: no solution cell {target!r}")
        if isinstance(edit, NewCell):
            # a fixed cell id (nbformat's default is random): the same sample is the same bytes on
            # every build, so a re-run of the demo sees it unchanged
            cell = nbformat.v4.new_code_cell(edit.source, id=f"{student.student_id}-{number}"[-64:])
            if edit.tags:
                cell.metadata["tags"] = list(edit.tags)
            nb.cells.insert(nb.cells.index(released[target]), cell)
        else:
            released[target].source = apply_edit(released[target].source, edit, student.student_id)
    return nb


# --- nets -------------------------------------------------------------------------------------
def best_hyperparameters(solution_nb) -> dict:
    """The dict literal in the solution notebook's cell tagged ``best-hyperparameters``."""
    nb = nbformat.read(str(solution_nb), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and HPARAMS_TAG in cell.get("metadata", {}).get("tags", []):
            return _parse_hparams(cell.source, solution_nb)
    raise SampleError(
        f"no code cell tagged {HPARAMS_TAG!r} in {solution_nb}: the solution notebook "
        "must state its chosen hyperparameters there (best_hyperparameters = dict(...))"
    )


def _parse_hparams(source: str, where) -> dict:
    """Parse ``best_hyperparameters = dict(a=1, ...)`` or ``= {...}`` without executing code."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "best_hyperparameters" for t in node.targets
        ):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "dict":
                return {kw.arg: ast.literal_eval(kw.value) for kw in value.keywords}
            return dict(ast.literal_eval(value))
    raise SampleError(f"the {HPARAMS_TAG!r} cell of {where} does not assign best_hyperparameters")


def data_checksum(data_dir: Path | None = None) -> str:
    """blake2b of the CIFAR-10 batch files (names + contents), hex, 16 chars."""
    from cs231n_utils import data

    root = Path(data_dir or data.default_data_dir()) / data.FOLDER
    digest = hashlib.blake2b(digest_size=8)
    for name in DATA_FILES:
        path = root / name
        if not path.is_file():
            raise SampleError(
                f"CIFAR-10 file {path} missing: run `python -m cs231n_utils.data download`"
            )
        digest.update(name.encode())
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def _code_checksum(solution_nb) -> str:
    cells = reference.solution_cells(solution_nb)
    return hashlib.blake2b("\n".join(c.source for c in cells).encode(), digest_size=8).hexdigest()


def trained_net(hparams: dict, solution_nb, data_dir: Path | None = None, log=print) -> dict:
    """Params {W1 (3072,H), b1 (H,), W2 (H,10), b2 (10,)} float32, trained by the reference's
    train() (float32 like the notebook's tuning cell).

    Cached in ``<data_dir>/cache/nets/<key>.npz``; key = hyperparameters + data checksum +
    reference code checksum, so the demo and tests train once.
    """
    from cs231n_utils import data

    data_dir = Path(data_dir or data.default_data_dir())
    key_text = (
        json.dumps(hparams, sort_keys=True)
        + "float32"
        + data_checksum(data_dir)
        + _code_checksum(solution_nb)
    )
    key = hashlib.blake2b(key_text.encode(), digest_size=10).hexdigest()
    cached = data_dir / "cache" / "nets" / f"{key}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as npz:
            return {k: npz[k] for k in ("W1", "b1", "W2", "b2")}
    log(f"      training a net with {hparams} (cached afterwards in {cached.parent})")
    ref = reference.load_reference(solution_nb)
    cifar = data.get_cifar10_data(data_dir=data_dir)
    hp = dict(hparams)
    params = ref.init_params(
        cifar["X_train"].shape[1],
        hp.pop("hidden_size"),
        10,
        std=hp.pop("std"),
        seed=hp["seed"],
        dtype=np.float32,
    )
    ref.train(params, cifar["X_train"], cifar["y_train"], cifar["X_val"], cifar["y_val"], **hp)
    params = {k: np.asarray(params[k]) for k in ("W1", "b1", "W2", "b2")}
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **params)
    tmp.replace(cached)
    return params


def net_hparams(kind: str, solution_nb) -> dict:
    """Hyperparameters of a trained net kind: "best" (the notebook's) or "default" (CS231n's)."""
    if kind == "default":
        return dict(DEFAULT_HPARAMS)
    if kind == "best":
        return best_hyperparameters(solution_nb)
    raise SampleError(f"unknown net kind {kind!r}")


def partial_net(
    best: dict, solution_nb, target: float = 0.415, data_dir: Path | None = None
) -> dict:
    """The best net with its last k hidden units cut off (rows of W2 zeroed), k the smallest that
    brings validation accuracy (reference predict) down to ``target`` -- inside the partial-credit
    band (0.35, 0.48) whatever the best net reaches, so it exercises partial credit."""
    from cs231n_utils import data

    ref = reference.load_reference(solution_nb)
    cifar = data.get_cifar10_data(data_dir=data_dir)
    X_val, y_val = cifar["X_val"], cifar["y_val"]
    H = best["W2"].shape[0]
    for k in range(H):
        net = {name: np.array(value, copy=True) for name, value in best.items()}
        net["W2"][H - k :, :] = 0
        if float(np.mean(ref.predict(X_val, net) == y_val)) <= target:
            return net
    raise SampleError("could not weaken the best net into the partial-credit band")


def class_nets(kinds: set, solution_nb, data_dir: Path | None = None, log=print) -> dict:
    """kind -> params for the net kinds the class uses ("best", "default", "partial")."""
    nets = {}
    for kind in ("best", "default"):
        if kind in kinds or (kind == "best" and "partial" in kinds):
            nets[kind] = trained_net(net_hparams(kind, solution_nb), solution_nb, data_dir, log=log)
    if "partial" in kinds:
        nets["partial"] = partial_net(nets["best"], solution_nb, data_dir=data_dir)
    return nets


# --- the whole class ----------------------------------------------------------------------------
def build_class(
    release_nb,
    solution_nb,
    out_dir,
    assignment: str = "two_layer_net",
    students: tuple = None,
    data_dir: Path | None = None,
    log=print,
) -> list[Student]:
    """Write ``out_dir/<student>/<assignment>/{two_layer_net.ipynb, best_net.npz}`` for the class.

    Returns the students written. Raises SampleError when an edit no longer applies.
    """
    students = CLASS if students is None else students
    _check_catalogue(students)
    out_dir = Path(out_dir)
    nets = class_nets({s.net for s in students if s.net}, solution_nb, data_dir, log=log)
    for student in students:
        folder = out_dir / student.student_id / assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nb = student_notebook(release_nb, solution_nb, student)
        nbformat.write(nb, str(folder / NOTEBOOK))
        if student.net:
            np.savez(folder / NET_FILE, **nets[student.net])
    return list(students)


def write_roster(students, path) -> None:
    """Roster CSV for ``nbgrader db student import``: id,first_name,last_name,email."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for s in students:
            writer.writerow([s.student_id, s.first_name, s.last_name, s.email])


def _check_catalogue(students) -> None:
    """Every mistake id must exist in the diagnose catalogue (stable ids, one sample each)."""
    ids = {s.mistake_id for s in students if s.mistake_id}
    if not ids:
        return
    from cs231n_grader import diagnose

    known = {m.id for m in diagnose.CATALOGUE}
    unknown = sorted(ids - known)
    if unknown:
        raise SampleError(
            f"samples use mistake ids {unknown} that cs231n_grader.diagnose "
            f"does not catalogue (it has {sorted(known)})"
        )
