"""Box operations, torchvision.ops' ``boxes`` module: formats, areas, the IoU family, clipping and NMS.

Boxes are ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` form (``0 <= x1 < x2``, ``0 <= y1 < y2``) unless a
function says otherwise. The pairwise and elementwise functions are composites of backprop's
differentiable ops, so gradients (and ``create_graph``) come from the ops they are made of. ``nms`` is
the one sequential algorithm here: greedy suppression in score order, resolved a block of boxes at a
time (see ``_nms_sorted``) so thousands of boxes take milliseconds.
"""

from __future__ import annotations

import math

import numpy

import backprop

from ..._backend import CPU, array_module, backend_of
from ..._tensor import Tensor, _make, shape_str

__all__ = [
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "clip_boxes_to_image",
    "complete_box_iou",
    "distance_box_iou",
    "generalized_box_iou",
    "masks_to_boxes",
    "nms",
    "remove_small_boxes",
]

_BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
_NMS_BLOCK = 256  # boxes resolved together; their IoU against the boxes still alive is one array op
_NMS_GRID_MIN = 2 * _NMS_BLOCK  # the blocked path hands at least this many boxes to the grid path
_NMS_GRID_PAIRS = 256  # ... and keeps it while it finds at most this many candidate pairs per box
_NMS_GRID_ROUNDS = 64  # decision rounds of the sparse path before it hands over to the blocked one


def _upcast(t: Tensor) -> Tensor:
    """Half-precision floats to float32 and small integers to int32, so products do not overflow
    (torchvision does the same before multiplying coordinates)."""
    if t.is_floating_point():
        return t if t.dtype in (backprop.float32, backprop.float64) else t.float()
    return t if t.dtype in (backprop.int32, backprop.int64) else t.int()


def _check_boxes(op: str, **boxes: Tensor) -> None:
    """Every named argument is a ``Tensor[N, 4]``; else a ValueError naming the op and the shape."""
    for name, b in boxes.items():
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}(): {name} must be a Tensor, got {type(b).__name__}")
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f"{op}(): {name} must be a Tensor[N, 4] of (x1, y1, x2, y2) boxes, got shape {shape_str(b.shape)}")


def _check_last_dim(op: str, **boxes: Tensor) -> None:
    """Every named argument is a ``Tensor[..., 4]``."""
    for name, b in boxes.items():
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}(): {name} must be a Tensor, got {type(b).__name__}")
        if b.dim() == 0 or b.shape[-1] != 4:
            raise ValueError(f"{op}(): {name} must be a Tensor[..., 4] of boxes, got shape {shape_str(b.shape)}")


# ------------------------------------------------------------------------------------------ formats


def _cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return backprop.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def _xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return backprop.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def _xywh_to_xyxy(boxes: Tensor) -> Tensor:
    x, y, w, h = boxes.unbind(-1)
    return backprop.stack((x, y, x + w, y + h), dim=-1)


def _xyxy_to_xywh(boxes: Tensor) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return backprop.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert ``boxes`` (``Tensor[..., 4]``) from ``in_fmt`` to ``out_fmt``, each one of ``"xyxy"``
    (corners), ``"xywh"`` (top-left corner, width, height) or ``"cxcywh"`` (centre, width, height)."""
    if in_fmt not in _BOX_FORMATS or out_fmt not in _BOX_FORMATS:
        raise ValueError(
            f"Unsupported Bounding Box Conversions for given in_fmt and out_fmt: {in_fmt!r} -> {out_fmt!r} "
            f"(supported: {', '.join(_BOX_FORMATS)})"
        )
    _check_last_dim("box_convert", boxes=boxes)
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        boxes = _xywh_to_xyxy(boxes)
    elif in_fmt == "cxcywh":
        boxes = _cxcywh_to_xyxy(boxes)
    if out_fmt == "xywh":
        return _xyxy_to_xywh(boxes)
    if out_fmt == "cxcywh":
        return _xyxy_to_cxcywh(boxes)
    return boxes


# ------------------------------------------------------------------------------------- areas, IoUs


def box_area(boxes: Tensor) -> Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of each of the ``Tensor[N, 4]`` xyxy ``boxes``: ``Tensor[N]``."""
    _check_boxes("box_area", boxes=boxes)
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    lt = backprop.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = backprop.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair: ``Tensor[N, M]`` for xyxy ``boxes1[N, 4]``, ``boxes2[M, 4]``."""
    _check_boxes("box_iou", boxes1=boxes1, boxes2=boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    return inter / union


def _enclosing_wh(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Width and height of the smallest box enclosing each pair: ``Tensor[N, M, 2]``."""
    lti = backprop.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = backprop.max(boxes1[:, None, 2:], boxes2[:, 2:])
    return _upcast(rbi - lti).clamp(min=0)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Generalized IoU (Rezatofighi et al., 2019) of every pair: IoU minus the share of the
    enclosing box that the union leaves uncovered. ``Tensor[N, M]``, in ``[-1, 1]``."""
    _check_boxes("generalized_box_iou", boxes1=boxes1, boxes2=boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


def _box_diou_iou(boxes1: Tensor, boxes2: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    iou = box_iou(boxes1, boxes2)
    whi = _enclosing_wh(boxes1, boxes2)
    diagonal_distance_squared = (whi[:, :, 0] ** 2) + (whi[:, :, 1] ** 2) + eps
    x_p = (boxes1[:, 0] + boxes1[:, 2]) / 2
    y_p = (boxes1[:, 1] + boxes1[:, 3]) / 2
    x_g = (boxes2[:, 0] + boxes2[:, 2]) / 2
    y_g = (boxes2[:, 1] + boxes2[:, 3]) / 2
    centers_distance_squared = (_upcast(x_p[:, None] - x_g[None, :]) ** 2) + (_upcast(y_p[:, None] - y_g[None, :]) ** 2)
    return iou - (centers_distance_squared / diagonal_distance_squared), iou


def distance_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """Distance IoU (Zheng et al., 2020) of every pair: IoU minus the squared distance of the
    centres over the squared diagonal of the enclosing box. ``Tensor[N, M]``."""
    _check_boxes("distance_box_iou", boxes1=boxes1, boxes2=boxes2)
    boxes1 = _upcast(boxes1)
    boxes2 = _upcast(boxes2)
    diou, _ = _box_diou_iou(boxes1, boxes2, eps)
    return diou


def _aspect_term(w_pred: Tensor, h_pred: Tensor, w_gt: Tensor, h_gt: Tensor) -> Tensor:
    """CIoU's aspect-ratio consistency ``v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2``."""
    return (4 / (math.pi**2)) * backprop.pow(backprop.atan(w_gt / h_gt) - backprop.atan(w_pred / h_pred), 2)


def complete_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU (Zheng et al., 2020) of every pair: distance IoU minus ``alpha * v``, ``v`` the
    aspect-ratio consistency and ``alpha = v / (1 - iou + v + eps)`` (a constant for the gradient,
    as in the paper and torchvision). ``Tensor[N, M]``."""
    _check_boxes("complete_box_iou", boxes1=boxes1, boxes2=boxes2)
    boxes1 = _upcast(boxes1)
    boxes2 = _upcast(boxes2)
    diou, iou = _box_diou_iou(boxes1, boxes2, eps)
    w_pred = boxes1[:, None, 2] - boxes1[:, None, 0]
    h_pred = boxes1[:, None, 3] - boxes1[:, None, 1]
    w_gt = boxes2[:, 2] - boxes2[:, 0]
    h_gt = boxes2[:, 3] - boxes2[:, 1]
    v = _aspect_term(w_pred, h_pred, w_gt, h_gt)
    with backprop.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


# ----------------------------------------------------------------------------- clipping, filtering


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip xyxy ``boxes`` (``Tensor[..., 4]``) to an image of ``size = (height, width)``."""
    _check_last_dim("clip_boxes_to_image", boxes=boxes)
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return backprop.stack((x, y), dim=boxes.dim()).reshape(boxes.shape)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices (int64) of the xyxy ``boxes`` whose width and height are both at least ``min_size``."""
    _check_boxes("remove_small_boxes", boxes=boxes)
    ws = boxes[:, 2] - boxes[:, 0]
    hs = boxes[:, 3] - boxes[:, 1]
    keep = (ws >= min_size) & (hs >= min_size)
    return backprop.where(keep)[0]


def masks_to_boxes(masks: Tensor) -> Tensor:
    """The tight xyxy box around the nonzero pixels of each of the ``Tensor[N, H, W]`` masks:
    ``Tensor[N, 4]`` of float32 pixel indices (``x2``, ``y2`` the last column and row with ink).
    An all-zero mask has no box: RuntimeError naming it (torchvision fails on one too)."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks_to_boxes(): masks must be a Tensor, got {type(masks).__name__}")
    if masks.dim() != 3:
        raise ValueError(f"masks_to_boxes(): masks must be a Tensor[N, H, W], got shape {shape_str(masks.shape)}")
    m = masks.detach()._data
    xp = array_module(m)
    n, h, w = m.shape
    if masks.numel() == 0:
        return _make(xp.zeros((n, 4), dtype=xp.float32))
    on = m != 0
    rows = on.any(axis=2)  # (N, H): rows holding ink
    cols = on.any(axis=1)  # (N, W)
    empty = ~rows.any(axis=1)
    if bool(empty.any()):
        first = int(xp.argmax(empty))
        raise RuntimeError(f"masks_to_boxes(): mask {first} of {n} (shape {shape_str(masks.shape)}) has no nonzero pixel, so no box")
    ys = xp.arange(h)
    xs = xp.arange(w)
    y1 = xp.where(rows, ys, h).min(axis=1)
    y2 = xp.where(rows, ys, -1).max(axis=1)
    x1 = xp.where(cols, xs, w).min(axis=1)
    x2 = xp.where(cols, xs, -1).max(axis=1)
    return _make(xp.stack([x1, y1, x2, y2], axis=1).astype(xp.float32))


# ------------------------------------------------------------------------------------------- NMS


def _threshold_below(thr: float, dtype) -> float:
    """The largest value of ``dtype`` not above ``thr``: for an IoU ``v`` held in ``dtype``,
    ``v > thr`` (the threshold as a double, torchvision's comparison) is ``v > this``."""
    t = numpy.asarray(thr, dtype=dtype)  # a host scalar, not tensor data
    if float(t) > thr:
        t = numpy.nextafter(t, numpy.asarray(-numpy.inf, dtype=dtype))
    return float(t)


def _pair_iou(xp, a, b, area_a, area_b):
    """IoU of boxes ``a[K, 4]`` with ``b[M, 4]`` as torchvision's NMS kernel computes it:
    ``inter / (area_i + area_j - inter)``, in the boxes' dtype. ``(K, M)``; in place where it can."""
    inter = xp.minimum(a[:, None, 2], b[None, :, 2])
    inter -= xp.maximum(a[:, None, 0], b[None, :, 0])
    xp.maximum(inter, 0, out=inter)
    h = xp.minimum(a[:, None, 3], b[None, :, 3])
    h -= xp.maximum(a[:, None, 1], b[None, :, 1])
    xp.maximum(h, 0, out=h)
    inter *= h
    union = xp.add(area_a[:, None], area_b[None, :], out=h)
    union -= inter
    inter /= union
    return inter


def _nms_sorted(boxes, thr: float):
    """Greedy NMS over ``boxes`` already in decreasing score order: positions of the kept boxes.

    Equivalent to torchvision's sequential kernel: box ``j`` is dropped when some kept box before
    it has IoU ``> thr`` (the threshold as a double) with it; a NaN IoU, from two empty boxes,
    suppresses nothing. The blocked path (``_nms_blocked``) does it; when the boxes overlap little
    and many are kept, it hands the rest to the grid path (``_nms_grid``), whose work grows with
    the number of overlapping pairs instead of kept x alive.
    """
    xp = array_module(boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cut = _threshold_below(thr, boxes.dtype)
    with backend_of(boxes).errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _nms_blocked(xp, boxes, area, cut, grid=cut >= 0)


def _nms_blocked(xp, boxes, area, cut: float, grid: bool):
    """Work a block of still-alive boxes at a time. Inside the block the keep decisions are the
    fixed point of ``keep[j] = not any(keep[i] and iou[i, j] > cut for i < j)`` (each sweep one
    matrix product; the fixed point is unique, entry ``t`` is final after ``t`` sweeps, and real
    detections need a few); then the block's kept boxes strike every later box they overlap, so
    the boxes left form an independent NMS problem of their own. When a block keeps many boxes
    that struck few of the rest (boxes spread out; ``grid``: allowed to switch), that problem goes
    to the grid path if it takes it.
    """
    rest = xp.arange(boxes.shape[0])
    kept = []
    size = _NMS_BLOCK // 4  # a small first block: a cheap look at how the boxes overlap
    while rest.shape[0]:
        block, rest = rest[:size], rest[size:]
        bb, ab = boxes[block], area[block]
        m = block.shape[0]
        over = _pair_iou(xp, bb, bb, ab, ab) > cut
        over &= xp.triu(xp.ones((m, m), dtype=bool), 1)
        if bool(over.any()):
            over_f = over.astype(xp.float32)
            keep = xp.ones(m, dtype=bool)
            while True:  # Jacobi sweeps to the fixed point
                new = (keep.astype(xp.float32) @ over_f) == 0
                if bool((new == keep).all()):
                    break
                keep = new
            block = block[keep]
        kept.append(block)
        before = rest.shape[0]
        if before and block.shape[0]:
            hit = (_pair_iou(xp, boxes[block], boxes[rest], area[block], area[rest]) > cut).any(axis=0)
            rest = rest[~hit]
        # many kept boxes that struck few others: boxes spread out, the grid's case
        if grid and block.shape[0] > size // 4 and rest.shape[0] >= max(_NMS_GRID_MIN, before // 2):
            grid = False  # one try
            sub = _nms_grid(xp, boxes[rest], area[rest], cut)
            if sub is not None:
                kept.append(rest[sub])
                break
        size = _NMS_BLOCK
    return xp.concatenate(kept) if kept else xp.zeros(0, dtype=xp.int64)


def _repeat_index(xp, counts, total: int):
    """``i`` repeated ``counts[i]`` times (``total`` = the sum). NumPy's ``repeat`` on the CPU;
    elsewhere built from a cumulative sum (CuPy's ``repeat`` takes no array of counts)."""
    if backend_of(counts) is CPU:
        return xp.repeat(xp.arange(counts.shape[0]), counts)
    out = xp.zeros(total, dtype=xp.int64)
    filled = xp.flatnonzero(counts > 0)
    if total == 0 or filled.shape[0] == 0:
        return out
    starts = (xp.cumsum(counts) - counts)[filled]
    out[starts] = xp.concatenate([filled[:1], filled[1:] - filled[:-1]])
    return xp.cumsum(out)


def _nms_grid(xp, boxes, area, cut: float):
    """The sparse path: candidate pairs from a uniform grid, then the greedy decisions in rounds.

    With ``cut >= 0`` only boxes whose intersection has positive area can suppress each other,
    and two such boxes share the grid cell holding the top-left corner of their intersection:
    pairing the boxes registered in each cell (counted in that one cell only) finds every such
    pair. The greedy decisions then follow the suppression edges ``i -> j`` (``i`` before ``j``
    in score order, IoU above the cut) in rounds: a box with a kept box among its sources is
    suppressed; one whose sources are all suppressed is kept. The first undecided box is always
    decided, so this ends; it gives up (``None``) when the grid holds too many pairs or the
    rounds run long (chains of boxes each overlapping the next).
    """
    n = boxes.shape[0]
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    solid = (x2 > x1) & (y2 > y1)  # only these can overlap with positive area
    ids = xp.flatnonzero(solid)
    if ids.shape[0] < 2:
        return xp.arange(n)
    sb = boxes[ids]
    if not bool(xp.isfinite(sb).all()):
        return None
    cell = 0.75 * float(xp.median(xp.maximum(sb[:, 2] - sb[:, 0], sb[:, 3] - sb[:, 1])))  # about the typical side
    ox, oy = float(sb[:, 0].min()), float(sb[:, 1].min())
    cx0 = xp.floor((sb[:, 0] - ox) / cell).astype(xp.int64)
    cy0 = xp.floor((sb[:, 1] - oy) / cell).astype(xp.int64)
    ncx = xp.floor((sb[:, 2] - ox) / cell).astype(xp.int64) - cx0 + 1
    ncy = xp.floor((sb[:, 3] - oy) / cell).astype(xp.int64) - cy0 + 1
    per_box = ncx * ncy
    entries = int(per_box.sum())
    grid_w = int((cx0 + ncx).max()) + 1
    if entries > 32 * n or grid_w * (int((cy0 + ncy).max()) + 1) >= 2**62:
        return None
    # one entry per (box, cell it touches), sorted by cell; ``corner``: the entry is its box's first
    # column (bit 1) / first row (bit 2) of cells
    owner = _repeat_index(xp, per_box, entries)
    local = xp.arange(entries) - (xp.cumsum(per_box) - per_box)[owner]
    col = local % ncx[owner]
    row = local // ncx[owner]
    cell_id = (cy0[owner] + row) * grid_w + (cx0[owner] + col)
    order = xp.argsort(cell_id, kind="stable")
    owner, cell_id = owner[order], cell_id[order]
    corner = ((col[order] == 0).astype(xp.int8) | ((row[order] == 0).astype(xp.int8) << 1))
    # pair each entry with the later entries of its cell
    starts = xp.flatnonzero(xp.concatenate([xp.ones(1, dtype=bool), cell_id[1:] != cell_id[:-1]]))
    ends = xp.concatenate([starts[1:], xp.asarray([entries])])
    later = ends[_repeat_index(xp, ends - starts, entries)] - xp.arange(entries) - 1
    pairs = int(later.sum())
    if pairs > _NMS_GRID_PAIRS * n:
        return None
    first = _repeat_index(xp, later, pairs)
    second = first + 1 + (xp.arange(pairs) - (xp.cumsum(later) - later)[first])
    # a pair is counted in the cell of its intersection's top-left corner: there one of the two
    # boxes starts its columns and one (maybe the other) its rows
    keep = (corner[first] | corner[second]) == 3
    first, second = first[keep], second[keep]
    a, b = ids[owner[first]], ids[owner[second]]
    lx = xp.maximum(x1[a], x1[b])
    w = xp.minimum(x2[a], x2[b]) - lx
    keep = w > 0
    a, b, w = a[keep], b[keep], w[keep]
    ly = xp.maximum(y1[a], y1[b])
    h = xp.minimum(y2[a], y2[b]) - ly
    keep = h > 0
    a, b = a[keep], b[keep]
    inter = w[keep] * h[keep]
    edge = inter / ((area[a] + area[b]) - inter) > cut
    src, dst = xp.minimum(a, b)[edge], xp.maximum(a, b)[edge]  # src: the higher score
    # 0 undecided, 1 kept, 2 suppressed
    state = xp.zeros(n, dtype=xp.int8)
    for _ in range(_NMS_GRID_ROUNDS):
        if src.shape[0] == 0:
            state[state == 0] = 1
            return xp.flatnonzero(state == 1)
        live = xp.bincount(dst, minlength=n)  # sources not yet suppressed, per box
        state[(state == 0) & (live == 0)] = 1
        state[dst[state[src] == 1]] = 2
        useful = (state[src] != 2) & (state[dst] == 0)
        src, dst = src[useful], dst[useful]
    return None


def _check_nms_args(boxes: Tensor, scores: Tensor) -> None:
    if not isinstance(boxes, Tensor) or not isinstance(scores, Tensor):
        raise TypeError("nms(): boxes and scores must be Tensors")
    if boxes.dim() != 2:
        raise RuntimeError(f"nms(): boxes should be a 2d tensor, got {boxes.dim()}D (shape {shape_str(boxes.shape)})")
    if boxes.shape[1] != 4:
        raise RuntimeError(f"nms(): boxes should have 4 elements in dimension 1, got {boxes.shape[1]} (shape {shape_str(boxes.shape)})")
    if scores.dim() != 1:
        raise RuntimeError(f"nms(): scores should be a 1d tensor, got {scores.dim()}D (shape {shape_str(scores.shape)})")
    if boxes.shape[0] != scores.shape[0]:
        raise RuntimeError(
            f"nms(): boxes and scores should have same number of elements in dimension 0, got "
            f"{boxes.shape[0]} and {scores.shape[0]}"
        )
    if not boxes.is_floating_point() or not scores.is_floating_point():
        raise RuntimeError(f"nms(): boxes and scores must be floating point, got {boxes.dtype} and {scores.dtype}")
    if boxes.device != scores.device:
        raise RuntimeError(f"nms(): boxes and scores must be on the same device, got {boxes.device} and {scores.device}")


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression: walk the xyxy ``boxes`` by decreasing ``scores`` and drop each box
    whose IoU with an already kept box exceeds ``iou_threshold``.

    Returns the int64 indices of the kept boxes, by decreasing score; equal scores keep their
    original order (a stable sort, as torchvision's CPU kernel).
    """
    _check_nms_args(boxes, scores)
    b = boxes.detach()._data
    xp = array_module(b)
    if b.shape[0] == 0:
        return _make(xp.zeros(0, dtype=xp.int64))
    if b.dtype.itemsize < 4:  # half precision: decide in float32
        b = b.astype(xp.float32)
    order = backprop.sort(scores.detach(), stable=True, descending=True)[1]._data
    kept = _nms_sorted(b[order], float(iou_threshold))
    return _make(order[kept].astype(xp.int64))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category: boxes whose ``idxs`` (category, or image) differ never suppress
    each other. Returns int64 indices of the kept boxes by decreasing score.

    Few boxes: each category's boxes are moved by their own offset (category times the largest
    coordinate plus one) so boxes of different categories cannot overlap, then one ``nms`` runs on
    them all. Many boxes (more than 1,000 on the CPU, 5,000 on a GPU, torchvision's switch): one
    ``nms`` per category, which is cheaper than one over all (a detector's 1,890 candidates at
    conf 0.001: 3 ms instead of 10 ms). Both keep the same boxes, in the same order.
    """
    _check_nms_args(boxes, scores)
    if not isinstance(idxs, Tensor) or idxs.dim() != 1 or idxs.shape[0] != boxes.shape[0]:
        got = shape_str(idxs.shape) if isinstance(idxs, Tensor) else type(idxs).__name__
        raise RuntimeError(f"batched_nms(): idxs must be a Tensor[{boxes.shape[0]}] (one category per box), got {got}")
    if boxes.numel() == 0:
        return _make(array_module(boxes._data).zeros(0, dtype="int64"))
    boxes = boxes.detach()
    if boxes.shape[0] > (1000 if backend_of(boxes._data) is CPU else 5000):
        return _batched_nms_per_category(boxes, scores, idxs, iou_threshold)
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + backprop.tensor(1).to(boxes))
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _batched_nms_per_category(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``batched_nms`` as one ``nms`` per category; the kept indices ordered by decreasing score
    (a stable sort: equal scores keep index order, as the offset path's ``nms`` does)."""
    keep = backprop.zeros(boxes.shape[0], dtype=backprop.bool, device=boxes.device)
    for category in idxs.unique().tolist():
        members = (idxs == category).nonzero().flatten()
        keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = keep.nonzero().flatten()
    return kept[scores[kept].sort(descending=True, stable=True).indices]
