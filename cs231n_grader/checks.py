"""Sealed checks: per part, secret inputs, comparison with the reference, a score.

Everything here runs in the trusted process. The student's functions are called elsewhere
(the sandboxed :mod:`cs231n_grader.runner`, or in-process through :func:`hidden_check` for
the instructor's own notebook); only plain float arrays come back and are judged here.

Secret inputs are derived deterministically from the grader secret (env ``CS231N_GRADER_SECRET``,
else ``<course root>/.grader_secret``, created on first use, mode 0600), so re-grading gives the
same cases and the same scores.
"""
from __future__ import annotations

import builtins
import functools
import hashlib
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cs231n_grader import runner
from cs231n_grader.reference import load_reference, repo_root

SECRET_ENV = "CS231N_GRADER_SECRET"
SECRET_FILE = ".grader_secret"
#: the autograded parts called in the sandbox, cheap ones first (a hang in train costs the least)
CALLED_PARTS = ("forward", "softmax_loss", "backward", "predict", "train")
ALL_PARTS = CALLED_PARTS + ("accuracy",)
DEFAULT_POINTS = {"forward": 10, "softmax_loss": 10, "backward": 20, "train": 10, "predict": 5, "accuracy": 10}
RTOL, ATOL = 1e-5, 1e-8
#: case kinds whose answers the notebook shows (they earn points only together with hidden ones)
PUBLIC_KINDS = frozenset({"toy"})
PUBLIC_ONLY_NOTE = ("Only the public toy example is right, which earns no points on its own: "
                    "your code must work for any shapes and inputs.")
MAX_OUTPUT_ELEMENTS = runner.MAX_OUTPUT_ELEMENTS


# --- the secret ------------------------------------------------------------------------------
def grader_secret(course_root: str | Path | None = None) -> bytes:
    """The grader secret: ``$CS231N_GRADER_SECRET`` or ``<course_root>/.grader_secret``
    (course_root defaults to the repository root), created with mode 0600 on first use."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = Path(course_root if course_root is not None else repo_root()) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def case_rng(secret: bytes, part: str, label: str) -> np.random.Generator:
    """A generator seeded from (secret, part, case label): stable across runs, unguessable."""
    digest = hashlib.sha256(secret + b"\0" + part.encode() + b"\0" + label.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


# --- cases ------------------------------------------------------------------------------------
@dataclass
class Case:
    """One call of a student's function: inputs as arrays + scalars, a label safe to show."""

    id: str
    part: str
    label: str
    arrays: dict[str, np.ndarray]
    scalars: dict = field(default_factory=dict)
    kind: str = "random"  # toy | random | n1 | zero_rows | large_scores | separable


def toy_problem() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], float]:
    """CS231n's toy model (N=5, D=4, H=10, C=3): ``np.random.seed(0)`` weights, ``seed(1)`` X
    (RandomState reproduces the legacy global stream without touching global state)."""
    rs = np.random.RandomState(0)
    W1 = 0.1 * rs.randn(4, 10)
    W2 = 0.1 * rs.randn(10, 3)
    params = {"W1": W1, "b1": np.zeros(10), "W2": W2, "b2": np.zeros(3)}
    X = 10 * np.random.RandomState(1).randn(5, 4)
    return X, np.array([0, 1, 2, 2, 1]), params, 0.05


def _dims(rng: np.random.Generator, n: int | None = None) -> tuple[int, int, int, int]:
    """Distinct (N, D, H, C), so a sum over the wrong axis shows as a wrong shape."""
    while True:
        N, D, H, C = (int(v) for v in rng.integers([6, 5, 5, 3], [16, 14, 14, 8]))
        N = n if n is not None else N
        if len({N, D, H, C}) == 4:
            return N, D, H, C


def _random_problem(rng, dims, zero_rows=0):
    """X (N, D), y (N,), params with nonzero biases (b1 = 0 when ``zero_rows`` > 0 so those rows
    have S1 exactly 0)."""
    N, D, H, C = dims
    X = rng.normal(0.0, 1.0, (N, D))
    params = {"W1": rng.normal(0, 1 / np.sqrt(D), (D, H)), "b1": rng.normal(0, 0.5, H),
              "W2": rng.normal(0, 1 / np.sqrt(H), (H, C)), "b2": rng.normal(0, 0.5, C)}
    if zero_rows:
        X[rng.choice(N, zero_rows, replace=False)] = 0.0
        params["b1"] = np.zeros(H)
    y = rng.integers(0, C, N)
    if N >= C:
        y[:C] = rng.permutation(C)  # every class appears
    return X, y, params


def _param_arrays(params) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}


def _base_problems(secret: bytes, part: str):
    """(kind, label, X, y, params, reg) shared by forward/softmax_loss/backward/predict."""
    out = [("toy", "CS231n toy model", *toy_problem())]
    for i, reg in enumerate((0.05, 0.0, 0.3)):
        rng = case_rng(secret, part, f"random{i}")
        out.append(("random", f"random inputs #{i + 1}", *_random_problem(rng, _dims(rng)), reg))
    rng = case_rng(secret, part, "n1")
    out.append(("n1", "a single example (N = 1)", *_random_problem(rng, _dims(rng, n=1)), 0.1))
    rng = case_rng(secret, part, "zero_rows")
    out.append(("zero_rows", "rows of X all zero with b1 = 0 (S1 exactly 0)",
                *_random_problem(rng, _dims(rng), zero_rows=2), 0.05))
    return out


def make_cases(part: str, secret: bytes, ref) -> list[Case]:
    """The secret cases of one part (reference used only to build realistic intermediate inputs)."""
    cases = []
    if part == "train":
        return _train_cases(secret, ref)
    for kind, label, X, y, params, reg in _base_problems(secret, part):
        S2, (_, S1, X2) = ref.forward(X, params)
        if part == "forward" or part == "predict":
            arrays = {"X": X, **_param_arrays(params)}
        elif part == "softmax_loss":
            arrays = {"S2": S2, "y": y, **_param_arrays(params)}
        elif part == "backward":
            _, P = ref.softmax_loss(S2, y, params, reg)
            arrays = {"P": P, "y": y, "X": X, "S1": S1, "X2": X2, **_param_arrays(params)}
        else:
            raise ValueError(f"unknown part {part!r}; parts are {ALL_PARTS}")
        scalars = {"reg": reg, "standins": part == "predict"}
        cases.append(Case(f"{part}/{len(cases)}", part, label, arrays, scalars, kind))
    if part == "softmax_loss":
        rng = case_rng(secret, part, "large")
        X, y, params = _random_problem(rng, _dims(rng))
        N, C = X.shape[0], params["b2"].shape[0]
        offset = np.where(rng.random((N, 1)) < 0.5, -1.0, 1.0) * rng.uniform(800, 1200, (N, 1))
        S2 = offset + rng.normal(0, 3.0, (N, C))
        cases.append(Case(f"{part}/{len(cases)}", part, "large scores (|S2| ~ 1e3)",
                          {"S2": S2, "y": y, **_param_arrays(params)}, {"reg": 0.05}, "large_scores"))
    return cases


def _separable(rng, N, D, C):
    centers = rng.normal(0, 3.0, (C, D))
    y = np.arange(N) % C
    rng.shuffle(y)
    return centers[y] + rng.normal(0, 0.5, (N, D)), y


def _train_cases(secret: bytes, ref) -> list[Case]:
    """Small separable problems trained from reference init_params. The runner grades train() with
    stand-in helpers (a quadratic objective pulling params to the targets T_*), so the result
    depends on the SGD loop alone, not on the student's forward/backward."""
    cases = []
    for i, (N, D, H, C, bs, iters) in enumerate(((60, 7, 12, 3, 20, 60), (90, 9, 16, 4, 30, 75))):
        rng = case_rng(secret, "train", f"separable{i}")
        X, y = _separable(rng, N, D, C)
        X_val, y_val = _separable(rng, 2 * C, D, C)
        params = ref.init_params(D, H, C, std=0.1, seed=int(rng.integers(1000)))
        targets = {f"T_{k}": rng.normal(0, 1, np.shape(v)) for k, v in params.items()}
        scalars = {"learning_rate": 0.05, "learning_rate_decay": 0.9, "reg": 1e-4, "num_iters": iters,
                   "batch_size": bs, "seed": int(rng.integers(1000)), "standins": True}
        arrays = {"X": X, "y": y, "X_val": X_val, "y_val": y_val, **_param_arrays(params), **targets}
        cases.append(Case(f"train/{i}", "train", f"a small separable problem #{i + 1}", arrays, scalars,
                          "separable"))
    return cases


# --- reference outputs and comparison ------------------------------------------------------------
def expected_outputs(case: Case, ref, standins: bool | None = None) -> dict[str, np.ndarray]:
    """The reference's outputs for a case, in the runner's output names (see runner.call_part);
    ``standins=False`` gives them without the stand-in helpers (the case's own setting otherwise)."""
    scalars = case.scalars if standins is None else {**case.scalars, "standins": standins}
    return runner.call_part(case.part, getattr(ref, case.part), case.arrays, scalars)


def used_standins(got: dict) -> bool:
    """Whether the student's function called the stand-in helpers (it did not bypass them)."""
    calls = coerce(got.get(runner.STANDIN_CALLS)) if runner.STANDIN_CALLS in got else None
    return calls is not None and calls.size == 1 and float(calls.ravel()[0]) > 0


def expected_for(case: Case, got: dict, ref) -> dict[str, np.ndarray]:
    """The reference outputs to compare ``got`` with: with the stand-ins when the student's
    function used them, else the plain reference (a predict/train that computes everything itself)."""
    if case.scalars.get("standins") and not used_standins(got):
        return expected_outputs(case, ref, standins=False)
    return expected_outputs(case, ref)


def coerce(value) -> np.ndarray | None:
    """A plain float64 ndarray copy of an output array received from the runner, or None when it
    is not a plain numeric array (object dtype, structured, too large)."""
    if type(value) is not np.ndarray or value.dtype.kind not in "fiub" or value.size > MAX_OUTPUT_ELEMENTS:
        return None
    return np.array(value, dtype=np.float64, copy=True)


def close(got: np.ndarray, expected: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Same shape, finite where the reference is finite, and |got - expected| <= atol·scale + rtol·|expected|.
    Plain numpy on plain float64 arrays in the trusted process."""
    if got.shape != expected.shape:
        return False
    if not np.all(np.isfinite(got)):
        return False
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return bool(np.all(np.abs(got - expected) <= atol * scale + rtol * np.abs(expected)))


def _train_loss(ref, arrays, params, reg) -> float:
    S2, _ = ref.forward(arrays["X"], params)
    loss, _ = ref.softmax_loss(S2, arrays["y"], params, reg)
    return float(loss)


def judge(case: Case, got: dict[str, np.ndarray], expected: dict[str, np.ndarray], ref) -> str | None:
    """None when the student's outputs pass the case, else a reason in words (no values)."""
    for name, exp in expected.items():
        if name == runner.STANDIN_CALLS or (case.part == "train" and name in runner.PARAM_NAMES):
            continue
        if name not in got:
            return f"{_describe(name)}: missing from your result"
        g = coerce(got[name])
        if g is None:
            return f"{_describe(name)}: not a plain numeric array"
        if case.part == "train":
            continue
        if g.size == exp.size == 1:
            g = g.reshape(exp.shape)
        if g.shape != exp.shape:
            return f"{_describe(name)}: wrong shape, expected {_symbolic_shape(case.part, name)}"
        if not np.all(np.isfinite(g)):
            return f"{_describe(name)}: contains inf or nan"
        if not close(g, exp):
            return f"{_describe(name)}: wrong values"
    if case.part == "train":
        return _judge_train(case, got, expected, ref)
    return None


def _judge_train(case, got, expected, ref) -> str | None:
    """History structure and the loss the trained params reach (evaluated with the reference)."""
    iters = case.scalars["num_iters"]
    loss_hist = coerce(got["loss_history"]).ravel()
    if loss_hist.size != iters:
        return "history['loss_history']: needs one entry per iteration"
    n_epochs = expected["train_acc_history"].size
    for key in ("train_acc_history", "val_acc_history"):
        n = coerce(got[key]).size
        if abs(n - n_epochs) > 1:
            return f"history['{key}']: needs one entry per epoch"
    params = {}
    for k in runner.PARAM_NAMES:
        p = coerce(got.get(k)) if k in got else None
        if p is None or p.shape != case.arrays[k].shape or not np.all(np.isfinite(p)):
            return f"params['{k}'] after training is missing, reshaped or not finite"
        params[k] = p
    if used_standins(got):
        if not all(close(params[k], expected[k]) for k in runner.PARAM_NAMES):
            return ("the parameters after train() are not what minibatch SGD gives: update them in "
                    "place with learning_rate * grads and decay learning_rate once per epoch")
        return None
    reg = case.scalars["reg"]
    initial = _train_loss(ref, case.arrays, {k: case.arrays[k] for k in runner.PARAM_NAMES}, reg)
    target = _train_loss(ref, case.arrays, {k: expected[k] for k in runner.PARAM_NAMES}, reg)
    reached = _train_loss(ref, case.arrays, params, reg)
    if not np.isfinite(reached) or reached > target + 0.3 * (initial - target):
        return ("the parameters after train() do not reach a low training loss "
                "(are they updated in place with the gradients, the learning rate and the batches?)")
    return None


_NAMES = {"S2": "scores S2", "S1": "cache[1] (S1)", "X2": "cache[2] (X2)", "loss": "loss",
          "P": "probabilities P", "dW1": "grads['W1']", "db1": "grads['b1']", "dW2": "grads['W2']",
          "db2": "grads['b2']", "y_pred": "predictions", "loss_history": "history['loss_history']",
          "train_acc_history": "history['train_acc_history']", "val_acc_history": "history['val_acc_history']"}
_SHAPES = {"S2": "(N, C)", "S1": "(N, H)", "X2": "(N, H)", "loss": "a scalar", "P": "(N, C)",
           "dW1": "(D, H)", "db1": "(H,)", "dW2": "(H, C)", "db2": "(C,)", "y_pred": "(N,)"}


def _describe(name: str) -> str:
    return _NAMES.get(name, name)


def _symbolic_shape(part: str, name: str) -> str:
    return _SHAPES.get(name, "the documented shape")


_BUILTIN_EXCEPTIONS = {name for name, obj in vars(builtins).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}


def safe_error(meta: dict) -> str:
    """An error reported by the runner, in words safe for feedback: the exception type when it is
    a builtin one and the solution cell and line; never the message (student code could put hidden
    inputs in it)."""
    etype = meta.get("error_type")
    etype = etype if isinstance(etype, str) and etype in _BUILTIN_EXCEPTIONS else "an exception"
    cell, line = meta.get("error_cell"), meta.get("error_line")
    where = ""
    if isinstance(cell, str) and cell in ALL_PARTS:
        where = f" in your {cell} cell"
        if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 10**5:
            where += f", line {line}"
    if etype == "NotImplementedError":
        return f"raised NotImplementedError{where} (not implemented yet)"
    return f"raised {etype}{where}"


# --- scores ------------------------------------------------------------------------------------
@dataclass
class PartResult:
    """The verdict of one part."""

    part: str
    max_points: float
    passed: int = 0
    total: int = 0
    score: float = 0.0
    failures: list[str] = field(default_factory=list)  # "label: reason", safe to show
    diagnosis: tuple[str, str] | None = None  # (mistake id, message)
    note: str | None = None  # a reason that applies to the whole part (timeout, missing file...)
    errors: list[str] = field(default_factory=list)  # full exception texts: instructor only, never feedback

    def summary(self) -> str:
        """One line for the feedback: what was checked, the points, the diagnosis."""
        if self.part == "accuracy":
            text = f"Grader, on your saved best_net.npz: {self.note} → {self.score:g}/{self.max_points:g}."
        else:
            text = (f"Grader, on hidden inputs: {self.passed}/{self.total} cases correct → "
                    f"{self.score:g}/{self.max_points:g}.")
            if self.note:
                text += f" {self.note}"
        if self.diagnosis:
            text += f" Diagnosis: {self.diagnosis[1]}"
        return text


def part_score(points: float, passed: int, total: int) -> float:
    """points × fraction passed, rounded to 2 decimals, never above points."""
    if total <= 0:
        return 0.0
    return min(float(points), round(float(points) * passed / total, 2))


def score_part(part: str, cases: list[Case], results: dict[str, tuple[dict, dict] | str], ref,
               points: float, cell_errors: dict | None = None) -> PartResult:
    """Score one part. ``results[case.id]`` is ``(meta, outputs)`` from the runner or a string
    reason why the case has no result (timeout, crash...); ``cell_errors`` (from run_sealed) says
    which solution cells failed to run."""
    from cs231n_grader import diagnose  # local: diagnose imports this module

    res = PartResult(part, float(points), total=len(cases))
    wrong, passed_kinds = [], set()
    for case in cases:
        outcome = results.get(case.id, "no result (the grader's runner stopped before this case)")
        if isinstance(outcome, str):
            res.failures.append(f"{case.label}: {outcome}")
            continue
        meta, outputs = outcome
        if meta.get("error") or meta.get("error_type"):
            res.failures.append(f"{case.label}: {safe_error(meta)}")
            res.errors.append(str(meta.get("error"))[:runner.MAX_ERROR_CHARS])
            continue
        expected = expected_for(case, outputs, ref)
        reason = judge(case, outputs, expected, ref)
        if reason is None:
            res.passed += 1
            passed_kinds.add(case.kind)
        else:
            res.failures.append(f"{case.label}: {reason}")
            wrong.append((case, outputs))
    if passed_kinds and passed_kinds <= PUBLIC_KINDS and res.passed < res.total:
        # the public toy answers are printed in the notebook: hard-coding them earns nothing
        res.note = PUBLIC_ONLY_NOTE
        res.passed = 0
    res.score = part_score(points, res.passed, res.total)
    if wrong:
        res.diagnosis = diagnose.diagnose_part(part, wrong, ref)
    broken = (cell_errors or {}).get(part)
    if isinstance(broken, dict) and res.passed < res.total:
        res.note = f"Your {part} cell itself failed when run: {safe_error({**broken, 'error_cell': part})}."
    reasons = {results[c.id] for c in cases if isinstance(results.get(c.id), str)}
    if reasons and res.passed < res.total:
        res.note = "; ".join(sorted(reasons | ({res.note} if res.note else set())))[:400]
    return res


# --- accuracy ---------------------------------------------------------------------------------
def validate_net(path: Path, max_hidden: int = 4096, notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """The student's best_net.npz through the one validator the notebook uses too
    (cs231n_utils.netfile.load_net: bounded reads, no pickles). Raises ValueError with the reason."""
    from cs231n_utils.netfile import load_net

    return load_net(path, max_hidden=max_hidden, notes=notes)


def accuracy_score(val_acc: float, points: float, full_at: float = 0.48, zero_at: float = 0.35) -> float:
    """Full points at ``val_acc >= full_at``, linear down to 0 at ``zero_at``."""
    frac = (val_acc - zero_at) / (full_at - zero_at)
    return min(float(points), round(float(points) * min(1.0, max(0.0, frac)), 2))


@functools.lru_cache(maxsize=2)
def evaluation_data(data_dir: str | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 validation and test sets preprocessed as the notebook does (get_cifar10_data's
    defaults: mean image of the 49000 training images subtracted), cached per data folder."""
    from cs231n_utils.data import get_cifar10_data

    data = get_cifar10_data(data_dir=data_dir)
    return {k: data[k] for k in ("X_val", "y_val", "X_test", "y_test")}


def check_accuracy(net_path: Path, ref, data: dict | None = None, points: float = 10,
                   full_at: float = 0.48, zero_at: float = 0.35) -> PartResult:
    """The reference forward pass on the student's saved weights, on CIFAR-10 val (and test)."""
    res = PartResult("accuracy", float(points), total=1)
    notes: list[str] = []
    try:
        net = validate_net(net_path, notes=notes)
    except ValueError as exc:
        res.note = f"0 points: {exc}"
        return res
    if data is None:
        data = evaluation_data()
    accs = {}
    for split in ("val", "test"):
        S2, _ = ref.forward(np.asarray(data[f"X_{split}"], dtype=np.float64), net)
        accs[split] = float(np.mean(np.argmax(S2, axis=1) == data[f"y_{split}"]))
    res.score = accuracy_score(accs["val"], points, full_at, zero_at)
    res.passed = int(res.score >= points)
    res.note = (f"validation accuracy {accs['val']:.3f} (full points at {full_at:.2f}, none at "
                f"{zero_at:.2f}), test accuracy {accs['test']:.3f}" + "".join(f"; {n}" for n in notes))
    return res


# --- in the sandbox (grading) ------------------------------------------------------------------
def runner_argv() -> list[str]:
    """The runner's command line inside the sandbox (-I: no PYTHONPATH, no cwd on sys.path)."""
    return [sys.executable, "-I", "-m", "cs231n_grader.runner"]


def run_in_sandbox(request: bytes, limits, allow_unsandboxed: bool | None = None):
    """One sandboxed runner process on a fresh, empty private folder -> SandboxResult."""
    from cs231n_grader.sandbox import run_sandboxed

    with tempfile.TemporaryDirectory(prefix="cs231n-sealed-") as workdir:
        return run_sandboxed(runner_argv(), workdir=Path(workdir), stdin=request, limits=limits,
                             allow_unsandboxed=allow_unsandboxed)


def run_sealed(cells, cases: list[Case], limits=None, max_runs: int | None = None,
               run=None) -> tuple[dict[str, tuple[dict, dict] | str], dict]:
    """Run the student's ``cells`` and call their functions on ``cases`` in a fresh sandbox.

    Returns ``(results, cell_errors)``: ``results[case.id]`` is ``(meta, outputs)`` parsed from
    the runner's frames, or a reason string when the case has no result. When the runner dies or
    hangs during a case, that case and the rest of its part get the reason, and the runner is
    started again for the remaining parts (at most ``max_runs`` runs in all).
    ``run(request, limits) -> SandboxResult`` replaces the sandbox (tests).
    """
    from cs231n_grader.sandbox import Limits

    limits = Limits(wall_seconds=60.0, cpu_seconds=60) if limits is None else limits
    run = run or run_in_sandbox
    max_runs = len({c.part for c in cases}) + 1 if max_runs is None else max_runs
    results: dict[str, tuple[dict, dict] | str] = {}
    cell_errors: dict = {}
    pending = list(cases)
    for _ in range(max_runs):
        if not pending:
            break
        calls, arrays = request_calls(pending)
        outcome = run(runner.encode_request(list(cells), calls, arrays), limits)
        frames, problem = runner.decode_frames(outcome.stdout)
        wanted, ready = {c.id for c in pending}, False
        for meta, outputs in frames:
            cid = meta.get("id")
            if cid == runner.READY and not ready:
                ready = True
                cell_errors = meta.get("cell_errors") if isinstance(meta.get("cell_errors"), dict) else {}
            elif cid in wanted and cid not in results:
                results[cid] = (meta, outputs)
        pending = [c for c in pending if c.id not in results]
        if not pending:
            break
        reason = _stop_reason(outcome, problem)
        if not ready:
            for c in pending:
                results[c.id] = f"your solution cells did not finish loading ({reason})"
            pending = []
            break
        stuck = pending[0].part
        for c in pending:
            if c.part == stuck:
                results[c.id] = f"the grader's run stopped in {stuck}() ({reason})"
        pending = [c for c in pending if c.part != stuck]
    for c in pending:
        results[c.id] = "not run (too many restarts of the grader's runner)"
    return results, cell_errors


def _stop_reason(outcome, problem: str | None) -> str:
    """Why a runner process ended without all its results, in an instructor's words."""
    if outcome.reason:
        return outcome.reason
    if getattr(outcome, "stdout_truncated", False):
        return "the results exceeded the grader's output limit"
    return problem or "the runner exited early"


# --- in-process (instructor's own notebook) -------------------------------------------------------
def run_in_process(namespace: dict, cases: list[Case]) -> dict[str, tuple[dict, dict] | str]:
    """Call the functions in ``namespace`` on the cases through the runner's own code path
    (encode → call → frames → decode), without a sandbox. Only for trusted notebooks."""
    calls, arrays = request_calls(cases)
    _, calls, arrays = runner.decode_request(runner.encode_request([], calls, arrays))
    frames = [runner.encode_frame(*runner.run_call(call, namespace, arrays)) for call in calls]
    decoded, _ = runner.decode_frames(b"".join(frames))
    return {meta["id"]: (meta, outs) for meta, outs in decoded}


def request_calls(cases: list[Case]) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The runner manifest's calls and the prefixed input arrays for these cases."""
    calls, arrays = [], {}
    for case in cases:
        calls.append({"id": case.id, "part": case.part, "arrays": sorted(case.arrays),
                      "scalars": case.scalars})
        arrays.update({f"{case.id}/{k}": v for k, v in case.arrays.items()})
    return calls, arrays


def hidden_check(part: str, namespace: dict, points: float | None = None, net_path: str | Path = "best_net.npz",
                 secret: bytes | None = None, reference=None) -> None:
    """Run the sealed check of ``part`` in-process on the functions in ``namespace`` (the solution
    notebook's hidden test blocks call it with ``globals()``). Prints a one-line summary; raises
    AssertionError with the diagnosis unless the part gets full marks."""
    if part not in ALL_PARTS:
        raise ValueError(f"unknown part {part!r}; parts are {ALL_PARTS}")
    ref = load_reference() if reference is None else reference
    points = DEFAULT_POINTS[part] if points is None else points
    if part == "accuracy":
        res = check_accuracy(Path(net_path), ref, points=points)
    else:
        cases = make_cases(part, grader_secret() if secret is None else secret, ref)
        res = score_part(part, cases, run_in_process(namespace, cases), ref, points)
    print(f"hidden check {part}: {res.summary()}")
    if res.score < res.max_points:
        detail = "; ".join(res.failures[:3] + res.errors[:2])  # the full errors: this is the instructor
        raise AssertionError(f"hidden check {part} failed: {res.summary()} {detail}")
