"""A YOLO-style single-stage, anchor-free detector (YOLOv8's design, scaled for small images).

Backbone: Conv-BN-SiLU downsampling convolutions with CSP stages (``C2f``: split, a chain of residual
bottlenecks, concatenate everything) and an ``SPPF`` block; neck: a small FPN/PAN (top-down upsampling,
then bottom-up downsampling) producing feature maps at strides 8, 16 and 32; head: per level, decoupled
classification and box branches. Every grid cell is an anchor *point*: the box branch predicts the
distances (left, top, right, bottom) from the cell centre to the box edges, in units of the stride.

``forward`` returns the raw head outputs, one ``(N, 4 + num_classes, H, W)`` map per level (what ONNX
export carries); :meth:`YOLO.decode` turns them into boxes and class probabilities, and
:meth:`YOLO.postprocess` applies the confidence threshold and per-class NMS.
"""

from __future__ import annotations

import math

from ... import arange, cat, full, nn, no_grad
from ..._tensor import Tensor
from ...nn import functional as F
from .. import ops

__all__ = ["YOLO", "ConvBNAct", "Bottleneck", "C2f", "SPPF", "make_anchors", "yolo"]

STRIDES = (8, 16, 32)


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU, padding to keep ``H/stride``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03),
            nn.SiLU(),
        )


class Bottleneck(nn.Module):
    """Two 3x3 ConvBNAct with a residual connection (when shapes allow)."""

    def __init__(self, channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(channels, channels, 3)
        self.cv2 = ConvBNAct(channels, channels, 3)
        self.add = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP stage: a 1x1 conv splits the features in two halves; ``n`` bottlenecks run on one half, each
    output kept; everything is concatenated and fused by a 1x1 conv (gradient paths of many lengths)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = ConvBNAct(c_in, 2 * self.hidden, 1)
        self.cv2 = ConvBNAct((2 + n) * self.hidden, c_out, 1)
        self.m = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools (receptive fields 5, 9, 13) concatenated."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBNAct(c_in, hidden, 1)
        self.cv2 = ConvBNAct(hidden * 4, c_out, 1)
        self.m = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(cat(y, 1))


class Backbone(nn.Module):
    """Stem + four downsampling stages; returns the stride 8, 16 and 32 feature maps."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], depths: tuple[int, ...]) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.stem = ConvBNAct(in_channels, w0, 3, 2)
        self.stage1 = nn.Sequential(ConvBNAct(w0, w1, 3, 2), C2f(w1, w1, depths[0]))
        self.stage2 = nn.Sequential(ConvBNAct(w1, w2, 3, 2), C2f(w2, w2, depths[1]))
        self.stage3 = nn.Sequential(ConvBNAct(w2, w3, 3, 2), C2f(w3, w3, depths[2]))
        self.stage4 = nn.Sequential(ConvBNAct(w3, w4, 3, 2), C2f(w4, w4, depths[3]), SPPF(w4, w4))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3 = self.stage2(self.stage1(self.stem(x)))
        p4 = self.stage3(p3)
        return p3, p4, self.stage4(p4)


class Neck(nn.Module):
    """FPN (top-down, nearest upsampling) then PAN (bottom-up, strided convs): fuses the three levels."""

    def __init__(self, widths: tuple[int, int, int], depth: int) -> None:
        super().__init__()
        c3, c4, c5 = widths
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = C2f(c5 + c4, c4, depth, shortcut=False)
        self.top_down3 = C2f(c4 + c3, c3, depth, shortcut=False)
        self.down3 = ConvBNAct(c3, c3, 3, 2)
        self.bottom_up4 = C2f(c3 + c4, c4, depth, shortcut=False)
        self.down4 = ConvBNAct(c4, c4, 3, 2)
        self.bottom_up5 = C2f(c4 + c5, c5, depth, shortcut=False)

    def forward(self, p3: Tensor, p4: Tensor, p5: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t4 = self.top_down4(cat([self.up(p5), p4], 1))
        n3 = self.top_down3(cat([self.up(t4), p3], 1))
        n4 = self.bottom_up4(cat([self.down3(n3), t4], 1))
        n5 = self.bottom_up5(cat([self.down4(n4), p5], 1))
        return n3, n4, n5


class DetectHead(nn.Module):
    """Decoupled head for one level: a box branch (4 distances) and a classification branch (logits)."""

    def __init__(self, c_in: int, num_classes: int, box_width: int, cls_width: int, stride: int) -> None:
        super().__init__()
        self.box = nn.Sequential(ConvBNAct(c_in, box_width), ConvBNAct(box_width, box_width), nn.Conv2d(box_width, 4, 1))
        self.cls = nn.Sequential(ConvBNAct(c_in, cls_width), ConvBNAct(cls_width, cls_width), nn.Conv2d(cls_width, num_classes, 1))
        self.stride = stride
        self.reset_bias()

    def reset_bias(self) -> None:
        """Start with boxes ~2 strides wide and a 1% class prior (keeps the first steps' losses sane)."""
        with no_grad():
            self.box[-1].bias.fill_(math.log(math.e - 1.0))  # softplus(b) == 1 stride per side
            self.cls[-1].bias.fill_(-math.log(99.0))

    def forward(self, x: Tensor) -> Tensor:
        return cat([self.box(x), self.cls(x)], 1)


class YOLO(nn.Module):
    """YOLO-style detector. ``forward(images)`` -> list of raw maps ``(N, 4 + num_classes, H/s, W/s)``
    for strides 8, 16, 32; see :meth:`decode` and :meth:`postprocess`."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 64, 128, 256),
        depths: tuple[int, ...] = (1, 2, 2, 1),
        head_width: int | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.strides = STRIDES
        self.backbone = Backbone(in_channels, widths, depths)
        levels = tuple(widths[2:])
        self.neck = Neck(levels, depth=1)
        box_width = head_width or max(16, levels[0] // 4, 4 * 4)
        cls_width = head_width or max(levels[0], min(num_classes, 100))
        self.heads = nn.ModuleList(
            DetectHead(c, num_classes, box_width, cls_width, s) for c, s in zip(levels, self.strides)
        )

    def forward(self, images: Tensor) -> list[Tensor]:
        features = self.neck(*self.backbone(images))
        return [head(f) for head, f in zip(self.heads, features)]

    def decode(self, outputs: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Raw maps -> ``(boxes (N, A, 4) xyxy pixels, class logits (N, A, C))``, anchors level by level
        in row-major order (as :func:`make_anchors`)."""
        flat = cat([o.flatten(2) for o in outputs], 2).transpose(1, 2)  # (N, A, 4 + C)
        points, strides = make_anchors(outputs, self.strides)
        distances = F.softplus(flat[..., :4]) * strides
        boxes = cat([points - distances[..., :2], points + distances[..., 2:]], -1)
        return boxes, flat[..., 4:]

    @no_grad()
    def postprocess(
        self,
        outputs: list[Tensor],
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 100,
        image_size: tuple[int, int] | None = None,
    ) -> list[dict[str, Tensor]]:
        """Per image: keep (anchor, class) pairs with probability >= ``conf``, per-class NMS at ``iou``,
        the ``max_det`` best -> ``{"boxes" (K, 4) xyxy, "scores" (K,), "labels" (K,)}``."""
        boxes, logits = self.decode(outputs)
        probs = logits.sigmoid()
        if image_size is not None:
            boxes = ops.clip_boxes_to_image(boxes, image_size)
        results = []
        for b in range(boxes.shape[0]):
            anchor, label = (probs[b] >= conf).nonzero(as_tuple=True)
            scores = probs[b][anchor, label]
            cand = boxes[b][anchor]
            keep = ops.batched_nms(cand, scores, label, iou)[:max_det]
            results.append({"boxes": cand[keep], "scores": scores[keep], "labels": label[keep]})
        return results


def make_anchors(outputs: list[Tensor], strides: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Cell centres in pixels ``(A, 2)`` (x, y) and each anchor's stride ``(A, 1)``, level by level."""
    points, stride_col = [], []
    for o, s in zip(outputs, strides):
        h, w = o.shape[-2:]
        ys = (arange(h, dtype=o.dtype, device=o.device) + 0.5) * s
        xs = (arange(w, dtype=o.dtype, device=o.device) + 0.5) * s
        points.append(cat([xs.repeat(h)[:, None], ys.repeat_interleave(w)[:, None]], 1))
        stride_col.append(full((h * w, 1), float(s), dtype=o.dtype, device=o.device))
    return cat(points, 0), cat(stride_col, 0)


def yolo(num_classes: int, in_channels: int = 3, size: str = "n") -> YOLO:
    """The sizes: ``"t"`` (tiny, for 1-channel digit canvases on a CPU), ``"n"`` (nano), ``"s"`` (small)."""
    configs = {
        "t": dict(widths=(16, 24, 32, 64, 96), depths=(1, 1, 1, 1)),
        "n": dict(widths=(16, 32, 64, 128, 256), depths=(1, 2, 2, 1)),
        "s": dict(widths=(32, 64, 128, 256, 512), depths=(1, 2, 2, 1)),
    }
    if size not in configs:
        raise ValueError(f"yolo: unknown size {size!r}; choose from {sorted(configs)}")
    return YOLO(num_classes, in_channels, **configs[size])
