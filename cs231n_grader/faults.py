"""The grader's own faults: told apart from a student's, so they never become a student's zero.

A sealed check that cannot run because of the *installation* (CIFAR-10 missing, the runner
cannot start or import the kit, bubblewrap broken, limits too tight for Python itself) raises
:class:`GraderFault`. ``SealedChecks`` lets it through, so ``nbgrader autograde`` reports an error
for that submission and writes no score, and ``cs231n-autograde`` stops the whole run.

Two probes, both run only in the trusted process:

* :func:`evaluation_data` — the CIFAR-10 validation/test arrays, or GraderFault saying how to
  fetch them;
* :func:`probe_runner` — the sealed-check runner started in its sandbox on *no* student code.
  Called when a student's run did not even reach "ready": if the empty run fails too, the
  cause is the grader, not the student.
"""

from __future__ import annotations

FIX_INSTALL = (
    "check that this interpreter has the kit installed (`pip install -e .` in the kit's "
    "folder, or `make setup`), that `bwrap --version` works, and that the SealedChecks "
    "limits in nbgrader_config.py leave room for Python and numpy"
)


class GraderFault(RuntimeError):
    """The grader cannot grade (its installation or data), whatever the submission. The message
    says what is wrong and what to do next."""


def evaluation_data(data_dir: str | None = None) -> dict:
    """``{X_val (1000, 3072), y_val (1000,), X_test (1000, 3072), y_test (1000,)}`` for the
    accuracy part (``accuracy.evaluation_data``); GraderFault when CIFAR-10 cannot be loaded."""
    from cs231n_grader.accuracy import evaluation_data as load
    from cs231n_utils.data import DataError, default_data_dir

    try:
        return load(data_dir)
    except (
        DataError,
        OSError,
        ValueError,
        EOFError,
        KeyError,
    ) as exc:  # missing, truncated, unreadable
        raise GraderFault(
            f"CIFAR-10 could not be loaded from {data_dir or default_data_dir()} "
            f"({type(exc).__name__}: {exc}). No grade was written. Fetch it with `python -m "
            "cs231n_utils.data download` (or set CS231N_DATA_DIR to a folder holding "
            "cifar-10-batches-py/) and grade again."
        ) from exc


def probe_runner(limits, allow_unsandboxed: bool | None = None, run=None) -> None:
    """Start the sealed-check runner in its sandbox with no student cells and no calls.

    Returns when it reports ready; raises GraderFault (with the runner's own stderr) otherwise.
    ``run(request, limits) -> SandboxResult`` is ``sealed.run_in_sandbox`` by default."""
    from cs231n_grader import runner
    from cs231n_grader.sealed import run_in_sandbox

    if run is None:

        def run(request, lim):
            return run_in_sandbox(request, lim, allow_unsandboxed=allow_unsandboxed)

    outcome = run(runner.encode_request([], [], {}), limits)
    frames, problem = runner.decode_frames(outcome.stdout)
    if any(meta.get("id") == runner.READY for meta, _ in frames):
        return
    stderr = outcome.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
    reason = outcome.reason or problem or f"exit status {outcome.returncode}"
    raise GraderFault(
        "The sealed-check runner cannot start even without any student code "
        f"({reason}); its last output:\n    "
        + "\n    ".join(stderr or ["(none)"])
        + "\nThis is the grader's installation, not the submission: no grade was written. Fix: "
        f"{FIX_INSTALL}."
    )


def runner_never_ready(results: dict) -> bool:
    """Whether a sealed run (``sealed.run_sealed``'s results: case id -> CaseOutcome) returned no
    result at all (every outcome is a reason), e.g. because the runner never became ready."""
    return bool(results) and all(r.reason is not None for r in results.values())
