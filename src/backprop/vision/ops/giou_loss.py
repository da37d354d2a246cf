"""Generalized IoU loss (Rezatofighi et al., 2019), torchvision.ops.generalized_box_iou_loss."""

from __future__ import annotations

from ..._tensor import Tensor
from ._utils import _check_pair, _enclosing_box, _loss_inter_union, _reduce, _upcast_non_float

__all__ = ["generalized_box_iou_loss"]


def generalized_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7) -> Tensor:
    """``1 - GIoU`` of corresponding xyxy boxes (``Tensor[..., 4]`` each): 0 for identical boxes,
    up to 2 for far-apart ones, and unlike ``1 - IoU`` it still has a gradient when the boxes do
    not overlap. ``reduction``: ``"none"``, ``"mean"`` or ``"sum"``; ``eps`` keeps the divisions finite."""
    _check_pair("generalized_box_iou_loss", boxes1, boxes2)
    boxes1 = _upcast_non_float(boxes1)
    boxes2 = _upcast_non_float(boxes2)
    intsctk, unionk = _loss_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    xc1, yc1, xc2, yc2 = _enclosing_box(boxes1, boxes2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return _reduce(1 - miouk, reduction)
