"""The accuracy part: the reference forward pass on the student's saved ``best_net.npz``."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from cs231n_grader.scoring import PartResult


def validate_net(
    path: Path, max_hidden: int = 4096, notes: list[str] | None = None
) -> dict[str, np.ndarray]:
    """The student's best_net.npz through the one validator the notebook uses too
    (cs231n_utils.netfile.load_net: bounded reads, no pickles): W1 (D, H), b1 (H,), W2 (H, C),
    b2 (C,) as float64. Raises ValueError with the reason."""
    from cs231n_utils.netfile import load_net

    return load_net(path, max_hidden=max_hidden, notes=notes)


def accuracy_score(
    acc: float, points: float, full_at: float = 0.48, zero_at: float = 0.35
) -> float:
    """Full points at ``acc >= full_at``, linear down to 0 at ``zero_at``."""
    frac = (acc - zero_at) / (full_at - zero_at)
    return min(float(points), round(float(points) * min(1.0, max(0.0, frac)), 2))


#: a gap larger than this between two accuracies that should be close flags the net for review
PLAUSIBLE_GAP = 0.10
TRAIN_SAMPLE = 2000  # training images the saved net is also evaluated on (for the review flag)


def mirrored(X: np.ndarray) -> np.ndarray:
    """Rows of (32, 32, 3) images (N, 3072) mirrored left-right: the same classes, other pixels."""
    return np.ascontiguousarray(
        np.asarray(X).reshape(len(X), 32, 32, 3)[:, :, ::-1, :].reshape(len(X), -1)
    )


@functools.lru_cache(maxsize=2)
def evaluation_data(data_dir: str | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 as the notebook preprocesses it (get_cifar10_data's defaults: mean image of the
    49000 training images subtracted): validation and test sets, and the first TRAIN_SAMPLE
    training images, cached per data folder."""
    from cs231n_utils.data import get_cifar10_data  # local: loading CIFAR-10 is only for this part

    return get_cifar10_data(data_dir=data_dir, train_sample=TRAIN_SAMPLE)  # not 600 MB of train


def split_accuracies(net: dict, ref, data: dict) -> dict[str, float]:
    """Accuracy of the reference forward pass with ``net`` on: val, test, mirrored val (and train
    when ``data`` has a training sample); ``held_out`` = test + mirrored val together, the images
    the student cannot have fitted (they tune on val; the test labels are never used to select)."""

    def acc(X, y):
        S2, _ = ref.forward(np.asarray(X, dtype=np.float64), net)
        return np.argmax(S2, axis=1) == y

    hits = {
        "val": acc(data["X_val"], data["y_val"]),
        "test": acc(data["X_test"], data["y_test"]),
        "mirrored_val": acc(mirrored(data["X_val"]), data["y_val"]),
    }
    if "X_train" in data:
        hits["train"] = acc(data["X_train"], data["y_train"])
    out = {k: float(np.mean(v)) for k, v in hits.items()}
    out["held_out"] = float(np.mean(np.concatenate([hits["test"], hits["mirrored_val"]])))
    return out


def implausible(accs: dict[str, float]) -> str | None:
    """Why the accuracies look memorised rather than learned (for an instructor's review), else
    None: validation far above the held-out images, or the held-out images far
    above training images."""
    if accs["val"] - accs["held_out"] > PLAUSIBLE_GAP:
        return (
            "validation accuracy far above its accuracy on the test and mirrored validation images"
        )
    if "train" in accs and accs["held_out"] - accs["train"] > PLAUSIBLE_GAP:
        return "accuracy on held-out images far above its accuracy on training images"
    return None


def check_accuracy(
    net_path: Path,
    ref,
    data: dict | None = None,
    points: float = 10,
    full_at: float = 0.48,
    zero_at: float = 0.35,
) -> PartResult:
    """The reference forward pass on the student's saved weights. Scored on the held-out images
    (the test split and the mirrored validation images: a net that memorised the validation
    images, whose labels students hold, earns nothing for it); an implausible gap between splits
    flags the part for an instructor's review."""
    res = PartResult("accuracy", float(points), total=1)
    notes: list[str] = []
    try:
        net = validate_net(net_path, notes=notes)
    except ValueError as exc:
        res.note = f"0 points: {exc}"
        return res
    accs = split_accuracies(net, ref, evaluation_data() if data is None else data)
    res.score = accuracy_score(accs["held_out"], points, full_at, zero_at)
    res.passed = int(res.score >= points)
    res.note = (
        f"accuracy {accs['held_out']:.3f} on the test images and the mirrored validation images "
        f"(full points at {full_at:.2f}, none at {zero_at:.2f}); "
        f"validation accuracy {accs['val']:.3f}" + "".join(f"; {n}" for n in notes)
    )
    why = implausible(accs)
    if why:
        res.review = why
        res.note += "; flagged for an instructor's review"
    return res
