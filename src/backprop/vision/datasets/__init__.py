"""Datasets for vision (torchvision.datasets' counterpart): ``MNISTDetection`` (real MNIST digits on
canvases, with boxes) and the detection collate helpers."""

from __future__ import annotations

from .mnist_detection import MNISTDetection, collate_fn, detection_collate

__all__ = ["MNISTDetection", "collate_fn", "detection_collate"]
