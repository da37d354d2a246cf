"""MNIST and Fashion-MNIST from their IDX ``.gz`` files (torchvision.datasets' API).

Without a ``transform`` an image is a ``uint8`` tensor of shape (28, 28) (torchvision returns a PIL
image; backprop has no PIL): ``transforms.ToTensor()`` turns it into a float32 (1, 28, 28) tensor in
[0, 1]. ``.data`` (uint8, N x 28 x 28) and ``.targets`` (int64, N) hold the whole split for fast paths.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from .._tensor import Tensor, _make
from ._vision import ImageClassificationDataset

__all__ = ["MNIST", "DatasetNotFoundError", "FashionMNIST", "read_idx"]

# IDX type codes -> big-endian NumPy dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetNotFoundError(FileNotFoundError, RuntimeError):
    """A dataset file is missing: both a ``FileNotFoundError`` and (as torchvision raises) a ``RuntimeError``."""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise RuntimeError(
            f"{path}: cannot read the file: it is not valid gzip data or it is truncated ({exc})"
        ) from None


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> Any:
    """Read an IDX file (optionally ``.gz``) into a NumPy array, checking its magic number and size."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise RuntimeError(f"{path}: corrupt IDX file: {len(raw)} bytes is too short for the header")
    magic = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise RuntimeError(f"{path}: not an IDX file (bad magic number {magic:#010x})")
    if expected_magic is not None and magic != expected_magic:
        raise RuntimeError(f"{path}: wrong IDX magic number {magic} (expected {expected_magic})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RuntimeError(f"{path}: corrupt IDX file: truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = numpy.dtype(_IDX_TYPES[type_code])
    count = 1
    for d in dims:
        count *= d
    expected = header + count * dtype.itemsize
    if len(raw) != expected:
        raise RuntimeError(
            f"{path}: corrupt or truncated IDX file: the header promises shape {tuple(dims)} ({expected} bytes) "
            f"but the file holds {len(raw)} bytes"
        )
    arr = numpy.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a native-endian, writable copy


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
                _download(self.mirrors, filename, md5, Path(self.raw_folder), self.__class__.__name__)

    def _load_data(self) -> tuple[Tensor, Tensor]:
        prefix = "train" if self.train else "t10k"
        image_path = self._require(f"{prefix}-images-idx3-ubyte.gz")
        label_path = self._require(f"{prefix}-labels-idx1-ubyte.gz")
        images = read_idx(image_path, expected_magic=2051)
        labels = read_idx(label_path, expected_magic=2049)
        n = self._sizes[self.train]
        if images.shape != (n, 28, 28):
            raise RuntimeError(f"{image_path}: corrupt: expected {n} images of 28 x 28, got shape {images.shape}")
        if labels.shape != (n,):
            raise RuntimeError(f"{label_path}: corrupt: expected {n} labels, got shape {labels.shape}")
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


def _download(mirrors: list[str], filename: str, md5: str, folder: Path, name: str) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with the right MD5; write it atomically."""
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "backprop"})
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        if digest != md5:
            failures.append(f"{url}: MD5 {digest} does not match the expected {md5}")
            continue
        target = folder / filename
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(payload)
        os.replace(tmp, target)
        return target
    raise RuntimeError(
        f"{name}: could not download {filename} (are you offline?). Tried:\n  "
        + "\n  ".join(failures)
        + f"\nDownload the file by hand into {folder} and construct the dataset again."
    )
