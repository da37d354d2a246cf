"""Generalized IoU loss (Rezatofighi et al., 2019), torchvision.ops.generalized_box_iou_loss."""

from __future__ import annotations

import backprop

from ..._tensor import Tensor
from ._utils import _check_pair, _loss_inter_union, _reduce, _upcast_non_float

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
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1 = backprop.min(x1, x1g)
    yc1 = backprop.min(y1, y1g)
    xc2 = backprop.max(x2, x2g)
    yc2 = backprop.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return _reduce(1 - miouk, reduction)
