"""Attacks on the trusted side through what a submission leaves behind (issue 8 §1, §2, §3, §5).

Fast tests exercise the intake (cs231n_grader.intake) and SafeCellMetadata on folders and notebooks
directly. The slow test grades a real class with the kit's own nbgrader_config.py (real nbgrader,
real sandbox, sealed checks, CIFAR-10) where most students attack: links placed in submitted/ (to
.grader_secret, to an absolute host path, the notebook itself linked to the solutions notebook), a
kernel that plants those links in its working folder and fills its disk, a copied cell, broken
metadata, a 1,500-deep folder chain with a FIFO and hundreds of files, a bzip2 bomb as best_net.npz.
Each must earn no undeserved point, leave every other student's grade and every course file as it
was, copy nothing into feedback/, and let the run (and a --force re-run) complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n_grader import intake, samples
from cs231n_grader.cellmeta import SafeCellMetadata
from cs231n_grader.sandbox import sandbox_available

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "two_layer_net", "two_layer_net.ipynb"
SECRET_TEXT = "SECRET-DO-NOT-LEAK-" + "5e1f" * 8


# --------------------------------------------------------------------------- fast: the intake
def _submission(tmp_path: Path, student: str = "mallory") -> Path:
    folder = tmp_path / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), folder / NOTEBOOK)
    return folder


def test_intake_sets_links_special_files_and_deep_chains_aside(tmp_path, make_chain):
    folder = _submission(tmp_path)
    (tmp_path / ".grader_secret").write_text(SECRET_TEXT)
    os.chmod(tmp_path / ".grader_secret", 0o600)
    (folder / "secret").symlink_to("../../../.grader_secret")
    (folder / "passwd").symlink_to("/etc/passwd")
    (folder / "solutions").symlink_to(tmp_path)
    os.mkfifo(folder / "fifo")
    make_chain(folder / "deep", 1500)
    (folder / "best_net.npz").write_bytes(b"kept")
    intake.Intake()(assignment=ASSIGNMENT, student="*", notebooks=[str(folder / NOTEBOOK)])
    assert sorted(p.name for p in folder.iterdir()) == ["best_net.npz", "deep", NOTEBOOK]
    assert (
        len(list((folder / "deep").rglob("*"))) == 2
    )  # cut at the depth limit, the rest set aside
    reasons = [r["reason"] for r in intake.recorded(folder)]
    assert any(r.startswith("`secret` is a link") for r in reasons)
    assert any(r.startswith("`fifo` is a special file") for r in reasons)
    assert any("nested deeper than 4 levels" in r for r in reasons)
    assert (tmp_path / ".grader_secret").stat().st_mode & 0o777 == 0o600
    kept = intake.quarantine_dir(folder)
    assert len(list(kept.glob("*/*"))) == 5  # moved, not deleted: the instructor can look
    for item in kept.glob("*/*"):
        intake.remove_tree(item)  # no recursion however deep
    assert not list(kept.glob("*/*"))


def test_intake_sets_web_pages_aside_wherever_they_are(tmp_path):
    """formgrader serves every autograded file on the instructor's origin: no page, no script."""
    folder = _submission(tmp_path)
    (folder / "figs").mkdir()
    pages = ["notes.html", "NOTES.HTM", "figs/plot.SVG", "figs/app.js", "feed.xml", "p.xhtml"]
    for name in pages:
        (folder / name).write_text("<script>fetch('/api/terminals', {method: 'POST'})</script>")
    for name in ("best_net.npz", "notes.txt", "figs/helper.py", "figs/loss.png"):
        (folder / name).write_bytes(b"kept")
    intake.Intake()(notebooks=[str(folder / NOTEBOOK)])
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert left == sorted(
        ["best_net.npz", "notes.txt", "figs/helper.py", "figs/loss.png", NOTEBOOK]
    )
    reasons = [r["reason"] for r in intake.recorded(folder)]
    assert sorted(r.split("`")[1] for r in reasons) == sorted(pages)
    assert all("is a web page or script" in r for r in reasons)


def test_intake_bounds_file_count_and_bytes(tmp_path):
    folder = _submission(tmp_path)
    for i in range(100):
        (folder / f"f{i:03d}.txt").write_text("x")
    (folder / "huge.bin").write_bytes(b"\0" * 3000)
    intake.Intake(max_entries=20, max_file_bytes=2000)(notebooks=[str(folder / NOTEBOOK)])
    assert sorted(p.name for p in folder.iterdir()) == [f"f{i:03d}.txt" for i in range(20)] + [
        NOTEBOOK
    ]
    assert [r["reason"] for r in intake.recorded(folder)] == [
        "`huge.bin` is larger than 1.95312 KiB: it was set aside, not graded",
        "80 more files and folders (beyond the first 20 kept) were set aside, not graded",
    ]


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: p.symlink_to("/etc/passwd"), "cannot be opened as a plain file"),
        (lambda p: p.write_text("{not json"), "is not a valid notebook"),
        (lambda p: p.write_text("[" * 100_000), "is nested too deeply"),
        (lambda p: p.write_bytes(b" " * (2**20 + 1)), "is larger than 1 MiB"),
    ],
)
def test_a_refused_notebook_is_replaced_by_an_empty_one_with_the_reason(tmp_path, make, why):
    folder = _submission(tmp_path)
    (folder / NOTEBOOK).unlink()
    make(folder / NOTEBOOK)
    intake.Intake(max_notebook_bytes=2**20)(notebooks=[str(folder / NOTEBOOK)])
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    assert nb.cells == [] and not (folder / NOTEBOOK).is_symlink()
    (reason,) = [r["reason"] for r in intake.recorded(folder)]
    assert (
        reason.startswith(f"`{NOTEBOOK}` ")
        and why in reason
        and "every autograded part scores 0" in reason
    )


def _cell(grade_id, **meta):
    return nbformat.v4.new_code_cell(
        f"# {grade_id}",
        metadata={
            "nbgrader": {
                "schema_version": 3,
                "grade": False,
                "solution": True,
                "locked": False,
                "grade_id": grade_id,
                **meta,
            }
        },
    )


def test_copied_cells_and_broken_metadata_cost_only_those_cells():
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell("forward"),
            _cell("forward"),  # a copied solution cell
            _cell("test_predict", grade=True, solution=False, locked=True, points="five"),
            nbformat.v4.new_code_cell("x", metadata={"nbgrader": "garbage"}),
            nbformat.v4.new_code_cell(
                "y", metadata={"nbgrader": {}}
            ),  # what stock DeduplicateIds leaves
            _cell("backward"),
        ]
    )
    nb, _ = SafeCellMetadata().preprocess(nb, {"nbgrader": {"student": "s", "assignment": "a"}})
    note, *cells = nb.cells
    assert note.metadata[intake.NOTE_MARK] and "set parts of your submission aside" in note.source
    kept = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    assert kept == [None, "forward", None, None, None, "backward"]
    assert (
        "cell 1 repeats grade_id 'forward'" in note.source and "cell 3 has malformed" in note.source
    )
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nb)  # what stock CheckCellMetadata demands now holds


def test_the_reference_is_pinned_and_never_read_through_a_link(tmp_path):
    """The trusted process executes the solution notebook's cells: only the file it first read."""
    from cs231n_grader.reference import ReferenceChanged, verified_reference

    course = tmp_path / "solutions" / ASSIGNMENT
    course.mkdir(parents=True)
    notebook = course / NOTEBOOK
    shutil.copy(REPO / "solutions" / ASSIGNMENT / NOTEBOOK, notebook)
    ref = verified_reference(notebook)
    assert verified_reference(notebook) is ref and callable(ref.backward)
    nb = json.loads(notebook.read_text())
    nb["cells"].append(nbformat.v4.new_code_cell("import os; os.system('touch /tmp/pwned')"))
    notebook.write_text(json.dumps(nb))
    with pytest.raises(ReferenceChanged, match="changed during grading"):
        verified_reference(notebook)
    other = tmp_path / "other.ipynb"
    notebook.rename(other)
    notebook.symlink_to(other)
    with pytest.raises(ReferenceChanged, match="cannot open .* as a plain file"):
        verified_reference(notebook)


# --------------------------------------------------------------------------- slow: a real class
ok, why = sandbox_available()
SOLUTION_NB = REPO / "solutions" / ASSIGNMENT / NOTEBOOK

KERNEL_ATTACK = """
import os
for name, target in [("two_layer_net.ipynb",
                      "../../../solutions/two_layer_net/two_layer_net.ipynb"),
                     ("secret_link", "../../../.grader_secret"), ("passwd_link", "/etc/passwd")]:
    try:
        if os.path.lexists(name):
            os.remove(name)
        os.symlink(target, name)
    except OSError as e:
        print("refused", name, e)
os.makedirs("junk", exist_ok=True)
for i in range(3000):
    open(f"junk/{i}", "w").write("x" * 1000)
try:
    for i in range(20):
        with open(f"big{i}.bin", "wb") as fh:
            fh.write(b"x" * (60 * 2**20))
except OSError as e:
    print("disk stopped:", e.strerror)
"""


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for var in ("CS231N_UNSAFE_NO_SANDBOX", "CS231N_GRADER_SECRET"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _bzip_bomb(path: Path, net: dict) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as z:
        with z.open("W1.npy", "w", force_zip64=True) as fh:
            for _ in range(256):
                fh.write(bytes(2**20))
        for k in ("b1", "W2", "b2"):
            with z.open(k + ".npy", "w") as fh:
                np.lib.format.write_array(fh, net[k])


def _class(course: Path, release: Path, best: dict, make_chain) -> dict[str, Path]:
    """Write submitted/<student>/two_layer_net/ for the class; returns student -> folder."""
    ref_nb = samples.student_notebook(release, SOLUTION_NB, samples.CLASS[0])
    untouched = nbformat.read(release, as_version=4)
    folders = {}

    def submit(student, nb, net=True):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
        if net:
            np.savez(folder / "best_net.npz", **best)
        folders[student] = folder
        return folder

    submit("a_honest", ref_nb)
    kernel = nbformat.from_dict(json.loads(json.dumps(untouched)))
    first = next(
        c for c in kernel.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "forward"
    )
    first.source = KERNEL_ATTACK + first.source
    submit("b_kernel_links", kernel, net=False)
    linked = submit("c_placed_links", untouched)
    (linked / "secret").symlink_to("../../../.grader_secret")
    (linked / "host").symlink_to("/etc/shadow")
    (linked / "best_net.npz").unlink()
    (linked / "best_net.npz").symlink_to(course / "instructor_net.npz")
    (linked / "notes.html").write_text("<script>fetch('/api/terminals', {method: 'POST'})</script>")
    nb_link = submit("d_notebook_link", untouched, net=False)
    (nb_link / NOTEBOOK).unlink()
    (nb_link / NOTEBOOK).symlink_to("../../../solutions/two_layer_net/two_layer_net.ipynb")
    copied = nbformat.from_dict(json.loads(json.dumps(ref_nb)))
    index = next(
        i
        for i, c in enumerate(copied.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "predict"
    )
    copied.cells.insert(index + 1, nbformat.from_dict(json.loads(json.dumps(copied.cells[index]))))
    copied.cells[index + 1].id = "predict-copy"  # as JupyterLab's copy-paste does
    submit("e_copied_cell", copied)
    broken = nbformat.from_dict(json.loads(json.dumps(ref_nb)))
    cell = next(
        c for c in broken.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_predict"
    )
    cell.metadata["nbgrader"]["points"] = "five"
    submit("f_broken_metadata", broken)
    tree = submit("g_deep_tree", ref_nb)
    make_chain(tree / "deep", 1500)
    os.mkfifo(tree / "fifo")
    for i in range(300):
        (tree / f"extra{i}.txt").write_text("x")
    bomb = submit("h_bomb", ref_nb, net=False)
    _bzip_bomb(bomb / "best_net.npz", best)
    submit("z_honest", ref_nb)
    return folders


def _fingerprint(paths) -> dict:
    """sha256 + mode of every regular file under paths (never following links)."""
    out = {}
    for top in paths:
        items = (
            [top]
            if top.is_file()
            else [p for p in top.rglob("*") if p.is_file() and not p.is_symlink()]
        )
        for p in items:
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
    return out


def _scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
            for s in gb.assignment_submissions(ASSIGNMENT)
        }


AUTOGRADED = (
    "test_forward",
    "test_softmax_loss",
    "test_chain_rule_factors",
    "test_backward",
    "test_train",
    "test_predict",
    "test_accuracy",
)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, cifar_full_dir, make_chain):
    from cs231n_grader import demo

    if not ok:
        pytest.skip(f"no sandbox here: {why}")
    course = tmp_path_factory.mktemp("attacked_course")
    demo.prepare_course(course, REPO)
    (course / ".grader_secret").write_text(SECRET_TEXT + "\n")
    os.chmod(course / ".grader_secret", 0o600)
    p = _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert p.returncode == 0, p.stderr[-3000:]
    best = samples.class_nets({"best"}, SOLUTION_NB)["best"]
    np.savez(course / "instructor_net.npz", **best)
    folders = _class(course, course / "assignment" / ASSIGNMENT / NOTEBOOK, best, make_chain)
    protected = [
        course / "solutions",
        course / ".grader_secret",
        course / "instructor_net.npz",
        folders["a_honest"],
        folders["z_honest"],
    ]
    before = _fingerprint(protected)
    run = _nbgrader(course, "autograde", ASSIGNMENT)
    scores = _scores(course)
    rerun = _nbgrader(course, "autograde", ASSIGNMENT, "--force", "--student", "g_deep_tree")
    feedback = _nbgrader(course, "generate_feedback", ASSIGNMENT)
    yield dict(
        course=course,
        run=run,
        rerun=rerun,
        feedback=feedback,
        scores=scores,
        before=before,
        after=_fingerprint(protected),
        best=best,
    )
    for item in (course / "quarantine").glob("*/*/*/*"):
        intake.remove_tree(item)  # pytest's own clean-up would recurse 1,500 levels


@pytest.mark.slow
def test_the_run_and_a_forced_rerun_complete(attacked):
    for step in ("run", "rerun", "feedback"):
        proc = attacked[step]
        assert proc.returncode == 0, (step, proc.stderr[-4000:])
        assert "error processing assignment" not in proc.stderr, step


@pytest.mark.slow
def test_no_undeserved_points(attacked):
    scores = attacked["scores"]
    honest = scores["a_honest"]
    assert all(honest[g] > 0 for g in AUTOGRADED) and honest == scores["z_honest"]
    for attacker in ("b_kernel_links", "c_placed_links", "d_notebook_link"):
        assert [scores[attacker][g] for g in AUTOGRADED] == [0.0] * len(AUTOGRADED), attacker
    assert scores["e_copied_cell"] == honest  # the copy costs nothing: the last copy is graded
    assert scores["f_broken_metadata"] == {**honest, "test_predict": 0.0}
    assert scores["g_deep_tree"] == honest
    assert scores["h_bomb"] == {**honest, "test_accuracy": 0.0}
    assert _scores(attacked["course"])["g_deep_tree"] == honest  # after the --force re-run too


@pytest.mark.slow
def test_honest_notebooks_ran_in_their_private_copy(attacked):
    """The kernel's private copy held what the notebook needs: its public accuracy test (the
    notebook's load_net on best_net.npz) ran and passed for the honest students."""
    for student in ("a_honest", "z_honest"):
        nb = nbformat.read(
            attacked["course"] / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4
        )
        cell = next(
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy"
        )
        text = json.dumps(cell.outputs)
        assert (
            "Validation accuracy of best_net.npz" in text and "accuracy: public test passed" in text
        ), text[:500]


@pytest.mark.slow
def test_no_course_file_changed_or_copied(attacked):
    course = attacked["course"]
    assert attacked["after"] == attacked["before"]
    assert not [p for p in (course / "autograded").rglob("*") if intake.is_web_page(p.name)]
    for folder in ("autograded", "feedback"):
        for p in (course / folder).rglob("*"):
            assert not p.is_symlink(), p
            if p.is_file():
                data = p.read_bytes()
                assert SECRET_TEXT.encode() not in data, p
                assert b"root:x:0:0" not in data, p
    solution_line = b"dS1 = dX2 * (S1 > 0)"
    for attacker in ("b_kernel_links", "c_placed_links", "d_notebook_link"):
        for p in (course / "feedback" / attacker).rglob("*"):
            assert not p.is_file() or solution_line not in p.read_bytes(), p
    kernel_dir = course / "autograded" / "b_kernel_links" / ASSIGNMENT
    released = sorted(p.name for p in (course / "assignment" / ASSIGNMENT).iterdir())
    # the release's own files (notebook, self-check data) and nothing the kernel wrote came back
    assert sorted(p.name for p in kernel_dir.iterdir()) == released
    assert "disk stopped: No space left on device" in kernel_dir.joinpath(NOTEBOOK).read_text()


@pytest.mark.slow
def test_every_set_aside_item_is_explained_to_its_student(attacked):
    course = attacked["course"]

    def first_cell(student):
        nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
        assert nb.cells[0].metadata.get(intake.NOTE_MARK), student
        return nb.cells[0].source

    assert "`secret` is a link" in first_cell("c_placed_links")
    assert "`best_net.npz` is a link" in first_cell("c_placed_links")
    assert "`notes.html` is a web page or script" in first_cell("c_placed_links")
    assert "`two_layer_net.ipynb` cannot be opened as a plain file" in first_cell("d_notebook_link")
    assert "repeats grade_id 'predict'" in first_cell("e_copied_cell")
    assert "malformed nbgrader metadata" in first_cell("f_broken_metadata")
    deep = first_cell("g_deep_tree")
    assert (
        "`fifo` is a special file" in deep and "(beyond the first 64 kept) were set aside" in deep
    )
    nb = nbformat.read(course / "autograded" / "h_bomb" / ASSIGNMENT / NOTEBOOK, as_version=4)
    acc = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_accuracy"
    )
    assert "unusual compression" in json.dumps(acc.metadata["cs231n"]["verdict"])
    html = (course / "feedback" / "c_placed_links" / ASSIGNMENT / "two_layer_net.html").read_text()
    assert "set parts of your submission aside" in html
