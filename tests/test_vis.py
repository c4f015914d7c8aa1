"""cs231n_utils.vis: grids checked value by value, figures rendered with Agg and checked
pixel by pixel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from cs231n_utils.vis import plot_history, plot_W1, show_samples, visualize_grid  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(fig) -> np.ndarray:
    """The figure as drawn by Agg: uint8 (height, width, 3)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def pixel_at(fig, ax, x, y, rgb) -> np.ndarray:
    """Rendered colour at data point (x, y) of ``ax`` (image coordinates for imshow)."""
    px, py = ax.transData.transform((x, y))
    return rgb[int(round(rgb.shape[0] - py)), int(round(px))]


def has_colour(rgb, colour, tol=10) -> int:
    target = np.array(to_rgb(colour)) * 255
    return int(np.sum(np.all(np.abs(rgb.astype(int) - target) <= tol, axis=-1)))


# --------------------------------------------------------------------------- visualize_grid


def test_visualize_grid_layout_and_scaling():
    rng = np.random.default_rng(0)
    Xs = rng.uniform(-3, 5, size=(5, 2, 3, 3))
    Xs[4] = 7.0  # a constant image
    grid = visualize_grid(Xs, ubound=10.0, padding=2)
    G = 3  # ceil(sqrt(5))
    assert grid.shape == (G * 2 + (G - 1) * 2, G * 3 + (G - 1) * 2, 3)
    for n in range(4):
        r, c = divmod(n, G)
        tile = grid[r * 4 : r * 4 + 2, c * 5 : c * 5 + 3]
        img = Xs[n]
        np.testing.assert_allclose(tile, 10.0 * (img - img.min()) / (img.max() - img.min()))
        assert tile.min() == 0.0 and tile.max() == pytest.approx(10.0)
    assert np.all(grid[4:6, 5:8] == 0)  # constant image: zeros, no division by zero
    mask = np.ones(grid.shape[:2], bool)
    for n in range(4):
        r, c = divmod(n, G)
        mask[r * 4 : r * 4 + 2, c * 5 : c * 5 + 3] = False
    assert np.all(grid[mask] == 0)  # padding and unused cells


def test_visualize_grid_shape_error():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        visualize_grid(np.zeros((4, 3072)))


# --------------------------------------------------------------------------- plot_W1


def test_plot_W1_tiles_show_each_column():
    H = 4
    tiles = np.zeros((H, 32, 32, 3))
    for k in range(H):
        tiles[k, :16, :, k % 3] = 1.0  # top half pure red / green / blue, bottom half black
    tiles[3, :16, :, :] = 1.0  # tile 3: top half white
    W1 = tiles.transpose(1, 2, 3, 0).reshape(3072, H)  # rows in (32, 32, 3) order, like CIFAR rows
    fig = plot_W1(W1, padding=3)
    ax = fig.axes[0]
    assert "W1" in ax.get_title() and "4 hidden units" in ax.get_title()
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (2 * 32 + 3, 2 * 32 + 3, 3) and shown.dtype == np.uint8
    rgb = render(fig)
    want = {0: (255, 0, 0), 1: (0, 255, 0), 2: (0, 0, 255), 3: (255, 255, 255)}
    for k, colour in want.items():
        r, c = divmod(k, 2)
        x0, y0 = c * 35, r * 35
        assert np.abs(pixel_at(fig, ax, x0 + 16, y0 + 8, rgb).astype(int) - colour).max() <= 2, k
        assert pixel_at(fig, ax, x0 + 16, y0 + 24, rgb).max() <= 2, k  # bottom half black


def test_plot_W1_into_given_axes_and_shape_error():
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_W1(np.random.default_rng(0).standard_normal((3072, 10)), ax=b) is fig
    assert len(b.get_images()) == 1 and len(a.get_images()) == 0
    with pytest.raises(ValueError, match=r"\(3072, H\)"):
        plot_W1(np.zeros((10, 3072)))


# --------------------------------------------------------------------------- plot_history

HISTORY = {
    "loss_history": list(np.linspace(2.3, 1.2, 50) + 0.05 * np.sin(np.arange(50))),
    "train_acc_history": [0.2, 0.35, 0.45, 0.5],
    "val_acc_history": [0.18, 0.3, 0.4, 0.42],
}


def test_plot_history_content_and_pixels():
    fig = plot_history(HISTORY)
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_xlabel() == "Iteration" and ax_loss.get_ylabel() == "Loss"
    assert ax_acc.get_xlabel() == "Epoch" and ax_acc.get_ylabel() == "Accuracy"
    assert ax_loss.get_title() and ax_acc.get_title()
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), HISTORY["loss_history"])
    np.testing.assert_allclose(ax_loss.lines[0].get_xdata(), np.arange(50))
    train, val = ax_acc.lines
    np.testing.assert_allclose(train.get_ydata(), HISTORY["train_acc_history"])
    np.testing.assert_allclose(val.get_xdata(), [1, 2, 3, 4])
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["train", "val"]
    rgb = render(fig)
    # the loss curve is drawn inside the left axes, the accuracy curves inside the right one
    w = rgb.shape[1]
    assert (
        has_colour(rgb[:, : w // 2], "tab:blue") > 100
        and has_colour(rgb[:, w // 2 :], "tab:blue") == 0
    )
    assert (
        has_colour(rgb[:, w // 2 :], "tab:orange") > 50
        and has_colour(rgb[:, w // 2 :], "tab:green") > 50
    )
    # the first loss point sits where the data says: high up in the left axes
    px, py = ax_loss.transData.transform((0, HISTORY["loss_history"][0]))
    patch = rgb[int(rgb.shape[0] - py) - 3 : int(rgb.shape[0] - py) + 4, int(px) - 3 : int(px) + 4]
    assert has_colour(patch, "tab:blue", tol=40) > 0


def test_plot_history_before_the_first_epoch_says_so():
    fig = plot_history(
        {"loss_history": [2.3026, 2.3025, 2.3024], "train_acc_history": [], "val_acc_history": []}
    )
    ax_loss, ax_acc = fig.axes
    assert any("no complete epoch" in t.get_text() for t in ax_acc.texts)
    fig.canvas.draw()
    assert ax_loss.yaxis.get_offset_text().get_text() == ""  # loss values shown as they are
    assert not plot_history(HISTORY).axes[1].texts  # with epochs: no note


def test_plot_history_reuses_figure_and_checks_keys():
    fig = plt.figure()
    fig.add_subplot(111).plot([0, 1], [0, 1])
    assert plot_history(HISTORY, fig=fig) is fig
    assert len(fig.axes) == 2  # the old axes were cleared away
    with pytest.raises(KeyError, match="val_acc_history"):
        plot_history({"loss_history": [1.0], "train_acc_history": [0.1]})


# --------------------------------------------------------------------------- show_samples


def test_show_samples_grid_classes_and_pixels():
    C, per = 3, 2
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    X = np.zeros((10, 32, 32, 3), np.uint8)
    for i in range(10):  # every image a flat colour that encodes its index; red = 20 * class
        X[i] = (20 * y[i], 10 * i, 200)
    X[5] = (255, 255, 0)  # make one image stand out when rendered
    fig = show_samples(X, y, ["a", "b", "c"], per_class=per, seed=0)
    axes = np.array(fig.axes).reshape(per, C)
    assert [ax.get_title() for ax in axes[0]] == ["a", "b", "c"]
    for c in range(C):
        seen = set()
        for r in range(per):
            img = axes[r, c].get_images()[0].get_array()
            idx = int(img[0, 0, 1]) // 10 if not np.array_equal(img[0, 0], [255, 255, 0]) else 5
            assert y[idx] == c
            seen.add(idx)
        assert len(seen) == per  # no repeats within a class
    # rendered: the yellow image appears in class c's column iff it was drawn
    rgb = render(fig)
    shown5 = any(
        np.array_equal(axes[r, 2].get_images()[0].get_array()[0, 0], [255, 255, 0])
        for r in range(per)
    )
    assert (has_colour(rgb, (1.0, 1.0, 0.0), tol=3) > 50) == shown5
    again = show_samples(X, y, ["a", "b", "c"], per_class=per, seed=0)
    assert all(
        np.array_equal(p.get_images()[0].get_array(), q.get_images()[0].get_array())
        for p, q in zip(fig.axes, again.axes, strict=True)
    )


def test_show_samples_accepts_rows_and_short_classes():
    X = np.arange(4 * 3072, dtype=np.uint8).reshape(4, 3072)
    fig = show_samples(X, np.array([0, 0, 1, 0]), ["x", "y"], per_class=3)
    axes = np.array(fig.axes).reshape(3, 2)
    assert [len(ax.get_images()) for ax in axes[:, 1]] == [1, 0, 0]  # class 1 has one image
    np.testing.assert_array_equal(axes[0, 1].get_images()[0].get_array(), X[2].reshape(32, 32, 3))
    with pytest.raises(ValueError, match="show_samples"):
        show_samples(X, np.zeros(3, int), ["x"])
