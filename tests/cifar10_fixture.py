"""A small CIFAR-10 in the official "python version" format, generated (no download, no ../shared).

For tests that need the *format*, not real images: the files are written the way the Python 2
originals were -- protocol-2 pickles in which every str is a Python 2 byte string -- so
``pickle.load(f, encoding='latin1')`` gives str keys and ``encoding='bytes'`` gives ``b'data'``
keys, exactly as with the real download::

    cifar-10-batches-py/
        batches.meta      {'label_names': [10], 'num_cases_per_batch', 'num_vis'}
        data_batch_1..5   {'batch_label', 'labels', 'data' uint8 (N, 3072) R|G|B planes,
                           'filenames'}
        test_batch
        readme.html

Pixels are seeded noise around a per-class colour; classes are balanced and shuffled.

    python tests/cifar10_fixture.py --out DIR [--tarball] [--train-per-class N --test-per-class M]
"""

from __future__ import annotations

import argparse
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
README = (
    b'<meta HTTP-EQUIV="REFRESH" content="0; url=https://www.cs.toronto.edu/~kriz/cifar.html">\n'
)


class _Py2Pickler(pickle._Pickler):
    """Protocol 2, with str and bytes written as Python 2 byte strings (``BINSTRING``) and numpy's
    reconstructor named ``numpy.core.multiarray`` -- what the 2009 files hold."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        blob = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(blob) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(blob)]) + blob)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(blob)) + blob)
        self.memoize(obj)

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", "")
        if module.startswith("numpy._core"):
            qualname = (name or obj.__qualname__).encode()
            self.write(
                pickle.GLOBAL + module.replace("_core", "core").encode() + b"\n" + qualname + b"\n"
            )
            self.memoize(obj)
            return
        super().save_global(obj, name)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj) -> bytes:
    """``obj`` pickled as Python 2 would have (see ``_Py2Pickler``)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _images(per_class: int, rng: np.random.RandomState) -> tuple[np.ndarray, list[int]]:
    """``per_class`` images of every class, shuffled: rows uint8 ``(10 * per_class, 3072)`` in
    R|G|B plane order, and their labels."""
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    rng.shuffle(labels)
    colour = rng.randint(40, 216, size=(len(CLASSES), 3, 1))  # one RGB colour per class
    noise = rng.randint(-40, 41, size=(len(labels), 3, 1024))
    data = np.clip(colour[labels] + noise, 0, 255).astype(np.uint8).reshape(len(labels), 3072)
    return data, labels.tolist()


def cifar10_files(train_per_class: int = 20, test_per_class: int = 10, seed: int = 0) -> dict:
    """File name -> bytes of a CIFAR-10 with ``10 * train_per_class`` training images in 5
    batches and ``10 * test_per_class`` test images."""
    rng = np.random.RandomState(seed)
    files = {}
    data, labels = _images(train_per_class, rng)
    size = -(-len(labels) // 5)
    for b in range(5):
        rows = slice(b * size, (b + 1) * size)
        files[f"data_batch_{b + 1}"] = py2_pickle(
            {
                "batch_label": f"training batch {b + 1} of 5",
                "labels": labels[rows],
                "data": np.ascontiguousarray(data[rows]),
                "filenames": [
                    f"{CLASSES[y]}_s_{b * size + i:06d}.png" for i, y in enumerate(labels[rows])
                ],
            }
        )
    data, labels = _images(test_per_class, rng)
    files["test_batch"] = py2_pickle(
        {
            "batch_label": "testing batch 1 of 1",
            "labels": labels,
            "data": data,
            "filenames": [f"{CLASSES[y]}_s_{i:06d}.png" for i, y in enumerate(labels)],
        }
    )
    files["batches.meta"] = py2_pickle(
        {"num_cases_per_batch": size, "label_names": CLASSES, "num_vis": 3072}
    )
    files["readme.html"] = README
    return files


def write_cifar10(out: Path, tarball: bool = False, **sizes) -> Path:
    """Write ``out/cifar-10-batches-py/`` (or ``out/cifar-10-python.tar.gz`` with ``tarball``);
    ``sizes`` as for ``cifar10_files``. Returns the folder or the tarball."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = cifar10_files(**sizes)
    if tarball:
        path = out / "cifar-10-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"{FOLDER}/{name}")
                info.size, info.mtime = len(blob), 1243000000
                tar.addfile(info, io.BytesIO(blob))
        return path
    folder = out / FOLDER
    folder.mkdir(exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="folder to write into")
    p.add_argument("--tarball", action="store_true", help="write cifar-10-python.tar.gz")
    p.add_argument("--train-per-class", type=int, default=20)
    p.add_argument("--test-per-class", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(
        write_cifar10(
            a.out,
            a.tarball,
            train_per_class=a.train_per_class,
            test_per_class=a.test_per_class,
            seed=a.seed,
        )
    )
