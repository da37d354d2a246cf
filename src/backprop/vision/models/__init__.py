"""Models (torchvision.models' place): the YOLO-style detector, its loss and its building blocks."""

from __future__ import annotations

from .yolo import SPPF, YOLO, Bottleneck, C2f, ConvBNAct, make_anchors, yolo
from .yolo_loss import TaskAlignedAssigner, YOLOLoss, pad_targets

__all__ = ["YOLO", "yolo", "YOLOLoss", "TaskAlignedAssigner", "ConvBNAct", "Bottleneck", "C2f", "SPPF", "make_anchors", "pad_targets"]
