"""Self-check: your functions on practice cases, judged and worded as the grader judges them.

    >>> from cs231n_utils.selfcheck import check
    >>> check("backward")
    Self-check of backward() on 5 practice cases (saved notebook two_layer_net.ipynb, 10:42:07):
      ✓ random inputs #1
      ✗ rows of X all zero with b1 = 0 (S1 exactly 0): grads['W1']: wrong values
      ...
      Diagnosis: your outputs match a known mistake: ReLU mask lets S1 = 0 through.

What it does, like the grader: it reads your SAVED notebook (save first), runs the same code the
grader runs (``cs231n_utils.nbcells``: your solution cells, and only the definitions of your other
cells) in a fresh namespace, calls your function on practice cases of the same kinds as the
grader's hidden ones (other shapes, N = 1, exact ReLU zeros, large scores, small training runs)
the way the grader calls it (``cs231n_utils.calls``: train() and predict() with the grader's
stand-in helpers, backward() with its calls of forward/softmax_loss/loss_and_grads counted -- such
a backward earns no points --, chain_rule_factors() with its calls of the numeric-differentiation
helpers counted -- numeric factors earn no points either) and judges each case with
``cs231n_utils.compare``, the grader's own verdict. The expected outputs come from
``selfcheck.npz`` / ``selfcheck.json`` beside the notebook (numbers computed when the assignment was
released). The grader's cases are different ones: passing here is necessary, not sufficient.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cs231n_utils import chain, mistakes
from cs231n_utils.calls import call_part, helper_calls, standin_overrides
from cs231n_utils.compare import allclose_scaled, as_plain_float_array, case_failures
from cs231n_utils.nbcells import exec_cells, graded_cells

NOTEBOOK = "two_layer_net.ipynb"
DATA_NAME = "selfcheck"


@dataclass
class Report:
    """The outcome of one self-check: ``lines`` to show; ``passed`` of ``total`` cases."""

    part: str
    passed: int = 0
    total: int = 0
    lines: list[str] = field(default_factory=list)
    diagnosis: str | None = None

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def text(self) -> str:
        return "\n".join(self.lines)


# --- calling your function as the grader does -----------------------------------------------------
#: the parts the self-check covers: every function the grader calls on cases
SELF_CHECKED = ("forward", "softmax_loss", "chain_rule_factors", "backward", "train", "predict")


def standins_key(overrides: dict) -> str:
    """The data's name for a stand-in setting (``cs231n_utils.calls.standin_overrides``):
    ``standin_loss=1,standin_predict=0``."""
    return ",".join(f"{k}={int(bool(v))}" for k, v in sorted(overrides.items()))


def error_words(exc: BaseException) -> str:
    """What your code raised and where, in the grader's words, plus the message (it is yours)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
    where = ""
    if frames:
        key = frames[-1].filename[len("<cell ") : -1]
        cell = (
            f"{key} cell"
            if not key.startswith("cell:")
            else f"cell {int(key[5:]) + 1} (definitions)"
        )
        where = f" in your {cell}, line {frames[-1].lineno}"
    if isinstance(exc, NotImplementedError):
        return f"raised NotImplementedError{where} (not implemented yet)"
    hint = ""
    if isinstance(exc, NameError):
        hint = (
            " -- the grader runs only your solution cells and the imports, def, class and "
            "NAME = constant lines of your other cells: define helpers that way"
        )
    return f"raised {type(exc).__name__}{where}: {exc}{hint}"


# --- the data beside the notebook -----------------------------------------------------------------
def load_data(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """selfcheck.json and selfcheck.npz of ``folder`` (no pickles)."""
    manifest = json.loads((folder / f"{DATA_NAME}.json").read_text(encoding="utf-8"))
    with np.load(folder / f"{DATA_NAME}.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return manifest, arrays


def _matches(got: dict, variant: dict[str, np.ndarray]) -> bool:
    """Your outputs equal a mistake variant's on every output."""
    for name, exp in variant.items():
        g = as_plain_float_array(got.get(name)) if name in got else None
        if g is None:
            return False
        if g.size == exp.size == 1:
            g = g.reshape(exp.shape)
        if not allclose_scaled(g, exp):
            return False
    return True


def _variant(arrays: dict, case_id: str, mistake_id: str, index: int) -> dict[str, np.ndarray]:
    prefix = f"{case_id}/mistake/{mistake_id}/{index}/"
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _diagnose(
    order: list, case: dict, inputs: dict, got: dict, expected: dict, arrays: dict
) -> str | None:
    """The first catalogued mistake (in the grader's order) your outputs on this case show: by its
    rule (cs231n_utils.mistakes, the grader's own) or by the outputs of an altered reference."""
    view = SimpleNamespace(arrays=inputs, scalars=case["scalars"], kind=case["kind"])
    variants = {}
    for mistake_id, index in case["mistakes"]:
        variants.setdefault(mistake_id, []).append(index)
    for mistake_id, rule in order:
        try:
            if rule is not None and getattr(mistakes, rule)(view, got, expected):
                return mistake_id
            if any(
                _matches(got, _variant(arrays, case["id"], mistake_id, i))
                for i in variants.get(mistake_id, ())
            ):
                return mistake_id
        except Exception:  # noqa: BLE001 - a malformed output just doesn't match this mistake
            continue
    return None


def _expected(arrays: dict, case: dict, got: dict) -> dict[str, np.ndarray]:
    """The reference's outputs to compare yours with: with the stand-ins your function used, as
    the grader chooses them (train() or predict() that bypass a stand-in are compared with the
    reference that bypasses it too)."""
    overrides = standin_overrides(case["part"], case["scalars"], got)
    folder = "out" if not overrides else f"out@{standins_key(overrides)}"
    return {name: arrays[f"{case['id']}/{folder}/{name}"] for name in case["outputs"]}


# --- the check ------------------------------------------------------------------------------------
def run_check(part: str, notebook: str | Path = NOTEBOOK) -> Report:
    """Run the self-check of ``part`` on the saved ``notebook`` (data files beside it) -> Report."""
    notebook = Path(notebook)
    report = Report(part)
    say = report.lines.append
    if part not in SELF_CHECKED:
        say(
            f"The self-check covers {', '.join(SELF_CHECKED)}; {part}() is checked by its public "
            "test cell and, after hand-in, by the grader."
        )
        return report
    try:
        manifest, arrays = load_data(notebook.parent)
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        say(
            f"Self-check unavailable: {exc}. Keep {DATA_NAME}.npz and {DATA_NAME}.json from the "
            f"assignment zip beside {notebook.name}, and open the notebook from that folder."
        )
        return report
    cases = manifest["parts"][part]
    saved = time.strftime("%H:%M:%S", time.localtime(notebook.stat().st_mtime))
    say(
        f"Self-check of {part}() on {len(cases)} practice cases (saved notebook {notebook.name}, "
        f"{saved}; save first so your latest edits count):"
    )
    errors: dict[str, BaseException] = {}
    namespace = exec_cells(graded_cells(nb), errors=errors)
    for exc in errors.values():
        say(f"  ! running your code as the grader does: {error_words(exc)}")
    fn = namespace.get(part)
    if not callable(fn):
        say(f"  ✗ no function {part}() is defined by your solution cells")
        report.total = len(cases)
        return report
    found, numeric, numeric_factors = Counter(), False, False
    order = manifest["diagnoses"][part]  # the grader's catalogue order
    for case in cases:
        report.total += 1
        case = {**case, "part": part}
        inputs = {k: arrays[f"{case['id']}/in/{k}"] for k in case["inputs"]}
        try:
            with np.errstate(
                all="ignore"
            ):  # an overflow shows in the report as inf/nan, not as warnings
                got = call_part(
                    part, fn, inputs, case["scalars"]
                )  # the grader's call, stand-ins and all
        except Exception as exc:  # noqa: BLE001 - your errors are results
            say(f"  ✗ {case['label']}: {error_words(exc)}")
            continue
        # every wrong output, in the grader's order and words (the verdict scoring.score_part uses)
        expected = _expected(arrays, case, got)
        failed = case_failures(part, got, expected)
        numeric = numeric or (part == "backward" and helper_calls(got) > 0)
        numeric_factors = numeric_factors or (
            part == chain.PART and chain.used_numeric_helpers(got)
        )
        if not failed:
            report.passed += 1
            say(f"  ✓ {case['label']}")
            continue
        say(f"  ✗ {case['label']}: " + "; ".join(dict.fromkeys(failed.values())))
        mistake_id = _diagnose(order, case, inputs, got, expected, arrays)
        if mistake_id:
            found[mistake_id] += 1
    say(f"  {report.passed}/{report.total} practice cases correct.")
    if found:
        ids = [mistake_id for mistake_id, _ in order]  # the most frequent; ties: the grader's order
        best = max(found, key=lambda i: (found[i], -ids.index(i)))
        report.diagnosis = manifest["mistakes"].get(best, best)
        say(
            f"  Diagnosis: your outputs match a known mistake: {report.diagnosis}. "
            "After grading, the feedback explains any mistake it finds."
        )
    if numeric:
        say(
            "  The grader gives a backward() that calls forward(), softmax_loss() or "
            "loss_and_grads() no points, whatever its values."
        )
    if numeric_factors:
        say(
            "  The grader gives a chain_rule_factors() that calls a numeric-differentiation helper "
            "(eval_numerical_…) no points, whatever its values."
        )
    if report.ok:
        say("  The grader checks the same kinds of cases with secret inputs.")
    return report


def check(part: str, notebook: str | Path = NOTEBOOK) -> None:
    """Print the self-check of ``part`` (forward, softmax_loss, chain_rule_factors, backward, train,
    predict);
    :func:`run_check` returns it."""
    print(run_check(part, notebook).text(), file=sys.stdout)
