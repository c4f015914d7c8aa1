"""``cs231n-autograde``: parallel and distributed autograding on Dask; this process alone writes.

    cs231n-autograde two_layer_net [--workers N] [--scheduler tcp://host:8786]
                                   [--student ID ...] [--force]
    cs231n-autograde --json path/to/submission/ [two_layer_net]

Run from the course root, like nbgrader (it reads ``nbgrader_config.py`` the same way; other
``--Class.trait=value`` options are nbgrader's). The coordinator

1. reads the assignment's rows from the gradebook and its source folder (:class:`task.Release`);
2. grades a **canary**, the reference solution as a submission, through the same task, first in
   the queue; unless it gets every autograded point (CIFAR-10 missing, sandbox or runner broken,
   broken install ...) it stops before writing any grade, says what is wrong and exits 2;
3. sends one task per submission to Dask workers (a ``LocalCluster`` of one single-threaded
   worker process per core, or the cluster at ``--scheduler``), a bounded number in flight,
   beside the canary: results that arrive before the canary's are held, not written;
4. as results arrive, records each in ONE gradebook transaction (what ``nbgrader autograde``
   records) and then writes ``autograded/<student>/<assignment>/`` (atomically renamed), so a
   folder there means "recorded" and a re-run skips it unless ``--force`` (resume);
5. shows a tqdm bar (rate, ETA) and ends with a summary. Exit 0: all graded; 1: some
   submissions failed (their reasons listed); 2: the grader's own fault, nothing more recorded.

A worker killed mid-task: Dask runs the task again elsewhere; results are recorded once per
student (rows are updated in place), so nothing is lost or doubled.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

from cs231n_grader import task

CANARY_ID = "cs231n-canary"
EXIT_OK, EXIT_FAILED, EXIT_GRADER = 0, 1, 2
#: Dask's housekeeping, made rarer: by default every worker samples its running task's stack every
#: 10 ms and every process ticks its event loop every 20 ms; an idle 2-worker LocalCluster then
#: burns a quarter of a core (measured), taken from the kernels when every core grades. The same
#: settings as environment variables for `dask worker`: docs/INSTRUCTORS.md.
QUIET_DASK = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class Stop(RuntimeError):
    """The run must stop before (more) grades are written; the message says why and what to do."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the course ---------------------------------------------------------------------------------
def find_submissions(cd, assignment: str, patterns: list[str] | None = None) -> list[str]:
    """Student ids with a notebook in submitted/<student>/<assignment>/ (nbgrader's selection:
    ``--student`` globs, CourseDirectory.student_id, student_id_exclude)."""
    import glob
    import re

    pattern = re.compile(
        cd.format_path(cd.submitted_directory, "(?P<student_id>[^/]+)", assignment, escape=True)
    )
    patterns = patterns or [cd.student_id or "*"]
    excluded = set(filter(None, (cd.student_id_exclude or "").split(",")))
    found = []
    for folder in sorted(glob.glob(cd.format_path(cd.submitted_directory, "*", assignment))):
        m = pattern.fullmatch(folder)
        if (
            not m
            or os.path.islink(folder)
            or not os.path.isdir(folder)
            or m["student_id"] in excluded
        ):
            continue
        sid = m["student_id"]
        has_notebook = glob.glob(os.path.join(glob.escape(folder), "*.ipynb"))
        if has_notebook and any(fnmatch.fnmatchcase(sid, p) for p in patterns):
            found.append(sid)
    return found


def needs_grading(cd, assignment: str, student: str, force: bool) -> bool:
    """nbgrader's rule: grade unless autograded/ has it and the submission is not newer."""
    dest = Path(cd.format_path(cd.autograded_directory, student, assignment))
    if force or not dest.exists():
        return True
    new = cd.get_existing_timestamp(cd.format_path(cd.submitted_directory, student, assignment))
    old = cd.get_existing_timestamp(str(dest))
    return bool(new and old and new > old)


def load_submission(cd, assignment: str, student: str) -> task.Submission:
    """The student's submitted files and existing gradebook state."""
    from nbgrader.api import Gradebook

    files = task.read_folder(Path(cd.format_path(cd.submitted_directory, student, assignment)))
    with Gradebook(cd.db_url, cd.course_id) as gb:
        state = task.submission_state(gb, assignment, student)
    return task.Submission(student, files, state)


# --- writing results (the only writer) ------------------------------------------------------------
def record(db_url: str, course_id: str, assignment: str, graded: task.Graded) -> None:
    """Write what autograde recorded for ``graded.student`` into the gradebook, in one transaction
    (student, submission timestamp, per cell auto_score / needs_manual_grade / auto_comment,
    per notebook late penalty). Rolled back whole on any error."""
    from nbgrader.api import (
        Comment,
        Grade,
        Gradebook,
        MissingEntry,
        Student,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    with Gradebook(db_url, course_id) as gb:
        db = gb.db
        try:
            try:
                student = gb.find_student(graded.student)
            except MissingEntry:
                student = Student(id=graded.student)
                db.add(student)
            try:
                sub = gb.find_submission(assignment, graded.student)
            except MissingEntry:  # mirrors Gradebook.add_submission, without its own commit
                sub = SubmittedAssignment(
                    assignment=gb.find_assignment(assignment), student=student
                )
                for notebook in sub.assignment.notebooks:
                    snb = SubmittedNotebook(notebook=notebook, assignment=sub)
                    for cell in notebook.grade_cells:
                        Grade(cell_id=cell.id, notebook=snb)
                    for cell in notebook.solution_cells:
                        Comment(cell_id=cell.id, notebook=snb)
                    for cell in notebook.task_cells:
                        Comment(cell_id=cell.id, notebook=snb)
                        Grade(cell_id=cell.id, notebook=snb)
                db.add(sub)
            sub.timestamp = graded.timestamp
            by_name = {snb.notebook.name: snb for snb in sub.notebooks}
            for rec in graded.notebooks:
                snb = by_name[rec["name"]]
                snb.late_submission_penalty = rec["late_submission_penalty"]
                nb = snb.notebook
                cell_name = {
                    c.id: c.name for c in nb.grade_cells + nb.solution_cells + nb.task_cells
                }
                for grade in snb.grades:
                    if (name := cell_name.get(grade.cell_id)) in rec["grades"]:
                        grade.auto_score = rec["grades"][name]["auto_score"]
                        grade.needs_manual_grade = rec["grades"][name]["needs_manual_grade"]
                for comment in snb.comments:
                    if (name := cell_name.get(comment.cell_id)) in rec["comments"]:
                        comment.auto_comment = rec["comments"][name]
            db.commit()
        except BaseException:
            db.rollback()
            raise


def write_autograded(cd, assignment: str, graded: task.Graded) -> Path:
    """Replace autograded/<student>/<assignment>/ with the task's files (modes kept), through a
    temporary sibling renamed into place."""
    dest = Path(cd.format_path(cd.autograded_directory, graded.student, assignment))
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    task.write_folder(partial, {name: data for name, (data, _) in graded.files.items()})
    for name, (_, mode) in graded.files.items():
        os.chmod(partial / task.safe_relpath(name), mode)
    if dest.exists():
        shutil.rmtree(dest)
    os.rename(partial, dest)
    return dest


def remove_autograded(cd, assignment: str, student: str) -> None:
    """What nbgrader does to a submission it failed to grade: no autograded folder."""
    shutil.rmtree(cd.format_path(cd.autograded_directory, student, assignment), ignore_errors=True)


# --- the canary ---------------------------------------------------------------------------------
def canary_submission(cd, release: task.Release, log=say) -> task.Submission:
    """The reference solution as a submission: the released notebook(s) with every solution cell
    filled from the source notebook, and the instructor's best_net.npz (solutions/<assignment>/,
    else the reference net the bundled class uses, trained once and cached)."""
    import nbformat
    import numpy as np

    from cs231n_grader import samples

    source = Path(cd.format_path(cd.source_directory, ".", release.assignment))
    released = Path(cd.format_path(cd.release_directory, ".", release.assignment))
    reference = next(s for s in samples.CLASS if s.student_id == "reference")
    files = {}
    try:
        for nb in release.spec["notebooks"]:
            name = nb["name"] + ".ipynb"
            if not (released / name).is_file():
                raise Stop(
                    f"{released / name} not found: run `nbgrader generate_assignment "
                    f"{release.assignment}` first (the canary submits the released notebook filled "
                    "with the reference solution)."
                )
            filled = samples.student_notebook(released / name, source / name, reference)
            files[name] = nbformat.writes(filled).encode()
        net = source / samples.NET_FILE
        if net.is_file():
            files[samples.NET_FILE] = net.read_bytes()
        else:
            log(
                f"canary: no {net}; using the reference net of the bundled class "
                "(trained once, cached)"
            )
            first = source / (release.spec["notebooks"][0]["name"] + ".ipynb")
            params = samples.trained_net(samples.best_hyperparameters(first), first, log=log)
            buf = io.BytesIO()
            np.savez(buf, **params)
            files[samples.NET_FILE] = buf.getvalue()
    except samples.SampleError as exc:
        raise Stop(
            f"the canary submission could not be built, so no grade was written: {exc}"
        ) from None
    return task.Submission(CANARY_ID, files, {})


def canary_problem(graded: task.Graded, spec: dict) -> str | None:
    """None when the canary got every autograded point, else what went wrong."""
    if not graded.ok:
        return graded.error
    short = []
    for nb in spec["notebooks"]:
        rec = next((r for r in graded.notebooks if r["name"] == nb["name"]), {"grades": {}})
        for cell in nb["grade_cells"]:
            if cell["cell_type"] != "code":
                continue  # manually graded answers have no autograded points
            got = rec["grades"].get(cell["name"], {}).get("auto_score")
            if got is None or got < cell["max_score"]:
                short.append(f"{nb['name']}/{cell['name']}: {got} of {cell['max_score']:g}")
    if not short:
        return None
    notes = verdict_notes(graded)
    return (
        "the reference solution did not get full autograded points: "
        + "; ".join(short)
        + ("\n  grader's notes: " + "\n  ".join(notes) if notes else "")
    )


def verdict_notes(graded: task.Graded) -> list[str]:
    """The sealed verdicts' reasons in the autograded notebook(s) of ``graded``, one per part."""
    notes = []
    for part, v in task.verdicts(graded).items():
        if v.get("score", 0) < v.get("max_points", 0):
            notes.append(
                f"{part}: {v.get('reason') or ''} {'; '.join(v.get('failures', [])[:2])}".strip()
            )
    return notes


# --- the cluster --------------------------------------------------------------------------------
def make_client(workers: int | None, scheduler: str | None):
    """A Dask client: on ``scheduler`` (an existing cluster), else a LocalCluster of ``workers``
    single-threaded worker processes (default: one per core). The workers start importing what a
    grading task needs (:func:`task.warm_up`) while this process reads the course."""
    import logging

    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
            client.wait_for_workers(1, timeout=120)
        except (OSError, TimeoutError) as exc:
            raise task.CourseError(
                f"no Dask cluster with workers at {scheduler} ({exc}): start `dask scheduler` "
                "and `dask worker <address> --nthreads 1`, or drop --scheduler"
            ) from None
        client.run(warm_up_worker, wait=False)
        return client
    n = workers or os.cpu_count() or 1
    with dask.config.set(QUIET_DASK):  # read by the scheduler and passed on to the workers
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    client.run(warm_up_worker, wait=False)
    return client


async def warm_up_worker() -> None:
    """Run on each worker by :func:`make_client` without waiting: :func:`task.warm_up` in a
    thread, so the worker's event loop keeps answering the scheduler."""
    import asyncio

    await asyncio.to_thread(task.warm_up)


def n_workers(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


# --- the run -------------------------------------------------------------------------------------
def grade_course(
    cd,
    config,
    assignment: str,
    client,
    students: list[str] | None = None,
    force: bool = False,
    canary: bool = True,
    progress: bool = True,
) -> dict:
    """Grade every selected submission of ``assignment`` on ``client``; returns the summary dict
    {graded, failed: {student: reason}, skipped, seconds}. Raises Stop on the grader's fault."""
    started = time.monotonic()
    release = task.load_release(cd, config, assignment)
    selected = find_submissions(cd, assignment, students)
    todo = [s for s in selected if needs_grading(cd, assignment, s, force)]
    run = Run(cd, release, client, todo, progress)
    run.summary["skipped"] = len(selected) - len(todo)
    try:
        if todo:
            run.grade(canary)
    finally:
        run.summary["seconds"] = time.monotonic() - started
    return run.summary


class Run:
    """One grading run: a bounded window of tasks in flight, results written as they arrive.

    With a canary, the reference solution runs first (highest priority) while the other workers
    already grade students; their results are held, nothing written, until the canary passed."""

    def __init__(self, cd, release: task.Release, client, todo: list[str], progress: bool):
        from dask.distributed import as_completed

        self.cd, self.release, self.client = cd, release, client
        self.pending = iter(todo)
        self.running = as_completed()
        self.held: list[task.Graded] | None = None  # a list while the canary runs
        self.summary = {
            "graded": [],
            "failed": {},
            "skipped": 0,
            "seconds": 0.0,
            "writing_seconds": 0.0,
            "peak_rss_bytes": 0,
        }
        self.n, self.progress = len(todo), progress

    def submit(self, submission: task.Submission, priority: int = 0):
        """One task in flight; the release is sent with each (~100 kB), never scattered: a lost
        replica would cancel tasks."""
        future = self.client.submit(
            task.grade_submission,
            self.release,
            submission,
            key=f"grade-{submission.student}-{uuid.uuid4().hex}",
            pure=False,
            priority=priority,
        )
        self.running.add(future)
        return future

    def submit_next(self) -> None:
        student = next(self.pending, None)
        if student is not None:
            self.submit(load_submission(self.cd, self.release.assignment, student))

    def grade(self, canary: bool) -> None:
        """Keep two tasks per worker in flight until every submission is written."""
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.n,
            unit="sub",
            desc=f"autograde {self.release.assignment}",
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        canary_future = None
        if canary:
            say(
                f"canary: grading the reference solution on the cluster "
                f"({n_workers(self.client)} workers); students' results are held until it passes"
            )
            self.held = []
            canary_future = self.submit(canary_submission(self.cd, self.release), priority=1)
        for _ in range(2 * n_workers(self.client)):
            self.submit_next()
        try:
            for future in self.running:
                graded = _result(future)
                if future is canary_future:
                    self.canary_passed(graded)
                elif graded.grader_fault:
                    raise self.stop(
                        f"{graded.worker} could not grade ({graded.student}), the grader's own "
                        f"fault; grading stopped (grades already written are valid): "
                        f"{graded.error}"
                    )
                elif self.held is not None:
                    self.held.append(graded)
                else:
                    self.write(graded)
                self.submit_next()
        finally:
            self.bar.close()

    def canary_passed(self, graded: task.Graded) -> None:
        """Stop unless the canary got every autograded point; else write the held results."""
        if problem := canary_problem(graded, self.release.spec):
            raise self.stop(f"canary failed, so no grade was written: {problem}")
        self.bar.write(
            f"canary: full autograded points in {graded.seconds:.1f} s on {graded.worker}",
            file=sys.stderr,
        )
        held, self.held = self.held, None
        for earlier in held:
            self.write(earlier)

    def stop(self, message: str) -> Stop:
        for future in list(self.running.futures):  # it changes as they are cancelled
            future.cancel()
        return Stop(message)

    def write(self, graded: task.Graded) -> None:
        """Record one result (gradebook, then autograded folder) or its failure."""
        cd, assignment, summary = self.cd, self.release.assignment, self.summary
        t0 = time.monotonic()
        if graded.ok:
            record(cd.db_url, cd.course_id, assignment, graded)
            write_autograded(cd, assignment, graded)
            summary["graded"].append(graded.student)
        else:
            remove_autograded(cd, assignment, graded.student)
            summary["failed"][graded.student] = failure_reason(graded)
        summary["writing_seconds"] += time.monotonic() - t0
        summary["peak_rss_bytes"] = max(summary["peak_rss_bytes"], graded.peak_rss_bytes)
        self.bar.set_postfix_str(graded.student[:24])
        self.bar.update(1)


def _result(future) -> task.Graded:
    """The future's Graded; a task that raised (e.g. its worker died too often) becomes
    a failure."""
    student = future.key.split("-", 1)[1].rsplit("-", 1)[0]
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - KilledWorker, lost data ...: this student only
        return task.Graded(student=student, error=f"the task failed: {type(exc).__name__}: {exc}")


def failure_reason(graded: task.Graded) -> str:
    """One line: the error and the last ERROR line of nbgrader's log."""
    errors = [
        ln for ln in graded.log.splitlines() if ln.startswith("[ERROR]") and "Traceback" not in ln
    ]
    detail = errors[0][len("[ERROR] ") :] if errors else ""
    first = (graded.error or "").splitlines()[0] if graded.error else ""
    return "; ".join(x for x in (detail, first) if x)[:300]


def summary_text(summary: dict, workers: int) -> str:
    """The end-of-run summary: graded, failed with reason, skipped, wall time, submissions/min."""
    n, secs = len(summary["graded"]), summary["seconds"]
    rate = 60.0 * (n + len(summary["failed"])) / secs if secs > 0 else 0.0
    lines = [
        f"graded {n}, failed {len(summary['failed'])}, skipped {summary['skipped']} (already "
        f"graded; --force to re-grade) in {secs:.0f} s on {workers} workers: "
        f"{rate:.1f} submissions/min"
    ]
    if n or summary["failed"]:
        lines.append(
            f"  coordinator writing {summary['writing_seconds']:.1f} s; peak memory of a worker "
            f"process {summary['peak_rss_bytes'] / 2**20:.0f} MB (its kernels not counted)"
        )
    lines += [
        f"  failed {student}: {reason}" for student, reason in sorted(summary["failed"].items())
    ]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(
        prog="cs231n-autograde",
        description=__doc__.split("\n")[0],
        epilog="Other --Class.trait=value options are passed to nbgrader's configuration.",
    )
    parser.add_argument("assignment", nargs="?", help="assignment id, e.g. two_layer_net")
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: one per core)"
    )
    parser.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler, tcp://host:8786"
    )
    parser.add_argument(
        "--student",
        nargs="+",
        action="extend",
        default=None,
        metavar="ID",
        help="grade only these students (glob patterns, like nbgrader's --student)",
    )
    parser.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="grade one submission folder (no gradebook write) and print a JSON verdict",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cs231n-autograde``."""
    args, nbgrader_args = parse_args(argv)
    try:
        if args.json is not None:
            cd, config = task.load_course(".", nbgrader_args)
            verdict = task.grade_folder(args.json, args.assignment, course=(cd, config))
            print(json.dumps(verdict, indent=2, default=str))
            return (
                EXIT_GRADER
                if verdict.get("grader_fault")
                else EXIT_OK
                if verdict["ok"]
                else EXIT_FAILED
            )
        if not args.assignment:
            say("cs231n-autograde: name the assignment, e.g. `cs231n-autograde two_layer_net`")
            return EXIT_FAILED
        client = make_client(args.workers, args.scheduler)  # its workers warm up meanwhile
        try:
            cd, config = task.load_course(".", nbgrader_args)
            summary = grade_course(
                cd,
                config,
                args.assignment,
                client,
                args.student,
                args.force,
                progress=not args.no_progress,
            )
            say(summary_text(summary, n_workers(client)))
        finally:
            cluster = client.cluster
            client.close()
            if cluster is not None and not args.scheduler:
                cluster.close()
    except (Stop, task.CourseError) as exc:
        say(f"cs231n-autograde: {exc}")
        return EXIT_GRADER if isinstance(exc, Stop) else EXIT_FAILED
    return EXIT_FAILED if summary["failed"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
