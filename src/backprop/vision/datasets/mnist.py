"""MNIST and Fashion-MNIST from their IDX ``.gz`` files (torchvision.datasets' API).

Without a ``transform`` an image is a ``uint8`` tensor of shape (28, 28) (torchvision returns a PIL
image; backprop has no PIL): ``transforms.ToTensor()`` turns it into a float32 (1, 28, 28) tensor in
[0, 1]. ``.data`` (uint8, N x 28 x 28) and ``.targets`` (int64, N) hold the whole split for fast paths.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from ..._tensor import Tensor, _make
from ...utils._download import DatasetNotFoundError, download_file
from ._vision import ImageClassificationDataset

__all__ = ["MNIST", "DatasetNotFoundError", "FashionMNIST", "read_idx"]

# IDX type codes -> big-endian NumPy dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


_CHUNK = 1 << 20  # inflate at most this much at a time


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def _read_exact(f, nbytes: int, path: Path, what: str) -> bytearray:
    """``nbytes`` bytes from ``f``, inflated chunk by chunk: memory grows with the data that is
    really there, never with a size a header merely declares."""
    buf = bytearray()
    while len(buf) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(buf)))
        if not chunk:
            break
        buf += chunk
    if len(buf) < nbytes:
        raise RuntimeError(f"{path}: corrupt or truncated IDX file: {what}")
    return buf


def read_idx(
    path: str | os.PathLike, expected_magic: int | None = None, expected_shape: tuple[int, ...] | None = None
) -> Any:
    """Read an IDX file (optionally ``.gz``) into a NumPy array, checking its magic number and size.

    The file is read as a stream: the header first, checked against ``expected_magic`` and
    ``expected_shape`` before any of the body is inflated, then exactly the bytes the header
    declares, and one more byte to reject trailing data. A small ``.gz`` that inflates to gigabytes
    (a "gzip bomb") is rejected after reading at most the expected size, never inflated whole.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            return _read_idx_stream(f, path, expected_magic, expected_shape)
    except (OSError, EOFError, zlib.error) as exc:
        raise RuntimeError(
            f"{path}: cannot read the file: it is not valid gzip data or it is truncated ({exc})"
        ) from None


def _read_idx_stream(f, path: Path, expected_magic: int | None, expected_shape: tuple[int, ...] | None) -> Any:
    head = f.read(4)
    if len(head) < 4:
        raise RuntimeError(f"{path}: corrupt IDX file: {len(head)} bytes is too short for the header")
    magic = int.from_bytes(head, "big")
    type_code, ndim = head[2], head[3]
    if head[0] != 0 or head[1] != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise RuntimeError(f"{path}: not an IDX file (bad magic number {magic:#010x})")
    if expected_magic is not None and magic != expected_magic:
        raise RuntimeError(f"{path}: wrong IDX magic number {magic} (expected {expected_magic})")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "truncated header"))
    if expected_shape is not None and tuple(dims) != tuple(expected_shape):
        raise RuntimeError(
            f"{path}: corrupt IDX file: the header declares shape {tuple(dims)}, expected {tuple(expected_shape)}"
        )
    dtype = numpy.dtype(_IDX_TYPES[type_code])
    count = 1
    for d in dims:
        count *= d
    nbytes = count * dtype.itemsize
    promise = f"the header promises shape {tuple(dims)} ({4 + 4 * ndim + nbytes} bytes)"
    if path.suffix != ".gz" and os.path.getsize(path) < 4 + 4 * ndim + nbytes:
        raise RuntimeError(
            f"{path}: corrupt or truncated IDX file: {promise} but the file holds {os.path.getsize(path)} bytes"
        )
    body = _read_exact(f, nbytes, path, f"{promise} but the data ends early")
    if f.read(1):
        raise RuntimeError(f"{path}: corrupt IDX file: {promise} but the file holds more data after them")
    arr = numpy.frombuffer(body, dtype=dtype).reshape(dims)  # writable: it shares the bytearray, no copy
    if not dtype.isnative:
        arr.byteswap(inplace=True)
    return arr.view(dtype.newbyteorder("="))  # native-endian


class MNIST(ImageClassificationDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images of 28 x 28 grey pixels.

    ``root`` holds the four IDX files (``.gz`` or uncompressed) directly, or in torchvision's layout
    ``root/MNIST/raw/``. ``download=True`` fetches missing files from the standard mirrors into
    ``root/MNIST/raw/`` and checks their MD5 sums.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]
    _sizes = {True: 60000, False: 10000}

    def __init__(
        self,
        root: str | os.PathLike,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        self.root = os.path.expanduser(os.fspath(root))
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()
        self.data, self.targets = self._load_data()

    # ------------------------------------------------------------------ files
    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "raw")

    def _search_dirs(self) -> list[Path]:
        return [Path(self.root), Path(self.raw_folder)]

    def _find(self, filename: str) -> Path | None:
        """The first existing copy of ``filename`` (``.gz`` or uncompressed) in the search folders."""
        stem = filename[:-3] if filename.endswith(".gz") else filename
        for folder in self._search_dirs():
            for name in (stem + ".gz", stem):
                candidate = folder / name
                if candidate.is_file():
                    return candidate
        return None

    def _check_exists(self) -> bool:
        return all(self._find(name) is not None for name, _ in self.resources)

    def _require(self, filename: str) -> Path:
        path = self._find(filename)
        if path is None:
            looked = ", ".join(str(d) for d in self._search_dirs())
            raise DatasetNotFoundError(
                f"{self.__class__.__name__}: dataset file {filename} not found (looked in {looked}). "
                "Pass download=True to fetch it, or put the IDX files in one of those folders."
            )
        return path

    def download(self) -> None:
        """Fetch the files that are missing from the mirrors (MD5-checked) into ``raw_folder``."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            if self._find(filename) is None:
                download_file(self.mirrors, filename, md5, Path(self.raw_folder), self.__class__.__name__)

    def _load_data(self) -> tuple[Tensor, Tensor]:
        prefix = "train" if self.train else "t10k"
        image_path = self._require(f"{prefix}-images-idx3-ubyte.gz")
        label_path = self._require(f"{prefix}-labels-idx1-ubyte.gz")
        n = self._sizes[self.train]
        try:  # the declared shape is checked before the body is inflated
            images = read_idx(image_path, expected_magic=2051, expected_shape=(n, 28, 28))
        except RuntimeError as exc:
            raise _with_expectation(exc, f"expected {n} images of 28 x 28") from None
        try:
            labels = read_idx(label_path, expected_magic=2049, expected_shape=(n,))
        except RuntimeError as exc:
            raise _with_expectation(exc, f"expected {n} labels") from None
        if labels.size and int(labels.max()) >= len(self.classes):
            raise RuntimeError(
                f"{label_path}: corrupt: label {int(labels.max())} is out of range 0..{len(self.classes) - 1}"
            )
        return _make(images), _make(labels.astype(numpy.int64))

    # ------------------------------------------------------------------ dataset
    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def train_labels(self) -> Tensor:
        warnings.warn("train_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def test_labels(self) -> Tensor:
        warnings.warn("test_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def train_data(self) -> Tensor:
        warnings.warn("train_data has been renamed data", stacklevel=2)
        return self.data

    @property
    def test_data(self) -> Tensor:
        warnings.warn("test_data has been renamed data", stacklevel=2)
        return self.data

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}", self.extra_repr()]
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return "\n".join([f"Dataset {self.__class__.__name__}"] + ["    " + line for line in lines])


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the MNIST format with 10 clothing classes."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _with_expectation(exc: RuntimeError, expectation: str) -> RuntimeError:
    """A shape mismatch says what the dataset expects in words (other errors pass unchanged)."""
    if "the header declares shape" in str(exc):
        return RuntimeError(f"{exc} ({expectation})")
    return exc
