"""Helpers shared by the box losses: dtype upcast, elementwise intersection/union, reduction."""

from __future__ import annotations

import backprop

from ..._tensor import Tensor, shape_str


def _upcast_non_float(t: Tensor) -> Tensor:
    """Anything but float32/float64 computes in float32 (half and integer boxes would lose or
    overflow in the products)."""
    if t.dtype not in (backprop.float32, backprop.float64):
        return t.float()
    return t


def _check_pair(op: str, boxes1: Tensor, boxes2: Tensor) -> None:
    """Both are ``Tensor[..., 4]`` that broadcast together; else a ValueError naming the op and shapes."""
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}(): {name} must be a Tensor, got {type(b).__name__}")
        if b.dim() == 0 or b.shape[-1] != 4:
            raise ValueError(f"{op}(): {name} must be a Tensor[..., 4] of (x1, y1, x2, y2) boxes, got shape {shape_str(b.shape)}")
    try:
        backprop.broadcast_shapes(boxes1.shape, boxes2.shape)
    except RuntimeError:
        raise ValueError(
            f"{op}(): boxes1 and boxes2 must have the same shape (or broadcast), got {shape_str(boxes1.shape)} and {shape_str(boxes2.shape)}"
        ) from None


def _loss_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Intersection and union areas of corresponding boxes (elementwise, not pairwise)."""
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1 = backprop.max(x1, x1g)
    ykis1 = backprop.max(y1, y1g)
    xkis2 = backprop.min(x2, x2g)
    ykis2 = backprop.min(y2, y2g)
    overlap = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk = backprop.where(overlap, (xkis2 - xkis1) * (ykis2 - ykis1), backprop.zeros_like(x1))
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def _enclosing_box(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Corners ``(x1, y1, x2, y2)`` of the smallest box enclosing each pair of corresponding boxes."""
    lo = backprop.minimum(boxes1[..., :2], boxes2[..., :2])
    hi = backprop.maximum(boxes1[..., 2:], boxes2[..., 2:])
    return lo[..., 0], lo[..., 1], hi[..., 0], hi[..., 1]


def _diou_iou_loss(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> tuple[Tensor, Tensor]:
    """``1 - iou + (centre distance)^2 / (enclosing diagonal)^2`` and the IoU, elementwise."""
    intsct, union = _loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1, xc2, yc2 = _enclosing_box(boxes1, boxes2)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p = (x2 + x1) / 2
    y_p = (y2 + y1) / 2
    x_g = (x1g + x2g) / 2
    y_g = (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    loss = 1 - iou + (centers_distance_squared / diagonal_distance_squared)
    return loss, iou


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    """``none``, ``mean`` (0 for no boxes, still attached to the graph) or ``sum``."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: 'none', 'mean', 'sum'")


def _pair(value, op: str) -> tuple[int, int]:
    """``output_size`` as ``(height, width)``: an int is square."""
    if isinstance(value, int):
        return value, value
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ValueError(f"{op}(): output_size must be an int or a pair of ints, got {value!r}") from None
    return int(h), int(w)


def check_roi_boxes_shape(boxes) -> None:
    """RoI boxes are a ``Tensor[K, 5]`` (batch index, x1, y1, x2, y2) or a list of ``Tensor[L, 4]``,
    one per image; AssertionError (torchvision's ``torch._assert``) otherwise."""
    if isinstance(boxes, (list, tuple)):
        for i, t in enumerate(boxes):
            if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[1] != 4:
                got = shape_str(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise AssertionError(f"The shape of the tensor in the boxes list is not correct as List[Tensor[L, 4]]: boxes[{i}] is {got}")
    elif isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise AssertionError(f"The boxes tensor shape is not correct as Tensor[K, 5]: got {shape_str(boxes.shape)}")
    else:
        raise AssertionError(f"boxes is expected to be a Tensor[L, 5] or a List[Tensor[K, 4]], got {type(boxes).__name__}")


def convert_boxes_to_roi_format(boxes: list[Tensor]) -> Tensor:
    """A list of per-image ``Tensor[L_i, 4]`` boxes as one ``Tensor[K, 5]``: image index, then the box."""
    concat_boxes = backprop.cat(list(boxes), dim=0)
    ids = backprop.cat([backprop.full_like(b[:, :1], i) for i, b in enumerate(boxes)], dim=0)
    return backprop.cat([ids, concat_boxes], dim=1)
