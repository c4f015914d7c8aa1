"""best_net.npz: one validator (cs231n_utils.netfile.load_net) for the notebook and the grader, safe
on hostile files (issue 8 §5, issue 10 §3, issue 13 §2). Fast: no sandbox, no data."""

from __future__ import annotations

import io
import resource
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cs231n_utils.netfile import NetFileError, load_net, max_file_bytes

H = 7


@pytest.fixture
def net():
    rng = np.random.default_rng(0)
    return {
        "W1": rng.normal(size=(3072, H)),
        "b1": rng.normal(size=H),
        "W2": rng.normal(size=(H, 10)),
        "b2": rng.normal(size=10),
    }


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_saved_net_loads_as_float64_vectors(tmp_path, net):
    np.savez(tmp_path / "a.npz", **net)
    np.savez_compressed(tmp_path / "b.npz", **{k: v.astype(np.float32) for k, v in net.items()})
    for name in ("a.npz", "b.npz"):
        got = load_net(tmp_path / name)
        assert list(got) == ["W1", "b1", "W2", "b2"]
        assert all(v.dtype == np.float64 for v in got.values())
        np.testing.assert_allclose(got["W1"], net["W1"], rtol=1e-6)


def test_row_and_column_biases_are_the_vectors_they_are(tmp_path, net):
    np.savez(tmp_path / "n.npz", **{**net, "b1": net["b1"][None, :], "b2": net["b2"][:, None]})
    got = load_net(tmp_path / "n.npz")
    assert got["b1"].shape == (H,) and got["b2"].shape == (10,)
    np.testing.assert_array_equal(got["b1"], net["b1"])


def test_extra_arrays_are_ignored_with_a_note(tmp_path, net):
    np.savez(tmp_path / "n.npz", **net, best_val=np.array(0.5))
    notes: list[str] = []
    assert set(load_net(tmp_path / "n.npz", notes=notes)) == {"W1", "b1", "W2", "b2"}
    assert notes == ["ignored other arrays in n.npz: best_val.npy"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n: {k: v for k, v in n.items() if k != "W2"}, "lacks W2"),
        (lambda n: {**n, "W1": n["W1"][:-1]}, "W1 has shape (3071, 7), expected (3072, H)"),
        (lambda n: {**n, "W2": n["W2"][:-1]}, "W2 has shape (6, 10), expected (7, 10)"),
        (lambda n: {**n, "b1": np.zeros((2, H))}, "b1 has shape (2, 7), expected (7,)"),
        (lambda n: {**n, "b2": np.full(10, np.inf)}, "b2 contains inf or nan"),
        (lambda n: {**n, "b1": np.array(["x"] * H)}, "not real numbers"),
        (lambda n: {**n, "W1": np.zeros((3072, H), dtype=complex)}, "not real numbers"),
    ],
)
def test_broken_nets_say_what_to_fix(tmp_path, net, change, message):
    np.savez(tmp_path / "n.npz", **change(net))
    with pytest.raises(NetFileError, match="np.savez") as err:
        load_net(tmp_path / "n.npz")
    assert message in str(err.value)


def test_pickles_links_folders_and_non_zips_are_refused(tmp_path, net):
    np.savez(tmp_path / "p.npz", **{**net, "W1": np.array([object()], dtype=object)})
    (tmp_path / "txt.npz").write_text("hello")
    np.savez(tmp_path / "real.npz", **net)
    (tmp_path / "link.npz").symlink_to(tmp_path / "real.npz")
    (tmp_path / "dir.npz").mkdir()
    for name, message in {
        "p.npz": "not real numbers",
        "txt.npz": "not an .npz file",
        "link.npz": "is a link, not a plain file",
        "dir.npz": "not a regular file",
        "none.npz": "not found",
    }.items():
        with pytest.raises(NetFileError, match=message):
            load_net(tmp_path / name)


def _bomb(path, compression, W1_elements: int, net) -> Path:
    """An npz whose W1 member holds W1_elements zeros (streamed: never in memory here)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (W1_elements,)}
    )
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        with z.open("W1.npy", "w", force_zip64=True) as fh:
            fh.write(header.getvalue())
            chunk = bytes(2**20)
            for _ in range(W1_elements * 8 // len(chunk)):
                fh.write(chunk)
        for k in ("b1", "W2", "b2"):
            z.writestr(k + ".npy", _npy(net[k]))
    return path


def test_compression_bombs_are_refused_before_decompressing(tmp_path, net):
    """bzip2 (the attack: 891 bytes inflating to 1 GiB) and deflate members declaring more than a
    two-layer net can hold are refused from the zip directory: no time, no memory."""
    bzip = _bomb(tmp_path / "bzip.npz", zipfile.ZIP_BZIP2, 2**24, net)
    deflated = _bomb(tmp_path / "deflate.npz", zipfile.ZIP_DEFLATED, 2**24, net)
    assert bzip.stat().st_size < 10_000 and deflated.stat().st_size < 300_000
    t0, rss0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(NetFileError, match="unusual compression"):
        load_net(bzip)
    with pytest.raises(NetFileError, match="larger than a two-layer net's W1 can be"):
        load_net(deflated)
    assert time.monotonic() - t0 < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 50 * 1024  # KiB


def test_a_header_lying_about_its_shape_allocates_nothing(tmp_path, net):
    """A small member whose .npy header claims 10^12 elements is refused from the header."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    members = {k + ".npy": _npy(v) for k, v in net.items()}
    members["W1.npy"] = header.getvalue() + b"\0" * 64
    with pytest.raises(NetFileError, match="far too large"):
        load_net(_zip(tmp_path / "liar.npz", members))
    members["W1.npy"] = _npy(net["W1"])[:-100]  # truncated data
    with pytest.raises(NetFileError, match="truncated"):
        load_net(_zip(tmp_path / "short.npz", members))


def test_oversized_files_and_many_members_are_refused_unread(tmp_path, net):
    big = tmp_path / "big.npz"
    with open(big, "wb") as fh:
        fh.truncate(max_file_bytes() + 1)
    with pytest.raises(NetFileError, match="more than a two-layer net"):
        load_net(big)
    many = {f"x{i}.npy": b"" for i in range(40)} | {k + ".npy": _npy(v) for k, v in net.items()}
    with pytest.raises(NetFileError, match="holds 44 arrays"):
        load_net(_zip(tmp_path / "many.npz", many))
