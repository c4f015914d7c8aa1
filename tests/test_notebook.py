"""The assignment notebook: solution source, generated student version, release plug-in.

Real parts only: the notebooks are executed by nbclient kernels, the student version is generated
by the real ``nbgrader generate_assignment`` in a scratch course, verdicts come from ``nbgrader
validate``. The expensive run (the whole solution notebook on CIFAR-10, about two minutes) is one
module-scoped execution shared by every assertion that needs it; it is skipped, with the reason,
when ``data/`` holds no CIFAR-10.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from cs231n_grader import reference
from cs231n_grader.release import ClearSolutionsNamingTodos, release_preprocessors

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "two_layer_net"
SOLUTION = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
STUDENT = REPO / "assignment" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
VENV_BIN = Path(sys.executable).parent

#: grade_id -> points of every graded cell (issue 3); they add up to 100
POINTS = {
    "test_forward": 10,
    "test_softmax_loss": 10,
    "test_chain_rule_factors": 10,
    "test_backward": 20,
    "test_train": 10,
    "test_predict": 5,
    "test_accuracy": 10,
    "derivation": 10,
    "q_train_test_gap": 5,
    "q_max_subtraction": 5,
    "q_dead_relu": 5,
}
#: grade_ids of the code solution cells (TODOs)
SOLUTION_CODE = (
    "forward",
    "softmax_loss",
    "chain_rule_factors",
    "backward",
    "train",
    "predict",
    "tuning",
    "candidates",
    "best_hyperparameters",
)

BEGIN_RE = re.compile(r"^\s*#+\s*BEGIN SOLUTION")
END_RE = re.compile(r"^\s*#+\s*END SOLUTION")


# ----------------------------------------------------------------------------- helpers
def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbmeta(cell) -> dict:
    return cell.metadata.get("nbgrader", {}) or {}


def cells_by_id(nb) -> dict:
    return {nbmeta(c)["grade_id"]: c for c in nb.cells if nbmeta(c).get("grade_id")}


def env_with_venv(**extra) -> dict:
    """The environment for nbgrader subprocesses: the venv first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
    env.pop("NBGRADER_EXECUTION", None)
    return env


def nbgrader(args, cwd, timeout=600, **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "nbgrader"), *args],
        cwd=cwd,
        env=env_with_venv(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def code_lines(nb, in_regions: bool) -> set[str]:
    """Stripped code lines inside (``in_regions``) or outside the solution regions of the code
    cells; hidden-test blocks count as regions (their lines are never given to students)."""
    lines = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in cell.source.splitlines():
            if BEGIN_RE.match(line) or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif END_RE.match(line) or "END HIDDEN TESTS" in line:
                inside = False
            elif inside == in_regions and line.strip():
                lines.add(line.strip())
    return lines


def toy_section(nb) -> nbformat.NotebookNode:
    """The notebook up to (not including) the CIFAR-10 section: runs without data in seconds."""
    stop = next(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and "get_cifar10_data(" in c.source and "import" not in c.source
    )
    part = nbformat.from_dict(dict(nb))
    part.cells = [nbformat.from_dict(dict(c)) for c in nb.cells[:stop]]
    return part


def execute(nb, workdir: Path, **env) -> float:
    """Execute ``nb`` in place in a fresh python3 kernel (cwd ``workdir``); returns seconds."""
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    kernel_env = dict(os.environ, **env)  # the notebook itself pins BLAS to one thread
    start = time.time()
    client.execute(env=kernel_env)
    return time.time() - start


def cell_with_id(nb, cell_id):
    """The cell with nbformat id ``cell_id`` (the CIFAR-10 run cells have stable ids run-*)."""
    return next(c for c in nb.cells if c.get("id") == cell_id)


def outputs(cell, kind) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == kind]


def stdout(cell) -> str:
    return "".join(o.text for o in outputs(cell, "stream") if o.name == "stdout")


def stderr(cell) -> str:
    return "".join(o.text for o in outputs(cell, "stream") if o.name == "stderr")


def toy_inputs():
    """The toy model of the notebook, for calling the student stubs."""
    rs = np.random.RandomState(1)
    X = 10 * rs.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    params = {
        "W1": 0.1 * np.ones((4, 10)),
        "b1": np.zeros(10),
        "W2": 0.1 * np.ones((10, 3)),
        "b2": np.zeros(3),
    }
    return X, y, params


def cifar10_present() -> bool:
    """The extracted batches are in the default data folder (downloaded or unpacked by hand)."""
    from cs231n_utils.data import default_data_dir

    folder = Path(default_data_dir()) / "cifar-10-batches-py"
    names = ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    return all((folder / name).is_file() for name in names)


needs_data = pytest.mark.skipif(
    not cifar10_present(),
    reason="CIFAR-10 not found in data/: run `python -m cs231n_utils.data download` "
    "(or `make data`)",
)


# ----------------------------------------------------------------------------- release plug-in
def release(source: str, cell_type="code", solution=True, grade_id="x"):
    """Run ClearSolutionsNamingTodos on a one-cell notebook; returns the cell's new source."""
    cell = (
        nbformat.v4.new_code_cell(source)
        if cell_type == "code"
        else nbformat.v4.new_markdown_cell(source)
    )
    cell.metadata["nbgrader"] = {
        "grade": False,
        "solution": solution,
        "locked": False,
        "grade_id": grade_id,
        "schema_version": 3,
        "task": False,
    }
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {
        "language": "python",
        "name": "python3",
        "display_name": "Python 3",
    }
    nb, _ = ClearSolutionsNamingTodos().preprocess(nb, {})
    return nb.cells[0].source


def test_release_stub_names_the_function_and_keeps_the_todo():
    src = (
        "def f(x):\n    y = 2\n"
        "    # TODO: compute z from x and y.\n"
        "    ### BEGIN SOLUTION: z = x + y\n"
        "    z = x + y\n    return z\n"
        "    ### END SOLUTION\n"
    )
    out = release(src)
    assert "z = x + y" not in out and "BEGIN SOLUTION" not in out and "END SOLUTION" not in out
    assert out.splitlines()[:5] == [
        "def f(x):",
        "    y = 2",
        "    # TODO: compute z from x and y.",
        "    # YOUR CODE HERE",
        "    raise NotImplementedError('f: implement the TODO above this line')",
    ]
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError, match=r"^f: implement the TODO above this line$"):
        ns["f"](1)


def test_release_several_regions_nested_functions_and_module_level():
    src = (
        "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n"
        "def outer(x,\n          y):\n    def inner():\n        return 0\n"
        "    if x:\n        ### BEGIN SOLUTION\n        c = 3\n        ### END SOLUTION\n"
    )
    out = release(src, grade_id="cell_id")
    assert "raise NotImplementedError('cell_id: implement the TODO above this line')" in out
    assert "        raise NotImplementedError('outer: implement the TODO above this line')" in out
    assert "a = 1" not in out and "c = 3" not in out and "b = 2" in out


def test_release_rejects_broken_regions():
    with pytest.raises(RuntimeError, match="end solution"):
        release("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(RuntimeError, match="nested"):
        release("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n")


def test_release_markdown_and_whole_cell_solutions():
    assert release("The reference answer.", cell_type="markdown") == "YOUR ANSWER HERE"
    assert release("x = 1\n", grade_id="lit") == (
        "# YOUR CODE HERE\nraise NotImplementedError('lit: implement the TODO above this line')"
    )


def test_release_preprocessors_swap_only_clear_solutions():
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions

    stock = GenerateAssignment.class_traits()["preprocessors"].default()
    ours = release_preprocessors()
    assert ClearSolutions not in ours and ours.count(ClearSolutionsNamingTodos) == 1
    assert [p for p in ours if p is not ClearSolutionsNamingTodos] == [
        p for p in stock if p is not ClearSolutions
    ]
    assert ours.index(ClearSolutionsNamingTodos) == stock.index(ClearSolutions)


# ----------------------------------------------------------------------------- static structure
@pytest.fixture(scope="module")
def solution_nb():
    return read(SOLUTION)


@pytest.fixture(scope="module")
def student_nb():
    assert STUDENT.is_file(), (
        f"{STUDENT} is missing: run `nbgrader generate_assignment {ASSIGNMENT} "
        "--force` from the repository root"
    )
    return read(STUDENT)


def test_solution_outputs_cleared_and_no_py_files(solution_nb):
    for cell in solution_nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    assert not list(SOLUTION.parent.glob("*.py")), (
        "no .py files under solutions/ (nbgrader releases them)"
    )


@pytest.mark.parametrize("which", ["solution", "student"])
def test_grade_ids_points_and_flags(which, solution_nb, student_nb):
    nb = solution_nb if which == "solution" else student_nb
    cells = cells_by_id(nb)
    graded = {gid: nbmeta(c)["points"] for gid, c in cells.items() if nbmeta(c).get("grade")}
    assert graded == POINTS
    assert sum(graded.values()) == 100
    for gid in POINTS:
        meta, cell = nbmeta(cells[gid]), cells[gid]
        if gid.startswith("test_"):
            assert cell.cell_type == "code" and meta["locked"] and not meta["solution"], gid
        else:  # manually graded written answer
            assert cell.cell_type == "markdown" and meta["solution"] and not meta["locked"], gid
    for gid in SOLUTION_CODE:
        meta = nbmeta(cells[gid])
        assert cells[gid].cell_type == "code" and meta["solution"] and not meta["grade"], gid
    tagged = [c for c in nb.cells if "best-hyperparameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and nbmeta(tagged[0]).get("grade_id") == "best_hyperparameters"
    api = [c for c in nb.cells if "api" in c.metadata.get("tags", [])]
    assert (
        len(api) == 1
        and "def init_params" in api[0].source
        and "def loss_and_grads" in api[0].source
    )


def test_test_cells_end_with_the_hidden_block(solution_nb):
    for gid, cell in cells_by_id(solution_nb).items():
        if not gid.startswith("test_"):
            continue
        part = gid[len("test_") :]
        expected = (
            "### BEGIN HIDDEN TESTS\n"
            "from cs231n_grader.hidden import hidden_check\n"
            f'hidden_check("{part}", globals())\n'
            "### END HIDDEN TESTS"
        )
        assert cell.source.rstrip().endswith(expected), gid


def test_reference_is_vectorised_and_loads(solution_nb):
    cells = cells_by_id(solution_nb)
    for gid in ("forward", "softmax_loss", "chain_rule_factors", "backward", "predict"):
        assert not re.search(r"^\s*(for|while)\b", cells[gid].source, re.M), (
            f"{gid} has a Python loop"
        )
    ref = reference.load_reference(SOLUTION)
    for name in (
        "forward",
        "softmax_loss",
        "backward",
        "train",
        "predict",
        "init_params",
        "loss_and_grads",
    ):
        assert callable(getattr(ref, name)), name


def test_reference_reproduces_cs231n_numbers_without_warnings():
    """CS231n's published toy values (external constants), float64, no RuntimeWarning."""
    import warnings

    ref = reference.load_reference(SOLUTION)
    params = ref.init_params(4, 10, 3, std=1e-1, seed=0)
    X = 10 * np.random.RandomState(1).randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    correct_scores = np.array(
        [
            [-0.81233741, -1.27654624, -0.70335995],
            [-0.17129677, -1.18803311, -0.47310444],
            [-0.51590475, -1.01354314, -0.8504215],
            [-0.15419291, -0.48629638, -0.52901952],
            [-0.00618733, -0.12435261, -0.15226949],
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S2, _ = ref.forward(X, params)
        loss, P = ref.softmax_loss(S2, y, params, 0.05)
        big_loss, big_P = ref.softmax_loss(np.array([[1e4, -1e4, 0.0]]), np.array([1]), params, 0.0)
    assert np.sum(np.abs(S2 - correct_scores)) < 1e-7
    assert type(loss) is float and abs(loss - 1.30378789133) < 1e-10
    assert type(big_loss) is float and np.isfinite(big_loss) and np.isfinite(big_P).all()


def test_student_version_matches_fresh_generation(tmp_path):
    """The committed assignment/ notebook is exactly what generate_assignment makes now."""
    course = tmp_path / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(SOLUTION, course / "solutions" / ASSIGNMENT)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
    )
    result = nbgrader(["generate_assignment", ASSIGNMENT, "--force"], cwd=course)
    fresh = course / "assignment" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert fresh.is_file(), result.stdout + result.stderr
    assert sorted(p.name for p in fresh.parent.iterdir()) == [f"{ASSIGNMENT}.ipynb"]

    def normalised(nb):
        return {
            "metadata": dict(nb.metadata),
            "cells": [(c.cell_type, c.source, c.metadata) for c in nb.cells],
        }

    assert normalised(read(fresh)) == normalised(read(STUDENT)), (
        "assignment/ is stale: "
        "run `nbgrader generate_assignment two_layer_net --force` from the repo root"
    )


def test_student_version_leaks_nothing(solution_nb, student_nb):
    text = nbformat.writes(student_nb)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "hidden_check"):
        assert marker not in text, marker
    sol_cells, stu_cells = cells_by_id(solution_nb), cells_by_id(student_nb)
    for gid in ("derivation", "q_train_test_gap", "q_max_subtraction", "q_dead_relu"):
        assert stu_cells[gid].source == "YOUR ANSWER HERE"
        assert sol_cells[gid].source not in text
    secret = code_lines(solution_nb, in_regions=True) - code_lines(solution_nb, in_regions=False)
    student_lines = {
        line.strip()
        for c in student_nb.cells
        if c.cell_type == "code"
        for line in c.source.splitlines()
    }
    assert len(secret) > 20
    assert not secret & student_lines, (
        f"solution lines in the student version: {secret & student_lines}"
    )


def test_student_todos_raise_with_messages(student_nb):
    cells = reference.solution_cells(student_nb, parts=None)
    for cell in cells:
        if not cell.key.startswith("api:"):
            stubs = re.findall(r"raise NotImplementedError\((.*)\)", cell.source)
            assert stubs and all(len(ast.literal_eval(s)) > 20 for s in stubs), cell.key
            assert "# YOUR CODE HERE" in cell.source, cell.key
    errors = {}
    ns = reference.exec_cells(cells, errors=errors)
    # the two literal cells raise when executed; the function cells only when called
    assert sorted(errors) == ["best_hyperparameters", "candidates"], errors
    for key, error in errors.items():  # the exception (or its "Type: message" text)
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        assert text == f"NotImplementedError: {key}: implement the TODO above this line", text
    X, y, params = toy_inputs()
    S1 = X @ params["W1"]
    cache = (X, S1, np.maximum(0, S1))
    P = np.full((5, 3), 1 / 3)
    calls = {
        "forward": lambda: ns["forward"](X, params),
        "softmax_loss": lambda: ns["softmax_loss"](np.zeros((5, 3)), y, params, 0.05),
        "chain_rule_factors": lambda: ns["chain_rule_factors"](X[0], int(y[0]), params),
        "backward": lambda: ns["backward"](P, y, cache, params, 0.05),
        "train": lambda: ns["train"](params, X, y, X, y, num_iters=2),
        "predict": lambda: ns["predict"](X, params),
        "tuning": lambda: ns["tune_hyperparameters"]({}, []),
    }
    messages = set()
    for part, call in calls.items():
        with pytest.raises(NotImplementedError) as info:
            call()
        assert len(str(info.value)) > 20, part
        messages.add(str(info.value))
    assert len(messages) == len(calls), "every TODO says what to implement in its own words"


# ---------------------------------------------------------------------------- toy section, executed
@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory, solution_nb, student_nb):
    """The toy sections (no data needed) of both versions, executed by nbclient."""
    runs = {}
    for which, nb in (("solution", solution_nb), ("student", student_nb)):
        part = toy_section(nb)
        execute(part, tmp_path_factory.mktemp(f"toy-{which}"))
        runs[which], runs[f"{which}_nb"] = cells_by_id(part), part
    return runs


def test_toy_section_solution_passes_public_and_hidden_tests(toy_runs):
    cells = toy_runs["solution"]
    for gid in (
        "test_forward",
        "test_softmax_loss",
        "test_chain_rule_factors",
        "test_backward",
        "test_train",
        "test_predict",
    ):
        cell = cells[gid]
        assert not outputs(cell, "error"), (gid, outputs(cell, "error"))
        assert stderr(cell) == "", (gid, stderr(cell))
        assert not outputs(cell, "execute_result"), (
            f"{gid} must not end with a value (nbgrader scores it)"
        )
        out = stdout(cell)
        part = gid[len("test_") :]
        assert f"{part}: public test passed" in out, out
        match = re.search(rf"hidden check {part}: .*→ (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", out)
        assert match and match.group(1) == match.group(2), out
    # the per-example gradients, averaged (+ regularisation), are backward's (the cell asserts it)
    batch = cell_with_id(toy_runs["solution_nb"], "chain-rule-batch")
    assert not outputs(batch, "error") and stderr(batch) == "", outputs(batch, "error")
    assert stdout(batch).count("per-example gradients + regularisation vs backward") == 4, stdout(
        batch
    )


def test_toy_section_student_fails_readably(toy_runs):
    """Before implementing, every public test stops at a NotImplementedError with the TODO's
    message, raised from notebook code (no library frames in the traceback)."""
    for gid in (
        "test_forward",
        "test_softmax_loss",
        "test_chain_rule_factors",
        "test_backward",
        "test_train",
        "test_predict",
    ):
        errors = outputs(toy_runs["student"][gid], "error")
        assert len(errors) == 1, gid
        err = errors[0]
        assert err.ename == "NotImplementedError" and len(err.evalue) > 20, (
            gid,
            err.ename,
            err.evalue,
        )
        trace = "\n".join(err.traceback)
        assert "site-packages" not in trace, f"{gid}: the traceback goes through library code"


# ----------------------------------------------------------------------------- full run on CIFAR-10
@pytest.fixture(scope="module")
def full_run(tmp_path_factory, solution_nb):
    """The whole solution notebook executed top to bottom (about 2 minutes on 2 cores)."""
    if not cifar10_present():
        pytest.skip("CIFAR-10 not found in data/: run `python -m cs231n_utils.data download`")
    workdir = tmp_path_factory.mktemp("full-run")
    nb = nbformat.from_dict(dict(solution_nb))
    seconds = execute(nb, workdir)
    nbformat.write(nb, str(workdir / "executed.ipynb"))
    return {"nb": nb, "seconds": seconds, "workdir": workdir}


@needs_data
def test_full_run_is_clean(full_run):
    nb = full_run["nb"]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not outputs(cell, "error"), (cell.source[:80], outputs(cell, "error"))
        if nbmeta(cell).get("grade"):
            assert stderr(cell) == "", (nbmeta(cell)["grade_id"], stderr(cell))
            assert not outputs(cell, "execute_result"), nbmeta(cell)["grade_id"]
    print(f"solution notebook: {full_run['seconds']:.0f} s (goal: benchmarks/bench_notebook.py)")


@needs_data
def test_full_run_tests_pass_with_full_marks(full_run):
    cells = cells_by_id(full_run["nb"])
    for gid in (g for g in POINTS if g.startswith("test_")):
        part = gid[len("test_") :]
        out = stdout(cells[gid])
        assert f"{part}: public test passed" in out, (gid, out)
        match = re.search(rf"hidden check {part}: .*→ (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", out)
        assert match and float(match.group(1)) == POINTS[gid], (gid, out)


@needs_data
def test_full_run_best_net_reaches_50_percent(full_run):
    from cs231n_utils.data import get_cifar10_data

    path = full_run["workdir"] / "best_net.npz"
    with np.load(path) as saved:
        assert sorted(saved.files) == ["W1", "W2", "b1", "b2"]
        params = {k: saved[k] for k in saved.files}
    assert all(v.dtype.kind == "f" for v in params.values())
    ref = reference.load_reference(SOLUTION)
    data = get_cifar10_data()
    val_acc = float(np.mean(ref.predict(data["X_val"], params) == data["y_val"]))
    print(f"best net validation accuracy: {val_acc:.3f}")
    assert val_acc >= 0.50
    # the default net reproduces CS231n's ~29 %
    default_out = stdout(cell_with_id(full_run["nb"], "run-default-net"))
    default_acc = float(re.search(r"validation accuracy: ([\d.]+)", default_out).group(1))
    assert 0.25 <= default_acc <= 0.33, default_out


@needs_data
def test_full_run_best_hyperparameters_literal_is_the_search_winner(full_run):
    cells = cells_by_id(full_run["nb"])
    search_out = stdout(cell_with_id(full_run["nb"], "run-search"))
    winner = ast.literal_eval(search_out.split("Best: ", 1)[1].splitlines()[0])
    tree = ast.parse(cells["best_hyperparameters"].source)
    call = tree.body[0].value
    literal = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert set(literal) == {
        "hidden_size",
        "std",
        "learning_rate",
        "learning_rate_decay",
        "reg",
        "num_iters",
        "batch_size",
        "seed",
    }
    assert literal == winner


# ----------------------------------------------------------------------------- nbgrader validate
@needs_data
@pytest.mark.parametrize("which", ["solution", "student"])
def test_nbgrader_validate_verdicts(which, full_run, tmp_path):
    """validate passes the solution and reports the student version as failing (exit code is 0
    either way, so the verdict is read from its output). Runs with NBGRADER_EXECUTION set: short
    runs only."""
    source = SOLUTION if which == "solution" else STUDENT
    shutil.copy(source, tmp_path / source.name)
    shutil.copy(full_run["workdir"] / "best_net.npz", tmp_path)
    start = time.time()
    result = nbgrader(["validate", source.name], cwd=tmp_path)
    print(f"validate {which}: {time.time() - start:.0f} s")
    if which == "solution":
        assert "Success! Your notebook passes all the tests." in result.stdout, (
            result.stdout + result.stderr
        )
    else:
        # 7 autograded test cells + 4 unanswered written answers
        assert "VALIDATION FAILED ON 11 CELL(S)!" in result.stdout, result.stdout + result.stderr
        assert "NotImplementedError" in result.stdout
