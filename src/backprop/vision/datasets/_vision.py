"""The indexing shared by the image-classification datasets (MNIST, Fashion-MNIST, Digits)."""

from __future__ import annotations

from typing import Any

from ..._tensor import _make
from ...utils.data import Dataset


class ImageClassificationDataset(Dataset):
    """``data`` (N, ...) images and ``targets`` (N,) labels as tensors: item ``i`` is
    ``(transform(image), target_transform(label))``, the label as a Python int."""

    transform = None
    target_transform = None

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img = _make(self.data._data[index])
        target = int(self.targets._data[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return int(self.targets._data.shape[0])
