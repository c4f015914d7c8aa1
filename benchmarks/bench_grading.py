"""Median ``nbgrader autograde`` seconds per submission on the bundled class.

    .venv/bin/python benchmarks/bench_grading.py [--course DIR] [--students N]
    .venv/bin/python benchmarks/bench_grading.py --compare-stock [--rounds R] [--students N]

Builds a scratch course like the demo (release, bundled class, roster, submissions as folders),
runs one real ``nbgrader autograde`` over the class (sandboxed execution + sealed checks +
CIFAR accuracy), and times each submission from the moment nbgrader starts it ("Sanitizing …"
in its log) to the start of the next one (the last one ends with the process). Prints the
per-student times, the median and the machine. Goal (issue 4): median <= 8 s on 2 cores.

``--compare-stock`` (issue 5: sandbox + sealed-check overhead, goal <= 25 %) grades the same real
submissions (a subset of the bundled class: reference + 5 others, see COMPARE_STUDENTS) in two
scratch courses with the same layout, roster, ignore list and CopySubmittedFiles (so best_net.npz
sits beside the notebook):

  kit    the repo's nbgrader_config.py: sandboxed kernel, StripHiddenTests, SealedChecks,
         SaveSealedGrades
  stock  the same config with nbgrader's stock preprocessor lists (Execute in the ordinary python3
         kernel, SaveAutoGrades): the hidden test blocks run in the student's kernel and call
         cs231n_grader.hidden.hidden_check in-process (CIFAR-10 and the solution notebook
         are readable there, unsandboxed)

Rounds alternate (kit, stock, then stock, kit, ...) so that background load affects both alike;
both use the same grader secret (CS231N_GRADER_SECRET, set for the run) and hence the same cases.
Prints the per-submission median of each, and the overhead in percent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from machine import machine  # benchmarks/machine.py (scripts run from this folder)

from cs231n_grader import demo, samples

#: the --compare-stock subset: the reference and five real mistakes, one per part + a weak net
COMPARE_STUDENTS = (
    "reference",
    "forward_bias_forgotten",
    "loss_not_averaged",
    "relu_mask_missing",
    "train_params_not_in_place",
    "weak_net",
)
#: stock nbgrader's autograde lists (nbgrader 0.9 defaults) + the kit's CopySubmittedFiles, which
#: stock grading of this assignment needs too (best_net.npz is in CourseDirectory.ignore)
STOCK_LISTS = """
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, Execute, IgnorePattern, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
from cs231n_grader.preprocessors import CopySubmittedFiles
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CopySubmittedFiles, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
"""


def setup_course(course: Path, students: int | None) -> list[str]:
    """Release + bundled class (all as folders) + roster in ``course``; returns student ids."""
    repo = demo.repo_root()
    demo.ensure_data()
    demo.prepare_course(course, repo)
    demo.nbgrader(course, "release", "generate_assignment", demo.ASSIGNMENT, "--force")
    class_ = list(samples.CLASS[:students] if students else samples.CLASS)
    bundled = course / "bundled"
    samples.build_class(
        course / "assignment" / demo.ASSIGNMENT / demo.NOTEBOOK,
        course / "solutions" / demo.ASSIGNMENT / demo.NOTEBOOK,
        bundled,
        students=tuple(class_),
        log=print,
    )
    samples.write_roster(class_, course / "roster.csv")
    demo.nbgrader(course, "roster", "db", "student", "import", str(course / "roster.csv"))
    ids = [s.student_id for s in class_]
    demo.collect(course, bundled, ids, zip_every=None)  # all as folders
    return ids


def time_autograde(course: Path) -> tuple[dict, float]:
    """{student: seconds} for one ``nbgrader autograde --force`` run, and its wall time."""
    starts = []

    def on_line(line: str) -> None:
        if "Sanitizing" in line:
            starts.append((time.monotonic(), demo._student_from_log(line)))

    t0 = time.monotonic()
    demo.nbgrader(course, "autograde", "autograde", demo.ASSIGNMENT, "--force", progress=on_line)
    end = time.monotonic()
    times = {}
    for (t, student), (t_next, _) in zip(starts, starts[1:] + [(end, None)], strict=True):
        times[student] = t_next - t
    return times, end - t0


# --- --compare-stock ------------------------------------------------------------------------
def setup_pair(root: Path, student_ids: tuple[str, ...]) -> dict[str, Path]:
    """Two courses under ``root`` ("kit", "stock") with the same release, roster and submissions."""
    repo = demo.repo_root()
    demo.ensure_data()
    by_id = {s.student_id: s for s in samples.CLASS}
    class_ = [by_id[i] for i in student_ids]
    courses = {name: root / name for name in ("kit", "stock")}
    for name, course in courses.items():
        demo.prepare_course(course, repo)
        if name == "stock":
            with open(course / "nbgrader_config.py", "a") as fh:
                fh.write(STOCK_LISTS)
        demo.nbgrader(course, "release", "generate_assignment", demo.ASSIGNMENT, "--force")
    kit = courses["kit"]
    bundled = root / "bundled"
    samples.build_class(
        kit / "assignment" / demo.ASSIGNMENT / demo.NOTEBOOK,
        kit / "solutions" / demo.ASSIGNMENT / demo.NOTEBOOK,
        bundled,
        students=tuple(class_),
        log=print,
    )
    samples.write_roster(class_, root / "roster.csv")
    for course in courses.values():
        demo.nbgrader(course, "roster", "db", "student", "import", str(root / "roster.csv"))
        demo.collect(course, bundled, list(student_ids), zip_every=None)
    return courses


def scores(course: Path) -> dict[str, float]:
    """{student: total autograded score} from the course's gradebook (both courses must agree)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student_id: s.score for s in gb.assignment_submissions(demo.ASSIGNMENT)}


def compare_stock(root: Path, student_ids: tuple[str, ...], rounds: int) -> dict:
    """Alternating rounds of ``nbgrader autograde --force`` in the kit and the stock course;
    returns {"kit"|"stock": {"per": [seconds per submission ...], "wall": [run seconds ...]}}."""
    os.environ.setdefault(
        "CS231N_GRADER_SECRET", "bench-grading-compare-stock"
    )  # same cases, no file
    courses = setup_pair(root, student_ids)
    runs = {name: {"per": [], "wall": [], "by_student": {}} for name in courses}
    for r in range(rounds):
        order = ("kit", "stock") if r % 2 == 0 else ("stock", "kit")
        for name in order:
            times, wall = time_autograde(courses[name])
            runs[name]["per"].extend(times.values())
            runs[name]["wall"].append(wall)
            for student, seconds in times.items():
                runs[name]["by_student"].setdefault(student, []).append(seconds)
            print(
                f"  round {r + 1}/{rounds} {name:5s}: {wall:6.1f} s for {len(times)} submissions "
                f"(median {statistics.median(times.values()):.2f} s)",
                flush=True,
            )
    for name, course in courses.items():
        runs[name]["scores"] = scores(course)
    return runs


def print_comparison(runs: dict, student_ids: tuple[str, ...], rounds: int) -> None:
    """Per-student medians, the per-submission medians and the overhead in percent."""
    kit, stock = runs["kit"], runs["stock"]
    print(
        f"\nkit vs stock nbgrader autograde, {len(student_ids)} submissions x {rounds} "
        f"rounds, {machine()}"
    )
    print(
        f"  {'student':28s} {'stock s':>8s} {'kit s':>8s} {'score stock':>12s} {'score kit':>10s}"
    )
    for student in student_ids:
        s = statistics.median(stock["by_student"].get(student, [float("nan")]))
        k = statistics.median(kit["by_student"].get(student, [float("nan")]))
        print(
            f"  {student:28s} {s:8.2f} {k:8.2f} {stock['scores'].get(student, float('nan')):12.1f} "
            f"{kit['scores'].get(student, float('nan')):10.1f}"
        )
    ms, mk = statistics.median(stock["per"]), statistics.median(kit["per"])
    ws = statistics.median(stock["wall"]) / len(student_ids)
    wk = statistics.median(kit["wall"]) / len(student_ids)
    print(
        f"median per submission: stock {ms:.2f} s   kit {mk:.2f} s   overhead {mk - ms:+.2f} s "
        f"({100 * (mk - ms) / ms:+.0f} %)   goal <= +25 %"
    )
    print(
        f"whole run / submissions: stock {ws:.2f} s   kit {wk:.2f} s   overhead "
        f"{100 * (wk - ws) / ws:+.0f} %"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course", type=Path, default=None, help="scratch course folder")
    parser.add_argument("--students", type=int, default=None, help="first N students of the class")
    parser.add_argument(
        "--compare-stock",
        action="store_true",
        help="kit vs stock nbgrader grading of the same submissions (issue 5)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--compare-stock: rounds per course")
    args = parser.parse_args()
    if args.compare_stock:
        student_ids = COMPARE_STUDENTS[: args.students] if args.students else COMPARE_STUDENTS
        with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
            root = (args.course or Path(tmp)).resolve()
            runs = compare_stock(root, student_ids, args.rounds)
        print_comparison(runs, student_ids, args.rounds)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
        course = (args.course or Path(tmp) / "course").resolve()
        ids = setup_course(course, args.students)
        times, wall = time_autograde(course)
    print(f"\nautograde per submission ({len(times)} of {len(ids)} submissions), {machine()}")
    for student, seconds in times.items():
        print(f"  {student:32s} {seconds:6.2f} s")
    values = sorted(times.values())
    print(
        f"median {statistics.median(values):.2f} s   mean {statistics.mean(values):.2f} s   "
        f"min {values[0]:.2f} s   max {values[-1]:.2f} s   whole run {wall:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
