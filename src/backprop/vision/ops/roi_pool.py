"""RoI max pooling (Fast R-CNN, Girshick, 2015), torchvision.ops.roi_pool and ``RoIPool``.

Each RoI, rounded to whole feature-map pixels, is cut into ``output_size`` bins of whole pixels;
each bin outputs its maximum (0 for an empty bin). The forward keeps a running maximum over the
bins' pixels, one pixel offset at a time for every box, bin and channel at once (boxes in passes
of similar size), in row-major order with a strict ``>`` as the kernel's scan, so the first
maximum wins; the backward adds each output's gradient to the pixel that won (``index_add``,
itself differentiable).
"""

from __future__ import annotations

import backprop

from ..._backend import array_module, backend_of
from ..._tensor import Tensor, _make
from ...autograd.function import Function
from ...nn.modules.module import Module
from ._utils import _pair, check_roi_boxes_shape, convert_boxes_to_roi_format
from .roi_align import _batch_index, _check_input_rois, _passes

__all__ = ["RoIPool", "roi_pool"]

_FLT_MAX = 3.4028234663852886e38  # the kernel starts each non-empty bin's maximum at -FLT_MAX


def _round_half_away(xp, v):
    """C's ``round``: halves away from zero (NumPy's ``round`` goes to even)."""
    return xp.sign(v) * xp.floor(xp.abs(v) + 0.5)


def _bin_ranges(xp, start, size, pooled: int, extent: int, dtype):
    """Start and end pixel (exclusive) of each bin along one axis: ``(K, pooled)`` each, clipped."""
    bin_size = (size.astype(dtype) / dtype.type(pooled))[:, None]
    p = xp.arange(pooled, dtype=dtype)[None, :]
    lo = xp.floor(p * bin_size).astype(xp.int64) + start[:, None]
    hi = xp.ceil((p + 1) * bin_size).astype(xp.int64) + start[:, None]
    return xp.clip(lo, 0, extent), xp.clip(hi, 0, extent)


class RoIPoolFunction(Function):
    """roi_pool's primitive: the gradient flows to ``input`` through each bin's winning pixel."""

    _array_backward = False  # backward is written in Tensor ops (differentiable)

    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        x = input._data
        xp = array_module(x)
        n, c, h, w = x.shape
        ph, pw = output_size
        dtype = x.dtype if x.dtype.itemsize >= 4 else xp.dtype(xp.float32)
        r = rois._data.astype(dtype)
        k = r.shape[0]
        batch = _batch_index("roi_pool", r, n)
        corners = _round_half_away(xp, r[:, 1:] * spatial_scale).astype(xp.int64)  # x1, y1, x2, y2
        roi_w = xp.maximum(corners[:, 2] - corners[:, 0] + 1, 1)
        roi_h = xp.maximum(corners[:, 3] - corners[:, 1] + 1, 1)
        h0, h1 = _bin_ranges(xp, corners[:, 1], roi_h, ph, h, dtype)
        w0, w1 = _bin_ranges(xp, corners[:, 0], roi_w, pw, w, dtype)
        out = xp.zeros((k, ph, pw, c), dtype=x.dtype)
        argmax = xp.full((k, ph, pw, c), -1, dtype=xp.int64)
        if k:
            backend = backend_of(x)
            span_h = backend.to_host((h1 - h0).max(axis=1))  # per box, its tallest bin
            span_w = backend.to_host((w1 - w0).max(axis=1))
            flat = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
            for ids, lh, lw in _passes(xp, span_h.clip(0), span_w.clip(0), ph * pw * c):
                best = xp.full((ids.shape[0], ph, pw, c), -xp.inf, dtype=x.dtype)
                won = xp.full((ids.shape[0], ph, pw, c), -1, dtype=xp.int64)
                base = batch[ids, None, None] * (h * w)
                for t in range(lh):  # row-major over each bin's pixels, as the kernel's scan
                    row = h0[ids] + t  # (k, PH)
                    row_in = row < h1[ids]
                    for u in range(lw):
                        col = w0[ids] + u  # (k, PW)
                        inside = row_in[:, :, None] & (col < w1[ids])[:, None, :]
                        pixel = xp.minimum(row, h - 1)[:, :, None] * w + xp.minimum(col, w - 1)[:, None, :]
                        v = flat[(base + pixel).reshape(-1)].reshape(best.shape)
                        better = inside[:, :, :, None] & (v > best) & (v > -_FLT_MAX)  # NaN never wins
                        best = xp.where(better, v, best)
                        won = xp.where(better, pixel[:, :, :, None], won)
                empty = ((h1[ids] <= h0[ids])[:, :, None] | (w1[ids] <= w0[ids])[:, None, :])[:, :, :, None]
                out[ids] = xp.where(won >= 0, best, xp.where(empty, 0, -_FLT_MAX)).astype(x.dtype)
                argmax[ids] = won
        ctx.argmax = xp.ascontiguousarray(argmax.transpose(0, 3, 1, 2))
        ctx.batch = batch
        ctx.shape = (n, c, h, w)
        return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        n, c, h, w = ctx.shape
        argmax = ctx.argmax
        xp = array_module(argmax)
        channel = xp.arange(c)[None, :, None, None]
        flat_pos = (ctx.batch[:, None, None, None] * c + channel) * (h * w) + argmax
        flat_pos = xp.where(argmax >= 0, flat_pos, n * c * h * w)  # bins that took no pixel: a spare slot
        flat = backprop.zeros(n * c * h * w + 1, dtype=grad.dtype, device=grad.device)
        flat = flat.index_add(0, _make(flat_pos.reshape(-1)), grad.reshape(-1))
        return flat[:-1].reshape(n, c, h, w), None, None, None


def roi_pool(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int], spatial_scale: float = 1.0) -> Tensor:
    """RoI max pooling: a fixed-size ``(K, C, output_size)`` feature for each RoI of ``input[N, C, H, W]``.

    ``boxes``: ``Tensor[K, 5]`` rows ``(image index, x1, y1, x2, y2)`` or a list of per-image
    ``Tensor[L, 4]``; ``spatial_scale`` maps them onto the feature map, where they are rounded to
    whole pixels.
    """
    check_roi_boxes_shape(boxes)
    rois = boxes if isinstance(boxes, Tensor) else convert_boxes_to_roi_format(boxes)
    _check_input_rois("roi_pool", input, rois)
    output_size = _pair(output_size, "roi_pool")
    return RoIPoolFunction.apply(input, rois.detach(), output_size, float(spatial_scale))


class RoIPool(Module):
    """``roi_pool`` as a module (see there)."""

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
