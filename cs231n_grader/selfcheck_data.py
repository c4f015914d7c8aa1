"""The students' self-check data, computed on the instructor's side at release time.

    python -m cs231n_grader.selfcheck_data      # writes solutions/two_layer_net/selfcheck.{npz,json}

``nbgrader generate_assignment`` then copies both files beside the released notebook (and into the
student bundle). They hold numbers only: the inputs of a few PRACTICE cases, generated exactly like
the grader's secret cases (:func:`cs231n_grader.cases.make_cases`: other shapes, N = 1, exact ReLU
zeros, large scores) but from the public seed :data:`PRACTICE_SEED`, never the grader secret, so
they say nothing about the hidden cases; the reference's outputs on them; and the outputs of the
catalogued mistakes' reference variants, so the self-check can name a mistake. No code and no
diagnosis message travels (the leak test checks this): a mistake is named by its id.

    selfcheck.json  {"seed", "parts": {part: [{"id", "label", "kind", "reg", "inputs", "outputs",
                     "mistakes": [[mistake_id, variant_index], ...]}]}, "mistakes": {id: name}}
    selfcheck.npz   "<case id>/in/<name>", "<case id>/out/<name>",
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
from cs231n_grader.cases import make_cases
from cs231n_grader.compare import allclose_scaled, reference_outputs
from cs231n_grader.reference import default_notebook, load_reference

#: the public seed of the practice cases (the grader's cases come from the secret instead)
PRACTICE_SEED = b"cs231n two_layer_net practice cases, public"
#: the parts the self-check covers: the ones whose cases need nothing but the function itself
PARTS = ("forward", "softmax_loss", "chain_rule_factors", "backward")
DATA_NAME = "selfcheck"


def mistake_name(mistake_id: str) -> str:
    """A catalogued mistake's id as words (``relu_mask_missing`` -> ``ReLU mask missing``)."""
    return mistake_id.replace("_", " ").replace("relu", "ReLU")


def practice_cases(ref) -> dict[str, list]:
    """``{part: [Case]}``: the grader's case generator from the public seed, the toy case left out
    (the notebook's own test shows it)."""
    return {part: [c for c in make_cases(part, PRACTICE_SEED, ref) if c.kind != "toy"] for part in PARTS}


def _differs(variant: dict, expected: dict) -> bool:
    """A variant that changes some output on this case (one that changes nothing explains nothing)."""
    return all(np.all(np.isfinite(v)) for v in variant.values()) and any(
        not allclose_scaled(expected[k], v) for k, v in variant.items())


def build(ref) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest for selfcheck.json, arrays for selfcheck.npz) of the practice cases."""
    manifest = {"seed": PRACTICE_SEED.decode(), "parts": {}, "mistakes": {}}
    arrays: dict[str, np.ndarray] = {}
    for part, cases in practice_cases(ref).items():
        entries = manifest["parts"][part] = []
        for case in cases:
            # the grader's own call records (helper calls, minibatch rows) are not outputs to compare
            expected = {k: v for k, v in reference_outputs(case, ref).items() if k not in runner.CALL_RECORDS}
            entry = {"id": case.id, "label": case.label, "kind": case.kind,
                     "reg": float(case.scalars.get("reg", 0.0)), "inputs": sorted(case.arrays),
                     "outputs": list(expected), "mistakes": []}  # outputs in the order the grader checks them
            arrays.update({f"{case.id}/in/{k}": np.asarray(v) for k, v in case.arrays.items()})
            arrays.update({f"{case.id}/out/{k}": np.asarray(v, dtype=np.float64) for k, v in expected.items()})
            for mistake in diagnose.CATALOGUE:
                if mistake.part != part:
                    continue
                for index, variant in enumerate(mistake.variants):
                    outputs = {k: v for k, v in variant(case, ref).items() if k not in runner.CALL_RECORDS}
                    if not _differs(outputs, expected):
                        continue
                    entry["mistakes"].append([mistake.id, index])
                    manifest["mistakes"][mistake.id] = mistake_name(mistake.id)
                    arrays.update({f"{case.id}/mistake/{mistake.id}/{index}/{k}": np.asarray(v, dtype=np.float64)
                                   for k, v in outputs.items()})
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
    parser.add_argument("--notebook", type=Path, default=None,
                        help="the solution notebook (default: solutions/two_layer_net/two_layer_net.ipynb)")
    args = parser.parse_args(argv)
    notebook = args.notebook or default_notebook()
    for path in write(notebook.parent, notebook):
        print(f"wrote {path}")
    print("now run `nbgrader generate_assignment two_layer_net --force` to release them beside the notebook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
