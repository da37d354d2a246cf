"""Datasets for vision (torchvision.datasets' counterpart): ``MNISTDetection`` (real MNIST digits on
canvases, with boxes), ``CocoDetection`` (COCO-format JSON + image files) and the detection collate helpers."""

from __future__ import annotations

from .coco import COCO, CocoDetection, coco_to_target, pil_to_tensor_image
from .mnist_detection import MNISTDetection, collate_fn, detection_collate

__all__ = [
    "COCO",
    "CocoDetection",
    "MNISTDetection",
    "coco_to_target",
    "collate_fn",
    "detection_collate",
    "pil_to_tensor_image",
]
