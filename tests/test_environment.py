"""The environment: pyproject.toml is the one dependency list; environment.yml mirrors it; the
installed versions meet the floors; the nbgrader CLI is the 0.9 series the kit plugs into."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*((?:[<>=!~]=?\s*[0-9][0-9a-zA-Z.*]*\s*,?\s*)*)$"
)


def parse(spec: str) -> tuple[str, tuple[str, ...]]:
    """'nbgrader>=0.9.6,<0.10' -> ('nbgrader', ('<0.10', '>=0.9.6'));
    names normalised as pip does."""
    m = SPEC.match(spec)
    assert m, f"cannot parse requirement {spec!r}"
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    parts = tuple(sorted(p.replace(" ", "") for p in m.group(2).split(",") if p.strip()))
    return name, parts


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def conda() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def pip_requirements(pyproject) -> dict[str, tuple[str, ...]]:
    proj = pyproject["project"]
    specs = proj["dependencies"] + proj["optional-dependencies"]["test"]
    return dict(parse(s) for s in specs)


def conda_requirements(conda) -> dict[str, tuple[str, ...]]:
    deps = [d for d in conda["dependencies"] if isinstance(d, str)]
    return dict(parse(d) for d in deps if not re.match(r"^(python|pip)\b", d))


def disagreements(pyproject, conda) -> list[str]:
    """Every way environment.yml differs from pyproject.toml (names and version specs)."""
    pip, cnd = pip_requirements(pyproject), conda_requirements(conda)
    out = [f"only in environment.yml: {n}" for n in sorted(set(cnd) - set(pip))]
    out += [f"only in pyproject.toml: {n}" for n in sorted(set(pip) - set(cnd))]
    out += [
        f"{n}: pyproject {pip[n]} vs environment.yml {cnd[n]}"
        for n in sorted(set(pip) & set(cnd))
        if pip[n] != cnd[n]
    ]
    return out


def test_environment_yml_mirrors_pyproject(pyproject, conda):
    assert disagreements(pyproject, conda) == []
    assert all(
        any(p.startswith(">=") for p in spec) for spec in pip_requirements(pyproject).values()
    ), "every dependency needs a floor"


def test_disagreements_are_detected(pyproject, conda):
    edited = copy.deepcopy(conda)
    deps = edited["dependencies"]
    deps[deps.index("tqdm>=4.66")] = "tqdm>=4.0"
    deps.remove("pillow>=10")
    deps.insert(2, "scipy>=1.10")
    assert disagreements(pyproject, edited) == [
        "only in environment.yml: scipy",
        "only in pyproject.toml: pillow",
        "tqdm: pyproject ('>=4.66',) vs environment.yml ('>=4.0',)",
    ]


def test_environment_yml_python_channel_and_kit(pyproject, conda):
    deps = conda["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    assert conda["channels"] == ["conda-forge"]
    pip_section = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_section == [["-e ."]]
    floor = version_tuple(pyproject["project"]["requires-python"])
    assert (3, 11) >= floor[:2]


def test_known_good_floors(pyproject):
    pip = pip_requirements(pyproject)
    assert ">=2.0" in pip["numpy"]
    assert any(p.startswith(">=0.9") for p in pip["nbgrader"]) and "<0.10" in pip["nbgrader"]
    assert ">=4.0" in pip["jupyterlab"]


def test_installed_versions_meet_the_floors(pyproject):
    for name, spec in pip_requirements(pyproject).items():
        have = version_tuple(metadata.version(name))
        for part in spec:
            op, v = re.match(r"([<>=!~]+)(.*)", part).groups()
            want = version_tuple(v)
            ok = {
                ">=": have >= want,
                "<": have < want,
                "==": have == want,
                "<=": have <= want,
                ">": have > want,
            }.get(op)
            assert ok, (
                f"installed {name} {metadata.version(name)} does not satisfy {part}; "
                "run `make setup`"
            )


def test_nbgrader_cli_is_0_9():
    exe = Path(sys.executable).with_name("nbgrader")
    exe = str(exe) if exe.exists() else shutil.which("nbgrader")
    assert exe, "nbgrader CLI not found; run `make setup`"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"nbgrader version 0\.9\.\d+", out.stdout), out.stdout


def test_kit_is_importable_from_the_install():
    import cs231n_utils
    import cs231n_utils.data as data

    assert Path(cs231n_utils.__file__).resolve().parent == REPO / "cs231n_utils"  # editable install
    assert cs231n_utils.__version__ == metadata.version("cs231n-two-layer-net-kit")
    assert data.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
