"""Call a student's functions on the cases: in a fresh sandbox (grading) or in-process (the
instructor's own notebook). Only plain arrays come back, as one :class:`CaseOutcome` per case;
nothing here compares or scores."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from cs231n_grader import runner
from cs231n_grader.cases import Case, CaseOutcome
from cs231n_grader.cells import syntax_error_line
from cs231n_grader.sandbox import Limits, run_sandboxed


def runner_argv() -> list[str]:
    """The runner's command line inside the sandbox (-I: no PYTHONPATH, no cwd on sys.path)."""
    return [sys.executable, "-I", "-m", "cs231n_grader.runner"]


def run_in_sandbox(request: bytes, limits, allow_unsandboxed: bool | None = None):
    """One sandboxed runner process on a fresh, empty private folder -> SandboxResult."""
    with tempfile.TemporaryDirectory(prefix="cs231n-sealed-") as workdir:
        return run_sandboxed(
            runner_argv(),
            workdir=Path(workdir),
            stdin=request,
            limits=limits,
            allow_unsandboxed=allow_unsandboxed,
        )


def request_calls(cases: list[Case]) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The runner manifest's calls and the prefixed input arrays for these cases."""
    calls, arrays = [], {}
    for case in cases:
        calls.append(
            {
                "id": case.id,
                "part": case.part,
                "arrays": sorted(case.arrays),
                "scalars": case.scalars,
            }
        )
        arrays.update({f"{case.id}/{k}": v for k, v in case.arrays.items()})
    return calls, arrays


def run_sealed(
    cells, cases: list[Case], limits=None, max_runs: int | None = None, run=None
) -> tuple[dict[str, CaseOutcome], dict]:
    """Run the student's ``cells`` and call their functions on ``cases`` in a fresh sandbox.

    Returns ``(results, cell_errors)``: ``results[case.id]`` is the case's :class:`CaseOutcome`
    (meta and outputs parsed from the runner's frames, or the reason it has none). When the
    runner dies or hangs during a case, that case and the rest of its part get the reason, and the
    runner is started again for the remaining parts (at most ``max_runs`` runs in all).
    ``run(request, limits) -> SandboxResult`` replaces :func:`run_in_sandbox` (e.g. to pass
    ``allow_unsandboxed``).
    """
    limits = Limits(wall_seconds=60.0, cpu_seconds=60) if limits is None else limits
    run = run or run_in_sandbox
    max_runs = len({c.part for c in cases}) + 1 if max_runs is None else max_runs
    results: dict[str, CaseOutcome] = {}
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
                cell_errors = (
                    meta.get("cell_errors") if isinstance(meta.get("cell_errors"), dict) else {}
                )
            elif cid in wanted and cid not in results:
                results[cid] = CaseOutcome(meta, outputs)
        pending = [c for c in pending if c.id not in results]
        if not pending:
            break
        reason = _stop_reason(outcome, problem)
        if not ready:
            for c in pending:
                results[c.id] = CaseOutcome(
                    reason=f"your solution cells did not finish loading ({reason})"
                )
            pending = []
            break
        stuck = pending[0].part
        for c in pending:
            if c.part == stuck:
                results[c.id] = CaseOutcome(
                    reason=f"the grader's run stopped in {stuck}() ({reason})"
                )
        pending = [c for c in pending if c.part != stuck]
    for c in pending:
        results[c.id] = CaseOutcome(reason="not run (too many restarts of the grader's runner)")
    return results, located_cell_errors(cells, cell_errors)


def located_cell_errors(cells, cell_errors: dict) -> dict:
    """The runner's cell errors with every location the student's code could choose replaced by
    one the grader finds itself: the line of a syntax error, from compiling (not running) the
    cell here; no line at all for an error raised while the cell ran (code that raises on line k,
    k a hidden value, would otherwise read hidden inputs back through the feedback)."""
    sources = {c.key: c.source for c in cells}
    out = {}
    for key, meta in cell_errors.items():
        if key not in sources or not isinstance(meta, dict):
            continue
        line = syntax_error_line(sources[key])
        out[key] = {
            "error": meta.get("error"),
            "error_type": "SyntaxError" if line else meta.get("error_type"),
            "error_cell": key,
            "error_line": line,
        }
    return out


def _stop_reason(outcome, problem: str | None) -> str:
    """Why a runner process ended without all its results, in an instructor's words."""
    if outcome.reason:
        return outcome.reason
    if getattr(outcome, "stdout_truncated", False):
        return "the results exceeded the grader's output limit"
    return problem or "the runner exited early"


def run_in_process(namespace: dict, cases: list[Case]) -> dict[str, CaseOutcome]:
    """Call the functions in ``namespace`` on the cases through the runner's own code path
    (encode → call → frames → decode), without a sandbox. Only for trusted notebooks."""
    calls, arrays = request_calls(cases)
    _, calls, arrays = runner.decode_request(runner.encode_request([], calls, arrays))
    frames = [runner.encode_frame(*runner.run_call(call, namespace, arrays)) for call in calls]
    decoded, _ = runner.decode_frames(b"".join(frames))
    return {meta["id"]: CaseOutcome(meta, outs) for meta, outs in decoded}
