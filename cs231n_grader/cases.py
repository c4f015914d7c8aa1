"""The secret cases of each part: the inputs a student's function is called on, and what came back.

Cases are built in the trusted process from the grader secret (:mod:`cs231n_grader.secret`); the
reference is used only to build realistic intermediate inputs (S2, P, the cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cs231n_grader.parts import CALLED_PARTS
from cs231n_grader.secret import case_rng


@dataclass
class Case:
    """One call of a student's function: inputs as arrays + scalars, a label safe to show."""

    id: str
    part: str
    label: str
    arrays: dict[str, np.ndarray]
    scalars: dict = field(default_factory=dict)
    kind: str = "random"  # toy | random | single_example | zero_rows | large_scores | separable


@dataclass(frozen=True)
class CaseOutcome:
    """What came back for one case: the runner's ``meta`` dict and ``outputs`` (name -> array),
    or, when the case has no result (timeout, crash ...), the ``reason`` in
    an instructor's words."""

    meta: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    reason: str | None = None


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
    params = {
        "W1": rng.normal(0, 1 / np.sqrt(D), (D, H)),
        "b1": rng.normal(0, 0.5, H),
        "W2": rng.normal(0, 1 / np.sqrt(H), (H, C)),
        "b2": rng.normal(0, 0.5, C),
    }
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
    rng = case_rng(
        secret, part, "n1"
    )  # the seed label stays "n1": the same secret gives the same cases
    out.append(
        ("single_example", "a single example (N = 1)", *_random_problem(rng, _dims(rng, n=1)), 0.1)
    )
    rng = case_rng(secret, part, "zero_rows")
    out.append(
        (
            "zero_rows",
            "rows of X all zero with b1 = 0 (S1 exactly 0)",
            *_random_problem(rng, _dims(rng), zero_rows=2),
            0.05,
        )
    )
    return out


def make_cases(part: str, secret: bytes, ref) -> list[Case]:
    """The secret cases of one part (reference used only to build realistic intermediate inputs)."""
    cases = []
    if part == "train":
        return _train_cases(secret, ref)
    if part == "chain_rule_factors":
        from cs231n_grader import chain_check  # it builds on this module's problems

        return chain_check.make_cases(secret, ref)
    for kind, label, X, y, params, reg in _base_problems(secret, part):
        S2, (_, S1, X2) = ref.forward(X, params)
        if part == "forward" or part == "predict":
            arrays = {"X": X, **_param_arrays(params)}
        elif part == "softmax_loss":
            arrays = {"S2": S2, "y": y, **_param_arrays(params)}
        elif part == "backward":
            # P from other scores than forward(X, params) gives (except on the public toy case):
            # backward must use the P it is given, so differentiating the loss numerically fails
            noise = (
                0.0
                if kind == "toy"
                else case_rng(secret, part, f"P{len(cases)}").normal(0, 1, S2.shape)
            )
            _, P = ref.softmax_loss(S2 + noise, y, params, reg)
            arrays = {"P": P, "y": y, "X": X, "S1": S1, "X2": X2, **_param_arrays(params)}
        else:
            raise ValueError(f"unknown part {part!r}; parts are {CALLED_PARTS}")
        scalars = {"reg": reg, "standins": part == "predict"}
        cases.append(Case(f"{part}/{len(cases)}", part, label, arrays, scalars, kind))
    if part == "softmax_loss":
        rng = case_rng(secret, part, "large")
        X, y, params = _random_problem(rng, _dims(rng))
        N, C = X.shape[0], params["b2"].shape[0]
        offset = np.where(rng.random((N, 1)) < 0.5, -1.0, 1.0) * rng.uniform(800, 1200, (N, 1))
        S2 = offset + rng.normal(0, 3.0, (N, C))
        cases.append(
            Case(
                f"{part}/{len(cases)}",
                part,
                "large scores (|S2| ~ 1e3)",
                {"S2": S2, "y": y, **_param_arrays(params)},
                {"reg": 0.05},
                "large_scores",
            )
        )
    return cases


def _separable(rng, N, D, C):
    """X (N, D) around C random centres, y (N,) balanced labels."""
    centers = rng.normal(0, 3.0, (C, D))
    y = np.arange(N) % C
    rng.shuffle(y)
    return centers[y] + rng.normal(0, 0.5, (N, D)), y


def _train_cases(secret: bytes, ref) -> list[Case]:
    """Small separable problems trained from reference init_params. The runner grades train() with
    stand-in helpers (cs231n_utils.calls._standin_loss_and_grads: a quadratic objective pulling
    params to the targets T_*, plus a term that pairs every minibatch example with its label through
    the tables U (C, H) and V (D, H)), so the result depends on the SGD loop alone -- which examples
    each step used, the update, the decay, the histories -- not on the student's forward/backward.
    N is not a multiple of batch_size, so N / batch_size is not an integer."""
    cases = []
    for i, (N, D, H, C, bs, iters) in enumerate(((70, 7, 12, 3, 20, 60), (95, 9, 16, 4, 30, 75))):
        rng = case_rng(secret, "train", f"separable{i}")
        X, y = _separable(rng, N, D, C)
        X_val, y_val = _separable(rng, 5 * C, D, C)
        params = ref.init_params(D, H, C, std=0.1, seed=int(rng.integers(1000)))
        targets = {f"T_{k}": rng.normal(0, 1, np.shape(v)) for k, v in params.items()}
        tables = {"U": rng.normal(0, 1, (C, H)), "V": rng.normal(0, 1 / np.sqrt(D), (D, H))}
        scalars = {
            "learning_rate": 0.05,
            "learning_rate_decay": 0.9,
            "reg": 1e-4,
            "num_iters": iters,
            "batch_size": bs,
            "seed": int(rng.integers(1000)),
            "standins": True,
        }
        arrays = {
            "X": X,
            "y": y,
            "X_val": X_val,
            "y_val": y_val,
            **_param_arrays(params),
            **targets,
            **tables,
        }
        cases.append(
            Case(
                f"train/{i}",
                "train",
                f"a small separable problem #{i + 1}",
                arrays,
                scalars,
                "separable",
            )
        )
    return cases
