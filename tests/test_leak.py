"""Students get the assignment, never the answers (issue 9).

The student bundle is built for real (``nbgrader generate_assignment`` + ``pip wheel``, as ``make
student-bundle`` does) and every file in it is searched -- the wheel unpacked, the notebook's JSON
decoded -- for

- every line (>= MIN_LINE characters, stripped) of every solution region, hidden-test region and
  written answer (the reference derivation included) of every notebook in solutions/, except the
  lines the release gives students anyway; the mistake catalogue's messages and code;
- the key results of the backward pass, the chain-rule part's factors and the update rule, as
  regexes tolerant to spacing and unicode (P − Y, [S1 > 0], X2ᵀ·dS2, Xᵀ·dS1, dS2·W2ᵀ, 2·reg·W,
  ds2_dx2 = W2ᵀ, dx2_ds1 = np.diag(…), ∂L/∂s1 contracted with ds1_dW1,
  params[name] -= learning_rate * …);
- the grading side: solution/hidden-test markers, imports of cs231n_grader.

Zero hits. The same search runs on the committed assignment/ notebooks and on README.md outside its
instructor sections. Self-tests show that every needle fires on the solutions and on the leaks of
the pre-fix release, so the search can fail. The slow test does what a student does: a fresh
virtualenv, the bundle's wheel from the package registry's dependencies, the notebook in its kernel.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from cs231n_grader import bundle as bundle_builder

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(REPO.glob("solutions/*/*.ipynb"))
RELEASES = sorted(REPO.glob("assignment/*/*.ipynb"))
MIN_LINE = 20  # shorter lines are too generic to be evidence ("for name in params:")
BEGIN_REGION, END_REGION = (
    ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"),
    ("END SOLUTION", "END HIDDEN TESTS"),
)

# --- key results: regexes tolerant to spacing, unicode and LaTeX ---------------------------------
_T = r"(?:\.T\b|ᵀ|\^\s*\{?\s*(?:\\top|T|\\intercal)\s*\}?|\.transpose\(\s*\))"  # a transpose
_PROD = r"(?:\s|@|·|⋅|\*|,|\\cdot|\\,|\\;|\.dot\()*"  # a product (or none)
_SUB = r"_?\{?\s*"  # S1, S_1, S_{1}


def _grad_of(s: str) -> str:
    """dS<s> as code or LaTeX (dS2, \\mathtt{dS2}, d S_2), or the per-example \\delta_<s>."""
    return rf"(?:(?:\\mathtt\{{)?\bd\s*S{_SUB}{s}|\\delta{_SUB}{s})"


KEY_RESULTS = {
    "P - Y over N": [
        r"\bP\s*[-−–]\s*Y\b",
        r"\bY\s*[-−–]\s*P\b",
        rf"\bp\s*[-−–]\s*e{_SUB}y",
        r"\[\s*(?:np\.)?a?range\(\s*\w+\s*\)\s*,\s*y\s*\]\s*-=\s*1",
    ],
    "ReLU mask S1 > 0": [
        rf"\b[Ss]{_SUB}1\}}?\s*(?:>=?|&gt;=?|≥|\\gt|\\geq?)\s*0",
        rf"\b[Ss]{_SUB}1\}}?\s*(?:<=|≤|\\leq?)\s*0",
        rf"\b[Xx]{_SUB}2\}}?\s*(?:>|&gt;|\\gt)\s*0",
    ],
    "X2T dS2": [rf"\b[Xx]{_SUB}2\}}?\s*{_T}{_PROD}{_grad_of('2')}"],
    "XT dS1": [rf"\b[Xx]\s*{_T}{_PROD}{_grad_of('1')}"],
    "dS2 W2T": [rf"{_grad_of('2')}\}}?{_PROD}W{_SUB}2\}}?\s*{_T}"],
    "2 reg W": [
        r"\b2\s*(?:\*|·|⋅|\\,|\\cdot|\s)*(?:\\mathrm\{reg\}|\\text\{reg\}|reg|\\lambda|λ)"
        r"(?:\*|·|⋅|\\,|\\cdot|\s)*W"
    ],
    "chain factors": [
        rf"\bds2_dx2\s*=\s*W_?2\s*{_T}",
        r"\b(?:dL_ds1|delta_?1|db1)\b[^\n]*\bds1_dW1\b[^\n]*axes",
        r"\bdx2_ds1\s*=\s*np\.diag\(",
    ],
    "update rule": [
        r"-=\s*(?:self\.)?(?:learning_rate|lr|step_size)\s*\*",
        r"(?:learning_rate|lr|step_size)\s*\*\s*grads?\s*\[",
    ],
    "grading side": [
        r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS|\bhidden_check\b",
        r"(?:from|import)\s+cs231n_grader\b",
    ],
}
KEY_RES = {name: [re.compile(p) for p in pats] for name, pats in KEY_RESULTS.items()}

#: spellings each key result must catch: the pre-fix release's stubs and README, LaTeX, variants
MUST_CATCH = {
    "P - Y over N": [
        "dS2 = (P - Y) / N",
        "dS2 = (P − Y)/N",
        r"\mathtt{dS2} &= (P - Y)/N",
        "dS2 = P-Y",
        r"\delta_2 = p - e_y",
        "dscores[np.arange(N), y] -= 1",
        "(Y - P) / N",
    ],
    "ReLU mask S1 > 0": [
        "dS1 = dX2 * (S1 > 0)",
        "dS1 = dX2 ⊙ [S1 > 0]",
        r"[S_1 > 0]",
        r"[s_1 > 0]",
        "dX2[S1 <= 0] = 0",
        "(X2 > 0)",
        r"[S_{1} \gt 0]",
        "dX2 * (S1 >= 0)",
    ],
    "X2T dS2": [
        "X2.T @ dS2",
        "X2ᵀ·dS2",
        r"X_2^\top\,\mathtt{dS2}",
        "np.dot(X2.T, dS2)",
        r"x_2^\top \delta_2",
    ],
    "XT dS1": [
        "X.T @ dS1",
        "Xᵀ·dS1",
        r"X^\top\,\mathtt{dS1}",
        "np.dot(X.T, dS1)",
        r"x^\top \delta_1",
    ],
    "dS2 W2T": ["dS2 @ W2.T", "dS2·W2ᵀ", r"\mathtt{dS2}\,W_2^\top", "np.dot(dS2, W2.T)"],
    "2 reg W": [
        "2 * reg * W2",
        "2·reg·W1",
        r"2\,\mathrm{reg}\,W_2",
        "(with the 2 * reg * W terms)",
    ],
    "chain factors": [
        "ds2_dx2 = W2.T",
        "ds2_dx2 = W2.transpose()",
        "dW1 = np.tensordot(dL_ds1, ds1_dW1, axes=1)",
        "dx2_ds1 = np.diag(mask)",
    ],
    "update rule": [
        "params[name] -= learning_rate * grads[name]",
        "W1 -= lr * dW1",
        "params[name] = params[name] - learning_rate * grads[name]",
    ],
    "grading side": [
        "### BEGIN SOLUTION",
        "### END HIDDEN TESTS",
        "from cs231n_grader.checks import x",
    ],
}
#: what students must be told, which must not count as a leak
MAY_SAY = [
    "S1 = X W1 + b1",
    "X2 = max(0, S1)",
    "S2 = X2 @ W2 + b2",
    "np.maximum(0, S1)",
    "loss = mean cross-entropy + reg * (sum(W1**2) + sum(W2**2))",
    "reg_loss = reg * (W1 ** 2).sum()",
    "multiplies the learning rate by `learning_rate_decay`",
    "dS2 (N, C), dW2 (H, C), db2 (C,), dX2 (N, H)",
    "X_toy = 10 * np.random.RandomState(1).randn(5, 4)",
    "the gradient on W1, with the shape of W1",
    "2 * np.pi",
    "the grader is the separate, instructor-only ``cs231n_grader`` package",
]


# --- what is secret ------------------------------------------------------------------------------
def norm(text: str) -> str:
    """Whitespace collapsed: the search ignores re-indentation and re-wrapping."""
    return " ".join(text.split())


def region_and_given_lines(nb) -> tuple[set[str], set[str]]:
    """Stripped lines of ``nb``: (inside its solution and hidden-test regions or written answers --
    a solution code cell without a region is one whole region --, everywhere else)."""
    inside, given = set(), set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        lines = cell.source.splitlines()
        if cell.cell_type != "code":
            (inside if meta.get("solution") else given).update(line.strip() for line in lines)
            continue
        in_region = bool(meta.get("solution")) and not any(
            BEGIN_REGION[0] in line for line in lines
        )
        for line in lines:
            if any(marker in line for marker in BEGIN_REGION):
                in_region = True
            elif any(marker in line for marker in END_REGION):
                in_region = False
            else:
                (inside if in_region else given).add(line.strip())
    return inside, given


def secret_lines(nb) -> set[str]:
    """Lines (>= MIN_LINE chars) of the regions and written answers that the release does not
    give students anyway."""
    inside, given = region_and_given_lines(nb)
    return {line for line in inside - given if len(line) >= MIN_LINE}


def catalogue_lines(given: set[str]) -> set[str]:
    """The mistake catalogue: diagnosis messages and the code lines of the sample submissions' edits
    (feedback after grading may name a mistake; nothing students get before grading may)."""
    from cs231n_grader import diagnose, samples

    lines = {m.message for m in diagnose.CATALOGUE}
    for student in samples.CLASS:
        for (
            edit
        ) in student.edits:  # source edits (old -> new) and cells of the student's own (source)
            code = edit.source if isinstance(edit, samples.NewCell) else edit.old + "\n" + edit.new
            lines.update(text.strip() for text in code.splitlines())
    # an edit's old text may be a fragment of a line students are given (code before a comment)
    return {line for line in lines if len(line) >= MIN_LINE and not any(line in g for g in given)}


class Needles:
    """What must never reach students: secret lines (normalised) and the KEY_RESULTS regexes."""

    def __init__(self, lines: set[str]):
        self.lines = {norm(line) for line in lines}

    def hits(self, label: str, text: str) -> list[str]:
        """Every needle found in ``text``, as "label: what (excerpt)"."""
        flat = norm(text)
        found = [f"{label}: solution line {line!r}" for line in sorted(self.lines) if line in flat]
        for name, regexes in KEY_RES.items():
            for regex in regexes:
                for match in regex.finditer(text):
                    excerpt = text[max(match.start() - 40, 0) : match.end() + 40].replace("\n", "⏎")
                    found.append(f"{label}: {name} {match.group(0)!r} in …{excerpt}…")
        return found


def solution_notebooks() -> list:
    assert SOLUTIONS, "no notebook under solutions/"
    return [nbformat.read(str(path), as_version=4) for path in SOLUTIONS]


@pytest.fixture(scope="module")
def needles() -> Needles:
    lines, given = set(), set()
    for nb in solution_notebooks():
        lines |= secret_lines(nb)
        given |= region_and_given_lines(nb)[1]
    return Needles(lines | catalogue_lines(given))


# --- what students receive, as text --------------------------------------------------------------
def json_strings(value) -> list[str]:
    """Every string (keys too) in decoded JSON: what the notebook shows, unescaped."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *json_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return []


def texts(name: str, data: bytes) -> list[tuple[str, str]]:
    """(label, text) of a file as a student could read it: raw bytes as text; a notebook's (any
    .json's) strings decoded too; a zip's (wheel's, .npz's) members, recursively."""
    if name.endswith((".whl", ".zip", ".npz")):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [
                t
                for member in zf.namelist()
                if not member.endswith("/")
                for t in texts(f"{name}!{member}", zf.read(member))
            ]
    raw = data.decode("utf-8", errors="replace")
    out = [(name, raw)]
    if name.endswith((".ipynb", ".json")):
        out.append((f"{name} (decoded)", "\n".join(json_strings(json.loads(raw)))))
    return out


def readme_student_part(text: str) -> str:
    """README.md without the sections whose heading mentions "instructor" (with
    their subsections)."""
    kept, skip_below, fenced = [], None, False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"^(#{1,6})\s+(.*)", line)
        if heading:
            level = len(heading.group(1))
            if skip_below is not None and level <= skip_below:
                skip_below = None
            if skip_below is None and "instructor" in heading.group(2).lower():
                skip_below = level
        if skip_below is None:
            kept.append(line)
    return "\n".join(kept)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """dist/two_layer_net-student.zip, built for real into a scratch folder."""
    return bundle_builder.build_bundle(
        out=tmp_path_factory.mktemp("bundle") / "two_layer_net-student.zip"
    )


def bundle_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}


# --- the tests ---------------------------------------------------------------------------------
def test_bundle_holds_what_students_need_and_nothing_else(bundle):
    files = bundle_files(bundle)
    wheels = [n for n in files if n.endswith(".whl")]
    assert len(wheels) == 1
    assert re.fullmatch(r"two_layer_net/cs231n_utils-[\w.]+-py3-none-any\.whl", wheels[0]), wheels
    expected = {
        "two_layer_net/two_layer_net.ipynb",
        "two_layer_net/README.md",
        "two_layer_net/data/get_datasets.sh",
        wheels[0],
        "two_layer_net/selfcheck.json",
        "two_layer_net/selfcheck.npz",
    }  # self-check data: numbers
    expected |= {f"two_layer_net/{arc}" for _, arc in bundle_builder.EXTRA_FILES}
    assert set(files) == expected
    with zipfile.ZipFile(bundle) as zf:
        assert zf.getinfo("two_layer_net/data/get_datasets.sh").external_attr >> 16 & 0o111
    readme = files["two_layer_net/README.md"].decode()
    assert "{{" not in readme and f"pip install {Path(wheels[0]).name}" in readme
    assert "best_net.npz" in readme and "Colab" in readme and "JupyterHub" in readme
    with zipfile.ZipFile(io.BytesIO(files[wheels[0]])) as whl:
        names = whl.namelist()
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"cs231n_utils"}, (
        f"the student wheel must hold cs231n_utils only, got {packages}"
    )
    assert re.search(r"^Name: cs231n-utils$", metadata, re.M), metadata
    requires = {
        re.match(r"[\w.-]+", line[len("Requires-Dist: ") :]).group(0)
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    }
    assert requires == set(bundle_builder.STUDENT_DEPENDENCIES) == {"numpy", "matplotlib", "tqdm"}


def test_bundle_leaks_nothing(bundle, needles):
    hits = []
    for name, data in bundle_files(bundle).items():
        assert not re.search(r"solutions/|cs231n_grader|(^|/)tests?/", name), (
            f"instructor file {name}"
        )
        for label, text in texts(name, data):
            hits += needles.hits(label, text)
    assert not hits, "the student bundle gives answers away:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", RELEASES, ids=[p.parent.name for p in RELEASES])
def test_committed_release_leaks_nothing(path, needles):
    hits = [
        h for label, text in texts(path.name, path.read_bytes()) for h in needles.hits(label, text)
    ]
    assert not hits, (
        f"{path.relative_to(REPO)} gives answers away (fix the solution notebook's "
        "given text, then `nbgrader generate_assignment --force`):\n" + "\n".join(hits)
    )


def test_readme_outside_instructor_sections_leaks_nothing(needles):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    student_part = readme_student_part(text)
    hits = needles.hits("README.md", student_part)
    assert not hits, (
        "README.md gives answers away outside its instructor sections (the derivation "
        "belongs in docs/INSTRUCTORS.md):\n" + "\n".join(hits)
    )
    assert "make student-bundle" in student_part, (
        "README.md's student section must point at the bundle"
    )


def test_readme_filter_drops_only_instructor_sections():
    text = (
        "# Kit\nintro\n```bash\n# not a heading: instructor\n```\n## For instructors\nsecret\n"
        "### Details\nmore secret\n## For students\nopen\n"
    )
    assert readme_student_part(text).split("\n") == [
        "# Kit",
        "intro",
        "```bash",
        "# not a heading: instructor",
        "```",
        "## For students",
        "open",
    ]


@pytest.mark.parametrize("name", sorted(KEY_RESULTS))
def test_each_key_result_catches_its_spellings(name):
    for spelling in MUST_CATCH[name]:
        assert any(r.search(spelling) for r in KEY_RES[name]), f"{name} misses {spelling!r}"


@pytest.mark.parametrize("text", MAY_SAY)
def test_what_students_are_told_is_no_hit(text, needles):
    assert not needles.hits("given", text)


def test_needles_fire_on_the_solutions_and_the_pre_fix_release(needles):
    """The search can fail: every key result (but the grading side's) occurs in the solution
    notebook, every secret line is found there, and the pre-fix stubs are caught."""
    solution = "\n".join(t for path in SOLUTIONS for _, t in texts(path.name, path.read_bytes()))
    hits = needles.hits("solution", solution)
    for name in KEY_RESULTS:
        assert any(f": {name} " in h for h in hits), f"{name} never matches the solution notebook"
    lines = {norm(line) for nb in solution_notebooks() for line in secret_lines(nb)}
    assert len(lines) > 40 and lines <= needles.lines
    assert all(line in norm(solution) for line in lines)
    pre_fix_stub = (
        "raise NotImplementedError('from your derivation compute dS2 = (P - Y) / N (Y one-hot "
        "of y), dW2, db2, dX2, dS1 = dX2 * (S1 > 0), dW1, db1 (with the 2 * reg * W terms)')"
    )
    assert len(needles.hits("pre-fix stub", pre_fix_stub)) >= 3


def test_every_solution_region_sits_under_a_todo():
    """Each region of solutions/ is released under a CS231n-style ``# TODO:`` comment block."""
    for path in SOLUTIONS:
        for cell in nbformat.read(str(path), as_version=4).cells:
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if cell.cell_type == "code" and BEGIN_REGION[0] in line:
                    block = []
                    for above in reversed(lines[:i]):
                        if not above.strip().startswith("#"):
                            break
                        block.append(above.strip())
                    assert any(b.startswith("# TODO:") for b in block), (
                        f"{path.name}: add a '# TODO:' comment block (what to compute, names and "
                        f"shapes of the results, what to reuse) right above:\n{cell.source[:300]}"
                    )


# --- the mistakes' short names: shipped with the self-check data, shown before grading -----------
#: what a formula or code looks like in a name (the feedback's messages state formulas; a
#: name must not)
FORMULA = {
    "math symbol, indexing or LaTeX": r"[·⊙Σ∑²ᵀ√∂@\[\]{}\\]",
    "arithmetic between symbols": r"[\w)]\s*(?:[-−+*/^%]|//|\*\*)=?\s*[\w(]",
    "assignment of an expression": r"=\s*[A-Za-z(]",
    "comparison": r"[<>≤≥]|==|!=",
    "call": r"\b\w+\(",
    "numpy": r"\bnp\.|axis\s*=|keepdims|\.T\b|\.sum\b|\.mean\b",
}
FORMULA_RES = {what: re.compile(p) for what, p in FORMULA.items()}
#: formulas a name must never carry (all caught)
FORMULA_MUST_CATCH = [
    "dS2 = (P − Y)/N",
    "add 2·reg·W",
    "reg·(ΣW1² + ΣW2²)",
    "sum over axis=1",
    "np.argmax(S2, axis=1)",
    "params['W1'] -= lr * grads['W1']",
    "mask S1 > 0",
    "X2ᵀ·dS2",
    "dS1 = dX2 * mask",
    "N / batch_size",
    "P - Y",
    "learning_rate * grads",
    "S1 >= 0",
    r"$\delta_2$",
    "np.mean(pred == y)",
]


def formula_hits(text: str) -> list[str]:
    return [f"{what} {m.group(0)!r}" for what, r in FORMULA_RES.items() for m in r.finditer(text)]


def released_mistake_names() -> dict[str, str]:
    """{mistake id: name} of the catalogue and of every released self-check data file."""
    from cs231n_grader import diagnose

    names = {m.id: m.name for m in diagnose.CATALOGUE}
    for path in sorted(REPO.glob("assignment/*/selfcheck.json")):
        names.update(
            {
                f"{path.parent.name}: {k}": v
                for k, v in json.loads(path.read_text(encoding="utf-8"))["mistakes"].items()
            }
        )
    return names


def test_mistake_names_give_no_formula_or_solution_line_away(needles):
    """Each catalogued mistake's short name (shipped in selfcheck.json, printed by the self-check
    before grading) names the misconception only: no needle, no formula, no code."""
    names = released_mistake_names()
    assert RELEASES and any(": " in key for key in names), (
        "no released selfcheck.json names a mistake"
    )
    assert all(names.values())
    hits = [h for key, name in names.items() for h in needles.hits(f"name of {key}", name)]
    hits += [
        f"name of {key}: {h} in {name!r}" for key, name in names.items() for h in formula_hits(name)
    ]
    assert not hits, "a mistake's name gives the answer away:\n" + "\n".join(hits)


@pytest.mark.parametrize("text", FORMULA_MUST_CATCH)
def test_the_formula_check_catches_formulas(text):
    assert formula_hits(text), text


def test_the_formula_check_fires_on_the_feedback_messages():
    """The messages (feedback after grading) state formulas: most of them fail the names' check, so
    a message copied into a name would."""
    from cs231n_grader import diagnose

    caught = [m.id for m in diagnose.CATALOGUE if formula_hits(m.message)]
    assert len(caught) >= len(diagnose.CATALOGUE) // 2, caught
    for mistake_id in (
        "grad_not_divided_by_N",
        "reg_grad_factor",
        "relu_mask_missing",
        "reg_loss_missing",
    ):
        assert mistake_id in caught


# --- a student's first steps, for real (slow) -----------------------------------------------------
def student_env(**extra) -> dict:
    """The environment of a student's shell: nothing of this repository's Python on any path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NBGRADER_EXECUTION", "JUPYTER_PATH")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    return {**env, **extra}


@pytest.mark.slow
def test_student_installs_the_bundle_in_a_fresh_venv_and_runs_the_notebook(
    bundle, tmp_path, cifar_small_tarball, cifar_small_md5
):
    """Unzip; ``python -m venv .venv``; pip install the bundle's wheel (+ ipykernel) from the
    registry; ``bash data/get_datasets.sh``; run the notebook's setup and toy-model cells in that
    venv's kernel up to the first TODO's test, which stops at the short NotImplementedError."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "two_layer_net"
    (wheel,) = folder.glob("cs231n_utils-*.whl")
    env = student_env()
    venv = folder / ".venv"
    python = venv / "bin" / "python"

    def sh(*cmd, **extra):
        result = subprocess.run(
            [str(c) for c in cmd],
            cwd=folder,
            env=student_env(**extra),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
        return result

    sh(sys.executable, "-m", "venv", venv)
    sh(python, "-m", "pip", "install", "--quiet", wheel.name, "ipykernel")
    sh(
        "bash",
        "data/get_datasets.sh",
        "--url",
        cifar_small_tarball.as_uri(),
        "--md5",
        cifar_small_md5,
    )
    assert (
        "CIFAR-10 OK in data/cifar-10-batches-py"
        in sh(python, "-m", "cs231n_utils.data", "check").stdout
    )
    sh(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "student")

    nb = nbformat.read(str(folder / "two_layer_net.ipynb"), as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    first_todo = next(
        i for i, m in enumerate(meta) if m.get("solution") and nb.cells[i].cell_type == "code"
    )
    first_test = next(i for i in range(first_todo, len(nb.cells)) if meta[i].get("grade"))
    function = re.search(r"^def (\w+)\(", nb.cells[first_todo].source, re.M).group(1)
    nb.cells = nb.cells[: first_test + 1] + [
        nbformat.v4.new_code_cell(
            "import importlib.util, sys, cs231n_utils\n"
            "from cs231n_utils.data import default_data_dir, load_class_names\n"
            "print(sys.executable, cs231n_utils.__file__, sep='\\n')\n"
            "print('grader:', importlib.util.find_spec('cs231n_grader'), "
            "importlib.util.find_spec('nbgrader'))\n"
            "print('data:', default_data_dir().resolve(), len(load_class_names()))\n"
            "print('version:', cs231n_utils.__version__)"
        )
    ]
    specs = KernelSpecManager(kernel_dirs=[str(venv / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="student", kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=km, timeout=300, allow_errors=True, resources={"metadata": {"path": str(folder)}}
    )
    client.execute(env=env)

    for cell in nb.cells[:first_test]:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, (cell.source[:80], errors)
    errors = [o for o in nb.cells[first_test].outputs if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [
        ("NotImplementedError", f"{function}: implement the TODO above this line")
    ]
    probe = "".join(o.text for o in nb.cells[-1].outputs if o.output_type == "stream")
    executable, module = probe.splitlines()[:2]
    assert Path(executable).is_relative_to(venv), probe  # venv/bin/python (a link to the base one)
    assert Path(module).is_relative_to(venv), probe
    assert "grader: None None" in probe, probe
    assert f"data: {(folder / 'data').resolve()} 10" in probe, probe
    assert f"version: {bundle_builder.kit_metadata()['version']}" in probe, probe
