"""Tiny CIFAR-10 files in the two real on-disk formats, for offline tests.

* ``write_binary_archive`` writes ``cifar-10-binary.tar.gz`` exactly as
  https://www.cs.toronto.edu/~kriz/cifar.html describes the binary version: members
  ``cifar-10-batches-bin/data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``
  and ``batches.meta.txt``; each record is 1 label byte then 3072 bytes, the R, G and
  B planes, each 32x32 row-major.
* ``write_torchvision_folder`` writes ``<root>/cifar-10-batches-py`` as torchvision's
  ``CIFAR10(root, download=True)`` leaves it: pickled dicts ``data_batch_1`` ..
  ``data_batch_5``, ``test_batch`` (``data``: uint8 (N, 3072) rows in the same
  R, G, B plane order; ``labels``: list of int) and ``batches.meta``. The pickles are
  written like the originals (Python 2 protocol 2: byte strings as ``str`` opcodes,
  the array rebuilt through ``numpy.core.multiarray._reconstruct``), so the loader is
  tested on what the real download contains.

Images are uint8 NHWC (N, 32, 32, 3), labels int64 (N,); ``random_cifar`` makes seeded
ones. Nothing here imports jaxloss: the fixtures are an independent reference.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
ARCHIVE_NAME = "cifar-10-binary.tar.gz"
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
TORCHVISION_FOLDER = "cifar-10-batches-py"


def random_cifar(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded random images uint8 (n, 32, 32, 3) and labels int64 (n,).

    The labels cycle through every class first, so each of the 10 classes appears
    whenever n >= 10.
    """
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    return images, labels


def _check(images: np.ndarray, labels: np.ndarray) -> None:
    assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[1:] == (32, 32, 3), (
        images.dtype,
        images.shape,
    )
    assert (
        labels.shape == (images.shape[0],)
        and labels.min(initial=0) >= 0
        and labels.max(initial=0) <= 9
    )


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> (N, 3072): the R plane, then G, then B, each row-major."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), 3072)


def _split5(n: int) -> list[slice]:
    """Cut n training images into the 5 data batches (the last ones may be empty)."""
    bounds = np.linspace(0, n, 6).round().astype(int)
    return [slice(bounds[i], bounds[i + 1]) for i in range(5)]


def binary_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The CIFAR-10 binary format: per image 1 label byte + 3072 pixel bytes."""
    _check(images, labels)
    records = np.concatenate([labels.astype(np.uint8)[:, None], _rows(images)], axis=1)
    return records.tobytes()


def write_binary_archive(directory, train, test, *, name: str = ARCHIVE_NAME) -> Path:
    """Write a tiny ``cifar-10-binary.tar.gz`` into ``directory``; returns its path.

    ``train`` and ``test`` are (images, labels) pairs; the train images are spread
    over data_batch_1..5.bin in order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    train_images, train_labels = train
    members = {}
    for i, s in enumerate(_split5(len(train_images)), start=1):
        members[f"data_batch_{i}.bin"] = binary_records(train_images[s], train_labels[s])
    members["test_batch.bin"] = binary_records(*test)
    members["batches.meta.txt"] = ("\n".join(LABEL_NAMES) + "\n\n").encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        for member, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def size_and_sha256(path) -> tuple[int, str]:
    """What TFDS registers for a download: its size in bytes and sha256 hex digest."""
    data = Path(path).read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


class _Py2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle did for the original CIFAR-10 files.

    Byte strings become Python 2 ``str`` opcodes (not Python 3's ``_codecs.encode``
    call), and the array is rebuilt through ``numpy.core.multiarray._reconstruct``, the
    name numpy 1.x wrote. ``pickle.load(f, encoding='latin1')`` reads both back, as
    torchvision does.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str

    def _save_py2_text(self, obj: str) -> None:
        # Python 2 wrote plain (ASCII) strings as str, i.e. bytes on the wire.
        self._save_py2_str(obj.encode("latin1"))

    dispatch[str] = _save_py2_text

    def save_global(self, obj, name=None):
        if getattr(obj, "__name__", None) == "_reconstruct":
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_pickle_bytes(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _batch(images: np.ndarray, labels: np.ndarray, batch_label: str) -> dict:
    _check(images, labels)
    return {
        "batch_label": batch_label,
        "labels": [int(v) for v in labels],
        "data": _rows(images),
        "filenames": [f"img_{i:05d}.png" for i in range(len(images))],
    }


def write_torchvision_folder(root, train, test) -> Path:
    """Write ``<root>/cifar-10-batches-py`` like torchvision's download; returns the folder."""
    folder = Path(root) / TORCHVISION_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = train
    for i, s in enumerate(_split5(len(train_images)), start=1):
        batch = _batch(train_images[s], train_labels[s], f"training batch {i} of 5")
        (folder / f"data_batch_{i}").write_bytes(py2_pickle_bytes(batch))
    (folder / TEST_FILE).write_bytes(py2_pickle_bytes(_batch(*test, "testing batch 1 of 1")))
    meta = {"num_cases_per_batch": 10000, "label_names": LABEL_NAMES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle_bytes(meta))
    return folder


class _RunsACommand:
    """An object whose unpickling would call ``os.system`` (a forbidden global)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write_forbidden_pickle(path, command: str) -> Path:
    """A batch file that looks like CIFAR but runs ``command`` if unpickled naively."""
    images, labels = random_cifar(2, seed=0)
    batch = _batch(images, labels, "testing batch 1 of 1")
    batch["payload"] = _RunsACommand(command)
    path = Path(path)
    path.write_bytes(py2_pickle_bytes(batch))
    return path
