"""The 8 x 8 handwritten digits bundled with scikit-learn (``sklearn.datasets.load_digits``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from ..._tensor import Tensor, _make
from ._vision import ImageClassificationDataset

__all__ = ["Digits"]


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "backprop.datasets.Digits needs scikit-learn, which ships the data: "
            "pip install 'backprop[datasets]' (or pip install scikit-learn)"
        ) from exc
    return load_digits()


class Digits(ImageClassificationDataset):
    """1,797 images of 8 x 8 pixels, 10 classes, split into train/test by a stratified, seeded draw.

    An image is a float32 tensor of shape (8, 8) in [0, 1] (pixel / 16) before ``transform``; the label
    an int. Each class contributes ``round(test_fraction * class_size)`` images to the test split,
    chosen with ``numpy.random.default_rng(seed)``; both splits keep the original order. ``.data``
    (float32, N x 8 x 8) and ``.targets`` (int64, N) hold the split. ``root`` is accepted for
    torchvision-style signatures and ignored: scikit-learn bundles the data.
    """

    classes = [str(i) for i in range(10)]

    def __init__(
        self,
        root: Any = None,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction should be in (0, 1), got {test_fraction}")
        bunch = _load_digits()
        images = (numpy.asarray(bunch.images, dtype=numpy.float64) / 16.0).astype(numpy.float32)
        labels = numpy.asarray(bunch.target, dtype=numpy.int64)
        rng = numpy.random.default_rng(seed)
        is_test = numpy.zeros(len(labels), dtype=bool)
        for c in numpy.unique(labels):
            members = numpy.flatnonzero(labels == c)
            n_test = int(round(test_fraction * len(members)))
            is_test[rng.permutation(members)[:n_test]] = True
        keep = is_test if not train else ~is_test
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.test_fraction = test_fraction
        self.seed = seed
        self.indices = numpy.flatnonzero(keep)  # positions in sklearn's full set
        self.data: Tensor = _make(numpy.ascontiguousarray(images[keep]))
        self.targets: Tensor = _make(labels[keep])

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return f"Dataset Digits\n    Number of datapoints: {len(self)}\n    Split: {split}"
