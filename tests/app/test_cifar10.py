"""CIFAR-10 loading, offline: the real TFDS build from a tiny archive, the torchvision
folder, the restricted unpickler, fail-fast offline detection, and batching.

Every file is written by tests/cifar_fixtures.py from seeded images, so each expected
image and label is known; the byte layout of a record is also checked against a record
assembled by hand from the format description (1 label byte, then the R, G and B planes,
each 32x32 row-major). No test may touch the network: ``no_network`` makes every DNS
lookup and connect fail and records the attempt.
"""

import pickle
import pickletools
import socket
import threading
import time

import cifar_fixtures as cf
import numpy as np
import pytest

from jaxloss.tudui import cifar10
from jaxloss.tudui.cifar10 import (
    DataUnavailableError,
    UnsafePickleError,
    iterate_batches,
    load_cifar10,
)

THREE_WAYS = ("--data-dir", "--manual-dir", "--torchvision-dir")


@pytest.fixture
def no_network(monkeypatch):
    """Every DNS lookup and socket connect raises; returns the list of attempts."""
    attempts = []

    def getaddrinfo(host, port, *args, **kwargs):
        attempts.append(("getaddrinfo", host, port))
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    def connect(self, address):
        attempts.append(("connect", address))
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


@pytest.fixture
def tiny():
    """23 training and 7 test images: the 5 train batches get 5, 4, 5, 4, 5 records."""
    return cf.random_cifar(23, seed=1), cf.random_cifar(7, seed=2)


def as_multiset(images, labels):
    return sorted(zip((im.tobytes() for im in images), labels.tolist()))


def hand_made(label: int):
    """One image whose R, G, B planes differ, and its record assembled from the spec."""
    r = np.arange(1024, dtype=np.uint16).reshape(32, 32) % 251
    g = (r * 3 + 1) % 256
    b = (r.T + 7) % 256
    image = np.stack([r, g, b], axis=-1).astype(np.uint8)  # (32, 32, 3)
    record = (
        bytes([label])
        + bytes(r.astype(np.uint8).ravel())
        + bytes(g.astype(np.uint8).ravel())
        + bytes(b.astype(np.uint8).ravel())
    )
    return image, record


def test_fixture_record_layout_matches_the_format():
    image, record = hand_made(label=7)
    assert len(record) == 3073
    assert cf.binary_records(image[None], np.array([7])) == record


# ----------------------------------------------------------------------------- TFDS


def test_tfds_builds_offline_from_manual_archive(tmp_path, tiny, no_network, monkeypatch):
    """The real TFDS cifar10 build (download_and_prepare with manual_dir), offline."""
    from tensorflow_datasets.core.download.checksums import UrlInfo
    from tensorflow_datasets.image_classification.cifar import Cifar10

    (train, test) = tiny
    archive = cf.write_binary_archive(tmp_path / "manual", train, test)
    size, sha256 = cf.size_and_sha256(archive)
    # register the tiny archive's size and checksum for the builder's download URL
    official = Cifar10.url_infos[cf.ARCHIVE_URL]  # what TFDS registers for the real archive
    assert (official.size, official.checksum) == (cifar10.ARCHIVE_SIZE, cifar10.ARCHIVE_SHA256)
    monkeypatch.setitem(
        Cifar10.url_infos,
        cf.ARCHIVE_URL,
        UrlInfo(size=size, checksum=sha256, filename=cf.ARCHIVE_NAME),
    )

    data_dir = tmp_path / "tfds"
    for split, (images, labels) in (("train", train), ("test", test)):
        got_images, got_labels = load_cifar10(
            split, data_dir=data_dir, manual_dir=tmp_path / "manual"
        )
        assert got_images.dtype == np.uint8 and got_images.shape == images.shape
        assert got_labels.dtype == np.int64 and got_labels.shape == labels.shape
        # TFDS shuffles examples when it writes them: compare as multisets
        assert as_multiset(got_images, got_labels) == as_multiset(images, labels), split
    assert (data_dir / "cifar10" / "3.0.2" / "dataset_info.json").is_file()  # TFDS really built it

    # once prepared, loading needs neither the archive nor the network
    got_images, got_labels = load_cifar10("test", data_dir=data_dir)
    assert as_multiset(got_images, got_labels) == as_multiset(*test)
    assert no_network == [], f"network attempted: {no_network}"


def test_tfds_checks_the_archive_checksum(tmp_path, tiny, no_network):
    """Without registering the tiny archive, TFDS compares it with the official
    archive's registered size and sha256 and refuses it."""
    cf.write_binary_archive(tmp_path / "manual", *tiny)
    with pytest.raises(DataUnavailableError, match="not the official cifar-10-binary.tar.gz"):
        load_cifar10("test", data_dir=tmp_path / "tfds", manual_dir=tmp_path / "manual")
    assert no_network == []


def test_binary_archive_without_tfds(tmp_path, tiny):
    (train, test) = tiny
    archive = cf.write_binary_archive(tmp_path, train, test)
    size, sha256 = cf.size_and_sha256(archive)
    for split, (images, labels) in (("train", train), ("test", test)):
        got_images, got_labels = cifar10.read_binary_archive(
            archive, split, expected_size=size, expected_sha256=sha256
        )
        np.testing.assert_array_equal(got_images, images)  # file order is kept here
        np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(
        DataUnavailableError, match=f"size {size} and sha256 {sha256}, not the official"
    ):
        cifar10.read_binary_archive(archive, "test")  # the official checksum by default


def test_binary_layout_is_r_g_b_planes(tmp_path):
    image, record = hand_made(label=4)
    archive = cf.write_binary_archive(
        tmp_path, (image[None], np.array([4])), (image[None], np.array([4]))
    )
    got, labels = cifar10.read_binary_archive(
        archive, "test", expected_size=None, expected_sha256=None
    )
    np.testing.assert_array_equal(got[0], image)
    assert labels.tolist() == [4]


# ---------------------------------------------------------------------- torchvision


def test_torchvision_folder(tmp_path, tiny, no_network):
    (train, test) = tiny
    folder = cf.write_torchvision_folder(tmp_path / "dataset", train, test)
    for where in (tmp_path / "dataset", folder):  # the lesson's root, or the folder itself
        for split, (images, labels) in (("train", train), ("test", test)):
            got_images, got_labels = load_cifar10(split, torchvision_dir=where)
            assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64
            np.testing.assert_array_equal(got_images, images)  # torchvision's order is kept
            np.testing.assert_array_equal(got_labels, labels)
    assert no_network == []


def test_torchvision_layout_is_r_g_b_planes(tmp_path):
    image, record = hand_made(label=9)
    folder = cf.write_torchvision_folder(
        tmp_path, cf.random_cifar(5, seed=3), (image[None], np.array([9]))
    )
    row = np.frombuffer(record[1:], dtype=np.uint8)
    batch = pickle.loads((folder / "test_batch").read_bytes(), encoding="latin1")
    np.testing.assert_array_equal(batch["data"][0], row)  # the fixture writes the spec's layout
    got, labels = load_cifar10("test", torchvision_dir=tmp_path)
    np.testing.assert_array_equal(got[0], image)
    assert labels.tolist() == [9]


def test_forbidden_global_is_refused(tmp_path):
    folder = cf.write_torchvision_folder(
        tmp_path, cf.random_cifar(5, seed=3), cf.random_cifar(2, seed=4)
    )
    marker = tmp_path / "unpickling-ran-a-command"
    cf.write_forbidden_pickle(folder / "test_batch", f"touch {marker}")
    globals_named = [
        arg
        for op, arg, _ in pickletools.genops((folder / "test_batch").read_bytes())
        if op.name == "GLOBAL"
    ]
    assert any(g.endswith(" system") for g in globals_named), globals_named  # the payload is real
    with pytest.raises(UnsafePickleError, match=r"refusing to unpickle global (posix|nt)\.system"):
        load_cifar10("test", torchvision_dir=tmp_path)
    assert not marker.exists()
    load_cifar10("train", torchvision_dir=tmp_path)  # the untouched files still load


def test_missing_torchvision_files(tmp_path):
    folder = cf.write_torchvision_folder(
        tmp_path, cf.random_cifar(5, seed=3), cf.random_cifar(2, seed=4)
    )
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataUnavailableError, match="data_batch_3") as info:
        load_cifar10("train", torchvision_dir=tmp_path)
    assert all(way in str(info.value) for way in THREE_WAYS)


# ----------------------------------------------------------------------- fail fast


def test_offline_and_unprepared_fails_in_seconds(tmp_path, no_network, monkeypatch):
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)  # probe the download host itself

    def download(*args, **kwargs):
        raise AssertionError("a TFDS download was attempted")

    monkeypatch.setattr(cifar10, "_load_tfds", download)
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10("test", data_dir=tmp_path / "tfds")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "not prepared" in message and "cannot reach www.cs.toronto.edu:443" in message
    assert all(way in message for way in THREE_WAYS), message
    # the only network activity was the probe's lookup of the download host
    assert no_network == [("getaddrinfo", "www.cs.toronto.edu", 443)]


def test_hanging_network_fails_in_seconds(tmp_path, monkeypatch):
    release = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        release.wait(30)  # a DNS server that never answers
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    monkeypatch.setattr(
        cifar10, "_load_tfds", lambda *a: pytest.fail("a TFDS download was attempted")
    )
    start = time.monotonic()
    try:
        with pytest.raises(
            DataUnavailableError, match="no answer from www.cs.toronto.edu:443 within 0.5 s"
        ):
            load_cifar10("test", data_dir=tmp_path / "tfds", network_timeout=0.5)
        assert time.monotonic() - start < 3
    finally:
        release.set()


def test_manual_dir_without_archive(tmp_path, no_network):
    with pytest.raises(DataUnavailableError, match="has no cifar-10-binary.tar.gz") as info:
        load_cifar10("test", data_dir=tmp_path / "tfds", manual_dir=tmp_path)
    assert all(way in str(info.value) for way in THREE_WAYS)
    assert no_network == []


def test_bad_split():
    with pytest.raises(ValueError, match="split is 'validation' but must be 'train' or 'test'"):
        load_cifar10("validation", torchvision_dir=".")


# ------------------------------------------------------------------------- batches


def test_iterate_batches(rng):
    images = rng.integers(0, 256, size=(23, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=23).astype(np.int64)
    batches = list(iterate_batches(images, labels, 5))
    assert [len(y) for _, y in batches] == [5, 5, 5, 5, 3]
    x, y = batches[1]
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (5, 32, 32, 3)
    np.testing.assert_allclose(x, images[5:10].astype(np.float64) / 255.0, rtol=1e-7, atol=0)
    np.testing.assert_array_equal(y, labels[5:10])
    assert len(list(iterate_batches(images, labels, 5, drop_remainder=True))) == 4
    assert len(list(iterate_batches(images, labels, 100))) == 1


def order(images, labels, **kwargs):
    return np.concatenate([y for _, y in iterate_batches(images, labels, 4, **kwargs)])


def test_shuffling_is_seeded_per_epoch(rng):
    images = np.zeros((40, 32, 32, 3), dtype=np.uint8)
    index = np.arange(40)  # the labels record each example's position
    a = order(images, index, shuffle=True, seed=1, epoch=0)
    assert sorted(a.tolist()) == index.tolist()  # every example exactly once
    assert a.tolist() != index.tolist()
    np.testing.assert_array_equal(a, order(images, index, shuffle=True, seed=1, epoch=0))
    assert a.tolist() != order(images, index, shuffle=True, seed=1, epoch=1).tolist()
    assert a.tolist() != order(images, index, shuffle=True, seed=2, epoch=0).tolist()


def test_iterate_batches_checks_its_arguments():
    images = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="batch_size is 0"):
        iterate_batches(images, np.zeros(4), 0)  # raised at the call, before iterating
    with pytest.raises(ValueError, match=r"labels have shape \(3,\); expected \(4,\)"):
        iterate_batches(images, np.zeros(3), 2)
    with pytest.raises(ValueError, match=r"images have shape \(4, 3, 32, 32\)"):
        iterate_batches(images.transpose(0, 3, 1, 2), np.zeros(4), 2)


# --------------------------------------------------------------- damaged or unusual files


def _py3_pickle(obj, protocol: int) -> bytes:
    """What Python 3's pickle writes (protocols 0-2 store bytes as _codecs.encode(str,
    'latin1'); 3-5 as bytes opcodes, 5 with numpy's _frombuffer)."""
    return pickle.dumps(obj, protocol=protocol)


@pytest.mark.parametrize("protocol", range(6))
def test_python3_pickles_of_every_protocol_load(tmp_path, protocol):
    train, test = cf.random_cifar(10, seed=5), cf.random_cifar(4, seed=6)
    folder = cf.write_torchvision_folder(tmp_path, train, test)
    batch = pickle.loads((folder / "test_batch").read_bytes(), encoding="latin1")
    (folder / "test_batch").write_bytes(_py3_pickle(batch, protocol))
    globals_named = {
        arg
        for op, arg, _ in pickletools.genops(_py3_pickle(batch, protocol))
        if op.name == "GLOBAL"
    }
    assert ("_codecs encode" in globals_named) == (protocol <= 2)  # the case that was refused
    images, labels = load_cifar10("test", torchvision_dir=tmp_path)
    np.testing.assert_array_equal(images, test[0])
    np.testing.assert_array_equal(labels, test[1])


@pytest.mark.parametrize(
    "payload, called",
    [
        # _codecs.encode('abc', 'rot13'): another codec
        (b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.", "str, str"),
        # _codecs.encode(b'abc', 'latin1'): not a str
        (b"\x80\x03c_codecs\nencode\nC\x03abcX\x06\x00\x00\x00latin1\x86R.", "bytes, str"),
        # _codecs.encode('abc'): one argument
        (b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abc\x85R.", "str"),
    ],
)
def test_codecs_encode_is_allowed_only_as_str_latin1(tmp_path, payload, called):
    path = tmp_path / "test_batch"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=rf"_codecs.encode called with \({called}\)"):
        cifar10.restricted_pickle_load(path)
    # and any other builtin is still refused, e.g. builtins.eval
    path.write_bytes(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.")
    with pytest.raises(UnsafePickleError, match="refusing to unpickle global builtins.eval"):
        cifar10.restricted_pickle_load(path)


def _damage(folder, kind: str):
    """Damage test_batch in one of the ways a download or a disk can; returns the message
    expected to name it."""
    path = folder / "test_batch"
    raw = path.read_bytes()
    batch = pickle.loads(raw, encoding="latin1")
    if kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
        return f"{path}: not a readable CIFAR-10 batch (UnpicklingError: pickle data was truncated)"
    if kind == "empty":
        path.write_bytes(b"")
        return f"{path}: the file is empty"
    if kind == "no labels":
        del batch["labels"]
        path.write_bytes(cf.py2_pickle_bytes(batch))
        return f"{path}: no 'labels' entry (its keys: 'batch_label', 'data', 'filenames')"
    if kind == "wrong shape":
        batch["data"] = batch["data"].reshape(-1, 32, 96)
        path.write_bytes(cf.py2_pickle_bytes(batch))
        return f"{path}: 'data' is uint8 (4, 32, 96); expected uint8 (N, 3072)"
    if kind == "bad labels":
        batch["labels"] = [0, 1, 2, 10]
        path.write_bytes(cf.py2_pickle_bytes(batch))
        return f"{path}: labels must be in 0..9, got 0..10"
    if kind == "not a dict":
        path.write_bytes(cf.py2_pickle_bytes([1, 2, 3]))
        return f"{path}: holds a list, not a dict of 'data' and 'labels'"
    if kind == "forbidden global":
        cf.write_forbidden_pickle(path, "true")
        return f"{path}: refusing to unpickle global"
    raise AssertionError(kind)


DAMAGE = ["truncated", "empty", "no labels", "wrong shape", "bad labels", "not a dict",
          "forbidden global"]  # fmt: skip


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_batch_names_the_file(tmp_path, kind):
    folder = cf.write_torchvision_folder(
        tmp_path, cf.random_cifar(10, seed=3), cf.random_cifar(4, seed=4)
    )
    expected = _damage(folder, kind)
    with pytest.raises(cifar10.CorruptDataError) as info:
        load_cifar10("test", torchvision_dir=tmp_path)
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)
    load_cifar10("train", torchvision_dir=tmp_path)  # the untouched files still load


@pytest.mark.parametrize("command", ["train", "demo"])
@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_batch_is_one_line_and_exit_2_in_every_command(tmp_path, capsys, command, kind):
    from jaxloss.tudui.cli import main

    folder = cf.write_torchvision_folder(
        tmp_path, cf.random_cifar(10, seed=3), cf.random_cifar(4, seed=4)
    )
    expected = _damage(folder, kind)
    extra = ["--workdir", str(tmp_path / "run")] if command == "train" else []
    assert main([command, "--torchvision-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jaxloss {command}: error: {expected}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_binary_archive_damage_names_the_file(tmp_path, tiny):
    archive = cf.write_binary_archive(tmp_path, *tiny)
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(cifar10.CorruptDataError, match=rf"{archive}: not a readable \.tar\.gz"):
        cifar10.read_binary_archive(archive, "test", expected_size=None, expected_sha256=None)
