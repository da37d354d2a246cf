"""Datasets for vision (torchvision.datasets' counterpart): ``MNIST``, ``FashionMNIST``, ``Digits``
(classification; also reachable as ``backprop.datasets``), ``MNISTDetection`` (real MNIST digits on
canvases, with boxes), ``CocoDetection`` (COCO-format JSON + image files) and the detection collate helpers."""

from __future__ import annotations

from .coco import COCO, CocoDetection, coco_to_target
from .digits import Digits
from .mnist import MNIST, DatasetNotFoundError, FashionMNIST, read_idx
from .mnist_detection import MNISTDetection, collate_fn, detection_collate

__all__ = [
    "COCO",
    "CocoDetection",
    "DatasetNotFoundError",
    "Digits",
    "FashionMNIST",
    "MNIST",
    "MNISTDetection",
    "coco_to_target",
    "collate_fn",
    "detection_collate",
    "read_idx",
]
