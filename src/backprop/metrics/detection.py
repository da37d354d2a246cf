"""COCO mean Average Precision for object detection, with torchmetrics' interface.

``MeanAveragePrecision`` accumulates predictions and ground truth with ``update(preds, target)`` and
``compute()`` evaluates them exactly as pycocotools' ``COCOeval`` does for ``iouType="bbox"``: IoU
thresholds .50:.05:.95, 101-point interpolated precision, the area ranges all/small/medium/large, at most
1/10/100 detections per image, crowd ground truth (IoU over the detection's area, any number of
detections may match it, matches are ignored), ignored ground truth, detections ranked by score with
pycocotools' stable tie order, and -1 where a value is undefined (no ground truth). The evaluation is
vectorized in NumPy: IoU matrices per image and class, and COCO's greedy matching run for all
(image, class, area range, IoU threshold) lanes at once, one detection rank at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import backprop
from backprop._tensor import Tensor

__all__ = ["MeanAveragePrecision"]

_BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
# pycocotools' Params.areaRng and areaRngLbl (bbox areas in pixels^2, both bounds inclusive).
_AREA_RANGES = np.array([[0.0, 1e5**2], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e5**2]])
_CHUNK_ELEMENTS = 1 << 20  # matching lanes x ground truths handled per NumPy call (bounds the memory)


def _default_iou_thresholds() -> np.ndarray:
    # COCOeval's Params.setDetParams, value for value (float64).
    return np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)


def _default_rec_thresholds() -> np.ndarray:
    return np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def _host_arrays(values: list) -> list:
    """Each value as a host NumPy array. backprop tensors on a device are concatenated per (device, dtype)
    and copied to the host once; CPU tensors are shared without a copy."""
    out: list = [None] * len(values)
    groups: dict = {}
    for i, v in enumerate(values):
        if isinstance(v, Tensor):
            if v.device.type == "cpu":
                out[i] = v.detach().numpy()
            else:
                groups.setdefault((str(v.device), v.dtype), []).append(i)
        else:
            out[i] = v
    for idx in groups.values():
        parts = [values[i].detach().reshape(-1) for i in idx]
        flat = (backprop.cat(parts) if len(parts) > 1 else parts[0]).numpy(force=True)
        offset = 0
        for i in idx:
            n = values[i].numel()
            out[i] = flat[offset : offset + n].reshape(tuple(values[i].shape))
            offset += n
    return out


def _as_array(value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists, objects without an array form
        raise ValueError(f"MeanAveragePrecision.update: {where} is not an array ({type(value).__name__}): {e}") from e
    if arr.dtype.name == "bfloat16":  # ml_dtypes' bfloat16 (NumPy kind 'V'): exact in float32
        arr = arr.astype(np.float32)
    return arr


def _check_kind(arr: np.ndarray, kinds: str, where: str, what: str) -> None:
    if arr.dtype.kind not in kinds:
        raise ValueError(f"MeanAveragePrecision.update: {where} must hold {what}, got dtype {arr.dtype}")


def _to_xywh(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """(N, 4) float64 boxes as COCO's [x, y, w, h]."""
    b = boxes.astype(np.float64, copy=False)
    if box_format == "xyxy":
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    if box_format == "cxcywh":
        return np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
    return b.copy()


def _bbox_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of xywh boxes, ``(..., D, 4)`` against ``(..., G, 4)`` -> ``(..., D, G)``, computed operation for
    operation as pycocotools' bbIou (so equal IoUs stay equal): for a crowd ground truth the union is the
    detection's area; no overlap (width or height <= 0) gives 0."""
    dx, dy, dw, dh = (dt[..., :, None, j] for j in range(4))
    gx, gy, gw, gh = (gt[..., None, :, j] for j in range(4))
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = w * h
    da = dw * dh
    union = np.where(crowd[..., None, :], da, (da + gw * gh) - inter)
    overlap = (w > 0) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)
    return iou


def _ceil_pow2(n: np.ndarray) -> np.ndarray:
    return (1 << np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64)).astype(np.int64)


def _mean_valid(x: np.ndarray) -> float:
    valid = x[x > -1]
    return float(np.mean(valid)) if valid.size else -1.0


class _Evaluation:
    """COCOeval's evaluate + accumulate on flat arrays; ``precision`` (T, R, K, A, M), ``recall`` (T, K, A, M)
    and ``scores`` (T, R, K, A, M) as pycocotools' ``eval`` dict holds them."""

    def __init__(self, data: dict, classes: np.ndarray, det_labels: np.ndarray, gt_labels: np.ndarray,
                 iou_thrs: np.ndarray, rec_thrs: np.ndarray, max_dets: list, keep_ious: bool) -> None:
        n_img = data["n_img"]
        k = len(classes)
        t, r, a, m = len(iou_thrs), len(rec_thrs), len(_AREA_RANGES), len(max_dets)
        self.precision = -np.ones((t, r, k, a, m))
        self.recall = -np.ones((t, k, a, m))
        self.scores = -np.ones((t, r, k, a, m))
        self.ious: dict | None = {} if keep_ious else None
        if k == 0:
            return
        max_det = max_dets[-1]
        d_img, g_img = data["det_img"], data["gt_img"]
        d_cls = np.searchsorted(classes, det_labels)
        g_cls = np.searchsorted(classes, gt_labels)
        d_score = data["det_score"]

        # Detections grouped by (image, class), best score first, ties in input order (pycocotools'
        # mergesort); each group truncated to the largest max-detections threshold, as COCOeval does.
        order = np.lexsort((-d_score, d_cls, d_img))
        d_key = (d_img * k + d_cls)[order]
        starts = np.flatnonzero(np.r_[True, d_key[1:] != d_key[:-1]]) if d_key.size else np.zeros(0, np.int64)
        sizes = np.diff(np.r_[starts, d_key.size])
        rank = np.arange(d_key.size) - np.repeat(starts, sizes)
        keep = rank < max_det
        order, d_key, rank = order[keep], d_key[keep], rank[keep]
        d_box = data["det_box"][order]
        d_area = d_box[:, 2] * d_box[:, 3]
        d_score = d_score[order]
        d_cls = d_cls[order]

        g_order = np.lexsort((g_cls, g_img))
        g_key = (g_img * k + g_cls)[g_order]
        g_box = data["gt_box"][g_order]
        g_area = data["gt_area"][g_order]
        g_crowd = data["gt_crowd"][g_order]
        g_cls = g_cls[g_order]

        lo, hi = _AREA_RANGES[:, 0], _AREA_RANGES[:, 1]
        g_ign = g_crowd[:, None] | (g_area[:, None] < lo) | (g_area[:, None] > hi)  # (G, A)
        d_out = (d_area[:, None] < lo) | (d_area[:, None] > hi)  # (D, A)

        keys = np.union1d(d_key, g_key)
        d_gid = np.searchsorted(keys, d_key)
        g_gid = np.searchsorted(keys, g_key)
        nd = np.bincount(d_gid, minlength=keys.size)
        ng = np.bincount(g_gid, minlength=keys.size)
        d_start = np.r_[0, np.cumsum(nd)[:-1]]
        g_start = np.r_[0, np.cumsum(ng)[:-1]]

        thr = np.minimum(iou_thrs, 1 - 1e-10)  # COCOeval: iou = min([t, 1 - 1e-10])
        dtm = np.zeros((a, t, d_key.size), dtype=bool)  # matched to a ground truth
        dtig = np.zeros((a, t, d_key.size), dtype=bool)  # matched to an ignored ground truth
        both = np.flatnonzero((nd > 0) & (ng > 0))
        if both.size:
            # Groups of similar size (powers of two) padded to a common shape, in chunks of bounded memory.
            bucket = np.stack([_ceil_pow2(nd[both]), _ceil_pow2(ng[both])], axis=1)
            shapes, which = np.unique(bucket, axis=0, return_inverse=True)
            for s, (dpad, gpad) in enumerate(shapes.tolist()):
                gs_all = both[which.reshape(-1) == s]
                chunk = max(1, _CHUNK_ELEMENTS // (gpad * a * t))
                for c in range(0, gs_all.size, chunk):
                    self._match(gs_all[c : c + chunk], dpad, gpad, nd, ng, d_start, g_start, d_box, g_box, g_crowd,
                                g_ign, thr, dtm, dtig, keys, k, classes)
        # Unmatched detections outside the area range are ignored.
        dtig |= ~dtm & d_out.T[:, None, :]
        tps = dtm & ~dtig  # (A, T, D)
        fps = ~dtm & ~dtig

        if keep_ious:
            self._empty_ious(n_img, k, classes, nd, ng, keys)

        # accumulate: per class and max-detections threshold, the detections of all images ranked by score
        # (mergesort over the image-major concatenation, as COCOeval's accumulate).
        npig = np.zeros((k, a), dtype=np.int64)
        np.add.at(npig, g_cls, ~g_ign)
        by_cls = np.argsort(d_cls, kind="stable")
        cls_starts = np.searchsorted(d_cls[by_cls], np.arange(k + 1))
        tps, fps = tps.view(np.uint8), fps.view(np.uint8)  # cumsum in int32: exact and fast
        for kk in range(k):
            areas = np.flatnonzero(npig[kk] > 0)  # no ground truth in a range: -1 stays
            if areas.size == 0:
                continue
            idx_k = by_cls[cls_starts[kk] : cls_starts[kk + 1]]  # image-major, score rank within image
            for mi, md in enumerate(max_dets):
                sel = idx_k[rank[idx_k] < md]
                sc = d_score[sel]
                inds = np.argsort(-sc, kind="mergesort")
                sel = sel[inds]
                sc_sorted = sc[inds]
                n = sel.size
                tp_k, fp_k = tps[:, :, sel], fps[:, :, sel]
                if areas.size < a:
                    tp_k, fp_k = tp_k[areas], fp_k[areas]
                tp = np.cumsum(tp_k, axis=-1, dtype=np.int32)  # (A', T, N)
                fp = np.cumsum(fp_k, axis=-1, dtype=np.int32)
                rc = tp / npig[kk, areas][:, None, None]
                pr = tp / ((fp + tp) + np.spacing(1))  # the same float64 values as COCOeval's
                self.recall[:, kk, areas, mi] = rc[:, :, -1].T if n else 0.0
                pr = np.maximum.accumulate(pr[:, :, ::-1], axis=-1)[:, :, ::-1]  # precision envelope
                q = np.zeros((areas.size, t, r))
                ss = np.zeros((areas.size, t, r))
                for ai in range(areas.size):
                    for ti in range(t):
                        pos = np.searchsorted(rc[ai, ti], rec_thrs, side="left")
                        ok = pos < n
                        q[ai, ti, ok] = pr[ai, ti, pos[ok]]
                        ss[ai, ti, ok] = sc_sorted[pos[ok]]
                self.precision[:, :, kk, areas, mi] = q.transpose(1, 2, 0)
                self.scores[:, :, kk, areas, mi] = ss.transpose(1, 2, 0)

    def _match(self, gs, dpad, gpad, nd, ng, d_start, g_start, d_box, g_box, g_crowd, g_ign, thr,
               dtm, dtig, keys, k, classes) -> None:
        """COCOeval.evaluateImg's greedy matching for the groups ``gs`` (each with at most ``dpad``
        detections and ``gpad`` ground truths), every area range and IoU threshold at once."""
        b = gs.size
        ar = np.arange(dpad)
        d_valid = ar[None, :] < nd[gs][:, None]
        di = np.where(d_valid, d_start[gs][:, None] + ar[None, :], 0)
        ag = np.arange(gpad)
        g_valid = ag[None, :] < ng[gs][:, None]
        gi = np.where(g_valid, g_start[gs][:, None] + ag[None, :], 0)
        crowd = g_crowd[gi] & g_valid  # (B, G)
        ious = _bbox_iou(d_box[di], g_box[gi], crowd)  # (B, D, G)
        if self.ious is not None:
            for j, grp in enumerate(gs):
                img, kk = divmod(int(keys[grp]), k)
                self.ious[(img, int(classes[kk]))] = ious[j, : nd[grp], : ng[grp]].astype(np.float32)
        ious = np.where(d_valid[:, :, None] & g_valid[:, None, :], ious, -np.inf)
        # Lanes (group, area range, threshold) last, ground truths first: the reductions over ground truths
        # run along axis 0, vectorized over the lanes.
        ious = np.ascontiguousarray(ious.transpose(1, 2, 0))  # (D, G, B)
        ign = g_ign[gi].transpose(1, 0, 2)[..., None]  # (G, B, A, 1)
        real = ~ign
        reusable = crowd.T[:, :, None, None]  # crowd ground truth can match many detections
        n_area, n_thr = ign.shape[2], thr.size
        matched = np.zeros((gpad, b, n_area, n_thr), dtype=bool)
        got_all = np.zeros((b, dpad, n_area, n_thr), dtype=bool)
        ign_all = np.zeros((b, dpad, n_area, n_thr), dtype=bool)
        for d in range(int(nd[gs].max())):
            # Among the candidates (IoU >= threshold, not yet matched unless crowd) the best real ground
            # truth, else the best ignored one; of equal IoUs the last (COCOeval's loop keeps the later).
            iou = ious[d][:, :, None, None]  # (G, B, 1, 1)
            cand = (iou >= thr) & (~matched | reusable)
            v_real = np.where(cand & real, iou, -1.0)
            has_real = v_real.max(axis=0) >= 0
            v = np.where(has_real, v_real, np.where(cand & ign, iou, -1.0))
            best = v.max(axis=0)
            got = best >= 0
            pick = (v == best) & got
            if gpad > 1:  # keep only the last of equal maxima
                later = np.logical_or.accumulate(pick[::-1], axis=0)[::-1]
                pick[:-1] &= ~later[1:]
            matched |= pick
            got_all[:, d] = got
            ign_all[:, d] = got & ~has_real
        target = di[d_valid]
        dtm[:, :, target] = np.moveaxis(got_all[d_valid], 0, -1)
        dtig[:, :, target] = np.moveaxis(ign_all[d_valid], 0, -1)

    def _empty_ious(self, n_img, k, classes, nd, ng, keys) -> None:
        """The IoU matrices of the (image, class) pairs that lack detections or ground truth: zero-size
        (D, G) arrays."""
        assert self.ious is not None
        counts = {int(key): (int(a), int(b)) for key, a, b in zip(keys, nd, ng)}
        for img in range(n_img):
            for kk in range(k):
                key = (img, int(classes[kk]))
                if key not in self.ious:
                    dn, gn = counts.get(img * k + kk, (0, 0))
                    self.ious[key] = np.zeros((dn, gn), dtype=np.float32)


class MeanAveragePrecision:
    """Mean Average Precision and Recall for object detection, as COCO defines them (torchmetrics'
    ``MeanAveragePrecision``, evaluated exactly as pycocotools' ``COCOeval`` for bounding boxes).

    ``update(preds, target)`` takes one dict per image: ``preds[i]`` with ``boxes`` (N, 4), ``scores`` (N,)
    and ``labels`` (N,) (integers); ``target[i]`` with ``boxes`` (M, 4), ``labels`` (M,) and optionally
    ``iscrowd`` (M,) (0/1) and ``area`` (M,) (used where > 0, else the box's area decides the area range).
    Values may be backprop tensors on any device, NumPy arrays or array-likes. ``compute()`` returns
    ``map``, ``map_50``, ``map_75``, ``map_small``, ``map_medium``, ``map_large``, ``mar_1``, ``mar_10``,
    ``mar_100``, ``mar_small``, ``mar_medium``, ``mar_large``, ``map_per_class``, ``mar_100_per_class``
    (-1 unless ``class_metrics``) and ``classes`` as float32 / int32 backprop tensors (one-element results
    as 0-d tensors, as torchmetrics); -1 marks a value without ground truth to measure it.

    The IoU and recall thresholds default to pycocotools' float64 values (.50:.05:.95 and 0:.01:1).
    ``average="micro"`` pools all classes into one before evaluating (per-class values stay per class).
    Only ``iou_type="bbox"`` is supported; ``backend`` is accepted for compatibility (the evaluation is
    COCOeval's in both cases).
    """

    is_differentiable: bool = False
    higher_is_better: bool = True
    full_state_update: bool = True
    warn_on_many_detections: bool = True

    def __init__(
        self,
        box_format: str = "xyxy",
        iou_type: str = "bbox",
        iou_thresholds: list[float] | None = None,
        rec_thresholds: list[float] | None = None,
        max_detection_thresholds: list[int] | None = None,
        class_metrics: bool = False,
        extended_summary: bool = False,
        average: str = "macro",
        backend: str = "pycocotools",
    ) -> None:
        if box_format not in _BOX_FORMATS:
            raise ValueError(f"Expected argument `box_format` to be one of {_BOX_FORMATS} but got {box_format}")
        iou_types = (iou_type,) if isinstance(iou_type, str) else tuple(iou_type)
        if any(t not in ("bbox", "segm") for t in iou_types) or not iou_types:
            raise ValueError(f"Expected argument `iou_type` to be one of ('bbox', 'segm') or a tuple of them, but got {iou_type}")
        if iou_types != ("bbox",):
            raise ValueError(f"MeanAveragePrecision: only iou_type='bbox' is supported, got {iou_type!r} (masks are not)")
        self.box_format = box_format
        self.iou_type = "bbox"
        self.iou_thresholds = self._thresholds(iou_thresholds, "iou_thresholds", _default_iou_thresholds)
        self.rec_thresholds = self._thresholds(rec_thresholds, "rec_thresholds", _default_rec_thresholds)
        if max_detection_thresholds is not None:
            if not isinstance(max_detection_thresholds, (list, tuple)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in max_detection_thresholds
            ):
                raise ValueError(
                    f"Expected argument `max_detection_thresholds` to either be `None` or a list of ints but got {max_detection_thresholds}"
                )
            if len(max_detection_thresholds) != 3:
                raise ValueError(
                    f"When providing a list of max detection thresholds it should have length 3. Got value {len(max_detection_thresholds)}"
                )
            if min(max_detection_thresholds) < 1:
                raise ValueError(f"max_detection_thresholds must be positive, got {max_detection_thresholds}")
        self.max_detection_thresholds = sorted(int(v) for v in (max_detection_thresholds or [1, 10, 100]))
        if not isinstance(class_metrics, bool):
            raise ValueError("Expected argument `class_metrics` to be a boolean")
        if not isinstance(extended_summary, bool):
            raise ValueError("Expected argument `extended_summary` to be a boolean")
        if average not in ("macro", "micro"):
            raise ValueError(f"Expected argument `average` to be one of ('macro', 'micro') but got {average}")
        if backend not in ("pycocotools", "faster_coco_eval"):
            raise ValueError(f"Expected argument `backend` to be one of ('pycocotools', 'faster_coco_eval') but got {backend}")
        self.class_metrics = class_metrics
        self.extended_summary = extended_summary
        self.average = average
        self.backend = backend
        self.reset()

    @staticmethod
    def _thresholds(values, name: str, default) -> np.ndarray:
        if values is None:
            return default()
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"Expected argument `{name}` to either be `None` or a list of floats but got {values}")
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise ValueError(f"Expected argument `{name}` to be a list of finite floats but got {values}")
        return arr

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every image seen so far."""
        self._det_boxes: list[np.ndarray] = []
        self._det_scores: list[np.ndarray] = []
        self._det_labels: list[np.ndarray] = []
        self._gt_boxes: list[np.ndarray] = []
        self._gt_labels: list[np.ndarray] = []
        self._gt_crowd: list[np.ndarray] = []
        self._gt_area: list[np.ndarray] = []
        self._warned = False

    def __len__(self) -> int:
        return len(self._det_boxes)

    def update(self, preds: Sequence[Mapping[str, Any]], target: Sequence[Mapping[str, Any]]) -> None:
        """Add a batch of images: ``preds[i]`` and ``target[i]`` describe the same image. Bad input raises
        ValueError naming the image index and the key, and adds nothing."""
        for name, value in (("preds", preds), ("target", target)):
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
                raise ValueError(
                    f"Expected argument `{name}` to be of type Sequence (a list of dicts, one per image), but got {type(value).__name__}"
                )
        if len(preds) != len(target):
            raise ValueError(
                f"Expected argument `preds` and `target` to have the same length, but got {len(preds)} and {len(target)}"
            )
        keys: list[tuple[str, int, str]] = []
        raw: list = []
        for name, items, required, optional in (
            ("preds", preds, ("boxes", "scores", "labels"), ()),
            ("target", target, ("boxes", "labels"), ("iscrowd", "area")),
        ):
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise ValueError(f"MeanAveragePrecision.update: {name}[{i}] must be a dict, got {type(item).__name__}")
                for key in required:
                    if key not in item:
                        raise ValueError(f"MeanAveragePrecision.update: {name}[{i}] has no '{key}' key (expected keys {required})")
                for key in required + tuple(kk for kk in optional if kk in item):
                    keys.append((name, i, key))
                    raw.append(item[key])
        host = _host_arrays(raw)
        arrays = {k_: _as_array(v, f"{k_[0]}[{k_[1]}]['{k_[2]}']") for k_, v in zip(keys, host)}

        parsed_preds = [self._parse(arrays, "preds", i) for i in range(len(preds))]
        parsed_target = [self._parse(arrays, "target", i) for i in range(len(target))]
        for boxes, scores, labels in parsed_preds:
            if self.warn_on_many_detections and not self._warned and len(boxes) > self.max_detection_thresholds[-1]:
                self._warned = True
                warnings.warn(
                    f"MeanAveragePrecision: an image has more than {self.max_detection_thresholds[-1]} detections; as in "
                    "COCO, only the best-scored ones of each class count (raise max_detection_thresholds to keep more; "
                    "set warn_on_many_detections=False to silence this)",
                    UserWarning,
                    stacklevel=2,
                )
            self._det_boxes.append(boxes)
            self._det_scores.append(scores)
            self._det_labels.append(labels)
        for boxes, labels, crowd, area in parsed_target:
            self._gt_boxes.append(boxes)
            self._gt_labels.append(labels)
            self._gt_crowd.append(crowd)
            self._gt_area.append(area)

    def _parse(self, arrays: dict, name: str, i: int) -> tuple:
        where = f"{name}[{i}]"
        boxes = arrays[(name, i, "boxes")]
        _check_kind(boxes, "fiu", f"{where}['boxes']", "real numbers")
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"MeanAveragePrecision.update: {where}['boxes'] must have shape (N, 4), got {tuple(boxes.shape)}")
        n = boxes.shape[0]
        bad = ~np.isfinite(boxes.astype(np.float64, copy=False)).all(axis=1)
        if bad.any():
            raise ValueError(
                f"MeanAveragePrecision.update: {where}['boxes'] has non-finite values (NaN or inf) in box {int(np.flatnonzero(bad)[0])}"
            )
        xywh = _to_xywh(boxes, self.box_format)
        bad = (xywh[:, 2] < 0) | (xywh[:, 3] < 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            what = "x2 < x1 or y2 < y1" if self.box_format == "xyxy" else "a negative width or height"
            raise ValueError(
                f"MeanAveragePrecision.update: {where}['boxes'] box {j} has {what} ({self.box_format} {boxes[j].tolist()})"
            )

        def vector(key: str, kinds: str, what: str) -> np.ndarray:
            arr = arrays[(name, i, key)]
            if arr.size:  # an empty list arrives as float64
                _check_kind(arr, kinds, f"{where}['{key}']", what)
            if arr.size == 0 and n == 0:
                arr = arr.reshape(0)
            if arr.ndim != 1 or arr.shape[0] != n:
                raise ValueError(
                    f"MeanAveragePrecision.update: {where}['{key}'] must have shape ({n},) to match {where}['boxes'] "
                    f"of shape {tuple(boxes.shape)}, got {tuple(arr.shape)}"
                )
            return arr

        labels = vector("labels", "iu", "integer class labels").astype(np.int64)
        if name == "preds":
            scores = vector("scores", "fiu", "real numbers").astype(np.float64)
            bad = ~np.isfinite(scores)
            if bad.any():
                raise ValueError(
                    f"MeanAveragePrecision.update: {where}['scores'] has a non-finite value (NaN or inf) at {int(np.flatnonzero(bad)[0])}"
                )
            return xywh, scores, labels
        crowd = np.zeros(n, dtype=bool)
        if (name, i, "iscrowd") in arrays:
            c = vector("iscrowd", "biuf", "0/1 flags")
            if not np.isin(c, (0, 1)).all():
                raise ValueError(f"MeanAveragePrecision.update: {where}['iscrowd'] must hold 0 or 1, got {np.unique(c).tolist()}")
            crowd = c.astype(bool)
        box_area = xywh[:, 2] * xywh[:, 3]
        area = box_area
        if (name, i, "area") in arrays:
            given = vector("area", "fiu", "real numbers").astype(np.float64)
            if not np.isfinite(given).all():
                raise ValueError(f"MeanAveragePrecision.update: {where}['area'] has a non-finite value (NaN or inf)")
            area = np.where(given > 0, given, box_area)  # torchmetrics: a given area counts where it is > 0
        return xywh, labels, crowd, area

    # ------------------------------------------------------------------ evaluation
    def _data(self) -> dict:
        def cat(parts: list, shape: tuple, dtype) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(shape, dtype)

        n_img = len(self._det_boxes)
        det_counts = np.array([len(s) for s in self._det_scores], dtype=np.int64)
        gt_counts = np.array([len(lab) for lab in self._gt_labels], dtype=np.int64)
        return {
            "n_img": n_img,
            "det_img": np.repeat(np.arange(n_img), det_counts),
            "det_box": cat(self._det_boxes, (0, 4), np.float64),
            "det_score": cat(self._det_scores, (0,), np.float64),
            "det_label": cat(self._det_labels, (0,), np.int64),
            "gt_img": np.repeat(np.arange(n_img), gt_counts),
            "gt_box": cat(self._gt_boxes, (0, 4), np.float64),
            "gt_label": cat(self._gt_labels, (0,), np.int64),
            "gt_crowd": cat(self._gt_crowd, (0,), bool),
            "gt_area": cat(self._gt_area, (0,), np.float64),
        }

    def _evaluate(self, data: dict, micro: bool, keep_ious: bool) -> tuple[_Evaluation, np.ndarray]:
        dl, gl = data["det_label"], data["gt_label"]
        if micro:
            dl, gl = np.zeros_like(dl), np.zeros_like(gl)
        classes = np.unique(np.concatenate([dl, gl]))
        ev = _Evaluation(data, classes, dl, gl, self.iou_thresholds, self.rec_thresholds,
                         self.max_detection_thresholds, keep_ious)
        return ev, classes

    def _stats(self, ev: _Evaluation) -> list[float]:
        """COCOeval.summarize's twelve numbers (max detections: the largest threshold for the AP and
        per-area values, each threshold for mar)."""
        p, r = ev.precision, ev.recall
        last = len(self.max_detection_thresholds) - 1

        def ap_at(thr: float) -> float:
            t = np.flatnonzero(self.iou_thresholds == thr)
            return _mean_valid(p[t][:, :, :, 0, last])

        stats = [_mean_valid(p[:, :, :, 0, last]), ap_at(0.5), ap_at(0.75)]
        stats += [_mean_valid(p[:, :, :, a, last]) for a in (1, 2, 3)]
        stats += [_mean_valid(r[:, :, 0, mi]) for mi in range(len(self.max_detection_thresholds))]
        stats += [_mean_valid(r[:, :, a, last]) for a in (1, 2, 3)]
        return stats

    def compute(self) -> dict[str, Any]:
        """Evaluate every image seen since the last ``reset()``; the dict of torchmetrics' keys."""
        data = self._data()
        md = self.max_detection_thresholds
        ev, classes = self._evaluate(data, self.average == "micro", self.extended_summary)
        if self.average == "micro":
            classes = np.unique(np.concatenate([data["det_label"], data["gt_label"]]))
        stats = self._stats(ev)
        names = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large",
                 f"mar_{md[0]}", f"mar_{md[1]}", f"mar_{md[2]}", "mar_small", "mar_medium", "mar_large"]
        result: dict[str, Any] = {n: backprop.tensor(v, dtype=backprop.float32) for n, v in zip(names, stats)}
        if self.extended_summary:
            assert ev.ious is not None
            result["ious"] = {key: backprop.from_numpy(v) for key, v in ev.ious.items()}
            result["precision"] = backprop.from_numpy(ev.precision)
            result["recall"] = backprop.from_numpy(ev.recall)
            result["scores"] = backprop.from_numpy(ev.scores)
        if self.class_metrics:
            per = ev if self.average == "macro" else self._evaluate(data, False, False)[0]
            last = len(md) - 1
            map_pc = [_mean_valid(per.precision[:, :, kk, 0, last]) for kk in range(len(classes))]
            mar_pc = [_mean_valid(per.recall[:, kk, 0, last]) for kk in range(len(classes))]
        else:
            map_pc, mar_pc = [-1.0], [-1.0]
        result["map_per_class"] = self._squeezed(np.asarray(map_pc, dtype=np.float32))
        result[f"mar_{md[-1]}_per_class"] = self._squeezed(np.asarray(mar_pc, dtype=np.float32))
        result["classes"] = self._squeezed(classes.astype(np.int32))
        return result

    @staticmethod
    def _squeezed(arr: np.ndarray) -> Tensor:
        # torchmetrics returns one-element results as 0-d tensors.
        return backprop.from_numpy(arr.reshape(()) if arr.size == 1 else arr)

    def forward(self, preds: Sequence[Mapping[str, Any]], target: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Add the batch to the state and return the metric of this batch alone (torchmetrics' ``forward``)."""
        batch = MeanAveragePrecision(
            box_format=self.box_format,
            iou_thresholds=self.iou_thresholds.tolist(),
            rec_thresholds=self.rec_thresholds.tolist(),
            max_detection_thresholds=list(self.max_detection_thresholds),
            class_metrics=self.class_metrics,
            extended_summary=self.extended_summary,
            average=self.average,
            backend=self.backend,
        )
        batch.warn_on_many_detections = False
        batch.update(preds, target)
        self.update(preds, target)
        return batch.compute()

    __call__ = forward

    def __repr__(self) -> str:
        return (
            f"MeanAveragePrecision(box_format={self.box_format!r}, iou_type='bbox', class_metrics={self.class_metrics}, "
            f"average={self.average!r}, images={len(self)})"
        )
