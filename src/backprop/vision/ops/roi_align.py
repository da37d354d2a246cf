"""RoI Align (Mask R-CNN, He et al., 2017), torchvision.ops.roi_align and ``RoIAlign``.

Each RoI is cut into ``output_size`` bins; each bin averages a grid of bilinearly interpolated
samples. Bilinear interpolation is separable, so a bin's output is
``sum_{j,l} wy[j] * wx[l] * input[row_j, col_l]``: a short list of rows with weights (two per
sample row) times a short list of columns. The forward gathers those pixels for every box and
bin at once and contracts them with the weights (one einsum); the backward adds the weighted
gradient back into the same pixels (``index_add``), so it is itself differentiable.
"""

from __future__ import annotations

import backprop

from ..._backend import array_module
from ..._tensor import Tensor, _make, shape_str
from ...autograd.function import Function
from ...nn.modules.module import Module
from ._utils import _pair, check_roi_boxes_shape, convert_boxes_to_roi_format

__all__ = ["RoIAlign", "roi_align"]

_CHUNK_ELEMENTS = 1 << 24  # gathered pixels per pass (64 MiB of float32); more boxes go in several passes


def _check_input_rois(op: str, input: Tensor, rois: Tensor) -> None:
    if not isinstance(input, Tensor) or input.dim() != 4:
        got = shape_str(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"{op}(): input must be a Tensor[N, C, H, W], got {got}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise RuntimeError(f"{op}(): rois must have shape as Tensor[K, 5], got {shape_str(rois.shape)}")
    if rois.dtype != input.dtype:
        raise RuntimeError(
            f"{op}(): Expected tensor for argument #1 'input' to have the same type as tensor for argument #2 'rois'; "
            f"but type {input.dtype} does not equal {rois.dtype}"
        )
    if rois.device != input.device:
        raise RuntimeError(f"{op}(): input and rois must be on the same device, got {input.device} and {rois.device}")


def _batch_index(op: str, rois, n: int):
    """The image index of each RoI (the float column truncated, as the kernels' int cast), checked."""
    xp = array_module(rois)
    b = rois[:, 0].astype(xp.int64)
    if b.shape[0] and bool(((b < 0) | (b >= n)).any()):
        bad = int(b[xp.argmax((b < 0) | (b >= n))])
        raise RuntimeError(f"{op}(): rois hold batch index {bad}, but input has {n} images")
    return b


def _axis_plan(xp, start, size, pooled: int, grid, grid_max: int, extent: int):
    """For one axis: the pixel indices and weights of every (box, bin): ``(K, pooled, 2 * grid_max)``.

    ``start``/``size``: the RoI's start and length on this axis (K,); ``grid``: samples per bin
    (K,, int); ``extent``: the feature map's size on this axis. Samples past a box's own grid,
    and samples beyond ``[-1, extent]``, weigh 0 (torchvision drops them)."""
    dtype = start.dtype
    bin_size = size / pooled
    p = xp.arange(pooled, dtype=dtype)[None, :, None]
    s = xp.arange(grid_max, dtype=dtype)[None, None, :]
    g = xp.maximum(grid, 1).astype(dtype)[:, None, None]
    pos = start[:, None, None] + p * bin_size[:, None, None] + (s + 0.5) * bin_size[:, None, None] / g
    used = (s < grid[:, None, None]) & (pos >= -1.0) & (pos <= extent)
    pos = xp.maximum(pos, 0)
    low = xp.floor(pos).astype(xp.int64)
    edge = low >= extent - 1
    low = xp.where(edge, extent - 1, low)
    high = xp.where(edge, low, low + 1)
    pos = xp.where(edge, low.astype(dtype), pos)
    frac = pos - low
    keep = used.astype(dtype)
    index = xp.concatenate([low, high], axis=2)
    weight = xp.concatenate([(1 - frac) * keep, frac * keep], axis=2)
    return index, weight


def _roi_align_plan(rois, height: int, width: int, pooled_h: int, pooled_w: int, spatial_scale: float, sampling_ratio: int, aligned: bool):
    """Rows ``(K, PH, Sy)``, columns ``(K, PW, Sx)``, their weights, and each box's 1 / sample count."""
    xp = array_module(rois)
    dtype = rois.dtype
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    x2 = rois[:, 3] * spatial_scale - offset
    y2 = rois[:, 4] * spatial_scale - offset
    roi_w = x2 - x1
    roi_h = y2 - y1
    if not aligned:  # torchvision's legacy mode: RoIs at least one pixel
        roi_w = xp.maximum(roi_w, 1.0)
        roi_h = xp.maximum(roi_h, 1.0)
    if sampling_ratio > 0:
        grid_h = xp.full(rois.shape[0], sampling_ratio, dtype=xp.int64)
        grid_w = grid_h
    else:  # adaptive: about one sample per pixel
        grid_h = xp.maximum(xp.ceil(roi_h / pooled_h), 0).astype(xp.int64)
        grid_w = xp.maximum(xp.ceil(roi_w / pooled_w), 0).astype(xp.int64)
    gh = int(grid_h.max()) if rois.shape[0] else 0
    gw = int(grid_w.max()) if rois.shape[0] else 0
    rows, wy = _axis_plan(xp, y1, roi_h, pooled_h, grid_h, max(gh, 1), height)
    cols, wx = _axis_plan(xp, x1, roi_w, pooled_w, grid_w, max(gw, 1), width)
    inv_count = (1 / xp.maximum(grid_h * grid_w, 1)).astype(dtype)
    return rows, cols, wy, wx, inv_count


def _chunks(k: int, per_box: int):
    step = max(1, _CHUNK_ELEMENTS // max(per_box, 1))
    return [(s, min(s + step, k)) for s in range(0, k, step)] or [(0, 0)]


class RoIAlignFunction(Function):
    """roi_align's primitive: the gradient flows to ``input`` (RoIs get none, as torchvision's)."""

    _array_backward = False  # backward is written in Tensor ops (differentiable)

    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale, sampling_ratio, aligned):
        x = input._data
        xp = array_module(x)
        n, c, h, w = x.shape
        ph, pw = output_size
        compute = xp.float32 if x.dtype.itemsize < 4 else x.dtype
        r = rois._data.astype(compute)
        batch = _batch_index("roi_align", r, n)
        rows, cols, wy, wx, inv_count = _roi_align_plan(r, h, w, ph, pw, spatial_scale, sampling_ratio, aligned)
        ctx.plan = (batch, rows, cols, wy, wx, inv_count)
        ctx.shape = (n, c, h, w)
        k = r.shape[0]
        xt = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(compute, copy=False)  # (N, H, W, C)
        out = xp.empty((k, c, ph, pw), dtype=compute)
        per_box = ph * pw * rows.shape[2] * cols.shape[2] * c
        for s, e in _chunks(k, per_box):
            if s == e:
                break
            g = xt[batch[s:e, None, None, None, None], rows[s:e, :, None, :, None], cols[s:e, None, :, None, :]]
            out[s:e] = xp.einsum("kpqjlc,kpj,kql->kcpq", g, wy[s:e], wx[s:e]) * inv_count[s:e, None, None, None]
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        batch, rows, cols, wy, wx, inv_count = ctx.plan
        n, c, h, w = ctx.shape
        xp = array_module(rows)
        k, _, ph, pw = grad.shape
        sy, sx = rows.shape[2], cols.shape[2]
        dtype = grad.dtype if grad.dtype.itemsize >= 4 else backprop.float32
        g = grad.to(dtype) * _make(inv_count).to(dtype)[:, None, None, None]
        wy_t = _make(wy).to(dtype)
        wx_t = _make(wx).to(dtype)
        pixel = (batch[:, None, None, None, None] * h + rows[:, :, None, :, None]) * w + cols[:, None, :, None, :]
        flat = backprop.zeros((n * h * w, c), dtype=dtype, device=grad.device)
        for s, e in _chunks(k, ph * pw * sy * sx * c):
            if s == e:
                break
            contrib = backprop.einsum("kcpq,kpj,kql->kpqjlc", g[s:e], wy_t[s:e], wx_t[s:e]).reshape(-1, c)
            flat = flat.index_add(0, _make(xp.ascontiguousarray(pixel[s:e]).reshape(-1)), contrib)
        grad_input = flat.reshape(n, h, w, c).permute(0, 3, 1, 2).to(grad.dtype)
        return grad_input, None, None, None, None, None


def roi_align(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoI Align: a fixed-size ``(K, C, output_size)`` feature for each RoI of ``input[N, C, H, W]``.

    ``boxes``: ``Tensor[K, 5]`` rows ``(image index, x1, y1, x2, y2)`` or a list of per-image
    ``Tensor[L, 4]``, in input-image coordinates; ``spatial_scale`` maps them onto the feature map
    (1/stride). ``sampling_ratio``: samples per bin along each axis (``<= 0``: adaptive,
    ``ceil(roi size / output size)``). ``aligned=True`` shifts the boxes by half a pixel so pixel
    centres line up (the correct alignment; ``False`` is the original, kept for compatibility).
    """
    check_roi_boxes_shape(boxes)
    rois = boxes if isinstance(boxes, Tensor) else convert_boxes_to_roi_format(boxes)
    _check_input_rois("roi_align", input, rois)
    output_size = _pair(output_size, "roi_align")
    return RoIAlignFunction.apply(input, rois.detach(), output_size, float(spatial_scale), int(sampling_ratio), bool(aligned))


class RoIAlign(Module):
    """``roi_align`` as a module (see there)."""

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float, sampling_ratio: int, aligned: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})"
        )
