"""Metrics, torchmetrics' counterparts: ``MeanAveragePrecision`` (COCO mAP for object detection,
equal to pycocotools' COCOeval)."""

from backprop.metrics import detection
from backprop.metrics.detection import MeanAveragePrecision

__all__ = ["MeanAveragePrecision", "detection"]
