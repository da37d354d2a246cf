"""Complete IoU loss (Zheng et al., 2020), torchvision.ops.complete_box_iou_loss: YOLO's box loss."""

from __future__ import annotations

import backprop

from ..._tensor import Tensor
from ._utils import _check_pair, _diou_iou_loss, _reduce, _upcast_non_float
from .boxes import _aspect_term

__all__ = ["complete_box_iou_loss"]


def complete_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7) -> Tensor:
    """``1 - IoU + d^2 / c^2 + alpha * v`` of corresponding xyxy boxes (``Tensor[..., 4]`` each):
    the distance IoU loss plus the aspect-ratio consistency ``v``, weighted by
    ``alpha = v / (1 - IoU + v + eps)``, a constant for the gradient (as in the paper and
    torchvision). ``reduction``: ``"none"``, ``"mean"`` or ``"sum"``."""
    _check_pair("complete_box_iou_loss", boxes1, boxes2)
    boxes1 = _upcast_non_float(boxes1)
    boxes2 = _upcast_non_float(boxes2)
    diou_loss, iou = _diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    v = _aspect_term(x2 - x1, y2 - y1, x2g - x1g, y2g - y1g)
    with backprop.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(diou_loss + alpha * v, reduction)
