"""Shared fixtures and the test tiers.

Tiers are pytest markers (registered in pyproject.toml), assigned here from what a test uses, so
test files need no decorators:

- ``sandbox``  needs bubblewrap          (a module below, or a fixture that grades in the sandbox)
- ``data``     needs the full CIFAR-10 in data/ (``cifar_full_dir``, the notebook's ``full_run``)
- ``slow``     takes more than a few seconds
- ``browser``  needs chromium; ``postgres`` needs a PostgreSQL server (fixtures of those names)

``make test-fast`` deselects sandbox, data, slow, browser and postgres; ``make test`` runs all.
A sandbox test is skipped, with the reason, when bubblewrap does not work here: the probe runs
once, at the first such test's setup, never at collection.

Small CIFAR-10 stand-ins are generated in the official format by ``tests/cifar10_fixture.py``
(nothing outside the repository is needed); tests that need real images use ``cifar_full_dir``.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from cifar10_fixture import write_cifar10

os.environ.setdefault("MPLBACKEND", "Agg")  # render plots headless, before anything imports pyplot

REPO = Path(__file__).resolve().parents[1]
FULL_DATA = REPO / "data"
SMALL_TRAIN_PER_CLASS = 20  # 200 training images in 5 batches of 40
SMALL_TEST_PER_CLASS = 10  # 100 test images

#: test module -> the tiers of every test in it
MODULE_TIERS = {
    "test_sandbox.py": ("sandbox",),
    "test_sealed.py": ("sandbox",),
    "test_workflow.py": ("sandbox", "slow"),
    "test_distributed.py": ("sandbox",),  # its grading tests are also data + slow (cifar_full_dir)
}
#: fixture -> the tiers of every test that uses it (directly or through other fixtures)
FIXTURE_TIERS = {
    "cifar_full_dir": ("data", "slow"),
    "full_run": ("data", "slow"),  # test_notebook: the whole solution notebook on CIFAR-10
    "toy_runs": ("slow",),  # test_notebook: kernels run the toy sections
    "bundle": ("slow",),  # test_leak: the student bundle built for real (a wheel, a release)
    "mutation_results": ("slow",),  # test_fairness: every mutant graded
    "sealed_cases": ("sandbox",),  # test_diagnose: solution cells graded in the sandbox
    "browser": ("browser",),
    "chromium": ("browser",),
    "postgres": ("postgres",),
    "postgres_url": ("postgres",),
}
#: single tests, by name, that take more than a few seconds without any of the fixtures above
SLOW_TESTS = {
    "test_student_version_matches_fresh_generation",  # nbgrader generate_assignment
    "test_nbgrader_cli_is_0_9",  # `nbgrader --version` alone takes 6 s of CPU
    # nbgrader release / autograde / feedback runs
    "test_delimiters_configured_on_clear_hidden_tests_hold_at_release_autograde_and_feedback",
    "test_a_failed_release_keeps_the_committed_one",
    "test_nbgrader_works_without_activating_the_venv",
}


def pytest_collection_modifyitems(config, items):
    """Mark every test with its tiers (see the module docstring)."""
    for item in items:
        tiers = set(MODULE_TIERS.get(item.path.name, ()))
        for name in item.fixturenames:
            tiers.update(FIXTURE_TIERS.get(name, ()))
        if item.originalname in SLOW_TESTS:
            tiers.add("slow")
        for tier in sorted(tiers):
            item.add_marker(tier)


@pytest.fixture(scope="session")
def sandbox_status() -> tuple[bool, str]:
    """``(works, why not)`` of the grading sandbox on this machine, probed once per session."""
    from cs231n_grader.sandbox import sandbox_available

    return sandbox_available()


@pytest.fixture(autouse=True)
def _skip_sandbox_tests_without_bubblewrap(request):
    """Skip a ``sandbox`` test, saying why, when bubblewrap does not work here."""
    if request.node.get_closest_marker("sandbox") is not None:
        ok, why = request.getfixturevalue("sandbox_status")
        if not ok:
            pytest.skip(f"no sandbox here: {why}")


@pytest.fixture(scope="session")
def ref():
    """The reference solution, loaded from the solution notebook (once per session)."""
    from cs231n_grader.reference import load_reference

    return load_reference()


def md5_of(path: Path) -> str:
    """Hex MD5 of a file."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="session")
def cifar_small_tarball(tmp_path_factory) -> Path:
    """A small class-balanced ``cifar-10-python.tar.gz`` in the official layout (generated)."""
    out = tmp_path_factory.mktemp("cifar_small_tarball")
    return write_cifar10(
        out,
        tarball=True,
        train_per_class=SMALL_TRAIN_PER_CLASS,
        test_per_class=SMALL_TEST_PER_CLASS,
    )


@pytest.fixture(scope="session")
def cifar_small_md5(cifar_small_tarball) -> str:
    return md5_of(cifar_small_tarball)


@pytest.fixture(scope="session")
def cifar_small_dir(cifar_small_tarball, tmp_path_factory) -> Path:
    """A data dir holding the small stand-in extracted (``<dir>/cifar-10-batches-py/``). Read-only
    by convention: tests that change files copy it first (``shutil.copytree``)."""
    out = tmp_path_factory.mktemp("cifar_small_dir")
    with tarfile.open(cifar_small_tarball) as tar:
        tar.extractall(out, filter="data")
    return out


@pytest.fixture(scope="session")
def cifar_full_dir() -> Path:
    """The repository's ``data/`` with the full CIFAR-10 (or stand-in); skips when it is absent."""
    if not (FULL_DATA / "cifar-10-batches-py" / "test_batch").is_file():
        pytest.skip(
            "full CIFAR-10 not in data/: run `make data` "
            "(or `python -m cs231n_utils.data download`)"
        )
    return FULL_DATA


@pytest.fixture(scope="session")
def trained_net(tmp_path_factory, cifar_full_dir):
    """best_net.npz of a real (short) training run of the reference on CIFAR-10: weights that
    really classify (about 35 % on validation). Trained once, cached like the bundled class's."""
    import numpy as np

    from cs231n_grader import samples
    from cs231n_grader.reference import default_notebook

    hparams = {**samples.DEFAULT_HPARAMS, "learning_rate": 1e-3, "num_iters": 300}
    params = samples.trained_net(hparams, default_notebook(), cifar_full_dir, log=lambda *_: None)
    path = tmp_path_factory.mktemp("net") / "best_net.npz"
    np.savez(path, **params)
    return path


@pytest.fixture(scope="session")
def make_chain():
    """make_chain(top, depth): top/d/d/.../d, depth folders deep, made one level at a time
    (os.makedirs recurses); every chain is removed again without recursion after the test (pytest's
    own clean-up of old temporary folders would overflow the stack on it)."""
    from cs231n_grader.intake import remove_tree

    made = []

    def make(top: Path, depth: int) -> Path:
        top.mkdir()
        made.append(top)
        fd = os.open(top, os.O_RDONLY)
        try:
            for _ in range(depth):
                os.mkdir("d", dir_fd=fd)
                child = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = child
        finally:
            os.close(fd)
        return top

    yield make
    for top in made:
        if top.exists():
            remove_tree(top)
