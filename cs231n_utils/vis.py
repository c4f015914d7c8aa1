"""Pictures for the two-layer-net notebook: image grids, training curves,
first-layer weights, samples.

Every plotting function returns its ``matplotlib.figure.Figure`` (made with pyplot, so it shows
inline in Jupyter; assign the result, ``fig = plot_history(h)``, or end the line with ``;`` so it
is not displayed twice).
"""

from __future__ import annotations

import math

import numpy as np


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile images into one picture, each rescaled to ``[0, ubound]`` on its own (CS231n's helper).

    ``Xs``: ``(N, H, W, C)``. Returns float64 ``(G*H + (G-1)*padding, G*W + (G-1)*padding, C)`` with
    ``G = ceil(sqrt(N))``, filled row by row; gaps and unused cells are 0. A constant
    image becomes 0.
    """
    Xs = np.asarray(Xs)
    if Xs.ndim != 4:
        raise ValueError(
            f"visualize_grid expects images of shape (N, H, W, C), got {Xs.shape}; "
            "reshape first, e.g. X.reshape(-1, 32, 32, 3)."
        )
    N, H, W, C = Xs.shape
    G = max(1, math.ceil(math.sqrt(N)))
    grid = np.zeros((G * H + (G - 1) * padding, G * W + (G - 1) * padding, C))
    for n in range(N):
        r, c = divmod(n, G)
        y0, x0 = r * (H + padding), c * (W + padding)
        img = Xs[n].astype(np.float64)
        low, high = img.min(), img.max()
        if high > low:
            grid[y0 : y0 + H, x0 : x0 + W] = ubound * (img - low) / (high - low)
    return grid


def plot_history(history, fig=None):
    """Loss per iteration (left) and train/val accuracy per epoch (right).

    ``history``: dict with ``loss_history`` (T,), ``train_acc_history`` (E,), ``val_acc_history``
    (E,) (as returned by ``train``). ``fig``: a Figure to draw into (cleared first); default a new
    one. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    missing = [
        k for k in ("loss_history", "train_acc_history", "val_acc_history") if k not in history
    ]
    if missing:
        raise KeyError(f"plot_history: history lacks {missing}; pass the dict returned by train().")
    if fig is None:
        fig = plt.figure(figsize=(12, 4))
    else:
        fig.clear()
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = np.asarray(history["loss_history"], dtype=float)
    ax_loss.plot(np.arange(len(loss)), loss, color="tab:blue", label="training loss")
    ax_loss.set(title="Loss history", xlabel="Iteration", ylabel="Loss")
    ax_loss.ticklabel_format(axis="y", useOffset=False)  # plain loss values, not "+2.302" offsets
    for key, label, color in (
        ("train_acc_history", "train", "tab:orange"),
        ("val_acc_history", "val", "tab:green"),
    ):
        acc = np.asarray(history[key], dtype=float)
        ax_acc.plot(np.arange(1, len(acc) + 1), acc, marker="o", color=color, label=label)
    ax_acc.set(title="Classification accuracy history", xlabel="Epoch", ylabel="Accuracy")
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.legend()
    if len(history["train_acc_history"]) == 0:  # fewer iterations than one epoch
        ax_acc.text(
            0.5,
            0.5,
            "no complete epoch yet:\naccuracies are recorded once per epoch",
            transform=ax_acc.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
        ax_acc.set(xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_W1(W1, padding=3, ax=None, title="First-layer weights W1"):
    """Show the columns of ``W1`` ``(3072, H)`` as ``H`` 32x32x3 tiles (rows flattened in
    (32, 32, 3) order, as ``get_cifar10_data`` gives them). ``ax``: Axes to draw into; default a
    new Figure. Returns the Figure."""
    import matplotlib.pyplot as plt

    W1 = np.asarray(W1)
    if W1.ndim != 2 or W1.shape[0] != 32 * 32 * 3:
        raise ValueError(
            f"plot_W1 expects W1 of shape (3072, H), got {W1.shape}; pass params['W1'] of a "
            "net trained on CIFAR-10 rows."
        )
    tiles = W1.reshape(32, 32, 3, -1).transpose(3, 0, 1, 2)  # (H, 32, 32, 3)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 8))
    else:
        fig = ax.figure
    ax.imshow(visualize_grid(tiles, padding=padding).astype("uint8"), interpolation="nearest")
    ax.set(title=f"{title} ({W1.shape[1]} hidden units)", xticks=[], yticks=[])
    return fig


def show_samples(X, y, class_names, per_class=7, seed=0):
    """A grid of ``per_class`` random images (rows) for each class (columns), titled
    with class names.

    ``X``: uint8 ``(N, 32, 32, 3)`` (or rows ``(N, 3072)``); ``y``: ``(N,)`` ints; ``class_names``:
    list of C names. Images are drawn with ``np.random.default_rng(seed)``. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 2 and X.shape[1] == 32 * 32 * 3:
        X = X.reshape(-1, 32, 32, 3)
    if X.ndim != 4 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"show_samples expects X (N, 32, 32, 3) and y (N,), got {X.shape} and {y.shape}."
        )
    rng = np.random.default_rng(seed)
    C = len(class_names)
    fig, axes = plt.subplots(per_class, C, figsize=(1.2 * C, 1.2 * per_class), squeeze=False)
    for c, name in enumerate(class_names):
        idxs = np.flatnonzero(y == c)
        pick = rng.choice(idxs, size=min(per_class, idxs.size), replace=False) if idxs.size else []
        for i in range(per_class):
            ax = axes[i, c]
            ax.axis("off")
            if i < len(pick):
                ax.imshow(X[pick[i]].astype("uint8"), interpolation="nearest")
            if i == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle("CIFAR-10 samples per class")
    return fig
