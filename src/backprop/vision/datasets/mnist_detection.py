"""MNIST detection: square canvases holding 1..6 real MNIST digits, each with the tight box of its ink.

How a canvas is built (all canvases are generated once, at construction, from one
``numpy.random.Generator`` seeded with ``(seed, train)``, so a seed fixes the whole dataset):

1. draw the digit count ``k`` uniformly in ``digits[0]..digits[1]`` and ``k`` source images from MNIST's
   train split (``train=True``) or its t10k split (``train=False``);
2. crop each source digit to its ink (source pixels > 10% of the image's maximum) and rescale the crop,
   keeping its aspect ratio, so that its longer side is a uniform integer scale in 14..48 px (an
   antialiased bilinear resize written as two small interpolation matrices, batched over all digits);
3. quantize the rescaled digit to uint8; its box is the tight box of its ink, the pixels > 10% of the
   rescaled digit's maximum (pixels outside that box, faint by definition, are set to 0 so every
   non-zero canvas pixel belongs to some box);
4. place the digits one by one at a uniform random position inside the canvas, rejecting a position
   whose box overlaps an already placed box by more than 15% of the smaller box's area (so IoU <= 0.15
   and no small digit hides inside a big one); after 20 rejected positions the digit is left out, so a
   canvas can hold fewer than ``k`` digits (never fewer than one: the first always fits);
5. overlapping pixels take the maximum of the digits.

Boxes are ``xyxy`` float32 pixel coordinates in torchvision's convention: a digit whose ink covers
columns ``c0..c1`` and rows ``r0..r1`` (inclusive) has the box ``(c0, r0, c1 + 1, r1 + 1)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from ..._tensor import Tensor, _make
from ...ops.movement import stack
from ...utils.data import Dataset
from .mnist import MNIST, DatasetNotFoundError

__all__ = ["MNISTDetection", "collate_fn", "detection_collate"]

_MIN_SCALE, _MAX_SCALE = 14, 48
_INK = 0.1  # a pixel is ink when it exceeds this fraction of its digit's maximum
_MAX_OVERLAP = 0.15  # intersection / smaller box area allowed between two digits
_TRIES = 20  # candidate positions per digit before it is left out
_CHUNK = 4096  # digits resized per batched matrix product


def _interp_matrices(lo: numpy.ndarray, hi: numpy.ndarray, out: numpy.ndarray, width: int, cap: int) -> numpy.ndarray:
    """The weights of :func:`_interp_weights`, computed once per distinct ``(lo, hi, out)``."""
    keys = numpy.stack([lo, hi, out], axis=1)
    uniq, inverse = numpy.unique(keys, axis=0, return_inverse=True)
    return _interp_weights(uniq[:, 0], uniq[:, 1], uniq[:, 2], width, cap)[inverse.reshape(-1)]


def _interp_weights(lo: numpy.ndarray, hi: numpy.ndarray, out: numpy.ndarray, width: int, cap: int) -> numpy.ndarray:
    """(n, cap, width) antialiased bilinear weights taking source samples ``lo..hi-1`` of a ``width``-long
    axis to ``out`` output samples (rows ``>= out`` are zero): a triangle filter whose support widens
    to the scale factor when shrinking (so downscaling averages, as an area resize does)."""
    n = lo.shape[0]
    scale = (hi - lo) / out  # source pixels per output pixel
    i = numpy.arange(cap, dtype=numpy.float64)
    centre = lo[:, None] + (i[None, :] + 0.5) * scale[:, None] - 0.5  # (n, cap) in source coordinates
    support = numpy.maximum(scale, 1.0)[:, None, None]
    j = numpy.arange(width, dtype=numpy.float64)
    w = numpy.maximum(0.0, 1.0 - numpy.abs(j[None, None, :] - centre[:, :, None]) / support)
    w *= (j[None, None, :] >= lo[:, None, None]) & (j[None, None, :] < hi[:, None, None])
    w *= (i[None, :] < out[:, None])[:, :, None]
    total = w.sum(axis=2, keepdims=True)
    numpy.divide(w, total, out=w, where=total > 0)
    return w.astype(numpy.float32).reshape(n, cap, width)


def _ink_boxes(images: numpy.ndarray) -> numpy.ndarray:
    """(n, 4) inclusive-exclusive ``(r0, c0, r1, c1)`` boxes of the pixels > _INK * each image's max."""
    peak = images.reshape(len(images), -1).max(axis=1).astype(numpy.float32)
    ink = images > (_INK * peak)[:, None, None]
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    r0 = rows.argmax(axis=1)
    r1 = rows.shape[1] - rows[:, ::-1].argmax(axis=1)
    c0 = cols.argmax(axis=1)
    c1 = cols.shape[1] - cols[:, ::-1].argmax(axis=1)
    return numpy.stack([r0, c0, r1, c1], axis=1)


def _rescaled_digits(src: numpy.ndarray, scales: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """The source digits (n, 28, 28) cropped to their ink and rescaled so the longer side is ``scales``;
    returns uint8 patches (n, 48, 48) (top-left aligned, zero outside the ink box) and the ink boxes
    (n, 4) as ``(r0, c0, r1, c1)`` inside the patch."""
    n = len(src)
    patches = numpy.zeros((n, _MAX_SCALE, _MAX_SCALE), numpy.uint8)
    boxes = numpy.zeros((n, 4), numpy.int64)
    for start in range(0, n, _CHUNK):
        s = slice(start, start + _CHUNK)
        img = src[s]
        crop = _ink_boxes(img).astype(numpy.float64)
        ch, cw = crop[:, 2] - crop[:, 0], crop[:, 3] - crop[:, 1]
        factor = scales[s] / numpy.maximum(ch, cw)
        oh = numpy.clip(numpy.rint(ch * factor), 1, _MAX_SCALE)
        ow = numpy.clip(numpy.rint(cw * factor), 1, _MAX_SCALE)
        wy = _interp_matrices(crop[:, 0], crop[:, 2], oh, img.shape[1], _MAX_SCALE)
        wx = _interp_matrices(crop[:, 1], crop[:, 3], ow, img.shape[2], _MAX_SCALE)
        out = wy @ img.astype(numpy.float32) @ wx.transpose(0, 2, 1)
        patch = numpy.clip(numpy.rint(out), 0, 255).astype(numpy.uint8)
        box = _ink_boxes(patch)
        r = numpy.arange(_MAX_SCALE)
        inside = (
            (r[None, :, None] >= box[:, 0, None, None])
            & (r[None, :, None] < box[:, 2, None, None])
            & (r[None, None, :] >= box[:, 1, None, None])
            & (r[None, None, :] < box[:, 3, None, None])
        )
        patches[s] = patch * inside
        boxes[s] = box
    return patches, boxes


def _place(
    heights: numpy.ndarray, widths: numpy.ndarray, unit: numpy.ndarray, size: int
) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Positions (k, 2) as (y, x) of the boxes of one canvas and a (k,) mask of the digits placed.

    ``unit`` (k, _TRIES, 2) holds uniform draws in [0, 1) turned into the candidate positions."""
    k = len(heights)
    span = numpy.stack([size - heights + 1, size - widths + 1], axis=1)  # (k, 2) positions available
    cand = numpy.floor(unit * span[:, None, :]).astype(numpy.int64)  # (k, tries, 2)
    pos = numpy.zeros((k, 2), numpy.int64)
    placed = numpy.zeros(k, bool)
    y0, x0 = numpy.empty(k, numpy.int64), numpy.empty(k, numpy.int64)
    y1, x1 = numpy.empty(k, numpy.int64), numpy.empty(k, numpy.int64)
    m = 0  # boxes placed so far, in y0[:m], x0[:m], y1[:m], x1[:m]
    for d in range(k):
        t = 0
        if m:
            cy, cx = cand[d, :, 0, None], cand[d, :, 1, None]
            ih = numpy.minimum(cy + heights[d], y1[None, :m]) - numpy.maximum(cy, y0[None, :m])
            iw = numpy.minimum(cx + widths[d], x1[None, :m]) - numpy.maximum(cx, x0[None, :m])
            inter = numpy.maximum(ih, 0) * numpy.maximum(iw, 0)
            smaller = numpy.minimum(heights[d] * widths[d], (y1[:m] - y0[:m]) * (x1[:m] - x0[:m]))
            ok = (inter <= _MAX_OVERLAP * smaller).all(axis=1)
            t = int(ok.argmax())
            if not ok[t]:
                continue
        pos[d] = cand[d, t]
        placed[d] = True
        y0[m], x0[m] = pos[d]
        y1[m], x1[m] = pos[d, 0] + heights[d], pos[d, 1] + widths[d]
        m += 1
    return pos, placed


class MNISTDetection(Dataset):
    """Canvases of ``size`` x ``size`` grey pixels with ``digits[0]..digits[1]`` real MNIST digits, for detection.

    Item ``i`` is ``(image, target)``: ``image`` a float32 tensor (1, size, size) in [0, 1] and ``target``
    ``{"boxes": float32 (N, 4) xyxy pixels, "labels": int64 (N,)}`` (torchvision's detection convention;
    the label is the digit). ``transform(image, target) -> (image, target)`` is applied when given (the
    box-aware transforms of ``backprop.vision.transforms``).

    ``train=True`` draws digits from MNIST's 60,000 training images, ``train=False`` from the 10,000 t10k
    images; ``length`` canvases (default 10,000 for train, 2,000 for test) are generated at construction,
    deterministically from ``seed``. ``root`` holds MNIST's IDX files as for ``backprop.datasets.MNIST``
    (``download=True`` fetches them). ``.images`` (uint8 tensor (N, 1, size, size)) and ``.targets``
    (list of target dicts, untransformed) give fast access to the whole set. See the module docstring
    for how a canvas is drawn.
    """

    classes = MNIST.classes

    def __init__(
        self,
        root: str | os.PathLike,
        train: bool = True,
        size: int = 96,
        digits: Sequence[int] = (1, 6),
        seed: int = 0,
        length: int | None = None,
        transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        lo, hi = (int(d) for d in digits)
        if not 1 <= lo <= hi:
            raise ValueError(f"MNISTDetection: digits must be (min, max) with 1 <= min <= max, got {tuple(digits)}")
        if int(size) < _MAX_SCALE:
            raise ValueError(f"MNISTDetection: size must be at least {_MAX_SCALE} (the largest digit), got {size}")
        if length is not None and int(length) < 0:
            raise ValueError(f"MNISTDetection: length must be non-negative, got {length}")
        self.root = os.path.expanduser(os.fspath(root))
        self.train = bool(train)
        self.size = int(size)
        self.digits = (lo, hi)
        self.seed = int(seed)
        self.length = int(length) if length is not None else (10000 if self.train else 2000)
        self.transform = transform
        try:
            mnist = MNIST(self.root, train=self.train, download=download)
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(
                f"MNISTDetection builds its canvases from MNIST: {exc} "
                "(MNISTDetection(root, download=True) or backprop.datasets.MNIST(root, download=True) fetches the files)"
            ) from None
        images, boxes, labels, counts = self._generate(mnist.data._data, mnist.targets._data)
        self.images = _make(images)
        self._boxes = boxes
        self._labels = labels
        self._offsets = numpy.concatenate([[0], numpy.cumsum(counts)])
        self.targets = [
            {"boxes": _make(boxes[a:b]), "labels": _make(labels[a:b])}
            for a, b in zip(self._offsets[:-1], self._offsets[1:], strict=True)
        ]

    def _generate(self, data: numpy.ndarray, targets: numpy.ndarray):
        n, size, (lo, hi) = self.length, self.size, self.digits
        rng = numpy.random.default_rng([self.seed, int(self.train)])
        counts = rng.integers(lo, hi + 1, size=n)
        total = int(counts.sum())
        src = rng.integers(0, len(data), size=total)
        scales = rng.integers(_MIN_SCALE, _MAX_SCALE + 1, size=total).astype(numpy.float64)
        unit = rng.random((total, _TRIES, 2))
        patches, pbox = _rescaled_digits(data[src], scales)
        heights, widths = pbox[:, 2] - pbox[:, 0], pbox[:, 3] - pbox[:, 1]
        images = numpy.zeros((n, 1, size, size), numpy.uint8)
        keep = numpy.zeros(total, bool)
        origin = numpy.zeros((total, 2), numpy.int64)
        start = 0
        for c in range(n):
            s = slice(start, start + int(counts[c]))
            pos, placed = _place(heights[s], widths[s], unit[s], size)
            keep[s], origin[s] = placed, pos
            canvas = images[c, 0]
            for d in numpy.flatnonzero(placed) + start:
                y, x, h, w = origin[d, 0], origin[d, 1], heights[d], widths[d]
                r0, c0 = pbox[d, 0], pbox[d, 1]
                region = canvas[y : y + h, x : x + w]
                numpy.maximum(region, patches[d, r0 : r0 + h, c0 : c0 + w], out=region)
            start = s.stop
        boxes = numpy.stack([origin[:, 1], origin[:, 0], origin[:, 1] + widths, origin[:, 0] + heights], axis=1)
        canvas_of = numpy.repeat(numpy.arange(n), counts)
        placed_counts = numpy.bincount(canvas_of[keep], minlength=n)
        self.source_indices = src[keep]
        return images, boxes[keep].astype(numpy.float32), targets[src[keep]].astype(numpy.int64), placed_counts

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"MNISTDetection index {index} is out of range for {self.length} canvases")
        image = _make(self.images._data[index].astype(numpy.float32) / numpy.float32(255))
        a, b = self._offsets[index], self._offsets[index + 1]
        target = {"boxes": _make(self._boxes[a:b].copy()), "labels": _make(self._labels[a:b].copy())}
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target

    def __repr__(self) -> str:
        lines = [
            f"Number of datapoints: {len(self)}",
            f"Root location: {self.root}",
            f"Split: {'Train' if self.train else 'Test'}",
            f"Canvas: {self.size} x {self.size}, digits {self.digits[0]}..{self.digits[1]}, seed {self.seed}",
        ]
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        return "\n".join([f"Dataset {self.__class__.__name__}"] + ["    " + line for line in lines])


def detection_collate(batch: Sequence[tuple[Tensor, Any]]) -> tuple[Tensor, list[Any]]:
    """A ``DataLoader`` ``collate_fn`` for detection: images stacked to (B, C, H, W) (they must share a
    size), targets kept as a list of per-image dicts (their box counts differ)."""
    return stack([item[0] for item in batch]), [item[1] for item in batch]


def collate_fn(batch: Sequence[tuple[Any, ...]]) -> tuple[tuple[Any, ...], ...]:
    """torchvision's detection-reference collate: ``tuple(zip(*batch))`` (images as a tuple, not stacked)."""
    return tuple(zip(*batch, strict=True))
