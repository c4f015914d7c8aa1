"""The student bundle: everything students receive, in one zip (``make student-bundle``).

    dist/<assignment>-student.zip
      <assignment>/
        <assignment>.ipynb                      released now by ``nbgrader generate_assignment``
                                                (with every other file nbgrader releases)
        cs231n_utils-<version>-py3-none-any.whl the student package alone (``cs231n-utils``)
        README.md                               student/README.md: set up (locally, JupyterHub,
                                                Colab), fetch CIFAR-10, what to hand in
        data/get_datasets.sh                    fetches CIFAR-10 into data/
        ...                                     every further entry of EXTRA_FILES

Never in it: ``solutions/``, ``cs231n_grader`` (grading code, reference loader, mistake catalogue,
sample submissions), hidden tests. tests/test_leak.py builds the bundle and searches every byte of
it for every line of every solution region. Run from anywhere: ``python -m cs231n_grader.bundle``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "two_layer_net"
STUDENT_PACKAGE = "cs231n_utils"  # the import name students use
STUDENT_DIST = "cs231n-utils"  # its distribution name: not the kit's, which holds the grader
#: what the student package needs at run time; the version floors come from the kit's
#: pyproject.toml. numpy everywhere, matplotlib for cs231n_utils.vis, tqdm for the download bar.
STUDENT_DEPENDENCIES = ("numpy", "matplotlib", "tqdm")
#: (file in the repository, path in the bundle) besides the release and the wheel. Markdown files
#: are templates: {{assignment}} and {{wheel}} are filled in. Add self-check data here.
EXTRA_FILES = [
    ("student/README.md", "README.md"),
    ("data/get_datasets.sh", "data/get_datasets.sh"),
]
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same zip


class BundleError(RuntimeError):
    """The bundle cannot be built; the message says what to fix."""


def kit_metadata(repo: Path = REPO) -> dict:
    """The kit's version, requires-python and ``name -> requirement`` of its runtime dependencies,
    read from its pyproject.toml (the one list of dependencies)."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = {
        re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower(): req for req in project["dependencies"]
    }
    return {
        "version": project["version"],
        "requires_python": project["requires-python"],
        "deps": deps,
    }


def student_pyproject(meta: dict) -> str:
    """pyproject.toml of the student distribution: cs231n_utils only, STUDENT_DEPENDENCIES only."""
    missing = [name for name in STUDENT_DEPENDENCIES if name not in meta["deps"]]
    if missing:
        raise BundleError(
            f"pyproject.toml lists no {missing}: add them to [project] dependencies "
            "(the student wheel takes its version floors from there)"
        )
    deps = ",\n".join(f'    "{meta["deps"][name]}"' for name in STUDENT_DEPENDENCIES)
    return (
        '[build-system]\nrequires = ["setuptools>=68"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{STUDENT_DIST}"\nversion = "{meta["version"]}"\n'
        'description = "CS231n two-layer net: student helpers '
        '(CIFAR-10 data, gradient checks, plots)"\n'
        f'requires-python = "{meta["requires_python"]}"\ndependencies = [\n{deps},\n]\n\n'
        f'[tool.setuptools]\npackages = ["{STUDENT_PACKAGE}"]\n'
    )


def build_student_wheel(out_dir: Path, repo: Path = REPO) -> Path:
    """Build the student wheel into ``out_dir`` from a scratch copy of cs231n_utils/ (pip, with the
    build backend from the package registry); returns the wheel's path."""
    with tempfile.TemporaryDirectory(prefix="cs231n-student-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(
            repo / STUDENT_PACKAGE,
            src / STUDENT_PACKAGE,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        (src / "pyproject.toml").write_text(student_pyproject(kit_metadata(repo)), encoding="utf-8")
        wheels = Path(tmp) / "wheels"
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "--wheel-dir",
                str(wheels),
                str(src),
            ],
            cwd=tmp,
            what="building the student wheel",
        )
        (wheel,) = wheels.glob("*.whl")
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheel, out_dir / wheel.name))


def released_files(assignment: str = ASSIGNMENT, repo: Path = REPO) -> dict[str, bytes]:
    """``relative path -> content`` of every file ``nbgrader generate_assignment`` releases for
    ``assignment`` now, generated in a scratch course with the repository's nbgrader_config.py."""
    source = repo / "solutions" / assignment
    if not source.is_dir():
        raise BundleError(f"no assignment {assignment!r}: {source} does not exist")
    with tempfile.TemporaryDirectory(prefix="cs231n-release-") as tmp:
        course = Path(tmp)
        shutil.copytree(source, course / "solutions" / assignment)
        (course / "nbgrader_config.py").write_text(
            f"c = get_config()\nload_subconfig({str(repo / 'nbgrader_config.py')!r})\n",
            encoding="utf-8",
        )
        run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
            cwd=course,
            what=f"nbgrader generate_assignment {assignment}",
        )
        released = course / "assignment" / assignment
        return {
            p.relative_to(released).as_posix(): p.read_bytes()
            for p in sorted(released.rglob("*"))
            if p.is_file()
        }


def build_bundle(assignment: str = ASSIGNMENT, out: Path | None = None, repo: Path = REPO) -> Path:
    """Write ``<assignment>-student.zip`` (default: dist/ of the repository); returns its path.
    Every entry sits under the folder ``<assignment>/``."""
    out = Path(out) if out else repo / "dist" / f"{assignment}-student.zip"
    files = released_files(assignment, repo)
    with tempfile.TemporaryDirectory(prefix="cs231n-bundle-") as tmp:
        wheel = build_student_wheel(Path(tmp), repo)
        files[wheel.name] = wheel.read_bytes()
    for src, arcname in EXTRA_FILES:
        path = repo / src
        if not path.is_file():
            raise BundleError(
                f"{path} is missing: restore it or remove it from EXTRA_FILES in {__file__}"
            )
        data = path.read_bytes()
        if path.suffix == ".md":
            data = (
                data.decode("utf-8")
                .replace("{{assignment}}", assignment)
                .replace("{{wheel}}", wheel.name)
                .encode("utf-8")
            )
        files[arcname] = data
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{assignment}/{name}", date_time=ZIP_DATE)
            info.external_attr = (0o755 if name.endswith(".sh") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return out


def run(cmd: list[str], cwd, what: str) -> None:
    """Run ``cmd`` with this interpreter's bin/ first on PATH;
    BundleError with its output on failure."""
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    env.pop("NBGRADER_EXECUTION", None)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BundleError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}\n"
            "Run it from the kit's environment (`make setup`, then `make student-bundle`)."
        )


def main(argv=None) -> int:
    """``python -m cs231n_grader.bundle [--assignment A] [--out ZIP]``: build and list
    the bundle."""
    parser = argparse.ArgumentParser(
        prog="python -m cs231n_grader.bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="zip to write (default dist/<assignment>-student.zip)",
    )
    args = parser.parse_args(argv)
    try:
        path = build_bundle(args.assignment, args.out)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            print(f"{info.file_size:>10}  {info.filename}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
