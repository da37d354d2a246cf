"""Box-aware augmentation for detection: callables ``(image, target) -> (image, target)`` (torchvision's
detection-reference / ``transforms.v2`` convention) that move the boxes with the pixels.

``image`` is a tensor ``(..., H, W)`` (float in [0, 1] or uint8); ``target`` a dict with ``"boxes"``, a
float (N, 4) ``xyxy`` pixel tensor. The per-box entries are the tensors under the keys in ``PER_BOX_KEYS``
(``"labels"``, ``"area"``, ``"iscrowd"``, ``"scores"``): they are kept or dropped with their boxes (and
must have N rows). Every other entry (``"image_id"``, ...) passes through untouched, whatever its shape.
Targets holding ``"masks"`` or ``"keypoints"`` are refused (ValueError): these transforms do not move them.
Box coordinates are continuous: pixel column ``i`` spans ``[i, i + 1)``, so a flip maps ``x`` to ``W - x``.

After a geometric transform boxes are clipped to the image, and a box is dropped (with its labels) when
what is left of it is under ``min_area_ratio`` (default 10%) of its transformed area, or under
``min_size`` (default 2) pixels wide or high. A clipped box is the clip of the moved box, not the tight
box of what still shows of the object (boxes carry no masks), as in torchvision and YOLO. Random draws come from backprop's random generator (so
``backprop.manual_seed`` fixes them; inside ``DataLoader`` workers each worker's own), or from
``generator=`` when given. All box arithmetic is vectorized over the boxes, on the image's device.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from ... import _dtype
from ... import random as _random
from ..._backend import array_module
from ..._tensor import Tensor, _make
from ...autograd.grad_mode import no_grad
from ...nn import functional as F
from ...utils.data import Dataset
from ...utils.data._utils.worker import _worker_generator
from .transforms import (
    InterpolationMode,
    _fill_for,
    _get_inverse_affine_matrix,
    _grid_transform,
    to_tensor,
)
from .transforms import (
    RandomAffine as ImageRandomAffine,
)

__all__ = [
    "Compose",
    "Letterbox",
    "Mosaic",
    "RandomAffine",
    "RandomHSV",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "SanitizeBoundingBoxes",
    "ToTensor",
    "affine_boxes",
    "hflip",
    "letterbox",
    "mosaic",
    "resize",
    "vflip",
]

Target = dict[str, Any]

#: the target entries filtered (and, by :func:`mosaic`, concatenated) with the boxes
PER_BOX_KEYS = ("labels", "area", "iscrowd", "scores")
_UNSUPPORTED_KEYS = ("masks", "keypoints")


# ---------------------------------------------------------------------------- helpers
def _uniforms(n: int, generator=None) -> list[float]:
    """``n`` draws on [0, 1) from ``generator``, else the worker's / the default generator."""
    gen = generator if generator is not None else _worker_generator()
    return [float(v) for v in _random.rand(n, generator=gen, dtype=_dtype.float64).tolist()]


def _image(img) -> Any:
    if not isinstance(img, Tensor):
        raise TypeError(f"detection transforms take the image as a Tensor (..., H, W), got {type(img).__name__}")
    if img.ndim < 2:
        raise ValueError(
            f"detection transforms: the image must have at least 2 dims (..., H, W), got shape {tuple(img.shape)}"
        )
    return img._data


def _boxes(target: Target) -> Any:
    if not isinstance(target, dict) or "boxes" not in target:
        raise TypeError("detection transforms take the target as a dict with a 'boxes' entry (N, 4) xyxy")
    for key in _UNSUPPORTED_KEYS:
        if key in target:
            raise ValueError(
                f"detection transforms do not transform target[{key!r}] (only boxes move with the pixels); "
                f"remove it from the target first"
            )
    boxes = target["boxes"]
    data = boxes._data if isinstance(boxes, Tensor) else numpy.asarray(boxes, dtype=numpy.float32)
    if data.ndim != 2 or data.shape[1] != 4:
        raise ValueError(f"detection transforms: target['boxes'] must have shape (N, 4), got {tuple(data.shape)}")
    if data.dtype.kind != "f":
        data = data.astype(numpy.float32)
    return data


def _per_box_keys(target: Target, n: int, extra: Sequence[Any] = ()) -> list[str]:
    """The keys of ``target``'s per-box tensors (``PER_BOX_KEYS``, plus the keys whose value *is* one of
    ``extra``), each checked to have ``n`` rows."""
    keys = []
    for key, value in target.items():
        if key == "boxes" or not isinstance(value, Tensor):
            continue
        if key in PER_BOX_KEYS or any(value is e for e in extra):
            if value.ndim < 1 or value.shape[0] != n:
                raise ValueError(
                    f"detection transforms: target[{key!r}] is per box and must have {n} rows (one per box), "
                    f"got shape {tuple(value.shape)}"
                )
            keys.append(key)
    return keys


def _with_boxes(target: Target, boxes, keep=None, extra: Sequence[Any] = ()) -> Target:
    """A copy of ``target`` with new ``boxes``; with ``keep`` (a bool mask over the old boxes) the
    per-box entries (``PER_BOX_KEYS`` and ``extra`` tensors) are filtered the same way."""
    n = _boxes(target).shape[0]
    out = dict(target)
    keys = _per_box_keys(target, n, extra)
    if keep is not None:
        for key in keys:
            value = target[key]
            xp = array_module(value._data)
            out[key] = _make(value._data[xp.asarray(keep)])
        boxes = boxes[keep]
    out["boxes"] = _make(boxes)
    return out


def clip_and_filter(
    target: Target, boxes, width: int, height: int, min_area_ratio: float = 0.1, min_size: float = 2.0
) -> Target:
    """Clip transformed ``boxes`` (N, 4) to the ``width`` x ``height`` image and drop, with their per-box
    entries, those keeping under ``min_area_ratio`` of their area or narrower/lower than ``min_size``."""
    xp = array_module(boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = xp.stack(
        [
            xp.clip(boxes[:, 0], 0, width),
            xp.clip(boxes[:, 1], 0, height),
            xp.clip(boxes[:, 2], 0, width),
            xp.clip(boxes[:, 3], 0, height),
        ],
        axis=1,
    ).astype(boxes.dtype, copy=False)
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w >= min_size) & (h >= min_size) & (w * h >= min_area_ratio * area) & (w * h > 0)
    return _with_boxes(target, clipped, keep)


def _fill_value(fill: float, dtype) -> float:
    """``fill`` of backprop's own :func:`letterbox` / :func:`mosaic` is in [0, 1] image units: integer (uint8)
    images get ``round(fill * 255)``. (``RandomAffine`` takes ``fill`` in the image's units, as torchvision.)"""
    return float(fill) if numpy.dtype(dtype).kind == "f" else float(round(fill * 255))


# ---------------------------------------------------------------------------- functional
def hflip(image: Tensor, target: Target) -> tuple[Tensor, Target]:
    """Mirror left-right: ``x -> W - x`` for the boxes (x1 and x2 swap roles)."""
    arr, boxes = _image(image), _boxes(target)
    xp = array_module(arr)
    w = arr.shape[-1]
    flipped = xp.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], axis=1).astype(boxes.dtype)
    return _make(xp.ascontiguousarray(arr[..., ::-1])), _with_boxes(target, flipped)


def vflip(image: Tensor, target: Target) -> tuple[Tensor, Target]:
    """Mirror top-bottom: ``y -> H - y`` for the boxes."""
    arr, boxes = _image(image), _boxes(target)
    xp = array_module(arr)
    h = arr.shape[-2]
    flipped = xp.stack([boxes[:, 0], h - boxes[:, 3], boxes[:, 2], h - boxes[:, 1]], axis=1).astype(boxes.dtype)
    return _make(xp.ascontiguousarray(arr[..., ::-1, :])), _with_boxes(target, flipped)


def affine_boxes(boxes, matrix: Sequence[float], width: int, height: int):
    """Boxes (N, 4) under the affine map whose *inverse* is ``matrix`` (torchvision's 2 x 3, output ->
    input, centre-origin pixel coordinates): each box becomes the axis-aligned box of its four moved corners."""
    xp = array_module(boxes)
    a, b, c, d, e, f = (float(v) for v in matrix)
    det = a * e - b * d
    # forward map: q_out = A^-1 (q_in - t), with q = p - (W/2, H/2)
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    x = xp.stack([boxes[:, 0], boxes[:, 2], boxes[:, 2], boxes[:, 0]], axis=1) - width / 2 - c
    y = xp.stack([boxes[:, 1], boxes[:, 1], boxes[:, 3], boxes[:, 3]], axis=1) - height / 2 - f
    ox = ia * x + ib * y + width / 2
    oy = id_ * x + ie * y + height / 2
    return xp.stack([ox.min(axis=1), oy.min(axis=1), ox.max(axis=1), oy.max(axis=1)], axis=1).astype(boxes.dtype)


def resize(image: Tensor, target: Target, size: Sequence[int], antialias: bool = True) -> tuple[Tensor, Target]:
    """Resize to ``size = (height, width)`` (bilinear, anti-aliased when shrinking, as torchvision v2);
    boxes scale by ``width / W`` and ``height / H``."""
    arr, boxes = _image(image), _boxes(target)
    xp = array_module(arr)
    h, w = arr.shape[-2:]
    oh, ow = int(size[0]), int(size[1])
    if (oh, ow) == (h, w):
        return image, _with_boxes(target, boxes)
    lead = arr.shape[:-2]
    src = arr.reshape((1, -1, h, w))
    work = src if src.dtype.kind == "f" else src.astype(numpy.float32)
    with no_grad():
        out = F.interpolate(_make(work), size=(oh, ow), mode="bilinear", align_corners=False, antialias=antialias)._data
    if arr.dtype.kind != "f":
        info = numpy.iinfo(arr.dtype)
        out = xp.clip(xp.rint(out), info.min, info.max)
    out = out.astype(arr.dtype, copy=False).reshape(lead + (oh, ow))
    scale = xp.asarray([ow / w, oh / h, ow / w, oh / h], dtype=boxes.dtype)
    return _make(out), _with_boxes(target, boxes * scale)


def _pad_to(arr, top: int, left: int, oh: int, ow: int, fill: float):
    xp = array_module(arr)
    h, w = arr.shape[-2:]
    out = xp.full(arr.shape[:-2] + (oh, ow), _fill_value(fill, arr.dtype), dtype=arr.dtype)
    out[..., top : top + h, left : left + w] = arr
    return out


def letterbox(
    image: Tensor, target: Target, size: int | Sequence[int], fill: float = 114 / 255, scaleup: bool = True
) -> tuple[Tensor, Target, tuple[float, tuple[int, int]]]:
    """Resize keeping the aspect ratio so the image fits ``size`` (an int for a square, or (height,
    width)), then pad evenly to it with ``fill`` (YOLO's grey 114/255 by default; uint8 images get
    round(fill * 255)). Returns the image, the target with boxes scaled and shifted, and
    ``(ratio, (pad_left, pad_top))`` to map predictions back: ``box_original = (box - pad) / ratio``.
    ``scaleup=False`` only shrinks."""
    arr, _ = _image(image), _boxes(target)
    h, w = arr.shape[-2:]
    oh, ow = (int(size), int(size)) if isinstance(size, numbers.Number) else (int(size[0]), int(size[1]))
    ratio = min(oh / h, ow / w)
    if not scaleup:
        ratio = min(ratio, 1.0)
    nh, nw = max(1, round(h * ratio)), max(1, round(w * ratio))
    resized, target = resize(image, target, (nh, nw))
    top, left = (oh - nh) // 2, (ow - nw) // 2
    boxes = _boxes(target)
    xp = array_module(boxes)
    shifted = boxes + xp.asarray([left, top, left, top], dtype=boxes.dtype)
    # the boxes were scaled by nw / w and nh / h, equal to ratio up to the rounding of the new size
    return _make(_pad_to(resized._data, top, left, oh, ow, fill)), _with_boxes(target, shifted), (ratio, (left, top))


def mosaic(
    samples: Sequence[tuple[Tensor, Target]],
    size: int | Sequence[int],
    center: tuple[float, float] = (0.5, 0.5),
    fill: float = 114 / 255,
    min_area_ratio: float = 0.1,
    min_size: float = 2.0,
) -> tuple[Tensor, Target]:
    """Four ``(image, target)`` samples tiled around the split point ``center`` (fractions of the output's
    width and height): each image is resized, keeping its aspect, so its longer side is the output's
    longer side, and its corner is pinned at the split point, top-left / top-right / bottom-left /
    bottom-right in order (what shows of each is the part next to that corner, YOLO's mosaic cropped
    to the output). Boxes move with their image and are clipped to its tile; the per-box entries
    (``PER_BOX_KEYS``) are concatenated (one present in some samples only is a ValueError); every other
    entry (``"image_id"``, ...) is the first sample's."""
    if len(samples) != 4:
        raise ValueError(f"mosaic takes 4 samples, got {len(samples)}")
    oh, ow = (int(size), int(size)) if isinstance(size, numbers.Number) else (int(size[0]), int(size[1]))
    cx, cy = round(center[0] * ow), round(center[1] * oh)
    first = _image(samples[0][0])
    xp = array_module(first)
    canvas = None
    parts: list[Target] = []
    tiles = [(0, 0, cx, cy), (cx, 0, ow, cy), (0, cy, cx, oh), (cx, cy, ow, oh)]  # x0, y0, x1, y1
    for k, ((img, tgt), (x0, y0, x1, y1)) in enumerate(zip(samples, tiles, strict=True)):
        arr = _image(img)
        h, w = arr.shape[-2:]
        r = max(oh, ow) / max(h, w)
        img, tgt = resize(img, tgt, (max(1, round(h * r)), max(1, round(w * r))))
        arr = img._data
        h, w = arr.shape[-2:]
        if canvas is None:
            canvas = xp.full(arr.shape[:-2] + (oh, ow), _fill_value(fill, arr.dtype), dtype=arr.dtype)
        # where the image's top-left corner lands so its pinned corner sits at the split point
        ox = cx - w if k in (0, 2) else cx
        oy = cy - h if k in (0, 1) else cy
        sx0, sy0 = max(x0, ox), max(y0, oy)
        sx1, sy1 = min(x1, ox + w), min(y1, oy + h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[..., sy0:sy1, sx0:sx1] = arr[..., sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox]
        boxes = _boxes(tgt) + xp.asarray([ox, oy, ox, oy], dtype=_boxes(tgt).dtype)
        # clip to the tile: shift into tile coordinates, clip/filter there, shift back
        local = boxes - xp.asarray([x0, y0, x0, y0], dtype=boxes.dtype)
        kept = clip_and_filter(tgt, local, x1 - x0, y1 - y0, min_area_ratio, min_size)
        kept["boxes"] = _make(kept["boxes"]._data + xp.asarray([x0, y0, x0, y0], dtype=boxes.dtype))
        parts.append(kept)
    merged: Target = dict(parts[0])
    merged["boxes"] = _make(xp.concatenate([p["boxes"]._data for p in parts], axis=0))
    for key in PER_BOX_KEYS:
        present = [isinstance(p.get(key), Tensor) for p in parts]
        if any(present) and not all(present):
            raise ValueError(
                f"mosaic: target[{key!r}] is per box and must be in all 4 samples, "
                f"missing from sample {present.index(False)}"
            )
        if all(present):
            merged[key] = _make(xp.concatenate([p[key]._data for p in parts], axis=0))
    return _make(canvas), merged


# ---------------------------------------------------------------------------- transforms
class Compose:
    """Apply ``transforms`` (each ``(image, target) -> (image, target)``) in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class ToTensor:
    """A PIL image or an H x W [x C] array -> (C, H, W) tensor (:func:`~backprop.vision.transforms.to_tensor`:
    uint8 scaled to the default float dtype in [0, 1]); a tensor passes through; the target is unchanged."""

    def __call__(self, image, target):
        if isinstance(image, Tensor):
            return image, target
        return to_tensor(numpy.asarray(image)), target

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class _Random:
    generator = None

    def _draw(self, n: int) -> list[float]:
        return _uniforms(n, self.generator)


class RandomHorizontalFlip(_Random):
    """Mirror image and boxes left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, *, generator=None) -> None:
        self.p = p
        self.generator = generator

    def __call__(self, image, target):
        if self._draw(1)[0] < self.p:
            return hflip(image, target)
        return image, target

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror image and boxes top-bottom with probability ``p``."""

    def __call__(self, image, target):
        if self._draw(1)[0] < self.p:
            return vflip(image, target)
        return image, target


class RandomAffine(ImageRandomAffine, _Random):
    """torchvision v2's ``RandomAffine`` for detection: rotation in ``degrees``, translation up to
    ``translate`` (fractions of width/height), ``scale`` and ``shear`` drawn uniformly, about the centre;
    boxes become the box of their moved corners (exact for scale/translate), then are clipped and the
    mostly-lost ones dropped (``min_area_ratio``, ``min_size``: backprop's options, see the module).

    For YOLO-style scale/translate jitter: ``RandomAffine(0, translate=(0.1, 0.1), scale=(0.5, 1.5))``
    (``interpolation=InterpolationMode.BILINEAR`` for smoother pixels; NEAREST is torchvision's default).
    ``fill`` (a number or one per channel) is in the image's units, as torchvision: 114 for grey on a uint8
    image, 114 / 255 on a float one.
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation=InterpolationMode.NEAREST,
        fill: float | Sequence[float] | None = 0,
        center: Sequence[float] | None = None,
        *,
        min_area_ratio: float = 0.1,
        min_size: float = 2.0,
        generator=None,
    ) -> None:
        if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate fill arg")  # v2's check: a string is no fill
        super().__init__(degrees, translate, scale, shear, interpolation, fill, center)  # the image version's checks
        self.fill = fill
        self.min_area_ratio = min_area_ratio
        self.min_size = min_size
        self.generator = generator

    def get_params(self, width: int, height: int) -> tuple[float, tuple[float, float], float, tuple[float, float]]:  # type: ignore[override]
        """Draw ``(angle, (tx, ty), scale, (shear_x, shear_y))`` (translations in whole pixels) from this
        transform's ``generator`` (the image version's static ``get_params`` draws from the global one)."""
        u = self._draw(6)
        angle = self.degrees[0] + (self.degrees[1] - self.degrees[0]) * u[0]
        tx = ty = 0.0
        if self.translate is not None:
            mx, my = self.translate[0] * width, self.translate[1] * height
            tx, ty = float(round(-mx + 2 * mx * u[1])), float(round(-my + 2 * my * u[2]))
        s = 1.0 if self.scale is None else self.scale[0] + (self.scale[1] - self.scale[0]) * u[3]
        shx = shy = 0.0
        if self.shear is not None:
            shx = self.shear[0] + (self.shear[1] - self.shear[0]) * u[4]
            if len(self.shear) == 4:
                shy = self.shear[2] + (self.shear[3] - self.shear[2]) * u[5]
        return angle, (tx, ty), s, (shx, shy)

    def __call__(self, image, target):
        arr, boxes = _image(image), _boxes(target)
        h, w = arr.shape[-2:]
        angle, translate, s, shear = self.get_params(w, h)
        centre = [0.0, 0.0] if self.center is None else [self.center[0] - w * 0.5, self.center[1] - h * 0.5]
        # torchvision's affine: a positive angle turns clockwise (rotate() negates it; affine() does not)
        matrix = _get_inverse_affine_matrix(centre, angle, list(translate), s, list(shear))
        channels = 1 if arr.ndim == 2 else arr.shape[-3]
        out = _grid_transform(arr, matrix, self.interpolation.value, _fill_for(self.fill, channels))
        return _make(out), clip_and_filter(
            target, affine_boxes(boxes, matrix, w, h), w, h, self.min_area_ratio, self.min_size
        )

def _rgb_to_hsv(rgb, xp):
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    maxc = xp.maximum(xp.maximum(r, g), b)
    minc = xp.minimum(xp.minimum(r, g), b)
    delta = maxc - minc
    safe = xp.where(delta > 0, delta, 1)
    s = xp.where(maxc > 0, delta / xp.where(maxc > 0, maxc, 1), 0)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = xp.where(maxc == r, bc - gc, xp.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = xp.where(delta > 0, (h / 6.0) % 1.0, 0)
    return h, s, maxc


def _hsv_to_rgb(h, s, v, xp):
    i = xp.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(numpy.int64) % 6
    r = xp.choose(i, [v, q, p, p, t, v])
    g = xp.choose(i, [t, v, v, q, p, p])
    b = xp.choose(i, [p, p, t, v, v, q])
    return xp.stack([r, g, b], axis=-3)


class RandomHSV(_Random):
    """YOLO's HSV jitter: hue shifted by a uniform draw in [-h, h] (fraction of the colour circle),
    saturation and value multiplied by gains in [1 - s, 1 + s] and [1 - v, 1 + v], with probability ``p``.
    Grey images (1 channel) only get the value gain (they have no hue or saturation). Boxes are unchanged."""

    def __init__(self, h: float = 0.015, s: float = 0.7, v: float = 0.4, p: float = 1.0, *, generator=None) -> None:
        for name, value in (("h", h), ("s", s), ("v", v)):
            if value < 0:
                raise ValueError(f"RandomHSV: {name} must be non-negative, got {value}")
        self.h, self.s, self.v, self.p = h, s, v, p
        self.generator = generator

    def __call__(self, image, target):
        arr = _image(image)
        u = self._draw(4)
        if u[0] >= self.p:
            return image, target
        xp = array_module(arr)
        dh = (2 * u[1] - 1) * self.h
        gs = 1 + (2 * u[2] - 1) * self.s
        gv = 1 + (2 * u[3] - 1) * self.v
        is_float = arr.dtype.kind == "f"
        work = arr if is_float else arr.astype(numpy.float32) / 255
        channels = 1 if arr.ndim == 2 else arr.shape[-3]
        if channels == 3:
            hue, sat, val = _rgb_to_hsv(work, xp)
            out = _hsv_to_rgb((hue + dh) % 1.0, xp.clip(sat * gs, 0, 1), xp.clip(val * gv, 0, 1), xp)
        elif channels == 1:
            out = xp.clip(work * gv, 0, 1)
        else:
            raise ValueError(
                f"RandomHSV: the image must have 1 or 3 channels, got {channels} (shape {tuple(arr.shape)})"
            )
        out = out.astype(work.dtype, copy=False) if is_float else xp.rint(out * 255).astype(arr.dtype)
        return _make(out), target

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(h={self.h}, s={self.s}, v={self.v}, p={self.p})"


class Letterbox:
    """Resize keeping the aspect ratio, then pad to ``size`` (see :func:`letterbox`); the mapping back,
    ``(ratio, (pad_left, pad_top))``, is stored in ``target["letterbox"]``."""

    def __init__(self, size: int | Sequence[int], fill: float = 114 / 255, scaleup: bool = True) -> None:
        self.size = size
        self.fill = fill
        self.scaleup = scaleup

    def __call__(self, image, target):
        image, target, params = letterbox(image, target, self.size, self.fill, self.scaleup)
        target["letterbox"] = params
        return image, target

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, fill={self.fill})"


def _find_labels(inputs: tuple[Any, Target]) -> Any:
    """torchvision's default ``labels_getter``: the target's ``"labels"`` entry (else ``"label"``; keys
    matched case-insensitively)."""
    target = inputs[1]
    if not isinstance(target, dict):
        raise ValueError(f"SanitizeBoundingBoxes: the target must be a dict, got {type(target).__name__}")
    for wanted in ("labels", "label"):
        for key, value in target.items():
            if isinstance(key, str) and key.lower() == wanted:
                return value
    raise ValueError(
        "Could not infer where the labels are in the sample. Try passing a callable as the labels_getter "
        "parameter? If there are no labels in the sample by design, pass labels_getter=None."
    )


class SanitizeBoundingBoxes:
    """torchvision v2's: drop the boxes narrower or lower than ``min_size``, smaller than ``min_area``,
    non-finite, or with a coordinate outside the image (x1 >= 0, y1 >= 0, x2 <= W, y2 <= H fail), with
    their labels and other per-box entries.

    ``labels_getter`` (torchvision's): ``"default"`` finds the target's ``"labels"`` (or ``"label"``);
    a callable takes ``(image, target)`` and returns the tensor (or a tuple of tensors) to filter with the
    boxes; ``None`` filters no labels. The entries in ``PER_BOX_KEYS`` (``"area"``, ``"iscrowd"``,
    ``"scores"``, ...) are filtered too (backprop's addition); every other entry passes through untouched.
    """

    def __init__(
        self, min_size: float = 1.0, min_area: float = 1.0, labels_getter: Callable | str | None = "default"
    ) -> None:
        if min_size < 1:
            raise ValueError(f"min_size must be >= 1, got {min_size}.")
        if min_area < 1:
            raise ValueError(f"min_area must be >= 1, got {min_area}.")
        if labels_getter != "default" and labels_getter is not None and not callable(labels_getter):
            raise ValueError(
                "labels_getter should either be 'default', a callable, or None, but got "
                f"{labels_getter!r} of type {type(labels_getter).__name__}."
            )
        self.min_size, self.min_area = min_size, min_area
        self.labels_getter = labels_getter

    def __call__(self, image, target):
        boxes = _boxes(target)
        h, w = _image(image).shape[-2:]
        if self.labels_getter is None:
            labels: tuple = ()
        else:
            getter = _find_labels if self.labels_getter == "default" else self.labels_getter
            found = getter((image, target))
            labels = tuple(found) if isinstance(found, (tuple, list)) else (found,)
            labels = tuple(v for v in labels if v is not None)
        xp = array_module(boxes)
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        keep = (bw >= self.min_size) & (bh >= self.min_size) & (bw * bh >= self.min_area)
        keep &= xp.isfinite(boxes).all(axis=1)
        keep &= (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= w) & (boxes[:, 3] <= h)
        return image, _with_boxes(target, boxes, keep, extra=labels)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(min_size={self.min_size}, min_area={self.min_area})"


class Mosaic(Dataset, _Random):
    """A dataset of YOLO mosaics: item ``i`` is, with probability ``p``, sample ``i`` tiled with three
    other samples drawn at random (:func:`mosaic`, split point uniform in ``center_range`` of the output
    along each axis), else sample ``i`` letterboxed to ``size``; then ``transform(image, target)`` if given
    (e.g. ``RandomAffine`` for scale jitter). ``size`` defaults to the first sample's (height, width)."""

    def __init__(
        self,
        dataset: Any,
        size: int | Sequence[int] | None = None,
        p: float = 1.0,
        center_range: tuple[float, float] = (0.25, 0.75),
        fill: float = 114 / 255,
        transform: Callable | None = None,
        *,
        min_area_ratio: float = 0.1,
        min_size: float = 2.0,
        generator=None,
    ) -> None:
        if not 0.0 <= center_range[0] <= center_range[1] <= 1.0:
            raise ValueError(f"Mosaic: center_range must satisfy 0 <= low <= high <= 1, got {center_range}")
        self.dataset = dataset
        if size is None:
            size = tuple(int(d) for d in dataset[0][0].shape[-2:])
        self.size = size
        self.p = p
        self.center_range = center_range
        self.fill = fill
        self.transform = transform
        self.min_area_ratio = min_area_ratio
        self.min_size = min_size
        self.generator = generator

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        u = self._draw(3)
        if u[0] < self.p:
            gen = self.generator if self.generator is not None else _worker_generator()
            others = _random.randint(0, len(self.dataset), (3,), generator=gen).tolist()
            lo, hi = self.center_range
            centre = (lo + (hi - lo) * u[1], lo + (hi - lo) * u[2])
            samples = [self.dataset[index]] + [self.dataset[int(j)] for j in others]
            image, target = mosaic(samples, self.size, centre, self.fill, self.min_area_ratio, self.min_size)
        else:
            image, target, _ = letterbox(*self.dataset[index], self.size, self.fill)
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, p={self.p}, center_range={self.center_range})"
