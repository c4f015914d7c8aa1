"""Guards for the kit's use of nbgrader/nbclient/nbconvert private methods.

Private methods change without notice, even in patch releases. Each one the kit overrides or calls
was read in the version named below; the test pins the base method's source (a digest) to that
reading, so an upgrade that changes it fails here with what to re-read, instead of grading
silently wrong. A private override added without a guard fails too.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import nbgrader
import pytest
from nbclient import NotebookClient
from nbconvert.preprocessors import ExecutePreprocessor
from nbgrader.preprocessors import SaveAutoGrades

import cs231n_grader
from cs231n_grader.execute import SandboxedExecute
from cs231n_grader.preprocessors import SaveSealedGrades

#: every module of the grader, so a private override added anywhere needs a guard
KIT_MODULES = tuple(m.name for m in pkgutil.iter_modules(cs231n_grader.__path__))


@dataclass(frozen=True)
class Guard:
    kit: type  # the kit's class
    base: type  # the library class whose private method it relies on
    name: str
    use: str  # "overrides" or "calls"
    digest: str  # sha256 of the base method's source, first 16 hex digits
    reviewed_in: str  # the library version that source was read in


GUARDS = (
    Guard(
        SaveSealedGrades,
        SaveAutoGrades,
        "_add_score",
        "overrides",
        "ee891a8fe3657ce7",
        "nbgrader 0.9.6",
    ),
    Guard(
        SandboxedExecute,
        NotebookClient,
        "_async_handle_timeout",
        "overrides",
        "27d6db41082b053f",
        "nbclient 0.11.0",
    ),
    Guard(
        SandboxedExecute,
        ExecutePreprocessor,
        "_check_assign_resources",
        "calls",
        "63d0e47180730b5f",
        "nbconvert 7.17.2",
    ),
)

#: sha256 (first 16 hex digits) of nbgrader 0.9.6's formgrader/templates/feedback/index.html.j2
FEEDBACK_TEMPLATE_DIGEST = "7814929190d8decf"


def source_digest(cls: type, name: str) -> str:
    """The first 16 hex digits of sha256 over the source of ``cls.name`` as installed."""
    return hashlib.sha256(inspect.getsource(getattr(cls, name)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: f"{g.base.__name__}.{g.name}")
def test_private_base_method_is_the_one_the_kit_was_written_against(guard):
    assert issubclass(guard.kit, guard.base)
    assert callable(getattr(guard.base, guard.name, None)), (
        f"{guard.base.__name__}.{guard.name} is gone from the installed library; the kit "
        f"{guard.use} it in {guard.kit.__module__}.{guard.kit.__name__} (written for "
        f"{guard.reviewed_in})"
    )
    if guard.use == "overrides":
        assert guard.name in vars(guard.kit), (
            f"{guard.kit.__name__} no longer overrides {guard.name}: drop its guard"
        )
    assert source_digest(guard.base, guard.name) == guard.digest, (
        f"{guard.base.__module__}.{guard.base.__name__}.{guard.name} differs from the one read in "
        f"{guard.reviewed_in}: re-read it, adapt {guard.kit.__module__}.{guard.kit.__name__} "
        f"(which {guard.use} it), then update this guard's digest and version"
    )


def test_every_private_override_of_a_library_class_has_a_guard():
    guarded = {(g.kit, g.name) for g in GUARDS if g.use == "overrides"}
    found = set()
    for module_name in KIT_MODULES:
        module = importlib.import_module(f"cs231n_grader.{module_name}")
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            for name, value in vars(cls).items():
                if not (name.startswith("_") and not name.startswith("__") and callable(value)):
                    continue
                if any(
                    name in vars(base)
                    for base in cls.__mro__[1:]
                    if not base.__module__.startswith("cs231n")
                ):
                    found.add((cls, name))
    assert found == guarded, f"private overrides without a guard here: {found - guarded}"


def test_the_feedback_template_the_kit_extends_is_the_one_it_was_written_against():
    """cs231n_grader/templates/cs231n_feedback copies the blocks of nbgrader's feedback template
    that show a score (body, markdowncell, input): a changed template upstream must be re-read."""
    template = (
        Path(nbgrader.__file__).parent
        / "server_extensions"
        / "formgrader"
        / "templates"
        / "feedback"
        / "index.html.j2"
    )
    digest = hashlib.sha256(template.read_bytes()).hexdigest()[:16]
    assert digest == FEEDBACK_TEMPLATE_DIGEST, (
        f"{template} differs from the one read in nbgrader 0.9.6: compare it with "
        "cs231n_grader/templates/cs231n_feedback/index.html.j2, adapt, then update this digest"
    )
