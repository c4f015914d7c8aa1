"""Self-check: your functions on practice cases, judged and worded as the grader judges them.

    >>> from cs231n_utils.selfcheck import check
    >>> check("backward")
    Self-check of backward() on 5 practice cases (saved notebook two_layer_net.ipynb, 10:42:07):
      ✓ random inputs #1
      ✗ rows of X all zero with b1 = 0 (S1 exactly 0): grads['W1']: wrong values
      ...
      Diagnosis: your outputs match a known mistake: ReLU wrong inequality.

What it does, like the grader: it reads your SAVED notebook (save first), runs the same code the
grader runs (``cs231n_utils.nbcells``: your solution cells, and only the definitions of your other
cells) in a fresh namespace, calls your function on practice cases of the same kinds as the
grader's hidden ones (other shapes, N = 1, exact ReLU zeros, large scores) and compares each output
with ``cs231n_utils.compare``, the grader's own comparison. The expected outputs come from
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

import numpy as np

from cs231n_utils import chain
from cs231n_utils.compare import allclose_scaled, as_plain_float_array, output_reason
from cs231n_utils.nbcells import exec_cells, graded_cells

NOTEBOOK = "two_layer_net.ipynb"
DATA_NAME = "selfcheck"
PARAM_NAMES = ("W1", "b1", "W2", "b2")


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


# --- calling your function as the grader does -------------------------------------------------------
def _plain(value, what: str) -> np.ndarray:
    """A float64 array copy of one of your outputs (as the grader's runner makes it)."""
    try:
        return np.array(value, dtype=np.float64, copy=True, subok=False)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{what} is not a numeric array ({type(value).__name__}): {exc}") from None


def call_part(part: str, fn, inputs: dict[str, np.ndarray], reg: float) -> dict[str, np.ndarray]:
    """Call your ``fn`` for ``part`` on private copies of ``inputs`` -> outputs by the grader's names
    (S2, S1, X2 | loss, P | dW1, db1, dW2, db2 | the keys of chain_rule_factors and how many
    numeric-differentiation helper calls made them)."""
    a = {k: np.array(v) for k, v in inputs.items()}
    params = {k: a[k] for k in PARAM_NAMES}
    if part == "forward":
        S2, cache = fn(a["X"], params)
        _, S1, X2 = cache
        return {"S2": _plain(S2, "S2"), "S1": _plain(S1, "cache[1] (S1)"), "X2": _plain(X2, "cache[2] (X2)")}
    if part == "softmax_loss":
        loss, P = fn(a["S2"], a["y"], params, reg)
        return {"loss": _plain(loss, "loss"), "P": _plain(P, "P")}
    if part == chain.PART:
        out = chain.call(fn, a["x"], a["y"], params)
        return {k: v if k == chain.NUMERIC_CALLS else _plain(v, f"factors['{k}']") for k, v in out.items()}
    if part == "backward":
        grads = fn(a["P"], a["y"], (a["X"], a["S1"], a["X2"]), params, reg)
        if not isinstance(grads, dict):
            raise TypeError(f"backward must return a dict of gradients, got {type(grads).__name__}")
        return {"d" + k: _plain(grads[k], f"grads['{k}']") for k in PARAM_NAMES if k in grads}
    raise ValueError(f"the self-check covers {sorted(SELF_CHECKED)}, not {part!r}")


SELF_CHECKED = ("forward", "softmax_loss", "chain_rule_factors", "backward")


def error_words(exc: BaseException) -> str:
    """What your code raised and where, in the grader's words, plus the message (it is yours)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
    where = ""
    if frames:
        key = frames[-1].filename[len("<cell "):-1]
        cell = f"{key} cell" if not key.startswith("cell:") else f"cell {int(key[5:]) + 1} (definitions)"
        where = f" in your {cell}, line {frames[-1].lineno}"
    if isinstance(exc, NotImplementedError):
        return f"raised NotImplementedError{where} (not implemented yet)"
    hint = ""
    if isinstance(exc, NameError):
        hint = (" -- the grader runs only your solution cells and the imports, def, class and "
                "NAME = constant lines of your other cells: define helpers that way")
    return f"raised {type(exc).__name__}{where}: {exc}{hint}"


# --- the data beside the notebook ----------------------------------------------------------------------
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
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


# --- the check -----------------------------------------------------------------------------------------
def run_check(part: str, notebook: str | Path = NOTEBOOK) -> Report:
    """Run the self-check of ``part`` on the saved ``notebook`` (data files beside it) -> Report."""
    notebook = Path(notebook)
    report = Report(part)
    say = report.lines.append
    if part not in SELF_CHECKED:
        say(f"The self-check covers {', '.join(SELF_CHECKED)}; {part}() is checked by its public test "
            "cell and, after hand-in, by the grader.")
        return report
    try:
        manifest, arrays = load_data(notebook.parent)
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        say(f"Self-check unavailable: {exc}. Keep {DATA_NAME}.npz and {DATA_NAME}.json from the "
            f"assignment zip beside {notebook.name}, and open the notebook from that folder.")
        return report
    cases = manifest["parts"][part]
    saved = time.strftime("%H:%M:%S", time.localtime(notebook.stat().st_mtime))
    say(f"Self-check of {part}() on {len(cases)} practice cases (saved notebook {notebook.name}, "
        f"{saved}; save first so your latest edits count):")
    errors: dict[str, BaseException] = {}
    namespace = exec_cells(graded_cells(nb), errors=errors)
    for exc in errors.values():
        say(f"  ! running your code as the grader does: {error_words(exc)}")
    fn = namespace.get(part)
    if not callable(fn):
        say(f"  ✗ no function {part}() is defined by your solution cells")
        report.total = len(cases)
        return report
    found = Counter()
    for case in cases:
        report.total += 1
        inputs = {k: arrays[f"{case['id']}/in/{k}"] for k in case["inputs"]}
        try:
            with np.errstate(all="ignore"):  # an overflow shows in the report as inf/nan, not as warnings
                got = call_part(part, fn, inputs, case["reg"])
        except Exception as exc:  # noqa: BLE001 - your errors are results
            say(f"  ✗ {case['label']}: {error_words(exc)}")
            continue
        # every wrong output, in the grader's order and words (scoring.score_part joins them the same way)
        if part == chain.PART and chain.used_numeric_helpers(got):
            reasons = [chain.NUMERIC_REASON]  # as the grader: numeric factors earn nothing
        else:
            reasons = [r for name in case["outputs"]
                       if (r := output_reason(name, got, arrays[f"{case['id']}/out/{name}"], part))]
        reason = "; ".join(dict.fromkeys(reasons)) or None
        if reason is None:
            report.passed += 1
            say(f"  ✓ {case['label']}")
            continue
        say(f"  ✗ {case['label']}: {reason}")
        for mistake_id, index in case["mistakes"]:
            if _matches(got, _variant(arrays, case["id"], mistake_id, index)):
                found[mistake_id] += 1
                break
    say(f"  {report.passed}/{report.total} practice cases correct.")
    if found:
        best = max(found, key=found.get)
        report.diagnosis = manifest["mistakes"].get(best, best)
        say(f"  Diagnosis: your outputs match a known mistake: {report.diagnosis}. "
            "After grading, the feedback explains any mistake it finds.")
    if report.ok:
        say("  The grader checks the same kinds of cases with secret inputs.")
    return report


def check(part: str, notebook: str | Path = NOTEBOOK) -> None:
    """Print the self-check of ``part`` (forward, softmax_loss, chain_rule_factors, backward);
    :func:`run_check` returns it."""
    print(run_check(part, notebook).text(), file=sys.stdout)
