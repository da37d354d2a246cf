"""RoI Align (Mask R-CNN, He et al., 2017), torchvision.ops.roi_align and ``RoIAlign``.

Each RoI is cut into ``output_size`` bins; each bin averages a grid of bilinearly interpolated
samples. Bilinear interpolation is separable, so a bin's output is
``sum_{j,l} wy[j] * wx[l] * input[row_j, col_l]``: a short list of rows with weights (two per
sample row, or one per pixel of the run of rows the bin touches) times a short list of columns.
For a fixed set of boxes roi_align is linear in ``input``: the forward gathers those pixels for
all boxes and bins of a pass at once and contracts them with the weights (one batched matmul);
the backward is the transpose (a scatter-add of the weighted gradient), whose own backward is the
forward again, so derivatives of any order come from the same two kernels. Boxes get no gradient,
as in torchvision.
"""

from __future__ import annotations

from ..._backend import CPU, array_module, backend_of
from ..._tensor import Tensor, shape_str
from ...autograd.function import Function
from ...nn.modules.module import Module
from ...ops import _backward as B
from ._utils import _pair, check_roi_boxes_shape, convert_boxes_to_roi_format

__all__ = ["RoIAlign", "roi_align"]

_CHUNK_ELEMENTS = 1 << 24  # gathered pixels per pass (64 MiB of float32); more boxes go in several passes


def _check_input_rois(op: str, input: Tensor, rois: Tensor) -> None:
    if not isinstance(input, Tensor) or input.dim() != 4:
        got = shape_str(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(f"{op}(): input must be a Tensor[N, C, H, W], got {got}")
    if not input.is_floating_point():
        raise RuntimeError(f"{op}(): input must be floating point, got {input.dtype}")
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
    """For one axis: the pixel indices and weights of every (box, bin), ``(K, pooled, L)`` each.

    ``start``/``size``: the RoI's start and length on this axis (K,); ``grid``: samples per bin
    (K,, int); ``extent``: the feature map's size on this axis. Each sample row contributes its
    two neighbouring pixels (low, high) side by side, so a box's slots in use are a prefix;
    samples past a box's own grid, and samples beyond ``[-1, extent]``, weigh 0 (torchvision drops
    them). When the pixels a bin touches (a contiguous run) are fewer than its slots, the weights
    are summed per pixel of that run instead (``L`` the longest run)."""
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
    frac = pos - low.astype(dtype)  # int64 would promote the weights to float64
    keep = used.astype(dtype)
    k = start.shape[0]
    index = xp.stack([low, high], axis=3).reshape(k, pooled, 2 * grid_max)
    weight = xp.stack([(1 - frac) * keep, frac * keep], axis=3).reshape(k, pooled, 2 * grid_max)
    if k == 0:
        return index, weight
    on = weight != 0
    first = xp.where(on, index, extent).min(axis=2)
    last = xp.where(on, index, -1).max(axis=2)
    run = int((last - first).max()) + 1
    if 0 < run < index.shape[2]:
        first = xp.minimum(first, extent - 1)
        band = first[:, :, None] + xp.arange(run)[None, None, :]
        weight = (weight[:, :, :, None] * (index[:, :, :, None] == band[:, :, None, :])).sum(axis=2)
        index = xp.minimum(band, extent - 1)  # past the map's edge: weight 0
    return index, weight


def _roi_align_plan(rois, height: int, width: int, pooled_h: int, pooled_w: int, spatial_scale: float, sampling_ratio: int, aligned: bool):
    """Rows ``(K, PH, Ly)``, columns ``(K, PW, Lx)``, their weights, and each box's 1 / sample count."""
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
    return rows, cols, wy * inv_count[:, None, None], wx


def _slots_in_use(weight):
    """Per box, how many leading slots hold a nonzero weight (over all its bins): ``(K,)``."""
    xp = array_module(weight)
    width = weight.shape[2]
    on = (weight != 0).any(axis=1)  # (K, L)
    return xp.where(on.any(axis=1), width - xp.argmax(on[:, ::-1], axis=1), 0)


def _passes(xp, ly, lx, per_slot: int) -> list:
    """Boxes in passes of similar size: ``(box ids, slots y, slots x)`` each. ``ly``/``lx``: each
    box's slots in use (host ints); a pass takes boxes cheapest first while its gathers stay
    within ``_CHUNK_ELEMENTS`` values (``per_slot`` values per slot and box), and reads only the
    slots its largest box uses, so one big box does not make every box pay for its slots."""
    k = ly.shape[0]
    order = (ly * lx).argsort(kind="stable")
    cost = (ly * lx)[order].astype("int64") * per_slot
    out = []
    start = 0
    while start < k:  # a few passes, not one per box
        end = start + 1 + int((cost[start + 1 :].cumsum() + cost[start] <= _CHUNK_ELEMENTS).sum())
        ids = order[start:end]
        out.append((xp.asarray(ids), max(int(ly[ids].max()), 1), max(int(lx[ids].max()), 1)))
        start = end
    return out


class _Plan:
    """Where roi_align reads: for each box its image, the rows and columns (with weights) of its
    bins, and the boxes in passes of similar size (so one big box does not make every box pay
    for its slots, and no pass gathers more than ``_CHUNK_ELEMENTS`` values)."""

    def __init__(self, batch, rows, cols, wy, wx, shape, channels: int):
        xp = array_module(rows)
        self.batch, self.rows, self.cols, self.wy, self.wx = batch, rows, cols, wy, wx
        self.shape = shape  # (N, C, H, W)
        k, ph, pw = rows.shape[0], rows.shape[1], cols.shape[1]
        self.passes = []
        if k:
            backend = backend_of(rows)
            ly = backend.to_host(_slots_in_use(wy))
            lx = backend.to_host(_slots_in_use(wx))
            self.passes = _passes(xp, ly, lx, ph * pw * channels)

    def pixels(self, ids, ly: int, lx: int):
        """Flat pixel index into ``(N * H * W)`` and weight of every (box, bin y, bin x, slot y, slot x)."""
        _, _, h, w = self.shape
        rows, cols = self.rows[ids, :, :ly], self.cols[ids, :, :lx]
        index = (self.batch[ids, None, None, None, None] * h + rows[:, :, None, :, None]) * w + cols[:, None, :, None, :]
        weight = self.wy[ids, :, None, :ly, None] * self.wx[ids, None, :, None, :lx]
        return index, weight


def _scatter_add_rows(out, index, values) -> None:
    """``out[index[i]] += values[i]`` for rows, repeated indices summed. On the CPU: sort, then one
    segmented sum (NumPy's ``add.at`` on rows is several times slower); elsewhere the backend's
    scatter-add (CuPy's atomics)."""
    backend = backend_of(out)
    if backend is not CPU:
        backend.ufunc_at("add", out, index, values)
        return
    xp = backend.xp
    order = xp.argsort(index, kind="stable")
    index = index[order]
    starts = xp.flatnonzero(xp.concatenate([xp.ones(1, dtype=bool), index[1:] != index[:-1]]))
    out[index[starts]] += xp.add.reduceat(values[order], starts, axis=0)


class _RoIAlignPlanned(Function):
    """The linear map ``input -> output`` of roi_align for a fixed plan. Its backward is the
    transpose (``_RoIAlignPlannedT``), whose backward is this again: any order of derivative."""

    @staticmethod
    def forward(ctx, input, plan):
        ctx.plan = plan
        x = input._data
        xp = array_module(x)
        n, c, h, w = plan.shape
        ph, pw = plan.rows.shape[1], plan.cols.shape[1]
        flat = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        out = xp.zeros((plan.rows.shape[0], ph, pw, c), dtype=x.dtype)
        for ids, ly, lx in plan.passes:
            index, weight = plan.pixels(ids, ly, lx)
            m = ids.shape[0] * ph * pw
            gathered = flat[index.reshape(-1)].reshape(m, ly * lx, c)
            out[ids] = (weight.reshape(m, 1, ly * lx).astype(x.dtype, copy=False) @ gathered).reshape(ids.shape[0], ph, pw, c)
        return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        return B.call(_RoIAlignPlannedT, grad, ctx.plan), None


class _RoIAlignPlannedT(Function):
    """The transpose of ``_RoIAlignPlanned``: each output's gradient, weighted, added back into the
    pixels it was read from."""

    @staticmethod
    def forward(ctx, grad, plan):
        ctx.plan = plan
        g = grad._data
        xp = array_module(g)
        n, c, h, w = plan.shape
        ph, pw = plan.rows.shape[1], plan.cols.shape[1]
        gt = xp.ascontiguousarray(g.transpose(0, 2, 3, 1))  # (K, PH, PW, C)
        flat = xp.zeros((n * h * w, c), dtype=g.dtype)
        for ids, ly, lx in plan.passes:
            index, weight = plan.pixels(ids, ly, lx)
            m = ids.shape[0] * ph * pw
            values = weight.reshape(m, ly * lx, 1).astype(g.dtype, copy=False) * gt[ids].reshape(m, 1, c)
            _scatter_add_rows(flat, index.reshape(-1), values.reshape(m * ly * lx, c))
        return xp.ascontiguousarray(flat.reshape(n, h, w, c).transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        return B.call(_RoIAlignPlanned, grad, ctx.plan), None


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
    x = input if input.dtype.itemsize >= 4 else input.float()  # half precision computes in float32
    r = rois.detach()._data.astype(x._data.dtype, copy=False)
    n, c, h, w = x.shape
    batch = _batch_index("roi_align", r, n)
    rows, cols, wy, wx = _roi_align_plan(r, h, w, *output_size, float(spatial_scale), int(sampling_ratio), bool(aligned))
    out = _RoIAlignPlanned.apply(x, _Plan(batch, rows, cols, wy, wx, (n, c, h, w), c))
    return out if out.dtype == input.dtype else out.to(input.dtype)


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
