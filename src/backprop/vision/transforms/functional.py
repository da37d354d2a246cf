"""torchvision.transforms.functional's names: the functional forms of the image transforms."""

from __future__ import annotations

from .transforms import (
    InterpolationMode,
    affine,
    center_crop,
    crop,
    get_dimensions,
    hflip,
    normalize,
    pad,
    rotate,
    to_tensor,
    vflip,
)

__all__ = [
    "InterpolationMode",
    "affine",
    "center_crop",
    "crop",
    "get_dimensions",
    "hflip",
    "normalize",
    "pad",
    "rotate",
    "to_tensor",
    "vflip",
]
