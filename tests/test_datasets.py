"""backprop.datasets: MNIST / Fashion-MNIST from the shared IDX files (sizes, label counts, dtypes,
pixel ranges), the folder layouts, clear errors for missing, truncated and corrupt files, downloads
(MD5-checked, offline error) with urllib monkeypatched, scikit-learn's Digits split, and Tiny Shakespeare.

Synthetic IDX files written into ``tmp_path`` exercise the loaders without the shared data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import sys
import tracemalloc
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest

import backprop
from backprop import transforms
from backprop.datasets import MNIST, DatasetNotFoundError, Digits, FashionMNIST, TinyShakespeare, load_text, read_idx
from backprop.utils.data import DataLoader
from conftest import require_data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


# ---------------------------------------------------------------------------- synthetic IDX files
def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = struct.pack(">HBB", 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def synthetic_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_test_split(folder, compress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic 10,000-image test split (t10k files) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = synthetic_split(10000)
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
        else:
            (folder / name).write_bytes(raw)
    return images, labels


# ---------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def mnist_train():
    root = require_data("mnist/train-images-idx3-ubyte.gz").parent
    require_data("mnist/train-labels-idx1-ubyte.gz")
    return MNIST(root, train=True)


@pytest.fixture(scope="module")
def mnist_test():
    root = require_data("mnist/t10k-images-idx3-ubyte.gz").parent
    require_data("mnist/t10k-labels-idx1-ubyte.gz")
    return MNIST(root, train=False)


def test_mnist_train_sizes_labels_and_pixels(mnist_train):
    ds = mnist_train
    assert len(ds) == 60000
    assert tuple(ds.data.shape) == (60000, 28, 28) and ds.data.dtype == backprop.uint8
    assert tuple(ds.targets.shape) == (60000,) and ds.targets.dtype == backprop.int64
    assert np.bincount(ds.targets.numpy(), minlength=10).tolist() == MNIST_TRAIN_COUNTS
    pixels = ds.data.numpy()
    assert pixels.min() == 0 and pixels.max() == 255
    assert 30 < pixels.mean() < 40  # MNIST's mean intensity is about 33.3


def test_mnist_test_split(mnist_test):
    assert len(mnist_test) == 10000 and tuple(mnist_test.data.shape) == (10000, 28, 28)
    assert sorted(set(mnist_test.targets.tolist())) == list(range(10))


def test_mnist_getitem_without_and_with_transforms(mnist_train):
    img, label = mnist_train[0]
    assert isinstance(img, backprop.Tensor) and img.dtype == backprop.uint8 and tuple(img.shape) == (28, 28)
    assert label == 5 and type(label) is int
    np.testing.assert_array_equal(img.numpy(), mnist_train.data[0].numpy())
    ds = MNIST(mnist_train.root, train=True, transform=transforms.ToTensor(), target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == backprop.float32 and y == 105
    np.testing.assert_allclose(x.numpy()[0], mnist_train.data[0].numpy() / 255.0, rtol=1e-6)
    assert ds.classes[5] == "5 - five" and ds.class_to_idx["9 - nine"] == 9
    assert "Number of datapoints: 60000" in repr(ds) and "Split: Train" in repr(ds)


def test_mnist_through_a_dataloader(mnist_test):
    root = mnist_test.root
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(MNIST(root, train=False, transform=tf), batch_size=256, shuffle=True, num_workers=2)
    assert len(loader) == 40
    x, y = next(iter(loader))
    assert tuple(x.shape) == (256, 1, 28, 28) and x.dtype == backprop.float32
    assert tuple(y.shape) == (256,) and y.dtype == backprop.int64
    assert -0.5 < float(x.min()) < -0.4 and 2.7 < float(x.max()) < 2.9


def test_fashion_mnist_sizes_and_balanced_classes():
    root = require_data("fashion-mnist/train-images-idx3-ubyte.gz").parent
    for name in FILES[1:]:
        require_data(f"fashion-mnist/{name}")
    train, test = FashionMNIST(root, train=True), FashionMNIST(root, train=False)
    assert (len(train), len(test)) == (60000, 10000)
    assert np.bincount(train.targets.numpy()).tolist() == [6000] * 10
    assert np.bincount(test.targets.numpy()).tolist() == [1000] * 10
    assert train.data.dtype == backprop.uint8 and int(train.data.max()) == 255
    assert test.classes[9] == "Ankle boot"
    img, label = test[0]
    assert tuple(img.shape) == (28, 28) and label == 9


def test_truncated_real_file_is_reported(tmp_path):
    source = require_data("mnist/t10k-labels-idx1-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(source.read_bytes()[:2000])
    write_test_split(tmp_path / "other")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        (tmp_path / "other" / "t10k-images-idx3-ubyte.gz").read_bytes()
    )
    with pytest.raises(RuntimeError, match="t10k-labels-idx1-ubyte.gz"):
        MNIST(tmp_path, train=False)


# ---------------------------------------------------------------------------- layouts and errors
def test_synthetic_split_flat_layout(tmp_path):
    images, labels = write_test_split(tmp_path)
    ds = MNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data.numpy(), images)
    np.testing.assert_array_equal(ds.targets.numpy(), labels)
    assert ds[3][1] == 3


def test_torchvision_layout_and_uncompressed_files(tmp_path):
    images, _ = write_test_split(tmp_path / "FashionMNIST" / "raw", compress=False)
    ds = FashionMNIST(str(tmp_path), train=False)
    np.testing.assert_array_equal(ds.data.numpy(), images)
    assert ds.raw_folder == str(tmp_path / "FashionMNIST" / "raw")


def test_missing_folder_names_the_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train-images-idx3-ubyte.gz") as info:
        MNIST(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, RuntimeError)
    assert "download=True" in str(info.value)


def test_missing_label_file_is_named(tmp_path):
    write_test_split(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        MNIST(tmp_path, train=False)


@pytest.mark.parametrize(
    "damage, message",
    [
        pytest.param(lambda raw: raw[:-100], "truncated", id="short-payload"),
        pytest.param(lambda raw: raw[:6], "truncated header", id="short-header"),
        pytest.param(lambda raw: raw[:2], "too short", id="tiny"),
        pytest.param(lambda raw: b"\x01\x02" + raw[2:], "not an IDX file", id="bad-magic"),
        pytest.param(lambda raw: raw[:3] + b"\x01" + raw[4:], "wrong IDX magic number 2049", id="label-magic"),
        pytest.param(lambda raw: raw + b"\x00", "holds", id="trailing-bytes"),
    ],
)
def test_corrupt_image_file_is_reported(tmp_path, damage, message):
    write_test_split(tmp_path, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(RuntimeError, match=message) as info:
        MNIST(tmp_path, train=False)
    assert "t10k-images-idx3-ubyte" in str(info.value)


def test_not_gzip_and_truncated_gzip_are_reported(tmp_path):
    write_test_split(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    good = images.read_bytes()
    images.write_bytes(b"this is not gzip at all")
    with pytest.raises(RuntimeError, match="not valid gzip data"):
        MNIST(tmp_path, train=False)
    images.write_bytes(good[: len(good) // 2])
    with pytest.raises(RuntimeError, match="t10k-images-idx3-ubyte.gz"):
        MNIST(tmp_path, train=False)


def test_wrong_count_and_label_range(tmp_path):
    write_test_split(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(9999, np.uint8))))
    with pytest.raises(RuntimeError, match="expected 10000 labels"):
        MNIST(tmp_path, train=False)
    labels.write_bytes(gzip.compress(idx_bytes(np.full(10000, 12, np.uint8))))
    with pytest.raises(RuntimeError, match="out of range"):
        MNIST(tmp_path, train=False)


def test_read_idx_other_types(tmp_path):
    arr = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    (tmp_path / "x.idx").write_bytes(idx_bytes(arr))
    out = read_idx(tmp_path / "x.idx")
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


# ---------------------------------------------------------------------------- gzip bombs
def gzip_bomb(header: bytes, zeros: int) -> bytes:
    """A valid gzip file: ``header`` then ``zeros`` zero bytes, built in milliseconds. One
    compressed MiB of zeros (ending in a full flush, so it refers to nothing before it) is repeated:
    about 1 KiB of file per inflated MiB."""
    mib = 1 << 20
    assert zeros % mib == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(mib)) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush(zlib.Z_FINISH)
    crc, zero_mib = zlib.crc32(header), bytes(mib)
    for _ in range(zeros // mib):  # CRC of header + zeros, so the file is valid to its last byte
        crc = zlib.crc32(zero_mib, crc)
    gz_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    size = (len(header) + zeros) & 0xFFFFFFFF
    return gz_header + head + block * (zeros // mib) + tail + struct.pack("<II", crc, size)


def test_gzip_bomb_helper_is_valid_gzip():
    raw = gzip.decompress(gzip_bomb(b"abc", 3 << 20))  # checks the CRC and the size
    assert raw == b"abc" + bytes(3 << 20)


def _load_peak(tmp_path) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError) as info:
            MNIST(tmp_path, train=False)
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_with_large_declared_dims_is_rejected_from_the_header(tmp_path):
    """1 MB of .gz that inflates to 1 GiB, whose header claims 1,000,000 images of 32 x 32: rejected
    from the header, before any of the body is inflated."""
    write_test_split(tmp_path)
    header = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", 1_000_000, 32, 32)
    bomb = gzip_bomb(header, 1 << 30)
    assert len(bomb) < 2 << 20
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(bomb)
    message, peak = _load_peak(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "declares shape (1000000, 32, 32), expected (10000, 28, 28)" in message
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_gzip_bomb_with_a_correct_header_and_a_huge_body_is_rejected(tmp_path):
    """The right header for 10,000 images, then 1 GiB of data: rejected after reading the expected
    7.8 MB and one more byte, with memory bounded by the expected size."""
    write_test_split(tmp_path)
    header = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", 10000, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip_bomb(header, 1 << 30))
    message, peak = _load_peak(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in message and "more data" in message
    assert peak < 24 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_labels_with_a_wrong_declared_count_are_rejected_from_the_header(tmp_path):
    write_test_split(tmp_path)
    header = struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", 4_000_000_000)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip_bomb(header, 1 << 20))
    message, peak = _load_peak(tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in message and "expected 10000 labels" in message
    assert peak < (10000 * 28 * 28) + (4 << 20)  # the (valid) images, read first, and little more


def test_read_idx_streams_without_trusting_the_declared_size(tmp_path):
    """Without an expected shape a header may claim anything: a short body is reported as
    truncated after reading what is there, not after allocating what the header claims."""
    header = struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", 4_000_000_000, 1000, 1000)
    (tmp_path / "x.idx.gz").write_bytes(gzip.compress(header + bytes(1000)))
    (tmp_path / "x.idx").write_bytes(header + bytes(1000))
    for name in ("x.idx.gz", "x.idx"):
        tracemalloc.start()
        try:
            with pytest.raises(RuntimeError, match="truncated"):
                read_idx(tmp_path / name)
            assert tracemalloc.get_traced_memory()[1] < 4 << 20
        finally:
            tracemalloc.stop()
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    (tmp_path / "y.idx.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    out = read_idx(tmp_path / "y.idx.gz", expected_shape=(2, 3))
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable and out.dtype.isnative
    with pytest.raises(RuntimeError, match=r"declares shape \(2, 3\), expected \(3, 2\)"):
        read_idx(tmp_path / "y.idx.gz", expected_shape=(3, 2))


# ---------------------------------------------------------------------------- download
class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def synthetic_resources(tmp_path):
    """Small gzipped synthetic files and a MNIST subclass whose resources carry their MD5 sums."""
    payloads = {}
    for prefix, n in (("train", 30), ("t10k", 20)):
        images, labels = synthetic_split(n)
        payloads[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images))
        payloads[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels))

    class TinyMirrorMNIST(MNIST):
        mirrors = ["http://mirror-a.invalid/", "http://mirror-b.invalid/"]
        resources = [(name, hashlib.md5(payloads[name]).hexdigest()) for name in FILES]
        _sizes = {True: 30, False: 20}

    return TinyMirrorMNIST, payloads


def test_download_fetches_checks_md5_and_skips_when_present(tmp_path, monkeypatch):
    cls, payloads = synthetic_resources(tmp_path)
    requested = []

    def fake_urlopen(request, timeout=None):
        url = request.full_url
        requested.append(url)
        if url.startswith("http://mirror-a.invalid/"):
            raise urllib.error.URLError("mirror a is down")
        return FakeResponse(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "root"
    ds = cls(root, train=False, download=True)
    assert len(ds) == 20 and len(requested) == 8
    assert sorted(p.name for p in (root / "TinyMirrorMNIST" / "raw").iterdir()) == sorted(FILES)
    requested.clear()
    cls(root, train=True, download=True)
    assert requested == []  # everything is already there


def test_download_rejects_bad_md5(tmp_path, monkeypatch):
    cls, _ = synthetic_resources(tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout=None: FakeResponse(b"garbage"))
    with pytest.raises(RuntimeError, match="MD5"):
        cls(tmp_path / "root", download=True)
    assert not list((tmp_path / "root" / "TinyMirrorMNIST" / "raw").iterdir())


def test_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    def offline(request, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="could not download train-images-idx3-ubyte.gz") as info:
        FashionMNIST(tmp_path, download=True)
    assert "offline" in str(info.value) and "fashion-mnist" in str(info.value)


# ---------------------------------------------------------------------------- Digits
def test_digits_split_sizes_dtypes_and_stratification():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    full = np.bincount(np.concatenate([train.targets.numpy(), test.targets.numpy()]))
    np.testing.assert_array_equal(np.bincount(test.targets.numpy()), np.round(0.2 * full).astype(int))
    img, label = train[0]
    assert tuple(img.shape) == (8, 8) and img.dtype == backprop.float32 and type(label) is int
    assert train.data.dtype == backprop.float32 and train.targets.dtype == backprop.int64
    assert float(train.data.min()) == 0.0 and float(train.data.max()) == 1.0


def test_digits_is_deterministic_and_seeded():
    a, b, c = Digits(train=False), Digits(train=False, seed=0), Digits(train=False, seed=1)
    assert a.indices.tolist() == b.indices.tolist()
    np.testing.assert_array_equal(a.data.numpy(), b.data.numpy())
    assert a.indices.tolist() != c.indices.tolist()
    half = Digits(train=False, test_fraction=0.5)
    assert 890 <= len(half) <= 905


def test_digits_matches_sklearn_pixels():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ds = Digits(train=True, transform=transforms.ToTensor())
    i = int(ds.indices[7])
    x, y = ds[7]
    assert tuple(x.shape) == (1, 8, 8) and y == int(bunch.target[i])
    np.testing.assert_allclose(x.numpy()[0], bunch.images[i] / 16, rtol=1e-6)


def test_digits_errors(monkeypatch):
    with pytest.raises(ValueError, match="test_fraction"):
        Digits(test_fraction=1.0)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install"):
        Digits()


# ---------------------------------------------------------------------------- text
def test_tiny_shakespeare():
    path = require_data("tinyshakespeare/input.txt")
    text, chars = load_text(path)
    assert len(text) == 1115394 and len(chars) == 65 and text.startswith("First Citizen:")
    train = TinyShakespeare(path.parent, block_size=16)
    val = TinyShakespeare(path, block_size=16, train=False)
    assert train.vocab_size == 65 and len(train) + len(val) == 1115394 - 32
    x, y = train[0]
    assert x.dtype == backprop.int64 and tuple(x.shape) == (16,)
    assert train.decode(x) == text[:16] and train.decode(y) == text[1:17]
    assert train.encode("First") == x[:5].tolist()
    assert val.decode(val[0][0]) == text[int(0.9 * len(text)) :][:16]
    with pytest.raises(IndexError):
        train[len(train)]


def test_load_text_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_text(tmp_path / "missing.txt")
