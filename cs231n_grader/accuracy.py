"""The accuracy part: the reference forward pass on the student's saved ``best_net.npz``."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from cs231n_grader.scoring import PartResult


def validate_net(path: Path, max_hidden: int = 4096, notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """The student's best_net.npz through the one validator the notebook uses too
    (cs231n_utils.netfile.load_net: bounded reads, no pickles): W1 (D, H), b1 (H,), W2 (H, C),
    b2 (C,) as float64. Raises ValueError with the reason."""
    from cs231n_utils.netfile import load_net

    return load_net(path, max_hidden=max_hidden, notes=notes)


def accuracy_score(val_acc: float, points: float, full_at: float = 0.48, zero_at: float = 0.35) -> float:
    """Full points at ``val_acc >= full_at``, linear down to 0 at ``zero_at``."""
    frac = (val_acc - zero_at) / (full_at - zero_at)
    return min(float(points), round(float(points) * min(1.0, max(0.0, frac)), 2))


@functools.lru_cache(maxsize=2)
def evaluation_data(data_dir: str | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 validation and test sets preprocessed as the notebook does (get_cifar10_data's
    defaults: mean image of the 49000 training images subtracted), cached per data folder."""
    from cs231n_utils.data import get_cifar10_data  # local: loading CIFAR-10 is only for this part

    data = get_cifar10_data(data_dir=data_dir)
    return {k: data[k] for k in ("X_val", "y_val", "X_test", "y_test")}


def check_accuracy(net_path: Path, ref, data: dict | None = None, points: float = 10,
                   full_at: float = 0.48, zero_at: float = 0.35) -> PartResult:
    """The reference forward pass on the student's saved weights, on CIFAR-10 val (and test)."""
    res = PartResult("accuracy", float(points), total=1)
    notes: list[str] = []
    try:
        net = validate_net(net_path, notes=notes)
    except ValueError as exc:
        res.note = f"0 points: {exc}"
        return res
    if data is None:
        data = evaluation_data()
    accs = {}
    for split in ("val", "test"):
        S2, _ = ref.forward(np.asarray(data[f"X_{split}"], dtype=np.float64), net)
        accs[split] = float(np.mean(np.argmax(S2, axis=1) == data[f"y_{split}"]))
    res.score = accuracy_score(accs["val"], points, full_at, zero_at)
    res.passed = int(res.score >= points)
    res.note = (f"validation accuracy {accs['val']:.3f} (full points at {full_at:.2f}, none at "
                f"{zero_at:.2f}), test accuracy {accs['test']:.3f}" + "".join(f"; {n}" for n in notes))
    return res
