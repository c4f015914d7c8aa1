"""The students' self-check data, computed on the instructor's side at release time.

    python -m cs231n_grader.selfcheck_data  # writes solutions/two_layer_net/selfcheck.{npz,json}

``nbgrader generate_assignment`` then copies both files beside the released notebook (and into the
student bundle). They hold numbers only: the inputs of a few PRACTICE cases, generated exactly like
the grader's secret cases (:func:`cs231n_grader.cases.make_cases`: other shapes, N = 1, exact ReLU
zeros, large scores) but from the public seed :data:`PRACTICE_SEED`, never the grader secret, so
they say nothing about the hidden cases; the reference's outputs on them; and the outputs of the
catalogued mistakes' reference variants, so the self-check can name a mistake. No code and no
diagnosis message travels (the leak test checks this): a mistake is named by its catalogued
``name`` (the misconception in a few words, no formula). train() and predict() are called with the
grader's stand-ins (``cs231n_utils.calls``); the reference's outputs are stored for every way a
student's function may use or bypass them (``cs231n_utils.calls.standin_overrides``), as the
grader computes them for that student.

    selfcheck.json  {"seed",
                     "parts": {part: [{"id", "label", "kind", "scalars", "inputs", "outputs",
                                       "standins": [key, ...],
                                       "mistakes": [[mistake_id, variant_index], ...]}]},
                     "mistakes": {id: name},
                     "diagnoses": {part: [[mistake_id,
                                           rule name in cs231n_utils.mistakes or null], ...]}}
    selfcheck.npz   "<case id>/in/<name>", "<case id>/out/<name>", "<case id>/out@<key>/<name>"
                    (the reference with the stand-ins of ``key``,
                    cs231n_utils.selfcheck.standins_key),
                    "<case id>/mistake/<mistake_id>/<variant_index>/<name>" float64 arrays
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from cs231n_grader import diagnose, runner
from cs231n_grader.cases import Case, make_cases
from cs231n_grader.compare import allclose_scaled, reference_outputs
from cs231n_grader.reference import default_notebook, load_reference
from cs231n_utils import mistakes
from cs231n_utils.calls import PREDICT_CALLS, STANDIN_CALLS, standin_overrides
from cs231n_utils.selfcheck import SELF_CHECKED, standins_key

#: the public seed of the practice cases (the grader's cases come from the secret instead)
PRACTICE_SEED = b"cs231n two_layer_net practice cases, public"
#: the parts the self-check covers: every part whose function the grader calls on cases
PARTS = SELF_CHECKED
DATA_NAME = "selfcheck"


def practice_cases(ref) -> dict[str, list]:
    """``{part: [Case]}``: the grader's case generator from the public seed, the toy case left out
    (the notebook's own test shows it)."""
    return {
        part: [c for c in make_cases(part, PRACTICE_SEED, ref) if c.kind != "toy"] for part in PARTS
    }


def _differs(variant: dict, expected: dict) -> bool:
    """A variant that changes some output on this case (one that changes nothing
    explains nothing)."""
    return all(np.all(np.isfinite(v)) for v in variant.values()) and any(
        not allclose_scaled(expected[k], v) for k, v in variant.items()
    )


def _values(outputs: dict) -> dict[str, np.ndarray]:
    """Outputs to compare: the grader's own call records (helper calls, minibatch rows) left out."""
    return {
        k: np.asarray(v, dtype=np.float64)
        for k, v in outputs.items()
        if k not in runner.CALL_RECORDS
    }


def standin_settings(case: Case) -> list[dict]:
    """Every scalar override :func:`standin_overrides` can choose for this case (a function that
    uses or bypasses each stand-in), except the case's own setting ``{}``."""
    settings = []
    for loss in (0.0, 1.0):
        for predict in (0.0, 1.0):
            calls = {STANDIN_CALLS: np.array(loss), PREDICT_CALLS: np.array(predict)}
            overrides = standin_overrides(case.part, case.scalars, calls)
            if overrides and overrides not in settings:
                settings.append(overrides)
    return settings


def rule_name(mistake) -> str | None:
    """The name of a mistake's rule in cs231n_utils.mistakes (the self-check looks it up there)."""
    if mistake.rule is None:
        return None
    if getattr(mistakes, mistake.rule.__name__, None) is not mistake.rule:
        raise ValueError(f"the rule of {mistake.id} must be a function of cs231n_utils.mistakes")
    return mistake.rule.__name__


def build(ref) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest for selfcheck.json, arrays for selfcheck.npz) of the practice cases."""
    manifest = {
        "seed": PRACTICE_SEED.decode(),
        "parts": {},
        "mistakes": {m.id: m.name for m in diagnose.CATALOGUE if m.part in PARTS},
        "diagnoses": {
            part: [[m.id, rule_name(m)] for m in diagnose.CATALOGUE if m.part == part]
            for part in PARTS
        },
    }
    arrays: dict[str, np.ndarray] = {}
    for part, cases in practice_cases(ref).items():
        entries = manifest["parts"][part] = []
        for case in cases:
            expected = _values(reference_outputs(case, ref))
            entry = {
                "id": case.id,
                "label": case.label,
                "kind": case.kind,
                "scalars": case.scalars,
                "inputs": sorted(case.arrays),
                "outputs": list(expected),  # in the order the grader checks
                "standins": [],
                "mistakes": [],
            }
            arrays.update({f"{case.id}/in/{k}": np.asarray(v) for k, v in case.arrays.items()})
            arrays.update({f"{case.id}/out/{k}": v for k, v in expected.items()})
            for overrides in standin_settings(case):
                key = standins_key(overrides)
                entry["standins"].append(key)
                altered = Case(
                    case.id,
                    case.part,
                    case.label,
                    case.arrays,
                    {**case.scalars, **overrides},
                    case.kind,
                )
                outputs = _values(reference_outputs(altered, ref))
                arrays.update({f"{case.id}/out@{key}/{k}": v for k, v in outputs.items()})
            for mistake in diagnose.CATALOGUE:
                if mistake.part != part:
                    continue
                for index, variant in enumerate(mistake.variants):
                    outputs = _values(variant(case, ref))
                    if not _differs(outputs, expected):
                        continue
                    entry["mistakes"].append([mistake.id, index])
                    arrays.update(
                        {
                            f"{case.id}/mistake/{mistake.id}/{index}/{k}": v
                            for k, v in outputs.items()
                        }
                    )
            entries.append(entry)
    return manifest, arrays


def write(out_dir: Path, notebook: Path | None = None) -> list[Path]:
    """Write selfcheck.json and selfcheck.npz into ``out_dir`` from the reference of ``notebook``;
    the bytes depend only on the reference and the seed (fixed zip timestamps of np.savez)."""
    manifest, arrays = build(load_reference(notebook))
    json_path, npz_path = out_dir / f"{DATA_NAME}.json", out_dir / f"{DATA_NAME}.npz"
    json_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz_path.write_bytes(buf.getvalue())
    return [json_path, npz_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--notebook",
        type=Path,
        default=None,
        help="the solution notebook (default: solutions/two_layer_net/two_layer_net.ipynb)",
    )
    args = parser.parse_args(argv)
    notebook = args.notebook or default_notebook()
    for path in write(notebook.parent, notebook):
        print(f"wrote {path}")
    print(
        "now run `nbgrader generate_assignment two_layer_net --force` "
        "to release them beside the notebook"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
