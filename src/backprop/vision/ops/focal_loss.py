"""Sigmoid focal loss (Lin et al., RetinaNet, 2017), torchvision.ops.sigmoid_focal_loss."""

from __future__ import annotations

import backprop

from ..._tensor import Tensor, shape_str
from ._utils import _reduce

__all__ = ["sigmoid_focal_loss"]


def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2, reduction: str = "none") -> Tensor:
    """Binary cross-entropy on the logits ``inputs``, scaled by ``(1 - p_t) ** gamma`` so the many
    easy examples (background) weigh little, and by ``alpha`` for positives / ``1 - alpha`` for
    negatives (no class weighting when ``alpha < 0``). ``targets``: same shape, 0/1 (or soft)
    labels. ``reduction``: ``"none"``, ``"mean"`` or ``"sum"``."""
    if inputs.shape != targets.shape:
        raise ValueError(f"sigmoid_focal_loss(): inputs and targets must have the same shape, got {shape_str(inputs.shape)} and {shape_str(targets.shape)}")
    p = backprop.sigmoid(inputs)
    ce_loss = backprop.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce(loss, reduction)
