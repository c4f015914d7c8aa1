"""Sealed checks: verdicts decided outside the student's process (issue 5 §2-3, issue 4).

Two levels, both real: the sealed runner in the real bubblewrap sandbox fed with attacking solution
cells, and a real `nbgrader autograde` of a small class in a scratch course using the kit's
nbgrader_config.py (StripHiddenTests, SandboxedExecute, SealedChecks, SaveSealedGrades).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n_grader import runner
from cs231n_grader.accuracy import accuracy_score, check_accuracy, evaluation_data, split_accuracies
from cs231n_grader.cases import make_cases
from cs231n_grader.parts import CALLED_PARTS, DEFAULT_POINTS
from cs231n_grader.preprocessors import HIDDEN_NOTE, StripHiddenTests
from cs231n_grader.reference import CodeCell, default_notebook, repo_root, solution_cells
from cs231n_grader.sandbox import Limits
from cs231n_grader.scoring import score_part
from cs231n_grader.sealed import run_sealed
from cs231n_grader.secret import SECRET_ENV

REPO = repo_root()
NBGRADER = Path(sys.executable).with_name("nbgrader")
SECRET = b"test-secret-for-sealed-checks"
POINTS = DEFAULT_POINTS
# nbgrader runs `alembic` from PATH when it creates a gradebook; the secret fixes the hidden cases
NBGRADER_ENV = {
    **os.environ,
    "PATH": f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    SECRET_ENV: SECRET.decode(),
}

# every test here is marked `sandbox` (tests/conftest.py) and skipped, with the reason, without it


@pytest.fixture(scope="module")
def cells():
    return solution_cells(default_notebook())


@pytest.fixture(scope="module")
def cases(ref):
    return [c for part in CALLED_PARTS for c in make_cases(part, SECRET, ref)]


def replace_cell(cells, key, source):
    assert key in {c.key for c in cells}
    return [CodeCell(c.key, source) if c.key == key else c for c in cells]


def prepend(cells, key, code):
    """Insert ``code`` at the top of the body of the function defined in cell ``key`` — a
    student's extra lines inside their own function."""
    import ast

    out = []
    for c in cells:
        if c.key == key:
            fn = next(n for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef))
            lines = c.source.split("\n")
            at = fn.body[0].lineno - 1
            body = [f"    {line}" for line in code.strip("\n").split("\n")]
            c = CodeCell(c.key, "\n".join(lines[:at] + body + lines[at:]))
        out.append(c)
    return out


def scores(cells, cases, ref, limits=None):
    results, cell_errors = run_sealed(cells, cases, limits=limits)
    return (
        {
            part: score_part(
                part, [c for c in cases if c.part == part], results, ref, POINTS[part], cell_errors
            )
            for part in CALLED_PARTS
        },
        results,
        cell_errors,
    )


def full(parts):
    return {p: float(POINTS[p]) for p in parts}


def got(res):
    return {p: r.score for p, r in res.items()}


# --- protocol -------------------------------------------------------------------------------------
def test_frames_never_unpickle_and_are_size_limited():
    good = runner.encode_frame({"id": "forward/0", "error": None}, {"S2": np.ones((2, 3))})
    buf = io.BytesIO()
    np.savez(
        buf, S2=np.array([object()], dtype=object), __meta__=np.frombuffer(b'{"id": "x"}', np.uint8)
    )
    evil = buf.getvalue()
    frames, problem = runner.decode_frames(good + len(evil).to_bytes(8, "big") + evil)
    assert len(frames) == 1 and frames[0][0]["id"] == "forward/0" and "malformed" in problem
    frames, problem = runner.decode_frames(good, max_frame_bytes=16)
    assert frames == [] and "exceeds" in problem
    frames, problem = runner.decode_frames(good[:-5])
    assert frames == [] and "truncated" in problem


def test_reference_in_sandbox_full_marks_even_when_it_prints_and_warns(cells, cases, ref):
    noisy = cells
    for key in ("forward", "softmax_loss", "chain_rule_factors", "backward", "train", "predict"):
        noisy = prepend(
            noisy,
            key,
            "import sys, warnings\nprint('debug', file=sys.stderr)\nprint('stdout noise')\n"
            "warnings.warn('student warning')\nnp.log(np.zeros(1))",
        )
    res, _, cell_errors = scores(noisy, cases, ref)
    assert got(res) == full(CALLED_PARTS) and cell_errors == {}


# --- attacks in the sealed runner -----------------------------------------------------------------
PATCHES = """
import builtins, sys, types
import numpy
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
builtins.abs = lambda x: 0
fake = types.ModuleType("cs231n_grader.compare")
fake.allclose_scaled = lambda *a, **k: True
sys.modules["cs231n_grader.compare"] = fake
sys.modules["cs231n_grader.scoring"] = fake
sys.modules["cs231n_grader.diagnose"] = fake
"""


def test_patching_numpy_builtins_and_sys_modules_awards_nothing(cells, cases, ref):
    attacked = replace_cell(
        cells,
        "forward",
        PATCHES + "\ndef forward(X, params):\n"
        "    Z = np.zeros((X.shape[0], params['b2'].shape[0]))\n"
        "    return Z, (X, np.zeros((X.shape[0], params['b1'].shape[0])), Z)\n",
    )
    res, _, _ = scores(attacked, cases, ref)
    assert res["forward"].score == 0
    # the other parts are the reference's own: patched numpy in the runner changes nothing here
    assert {p: res[p].score for p in ("softmax_loss", "backward")} == full(
        ("softmax_loss", "backward")
    )


def test_subclass_and_always_equal_objects_earn_nothing(cells, cases, ref):
    attacked = replace_cell(
        cells,
        "forward",
        """
class Yes(np.ndarray):
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
def forward(X, params):
    Z = np.zeros((X.shape[0], params['b2'].shape[0])).view(Yes)
    return Z, (X, Z, Z)
""",
    )
    attacked = replace_cell(
        attacked,
        "predict",
        """
class Anything:
    def __eq__(self, other):
        return True
    def __array__(self, *a, **k):
        raise TypeError('no')
def predict(X, params):
    return Anything()
""",
    )
    attacked = replace_cell(
        attacked,
        "softmax_loss",
        """
class Loss(float):
    def __eq__(self, other):
        return True
def softmax_loss(S2, y, params, reg):
    return Loss(0.0), np.full(S2.shape, 1.0 / S2.shape[1])
""",
    )
    res, _, _ = scores(attacked, cases, ref)
    assert (res["forward"].score, res["predict"].score, res["softmax_loss"].score) == (0, 0, 0)
    assert res["backward"].score == POINTS["backward"]


def test_hard_coding_the_public_toy_answers_earns_nothing(cells, cases, ref):
    attacked = replace_cell(
        cells,
        "forward",
        """
def forward(X, params):
    S2 = np.asarray([[-0.81233741, -1.27654624, -0.70335995],
                     [-0.17129677, -1.18803311, -0.47310444],
                     [-0.51590475, -1.01354314, -0.8504215],
                     [-0.15419291, -0.48629638, -0.52901952],
                     [-0.00618733, -0.12435261, -0.15226949]])
    S1 = X @ params['W1'] + params['b1']
    return S2, (X, S1, np.maximum(0, S1))
""",
    )
    attacked = replace_cell(
        attacked, "predict", "def predict(X, params):\n    return np.array([0, 1, 2, 2, 1])\n"
    )
    res, _, _ = scores(attacked, cases, ref)
    assert res["forward"].score == 0 and res["predict"].score == 0
    assert "public toy example" in res["forward"].summary()


def test_solutions_gradebook_and_secret_are_not_readable_from_the_runner(
    cells, cases, ref, tmp_path
):
    solution = default_notebook()
    assert solution.is_file()  # on the host the attack would work
    leak = f"""
import json, os
def forward(X, params):
    found = 0.0
    for path in ({str(solution)!r}, {str(REPO / ".grader_secret")!r},
                 {str(REPO / "gradebook.db")!r},
                 '../../../solutions/two_layer_net/two_layer_net.ipynb', '../../../gradebook.db'):
        try:
            open(path, 'rb').read(10)
            found += 1.0
        except OSError:
            pass
    found += (100.0 * any(name != '.pyenv' for name in os.listdir('/root'))
              if os.path.isdir('/root') else 0.0)
    found += 10.0 * bool(os.environ.get('CS231N_GRADER_SECRET'))
    ns = {{'np': np}}
    try:
        nb = json.load(open({str(solution)!r}))
        for cell in nb['cells']:
            if (cell.get('metadata', {{}}).get('nbgrader', {{}}).get('solution')
                    and cell['cell_type'] == 'code'):
                exec(''.join(cell['source']), ns)
        return ns['forward'](X, params)
    except OSError:
        Z = np.full((X.shape[0], params['b2'].shape[0]), found)
        return Z, (X, Z, Z)
"""
    os.environ[SECRET_ENV] = "must-not-leak"
    try:
        res, results, _ = scores(replace_cell(cells, "forward", leak), cases, ref)
    finally:
        del os.environ[SECRET_ENV]
    assert res["forward"].score == 0
    leaked = {float(results[c.id].outputs["S2"].flat[0]) for c in cases if c.part == "forward"}
    assert leaked == {0.0}, "the runner could read solutions/, the gradebook, the secret or /root"


def test_a_crash_keeps_earlier_results_and_later_parts_are_still_graded(cells, cases, ref):
    crashing = prepend(cells, "backward", "import os\nos._exit(3)")
    res, results, _ = scores(crashing, cases, ref)
    before = (
        "forward",
        "softmax_loss",
        "chain_rule_factors",
        "predict",
    )  # chain_rule_factors runs before backward
    assert {p: res[p].score for p in before} == full(before)
    assert res["backward"].score == 0 and "exited with status 3" in res["backward"].note
    # train is graded with stand-in helpers, so the crashing backward does not cost its points
    assert res["train"].score == POINTS["train"]


def test_killing_the_parent_or_hanging_costs_only_that_part(cells, cases, ref):
    attacked = prepend(
        cells,
        "predict",
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)",
    )
    attacked = prepend(attacked, "train", "while True:\n    pass")
    res, _, _ = scores(attacked, cases, ref, limits=Limits(wall_seconds=8, cpu_seconds=8))
    assert {p: res[p].score for p in ("forward", "softmax_loss", "backward")} == full(
        ("forward", "softmax_loss", "backward")
    )
    assert res["predict"].score == 0 and res["train"].score == 0
    assert "wall time" in res["train"].note or "CPU time" in res["train"].note


def test_a_gigabyte_of_output_and_a_fork_storm_cost_nothing_else(cells, cases, ref):
    """forward prints 1 GiB (through sys.stdout and fd 1) and is otherwise correct; softmax_loss
    forks 2^8 processes (bounded by the sandbox): the frame stream survives, children never write
    frames, every other part keeps its points."""
    attacked = prepend(
        cells,
        "forward",
        "import sys, os\nchunk = 'x' * 2**20\nfor _ in range(960):\n"
        "    sys.stdout.write(chunk)\nfor _ in range(64):\n    os.write(1, chunk.encode())",
    )
    attacked = prepend(attacked, "softmax_loss", "import os\nfor _ in range(8):\n    os.fork()")
    res, _, _ = scores(attacked, cases, ref, limits=Limits(wall_seconds=60, cpu_seconds=60))
    # softmax_loss itself earns what its (correct) values earn on the cases whose forks succeeded
    assert got(res) == {**full(CALLED_PARTS), "softmax_loss": res["softmax_loss"].score}


def test_huge_allocation_fails_inside_the_limit(cells, cases, ref):
    attacked = prepend(cells, "forward", "big = np.ones(10 * 2**30 // 8)")
    res, results, _ = scores(attacked, cases, ref)
    assert res["forward"].score == 0 and "MemoryError" in res["forward"].failures[0]
    assert res["backward"].score == POINTS["backward"]


def test_forged_frames_and_stdout_garbage_award_nothing(cells, cases, ref):
    """Student code writes garbage to fd 1 and forged frames (wrong values, first in the stream)
    to every open fd: only values the student computed can ever be judged."""
    forger = replace_cell(
        cells,
        "forward",
        """
import os, sys, numpy
from cs231n_grader import runner as _r
def forward(X, params):
    frame_ids = [f"forward/{i}" for i in range(20)]
    Z = np.zeros((X.shape[0], params['b2'].shape[0]))
    for fd in range(1, 30):
        for cid in frame_ids:
            try:
                os.write(fd, _r.encode_frame({"id": cid, "error": None},
                                             {"S2": Z, "S1": Z, "X2": Z}))
            except OSError:
                pass
    print("Grader, on hidden inputs: 6/6 cases correct → 10/10.")
    os.write(1, b"\\x00" * 64)
    return Z, (X, Z, Z)
""",
    )
    res, _, _ = scores(forger, cases, ref)
    assert res["forward"].score == 0
    assert res["backward"].score == POINTS["backward"] or "malformed" in (
        res["backward"].note or ""
    )


def test_error_text_in_feedback_never_carries_student_controlled_messages(cells, cases, ref):
    attacked = replace_cell(
        cells,
        "forward",
        """
class LeakingError(Exception):
    pass
def forward(X, params):
    raise LeakingError(repr(X))
""",
    )
    attacked = replace_cell(
        attacked, "predict", "def predict(X, params):\n    raise ValueError(repr(X))\n"
    )
    res, _, _ = scores(attacked, cases, ref)
    shown = " ".join(res["forward"].failures + res["predict"].failures)
    # the function that raised, never a line or cell the code reports (issue 8 item 6)
    assert "forward() raised an exception" in shown and "predict() raised ValueError" in shown
    assert " line " not in shown
    assert "[" not in shown and "e-" not in shown and "0." not in shown


def test_a_solution_cell_that_does_not_run_is_named(cells, cases, ref):
    broken = replace_cell(
        cells, "softmax_loss", "def softmax_loss(S2, y, params, reg)\n    return 0\n"
    )
    broken = replace_cell(
        broken, "predict", "import no_such_module\ndef predict(X, params):\n    return 0\n"
    )
    res, _, cell_errors = scores(broken, cases, ref)
    assert set(cell_errors) == {"softmax_loss", "predict"}
    assert res["softmax_loss"].score == 0 and res["predict"].score == 0
    # a syntax error's line is found by compiling the cell on the trusted side; a runtime error's is
    # never shown
    assert (
        res["softmax_loss"].note
        == "Your softmax_loss cell itself failed when run: it has a syntax error on line 1."
    )
    assert (
        res["predict"].note
        == "Your predict cell itself failed when run: it raised ModuleNotFoundError."
    )
    assert res["forward"].score == POINTS["forward"]


# --- preprocessors --------------------------------------------------------------------------------
def test_strip_hidden_tests_leaves_a_note_and_tolerates_unterminated_blocks():
    src = (
        "a = 1\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\nb = 2\n"
        "    ### BEGIN HIDDEN TESTS\n    x = 3"
    )
    strip_hidden_tests = StripHiddenTests().strip
    out, removed = strip_hidden_tests(src)
    assert removed and out == f"a = 1\n{HIDDEN_NOTE}\nb = 2\n    {HIDDEN_NOTE}"
    assert strip_hidden_tests("print(1)") == ("print(1)", False)


def test_saved_net_is_validated_before_the_reference_evaluates_it(tmp_path, ref):
    rng = np.random.default_rng(0)
    good = {
        "W1": rng.normal(0, 1e-3, (3072, 20)),
        "b1": np.zeros(20),
        "W2": rng.normal(0, 1e-3, (20, 10)),
        "b2": np.zeros(10),
    }
    data = {
        "X_val": rng.normal(size=(50, 3072)),
        "y_val": rng.integers(0, 10, 50),
        "X_test": rng.normal(size=(50, 3072)),
        "y_test": rng.integers(0, 10, 50),
    }
    cases = {
        "missing": (None, "not found"),
        "pickled": ({**good, "W1": np.array([object()], dtype=object)}, "not real numbers"),
        "missing key": ({k: v for k, v in good.items() if k != "b2"}, "lacks b2"),
        "wrong shape": ({**good, "W1": np.zeros((3071, 20))}, "W1 has shape"),
        "nan": ({**good, "b2": np.full(10, np.nan)}, "inf or nan"),
        "strings": ({**good, "b1": np.array(["a"] * 20)}, "not real numbers"),
    }
    for name, (net, reason) in cases.items():
        path = tmp_path / name.replace(" ", "_") / "best_net.npz"
        path.parent.mkdir()
        if net is not None:
            np.savez(path, **net)
        res = check_accuracy(path, ref, data=data)
        assert res.score == 0 and reason in res.note, (name, res.note)
    real = tmp_path / "real.npz"
    np.savez(real, **good)
    link = tmp_path / "link" / "best_net.npz"
    link.parent.mkdir()
    link.symlink_to(real)
    assert "is a link" in check_accuracy(link, ref, data=data).note
    res = check_accuracy(real, ref, data=data, points=10)
    S2, _ = ref.forward(data["X_val"], good)
    val = float(np.mean(np.argmax(S2, axis=1) == data["y_val"]))
    held_out = split_accuracies(good, ref, data)["held_out"]  # test + mirrored validation images
    assert (
        res.score == accuracy_score(held_out, 10) and f"validation accuracy {val:.3f}" in res.note
    )
    np.savez(
        real, **good, W3=np.zeros(3)
    )  # the notebook's rule: other arrays are ignored, with a note
    assert "ignored other arrays in real.npz: W3.npy" in check_accuracy(real, ref, data=data).note


# --- a real nbgrader autograde --------------------------------------------------------------------
KEEP_IDS = {
    "toy_model",
    "forward",
    "softmax_loss",
    "chain_rule_factors",
    "backward",
    "train",
    "predict",
}


def trimmed_source(dest: Path) -> None:
    """The solution notebook without its CIFAR training/plot cells (fast to execute): setup, api,
    toy model, the six solution cells and every grade cell stay."""
    nb = nbformat.read(default_notebook(), as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    kept = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if (
            cell.cell_type == "markdown"
            or i == first_code
            or "api" in cell.metadata.get("tags", [])
            or meta.get("grade")
            or meta.get("grade_id") in KEEP_IDS
        ):
            kept.append(cell)
    nb.cells = kept
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / "two_layer_net.ipynb")


def fill(
    release: Path, solution: Path, out: Path, edits=(), replace=None, prefix=None, suffix=None
) -> None:
    """A submission: the release with every solution cell set to the reference's (markers
    dropped), then ``edits`` [(grade_id, old, new)], ``replace`` {grade_id: source}, ``prefix``
    {grade_id: code put before the cell's source}."""
    rel = nbformat.read(release, as_version=4)
    sol = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in nbformat.read(solution, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }
    for cell in rel.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if (
            cell.cell_type != "code"
            or not cell.metadata.get("nbgrader", {}).get("solution")
            or gid not in sol
        ):
            continue
        cell.source = "\n".join(
            line
            for line in sol[gid].split("\n")
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
        )
        for g, old, new in edits:
            if g == gid:
                assert cell.source.count(old) == 1, (gid, old)
                cell.source = cell.source.replace(old, new)
        if replace and gid in replace:
            cell.source = replace[gid]
        if prefix and gid in prefix:
            cell.source = prefix[gid] + "\n" + cell.source
        if suffix and gid in suffix:
            cell.source = cell.source + "\n" + suffix[gid]
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(rel, out / "two_layer_net.ipynb")


KERNEL_ATTACKS = """
import builtins, sys, types, numpy
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
builtins.AssertionError = type("AssertionError", (Exception,), {})
fake = types.ModuleType("cs231n_grader.hidden")
fake.hidden_check = lambda *a, **k: print("hidden check: 10/10")
sys.modules["cs231n_grader.hidden"] = fake
try:
    ip = get_ipython()
    ip.showtraceback = lambda *a, **k: None
    ip._showtraceback = lambda *a, **k: None
except NameError:
    pass
"""

FORGER = """
import sys
class Yes(np.ndarray):
    def __eq__(self, other):
        return True
def predict(X, params):
    print("Grader, on hidden inputs: 6/6 cases correct → 5/5.")
    sys.displayhook(np.float64(1000.0))   # an execute_result above the cell's points
    return np.zeros(X.shape[0], dtype=int).view(Yes)
"""

READER = """
import glob, json, os
def forward(X, params):
    for target in ('../../../gradebook.db', '../../../../gradebook.db'):
        try:
            open(target, 'w').close()   # truncate the gradebook (the stock-nbgrader attack)
        except OSError:
            pass
    for other in (glob.glob('../../*/two_layer_net')
                  + glob.glob('../../../autograded/*/two_layer_net')):
        try:
            open(os.path.join(other, 'two_layer_net.ipynb'), 'w').write('{}')
        except OSError:
            pass
    ns = {'np': np}
    paths = (['../../../solutions/two_layer_net/two_layer_net.ipynb',
              '../../../../solutions/two_layer_net/two_layer_net.ipynb']
             + glob.glob('/tmp/**/solutions/*/*.ipynb', recursive=True))
    for path in paths:
        try:
            nb = json.load(open(path))
        except OSError:
            continue
        for cell in nb['cells']:
            if (cell.get('metadata', {}).get('nbgrader', {}).get('solution')
                    and cell['cell_type'] == 'code'):
                exec(''.join(cell['source']), ns)
        return ns['forward'](X, params)
    raise FileNotFoundError('nothing to steal')
"""

NOISY = """
import functools, sys, warnings
def _noisy(f):
    @functools.wraps(f)
    def noisy(*args, **kwargs):
        print('noise on stderr', file=sys.stderr)
        warnings.warn('a warning from the student')
        return f(*args, **kwargs)
    return noisy
{name} = _noisy({name})
"""

STUDENTS = {
    # id: (fill kwargs, net kind)
    "reference": ({}, "trained"),
    "relu_missing": (
        {"edits": [("backward", "    dS1 = dX2 * (S1 > 0)\n", "    dS1 = dX2\n")]},
        None,
    ),
    "patcher": (
        {
            "edits": [("forward", "    S2 = X2 @ W2 + b2\n", "    S2 = 2 * (X2 @ W2 + b2)\n")],
            "prefix": {"forward": KERNEL_ATTACKS},
        },
        None,
    ),
    # reads solutions/ and the gradebook (forward), forges results (predict), pickled best_net.npz
    "forger": ({"replace": {"forward": READER, "predict": FORGER}}, "pickled"),
    # correct, but every function writes to stderr and warns when called (in the test cells too)
    "noisy": ({"suffix": {k: NOISY.format(name=k) for k in KEEP_IDS - {"toy_model"}}}, "nan"),
    "crasher": (
        {
            "edits": [
                (
                    "backward",
                    "    X, S1, X2 = cache\n",
                    "    import os\n    os._exit(1)\n    X, S1, X2 = cache\n",
                )
            ]
        },
        None,
    ),
    "untouched": (None, None),
}


def write_net(kind, folder: Path, trained: Path) -> None:
    if kind == "trained":
        shutil.copy(trained, folder / "best_net.npz")
    elif kind == "pickled":
        np.savez(
            folder / "best_net.npz",
            W1=np.array([object()], dtype=object),
            b1=np.zeros(2),
            W2=np.zeros((2, 10)),
            b2=np.zeros(10),
        )
    elif kind == "nan":
        with np.load(trained) as net:
            bad = {k: net[k].copy() for k in net.files}
        bad["W2"][0, 0] = np.nan
        np.savez(folder / "best_net.npz", **bad)


def gradebook_scores(db: Path) -> dict[str, dict[str, float]]:
    """{student: {part: auto_score}} of the autograded test cells,
    read with nbgrader's Gradebook."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission_notebook("two_layer_net", "two_layer_net", student.id)
            except Exception:  # noqa: BLE001 - no submission
                continue
            out[student.id] = {
                g.name[len("test_") :]: g.auto_score
                for g in sub.grades
                if g.name.startswith("test_")
            }
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory, trained_net):
    """A scratch course (the kit's nbgrader_config.py), released, with the class submitted and
    autograded once by `nbgrader autograde`."""
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nexec(open({str(REPO / 'nbgrader_config.py')!r}).read())\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
    )
    trimmed_source(root / "solutions" / "two_layer_net")
    nbgrader = [str(NBGRADER)]
    subprocess.run(
        nbgrader + ["generate_assignment", "two_layer_net", "--force"],
        cwd=root,
        check=True,
        capture_output=True,
        env=NBGRADER_ENV,
    )
    release = root / "assignment" / "two_layer_net" / "two_layer_net.ipynb"
    solution = root / "solutions" / "two_layer_net" / "two_layer_net.ipynb"
    for student, (kwargs, net) in STUDENTS.items():
        folder = root / "submitted" / student / "two_layer_net"
        if kwargs is None:
            folder.mkdir(parents=True)
            shutil.copy(release, folder / "two_layer_net.ipynb")
        else:
            fill(release, solution, folder, **kwargs)
        write_net(net, folder, trained_net)
    proc = subprocess.run(
        nbgrader + ["autograde", "two_layer_net"],
        cwd=root,
        capture_output=True,
        text=True,
        env=NBGRADER_ENV,
    )
    return root, proc


def test_autograde_completes_and_gradebook_is_intact(course):
    root, proc = course
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = gradebook_scores(root / "gradebook.db")
    assert set(scores) == set(STUDENTS)
    for student in STUDENTS:  # no submission was overwritten by another
        nb = nbformat.read(
            root / "submitted" / student / "two_layer_net" / "two_layer_net.ipynb", as_version=4
        )
        assert len(nb.cells) > 10


def test_autograded_scores_are_the_sealed_verdicts(course, ref, trained_net):
    root, _ = course
    scores = gradebook_scores(root / "gradebook.db")
    parts = CALLED_PARTS
    data = evaluation_data()
    with np.load(trained_net) as net:
        accs = split_accuracies({k: net[k].astype(float) for k in net.files}, ref, data)
    expected_accuracy = accuracy_score(accs["held_out"], POINTS["accuracy"])
    assert 0 < expected_accuracy
    assert scores["reference"] == {**full(parts), "accuracy": expected_accuracy}
    assert scores["relu_missing"] == {**full(parts), "backward": 0.0, "accuracy": 0.0}
    # patched numpy/builtins/sys.modules/IPython in the kernel: forward is graded as what it is
    patcher = scores["patcher"]
    assert patcher == {**full(parts), "forward": 0.0, "accuracy": 0.0}
    # stealing the reference, fake prints, an execute_result of 1000 points, an always-equal
    # subclass, a pickled npz: nothing, and no abort
    assert scores["forger"] == {**full(parts), "forward": 0.0, "predict": 0.0, "accuracy": 0.0}
    assert scores["noisy"] == {**full(parts), "accuracy": 0.0}  # stderr in its test cells: no harm
    assert scores["crasher"] == {**full(parts), "backward": 0.0, "accuracy": 0.0}
    assert scores["untouched"] == {p: 0.0 for p in (*parts, "accuracy")}


def test_feedback_notes_name_the_mistake_without_hidden_code(course):
    root, _ = course
    autograded = root / "autograded"
    for student in STUDENTS:
        text = (autograded / student / "two_layer_net" / "two_layer_net.ipynb").read_text()
        assert "hidden_check(" not in text and "BEGIN HIDDEN TESTS" not in text
        assert HIDDEN_NOTE[2:] in text
    nb = nbformat.read(
        autograded / "relu_missing" / "two_layer_net" / "two_layer_net.ipynb", as_version=4
    )
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_backward"
    )
    verdict = cell.metadata["cs231n"]["verdict"]
    assert verdict["diagnosis"]["id"] == "relu_mask_missing" and verdict["score"] == 0
    notes = [o for o in cell.outputs if o.get("metadata", {}).get("cs231n", {}).get("grader")]
    assert len(notes) == 1 and "0/6 cases correct" in notes[0].data["text/plain"]
    assert (
        "Diagnosis: your backward pass lets the gradient through the ReLU"
        in notes[0].data["text/plain"]
    )
    nb = nbformat.read(
        autograded / "forger" / "two_layer_net" / "two_layer_net.ipynb", as_version=4
    )
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy"
    )
    assert "not real numbers" in json.dumps(cell.metadata["cs231n"]["verdict"])
    # the traps were live: stderr in the noisy student's test cells (stock nbgrader: 0 points)
    nb = nbformat.read(autograded / "noisy" / "two_layer_net" / "two_layer_net.ipynb", as_version=4)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_forward"
    )
    assert any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs)
    nb = nbformat.read(
        autograded / "forger" / "two_layer_net" / "two_layer_net.ipynb", as_version=4
    )
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_predict"
    )
    assert any(o.output_type == "execute_result" for o in cell.outputs)  # stock: 1000 > 5 aborts
    # the student's own net was put beside the notebook, so their public accuracy test ran on it
    assert (autograded / "reference" / "two_layer_net" / "best_net.npz").is_file()
    nb = nbformat.read(
        autograded / "reference" / "two_layer_net" / "two_layer_net.ipynb", as_version=4
    )
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy"
    )
    assert "Validation accuracy of best_net.npz" in json.dumps(cell.outputs)
    nb = nbformat.read(
        autograded / "untouched" / "two_layer_net" / "two_layer_net.ipynb", as_version=4
    )
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_forward"
    )
    assert "NotImplementedError" in " ".join(cell.metadata["cs231n"]["verdict"]["failures"])


def test_regrading_is_idempotent(course):
    root, _ = course
    before = gradebook_scores(root / "gradebook.db")
    proc = subprocess.run(
        [str(NBGRADER), "autograde", "two_layer_net", "--force", "--student", "relu_missing"],
        cwd=root,
        capture_output=True,
        text=True,
        env=NBGRADER_ENV,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gradebook_scores(root / "gradebook.db") == before
