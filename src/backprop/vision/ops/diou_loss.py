"""Distance IoU loss (Zheng et al., 2020), torchvision.ops.distance_box_iou_loss."""

from __future__ import annotations

from ..._tensor import Tensor
from ._utils import _check_pair, _diou_iou_loss, _reduce, _upcast_non_float

__all__ = ["distance_box_iou_loss"]


def distance_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7) -> Tensor:
    """``1 - IoU + d^2 / c^2`` of corresponding xyxy boxes (``Tensor[..., 4]`` each), ``d`` the
    distance of their centres and ``c`` the diagonal of the smallest box enclosing both: pulls
    centres together even when the boxes do not overlap. ``reduction``: ``"none"``, ``"mean"``, ``"sum"``."""
    _check_pair("distance_box_iou_loss", boxes1, boxes2)
    boxes1 = _upcast_non_float(boxes1)
    boxes2 = _upcast_non_float(boxes2)
    loss, _ = _diou_iou_loss(boxes1, boxes2, eps)
    return _reduce(loss, reduction)
