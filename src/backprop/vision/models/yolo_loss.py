"""The detector's training loss: task-aligned assignment, CIoU box loss, BCE classification loss.

**Assignment: task-aligned (TAL, from TOOD; what YOLOv8 uses), not SimOTA.** For each ground-truth box the
anchors whose centres lie inside it are ranked by the alignment metric ``t = s**alpha * iou**beta`` (``s``:
the predicted probability of the box's class, ``iou``: of the predicted box with the true one); the ``topk``
best become its positives, and an anchor claimed by several boxes goes to the one it overlaps most. Why TAL:
it is a fixed number of tensor operations over a ``(batch, boxes, anchors)`` grid -- no per-image dynamic-k
loop or cost-matrix sort as in SimOTA -- so it vectorizes across the batch on every device, and it ties the
classification target to localization quality, which is what mAP at strict IoU thresholds rewards.

Classification targets are soft: a positive anchor's target for its class is ``t`` rescaled so that each
box's best anchor gets that box's best IoU; BCE is summed over all anchors and classes. The box loss is
``1 - CIoU`` on positive anchors, weighted by the same targets. Both are divided by the targets' total.
"""

from __future__ import annotations

from ... import cat, nn, no_grad, tensor, zeros
from ..._dtype import bool_, int64
from ..._tensor import Tensor
from ...nn import functional as F
from .. import ops
from .yolo import make_anchors

__all__ = ["TaskAlignedAssigner", "YOLOLoss", "pad_targets"]


def pad_targets(targets: list[dict[str, Tensor]], device=None) -> tuple[Tensor, Tensor, Tensor]:
    """A list of per-image ``{"boxes", "labels"}`` -> padded ``boxes (B, M, 4)``, ``labels (B, M)`` and
    ``valid (B, M)`` (M: the most boxes in one image; at least 1 so shapes never degenerate). All images'
    boxes go to ``device`` in one copy and land in their slots in one indexed write (not one per image)."""
    counts = [int(t["boxes"].shape[0]) for t in targets]  # shapes only: no device read
    b, m = len(targets), max([1] + counts)
    boxes = zeros((b, m, 4), device=device)
    labels = zeros((b, m), dtype=int64, device=device)
    valid = zeros((b, m), dtype=bool_, device=device)
    if sum(counts):
        image = tensor([i for i, n in enumerate(counts) for _ in range(n)], device=device)
        slot = tensor([j for n in counts for j in range(n)], device=device)
        boxes[image, slot] = cat([t["boxes"] for t in targets]).to(device, boxes.dtype)
        labels[image, slot] = cat([t["labels"] for t in targets]).to(device, int64)
        valid[image, slot] = True
    return boxes, labels, valid


def _batched_iou(a: Tensor, b: Tensor, eps: float = 1e-9) -> Tensor:
    """IoU of every box in ``a (B, M, 4)`` with every box in ``b (B, A, 4)`` of the same image: ``(B, M, A)``."""
    a, b = a[:, :, None, :], b[:, None, :, :]
    wh = (a[..., 2:].minimum(b[..., 2:]) - a[..., :2].maximum(b[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter + eps)


class TaskAlignedAssigner(nn.Module):
    """Task-aligned assignment of ground-truth boxes to anchor points (see the module docstring)."""

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9) -> None:
        super().__init__()
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps

    @no_grad()
    def forward(
        self,
        pred_scores: Tensor,
        pred_boxes: Tensor,
        points: Tensor,
        strides: Tensor,
        gt_labels: Tensor,
        gt_boxes: Tensor,
        gt_valid: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``pred_scores (B, A, C)`` probabilities, ``pred_boxes (B, A, 4)``, ``points (A, 2)`` with their ``strides (A, 1)``, padded ground
        truth ``(B, M)``/``(B, M, 4)``/``(B, M)`` -> ``target_boxes (B, A, 4)``, ``target_scores (B, A, C)``,
        ``foreground (B, A)`` bool and ``target_index (B, A)`` (which box each anchor was given)."""
        batch, anchors, classes = pred_scores.shape
        m = gt_boxes.shape[1]
        # candidates: anchor centres inside the box, the box grown to at least one stride per side so that
        # thin boxes (a digit 1) still contain a centre at every level: (B, M, A)
        centre = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
        half = (gt_boxes[..., 2:] - gt_boxes[..., :2]) / 2
        reach = half[:, :, None, :].maximum(strides / 2)  # (B, M, A, 2)
        offset = (points - centre[:, :, None, :]).abs()
        inside = (offset <= reach).all(-1)
        candidate = inside & gt_valid[:, :, None]
        iou = _batched_iou(gt_boxes, pred_boxes).clamp(min=0) * candidate
        label_index = gt_labels.clamp(min=0)[:, :, None].expand(batch, m, anchors)
        class_score = pred_scores.transpose(1, 2).gather(1, label_index)  # (B, M, A): score of the box's class
        align = class_score.pow(self.alpha) * iou.pow(self.beta) * candidate
        # the topk anchors per box by alignment (only candidates can win: others score 0 and are masked)
        k = min(self.topk, anchors)
        top = align.topk(k, dim=-1).indices
        positive = zeros(align.shape, dtype=bool_, device=align.device).scatter_(-1, top, True) & candidate
        # an anchor claimed by several boxes keeps the one it overlaps most
        claimed = positive.sum(1) > 1  # (B, A)
        best_box = iou.argmax(1)  # (B, A)
        only_best = F.one_hot(best_box, m).transpose(1, 2).bool()  # (B, M, A)
        positive = positive.where(~claimed[:, None, :], only_best & candidate)
        foreground = positive.any(1)
        target_index = positive.float().argmax(1)  # (B, A)
        target_boxes = gt_boxes.gather(1, target_index[..., None].expand(batch, anchors, 4))
        target_labels = gt_labels.gather(1, target_index)
        # soft targets: alignment rescaled so each box's best anchor scores that box's best IoU
        align = align * positive
        best_align = align.amax(-1, keepdim=True)
        best_iou = (iou * positive).amax(-1, keepdim=True)
        norm = (align * best_iou / (best_align + self.eps)).amax(1)  # (B, A)
        target_scores = F.one_hot(target_labels.clamp(min=0), classes).to(pred_scores.dtype)
        target_scores = target_scores * (norm * foreground)[..., None]
        return target_boxes, target_scores, foreground, target_index


class YOLOLoss(nn.Module):
    """``loss, parts = YOLOLoss(model)(outputs, targets)``: ``box_gain * (1 - CIoU) + cls_gain * BCE``,
    both normalized by the sum of the soft targets; ``parts`` holds the detached pieces (0-d tensors on the
    outputs' device, read them when logging)."""

    def __init__(self, model, box_gain: float = 7.5, cls_gain: float = 0.5, assigner: TaskAlignedAssigner | None = None):
        super().__init__()
        self.decode, self.strides = model.decode, model.strides
        self.box_gain, self.cls_gain = box_gain, cls_gain
        self.assigner = assigner or TaskAlignedAssigner()

    def forward(self, outputs: list[Tensor], targets: list[dict[str, Tensor]]) -> tuple[Tensor, dict[str, Tensor]]:
        boxes, logits = self.decode(outputs)
        points, strides = make_anchors(outputs, self.strides)
        gt_boxes, gt_labels, gt_valid = pad_targets(targets, device=boxes.device)
        target_boxes, target_scores, foreground, _ = self.assigner(
            logits.detach().sigmoid(), boxes.detach(), points, strides, gt_labels, gt_boxes, gt_valid
        )
        total = target_scores.sum().clamp(min=1.0)
        cls_loss = F.binary_cross_entropy_with_logits(logits, target_scores, reduction="sum") / total
        # CIoU on every anchor, weighted by its soft target (0 on background): no boolean indexing, so no
        # host synchronization per step on a GPU. Background anchors are compared with their own detached
        # prediction (CIoU loss 0, finite) rather than the padding box their target index points to.
        target_boxes = target_boxes.where(foreground[..., None], boxes.detach())
        ciou = ops.complete_box_iou_loss(boxes, target_boxes, reduction="none")
        box_loss = (ciou * target_scores.sum(-1)).sum() / total
        loss = self.box_gain * box_loss + self.cls_gain * cls_loss
        return loss, {"box": box_loss.detach(), "cls": cls_loss.detach()}
