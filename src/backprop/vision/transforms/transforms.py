"""Image transforms (torchvision.transforms' API) on Tensors and NumPy arrays.

Images are ``(..., H, W)`` with channels first (torchvision's tensor convention), except for
``ToTensor``'s input, which is ``H x W`` or ``H x W x C`` (the layout of a PIL image or a NumPy
image) and comes out ``C x H x W``. A transform returns a Tensor for a Tensor and an ndarray for an
ndarray. Geometric transforms follow torchvision's tensor implementation (the same crop offsets,
affine matrices and ``grid_sample`` sampling with nearest or bilinear interpolation).

A transform works on the device of its input: NumPy arrays and CPU tensors on the host, CUDA
tensors on their GPU (the array functions are those of the input's array module).

Random transforms draw from backprop's default generator (``backprop.manual_seed`` makes them
reproducible), or, inside a DataLoader worker thread, from that worker's own generator. Transforms
are plain callables, not ``nn.Module``s.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy

from ... import _dtype
from ... import random as _random
from ..._backend import array_module
from ..._tensor import Tensor, _make

__all__ = [
    "CenterCrop",
    "Compose",
    "InterpolationMode",
    "Lambda",
    "Normalize",
    "Pad",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "RandomVerticalFlip",
    "ToTensor",
    "affine",
    "center_crop",
    "crop",
    "hflip",
    "normalize",
    "pad",
    "rotate",
    "to_tensor",
    "vflip",
]


class InterpolationMode(Enum):
    """Resampling for ``RandomAffine``/``RandomRotation``: ``NEAREST`` or ``BILINEAR``."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"


# ---------------------------------------------------------------------------- helpers
def _unwrap(img) -> tuple[Any, bool]:
    if isinstance(img, Tensor):
        return img._data, True
    if isinstance(img, numpy.ndarray):
        return img, False
    raise TypeError(f"img should be a Tensor or a numpy.ndarray. Got {type(img)}")


def _wrap(arr, as_tensor_: bool):
    return _make(arr) if as_tensor_ else arr


def _image_array(img) -> tuple[Any, bool]:
    arr, is_tensor = _unwrap(img)
    if arr.ndim < 2:
        raise TypeError(f"Tensor is not a torch image: expected at least 2 dimensions (..., H, W), got {arr.ndim}")
    return arr, is_tensor


def get_dimensions(img) -> list[int]:
    """``[channels, height, width]`` of an image ``(..., H, W)``."""
    arr, _ = _image_array(img)
    channels = 1 if arr.ndim == 2 else arr.shape[-3]
    return [channels, arr.shape[-2], arr.shape[-1]]


def _generator():
    from ...utils.data._utils.worker import _worker_generator

    return _worker_generator()


def _uniform(low: float, high: float) -> float:
    """One sample on [low, high) (torch's ``torch.empty(1).uniform_(low, high)``)."""
    u = float(_random.rand(1, generator=_generator(), dtype=_dtype.float32).item())
    return low + (high - low) * u


def _interp(mode) -> str:
    if isinstance(mode, InterpolationMode):
        return mode.value
    if isinstance(mode, str) and mode in ("nearest", "bilinear"):
        return mode
    raise ValueError(f"Interpolation mode '{mode}' is unsupported: use InterpolationMode.NEAREST or BILINEAR")


def _setup_size(size, error_msg: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(error_msg)
    return int(size[0]), int(size[1])


def _check_sequence_input(x, name: str, req_sizes: tuple[int, ...]) -> None:
    msg = req_sizes[0] if len(req_sizes) < 2 else " or ".join(str(s) for s in req_sizes)
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} should be a sequence of length {msg}.")
    if len(x) not in req_sizes:
        raise ValueError(f"{name} should be a sequence of length {msg}.")


def _setup_angle(x, name: str, req_sizes: tuple[int, ...] = (2,)) -> list[float]:
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]
    else:
        _check_sequence_input(x, name, req_sizes)
    return [float(d) for d in x]


# ---------------------------------------------------------------------------- functional
def to_tensor(pic) -> Tensor:
    """``H x W`` or ``H x W x C`` array/tensor -> ``C x H x W`` tensor; uint8 is scaled to floats in [0, 1]."""
    arr, _ = _unwrap(pic)
    if arr.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions.")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    arr = array_module(arr).ascontiguousarray(arr.transpose(2, 0, 1))
    if arr.dtype == numpy.uint8:
        dt = numpy.dtype(_dtype._default_float.np)
        return _make(arr.astype(dt) / dt.type(255))
    return _make(arr)


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """``(tensor - mean) / std`` per channel of a float image ``(..., C, H, W)``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(
            f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = {tensor.size()}"
        )
    dtype = tensor._data.dtype
    mean_a, std_a = numpy.asarray(mean, dtype=dtype), numpy.asarray(std, dtype=dtype)  # checked on the host
    if (std_a == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    xp = array_module(tensor._data)
    mean_a, std_a = xp.asarray(mean_a), xp.asarray(std_a)  # on the tensor's device
    if mean_a.ndim == 1:
        mean_a = mean_a.reshape(-1, 1, 1)
    if std_a.ndim == 1:
        std_a = std_a.reshape(-1, 1, 1)
    if not inplace and not tensor.requires_grad:  # the common case: plain array math, no graph
        return _make((tensor._data - mean_a) / std_a)
    if not inplace:
        tensor = tensor.clone()
    return tensor.sub_(_make(mean_a)).div_(_make(std_a))


def _parse_padding(padding) -> tuple[int, int, int, int]:
    """torchvision's padding -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (int(padding[0]),) * 4
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    if len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


def pad(img, padding, fill: float = 0, padding_mode: str = "constant"):
    """Pad the last two dims; ``padding`` is an int, (left/right, top/bottom) or (left, top, right, bottom)."""
    arr, is_tensor = _image_array(img)
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if fill is None:
        fill = 0
    if not isinstance(fill, numbers.Number):
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_padding(padding)
    if min(left, top, right, bottom) < 0:  # negative padding crops, as in torch
        h, w = arr.shape[-2:]
        arr = arr[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
        left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
    xp = array_module(arr)
    if padding_mode == "constant":
        fill = numpy.asarray(fill).astype(arr.dtype).item()  # cast like the image, as a Python number
        out = xp.pad(arr, widths, mode="constant", constant_values=fill)
    else:
        out = xp.pad(arr, widths, mode=padding_mode)
    return _wrap(out, is_tensor)


def crop(img, top: int, left: int, height: int, width: int):
    """The ``height x width`` window at (top, left); parts outside the image are zero-padded."""
    arr, is_tensor = _image_array(img)
    h, w = arr.shape[-2:]
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        padding_ltrb = [
            max(-left + min(0, right), 0),
            max(-top + min(0, bottom), 0),
            max(right - max(w, left), 0),
            max(bottom - max(h, top), 0),
        ]
        return pad(_wrap(arr[..., max(top, 0) : bottom, max(left, 0) : right], is_tensor), padding_ltrb, fill=0)
    return _wrap(array_module(arr).ascontiguousarray(arr[..., top:bottom, left:right]), is_tensor)


def center_crop(img, output_size):
    """The central ``output_size`` window (zero-padded first when the image is smaller)."""
    crop_height, crop_width = _setup_size(output_size, "Please provide only two dimensions (h, w) for size.")
    _, image_height, image_width = get_dimensions(img)
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def hflip(img):
    """Mirror left-right (the last dim)."""
    arr, is_tensor = _image_array(img)
    return _wrap(array_module(arr).ascontiguousarray(arr[..., ::-1]), is_tensor)


def vflip(img):
    """Mirror top-bottom (the second-to-last dim)."""
    arr, is_tensor = _image_array(img)
    return _wrap(array_module(arr).ascontiguousarray(arr[..., ::-1, :]), is_tensor)


def _get_inverse_affine_matrix(center, angle: float, translate, scale: float, shear) -> list[float]:
    """torchvision's inverse of ``T * C * RotateScaleShear * C^-1`` (output pixel -> input pixel)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [x / scale for x in (d, -b, 0.0, -c, a, 0.0)]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def _affine_output_size(matrix: list[float], w: int, h: int) -> tuple[int, int]:
    """The (w, h) that holds the whole transformed image (``expand=True``), as torchvision computes it
    (host arithmetic on the matrix)."""
    pts = numpy.array(
        [[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]],
        dtype=numpy.float32,
    )
    theta = numpy.array(matrix, dtype=numpy.float32).reshape(2, 3)
    new_pts = pts @ theta.T
    half = numpy.array([w * 0.5, h * 0.5], dtype=numpy.float32)
    min_vals, max_vals = new_pts.min(axis=0) + half, new_pts.max(axis=0) + half
    tol = numpy.float32(1e-4)
    cmax = numpy.ceil(numpy.trunc(max_vals / tol) * tol)
    cmin = numpy.floor(numpy.trunc(min_vals / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def _grid_transform(arr, matrix: list[float], interpolation: str, fill, out_hw: tuple[int, int] | None = None):
    """Resample ``(..., H, W)`` through the inverse affine ``matrix`` (centre-origin pixel coordinates)
    like torchvision's ``_apply_grid_transform``: ``grid_sample(align_corners=False)`` with zero padding,
    then the outside filled with ``fill`` via a sampled mask; integer images are rounded back."""
    xp = array_module(arr)
    h, w = arr.shape[-2:]
    oh, ow = out_hw if out_hw is not None else (h, w)
    dt = arr.dtype if arr.dtype.kind == "f" else numpy.dtype(numpy.float32)
    theta = xp.asarray(matrix, dtype=dt).reshape(2, 3) / xp.asarray([[0.5 * w], [0.5 * h]], dtype=dt)
    xs = xp.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow, dtype=numpy.float32).astype(dt)
    ys = xp.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh, dtype=numpy.float32).astype(dt)
    gx = xs[None, :] * theta[0, 0] + ys[:, None] * theta[0, 1] + theta[0, 2]
    gy = xs[None, :] * theta[1, 0] + ys[:, None] * theta[1, 1] + theta[1, 2]
    ix = ((gx + 1) * w - 1) / 2  # input pixel coordinates
    iy = ((gy + 1) * h - 1) / 2
    lead = arr.shape[:-2]
    src = arr.reshape(-1, h, w).astype(dt, copy=False)
    if interpolation == "nearest":
        jx, jy = xp.rint(ix).astype(numpy.int64), xp.rint(iy).astype(numpy.int64)
        inside = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
        out = src[:, xp.clip(jy, 0, h - 1), xp.clip(jx, 0, w - 1)] * inside
        mask = inside.astype(dt)
    else:
        x0, y0 = xp.floor(ix), xp.floor(iy)
        out = xp.zeros((src.shape[0], oh, ow), dtype=dt)
        mask = xp.zeros((oh, ow), dtype=dt)
        for dy in (0, 1):
            for dx in (0, 1):
                cx, cy = x0 + dx, y0 + dy
                weight = (1 - xp.abs(ix - cx)) * (1 - xp.abs(iy - cy))
                ok = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
                weight = xp.where(ok, weight, 0).astype(dt)
                jx, jy = xp.clip(cx, 0, w - 1).astype(numpy.int64), xp.clip(cy, 0, h - 1).astype(numpy.int64)
                out += src[:, jy, jx] * weight
                mask += weight
    out = out.reshape(lead + (oh, ow))
    if fill is not None:
        fill_arr = xp.asarray(fill, dtype=dt).reshape(-1)
        if fill_arr.size > 1:
            fill_arr = fill_arr.reshape(-1, 1, 1)
        else:
            fill_arr = fill_arr.reshape(())
        if interpolation == "nearest":
            out = xp.where(mask < 0.5, fill_arr, out)
        else:
            out = out * mask + (1.0 - mask) * fill_arr
    if arr.dtype.kind != "f":
        out = xp.rint(out)
    return out.astype(arr.dtype, copy=False)


def _fill_for(fill, channels: int):
    if fill is None:
        return None
    if isinstance(fill, numbers.Number):
        return [float(fill)] * channels
    fill = [float(f) for f in fill]
    if len(fill) > 1 and len(fill) != channels:
        raise ValueError(
            f"The number of elements in 'fill' cannot broadcast to match the number of channels of the image ({len(fill)} != {channels})"
        )
    return fill


def affine(
    img,
    angle: float,
    translate: Sequence[int],
    scale: float,
    shear: float | Sequence[float],
    interpolation=InterpolationMode.NEAREST,
    fill=None,
    center: Sequence[int] | None = None,
):
    """Rotate by ``angle`` degrees, translate, scale and shear about the centre (torchvision.functional.affine)."""
    arr, is_tensor = _image_array(img)
    if len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    channels, height, width = get_dimensions(img)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    matrix = _get_inverse_affine_matrix(center_f, float(angle), [1.0 * t for t in translate], scale, shear)
    out = _grid_transform(arr, matrix, _interp(interpolation), _fill_for(fill, channels))
    return _wrap(out, is_tensor)


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False, center=None, fill=None):
    """Rotate counter-clockwise by ``angle`` degrees; ``expand=True`` grows the canvas to hold it all."""
    arr, is_tensor = _image_array(img)
    channels, height, width = get_dimensions(img)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    matrix = _get_inverse_affine_matrix(center_f, -float(angle), [0.0, 0.0], 1.0, [0.0, 0.0])
    out_hw = None
    if expand:
        ow, oh = _affine_output_size(matrix, width, height)
        out_hw = (oh, ow)
    out = _grid_transform(arr, matrix, _interp(interpolation), _fill_for(fill, channels), out_hw)
    return _wrap(out, is_tensor)


# ---------------------------------------------------------------------------- transforms
class _Transform:
    """A callable transform: ``t(img)`` runs ``t.forward(img)`` (like torchvision's nn.Module transforms)."""

    def forward(self, img):
        raise NotImplementedError

    def __call__(self, img):
        return self.forward(img)


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class ToTensor:
    """``H x W (x C)`` uint8 array/tensor -> float ``C x H x W`` tensor in [0, 1]; other dtypes keep their values."""

    def __call__(self, pic) -> Tensor:
        return to_tensor(pic)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class Normalize(_Transform):
    """Per-channel ``(x - mean) / std`` on a float tensor ``(..., C, H, W)``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def forward(self, tensor: Tensor) -> Tensor:
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class Pad(_Transform):
    """Pad the borders (``constant`` with ``fill``, ``edge``, ``reflect`` or ``symmetric``)."""

    def __init__(self, padding, fill: float = 0, padding_mode: str = "constant") -> None:
        if not isinstance(padding, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate padding arg")
        if not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate fill arg")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        if isinstance(padding, Sequence) and len(padding) not in (1, 2, 4):
            raise ValueError(
                f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
            )
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, img):
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class CenterCrop(_Transform):
    """Crop the centre to ``size`` (an int for a square, or (h, w))."""

    def __init__(self, size) -> None:
        self.size = _setup_size(size, "Please provide only two dimensions (h, w) for size.")

    def forward(self, img):
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size})"


class RandomCrop(_Transform):
    """Crop a random ``size`` window, after optional ``padding`` (and ``pad_if_needed`` to reach ``size``)."""

    def __init__(
        self, size, padding=None, pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant"
    ) -> None:
        self.size = _setup_size(size, "Please provide only two dimensions (h, w) for size.")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """A random crop box ``(top, left, height, width)``."""
        _, h, w = get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        g = _generator()
        i = int(_random.randint(0, h - th + 1, size=(1,), generator=g).item())
        j = int(_random.randint(0, w - tw + 1, size=(1,), generator=g).item())
        return i, j, th, tw

    def forward(self, img):
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = get_dimensions(img)
        if self.pad_if_needed and width < self.size[1]:
            img = pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return crop(img, i, j, h, w)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(_Transform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def forward(self, img):
        if float(_random.rand(1, generator=_generator()).item()) < self.p:
            return hflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip(_Transform):
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def forward(self, img):
        if float(_random.rand(1, generator=_generator()).item()) < self.p:
            return vflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


def _check_fill(fill):
    if fill is None:
        return 0
    if not isinstance(fill, (Sequence, numbers.Number)):
        raise TypeError("Fill should be either a sequence or a number.")
    return fill


class RandomRotation(_Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` (a number d means (-d, d))."""

    def __init__(
        self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False, center=None, fill=0
    ) -> None:
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center
        self.interpolation = InterpolationMode(_interp(interpolation))
        self.expand = expand
        self.fill = _check_fill(fill)

    @staticmethod
    def get_params(degrees: list[float]) -> float:
        return _uniform(float(degrees[0]), float(degrees[1]))

    def forward(self, img):
        angle = self.get_params(self.degrees)
        return rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)

    def __repr__(self) -> str:
        s = f"{self.__class__.__name__}(degrees={self.degrees}, interpolation={self.interpolation.value}, expand={self.expand}"
        if self.center is not None:
            s += f", center={self.center}"
        return s + f", fill={self.fill})"


class RandomAffine(_Transform):
    """Random rotation (``degrees``), translation (fractions ``translate`` of the size), ``scale`` and ``shear``."""

    def __init__(
        self,
        degrees,
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear=None,
        interpolation=InterpolationMode.NEAREST,
        fill=0,
        center: Sequence[int] | None = None,
    ) -> None:
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if translate is not None:
            _check_sequence_input(translate, "translate", req_sizes=(2,))
            for t in translate:
                if not (0.0 <= t <= 1.0):
                    raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            _check_sequence_input(scale, "scale", req_sizes=(2,))
            for s in scale:
                if s <= 0:
                    raise ValueError("scale values should be positive")
        self.scale = scale
        self.shear = _setup_angle(shear, name="shear", req_sizes=(2, 4)) if shear is not None else None
        self.interpolation = InterpolationMode(_interp(interpolation))
        self.fill = _check_fill(fill)
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center

    @staticmethod
    def get_params(
        degrees: list[float],
        translate: Sequence[float] | None,
        scale_ranges: Sequence[float] | None,
        shears: Sequence[float] | None,
        img_size: list[int],
    ) -> tuple[float, tuple[int, int], float, tuple[float, float]]:
        """Draw ``(angle, (tx, ty), scale, (shear_x, shear_y))``; ``img_size`` is ``[width, height]``."""
        angle = _uniform(float(degrees[0]), float(degrees[1]))
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            translations = (int(round(_uniform(-max_dx, max_dx))), int(round(_uniform(-max_dy, max_dy))))
        else:
            translations = (0, 0)
        scale = _uniform(scale_ranges[0], scale_ranges[1]) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = _uniform(shears[0], shears[1])
            if len(shears) == 4:
                shear_y = _uniform(shears[2], shears[3])
        return angle, translations, scale, (shear_x, shear_y)

    def forward(self, img):
        _, height, width = get_dimensions(img)
        angle, translations, scale, shear = self.get_params(
            self.degrees, self.translate, self.scale, self.shear, [width, height]
        )
        return affine(
            img, angle, translations, scale, shear, interpolation=self.interpolation, fill=self.fill, center=self.center
        )

    def __repr__(self) -> str:
        s = f"{self.__class__.__name__}(degrees={self.degrees}"
        s += f", translate={self.translate}" if self.translate is not None else ""
        s += f", scale={self.scale}" if self.scale is not None else ""
        s += f", shear={self.shear}" if self.shear is not None else ""
        s += f", interpolation={self.interpolation.value}" if self.interpolation != InterpolationMode.NEAREST else ""
        s += f", fill={self.fill}" if self.fill != 0 else ""
        s += f", center={self.center}" if self.center is not None else ""
        return s + ")"
