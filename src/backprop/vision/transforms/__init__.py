"""Transforms for vision (torchvision.transforms' counterpart): the image transforms (``Compose``,
``ToTensor``, ``Normalize``, ``RandomAffine``, ...; ``backprop.transforms`` is the same module),
``functional`` (their functional forms) and ``detection``, the box-aware augmentation (callables
``(image, target) -> (image, target)``: flips, ``RandomAffine``, ``RandomHSV``, ``Letterbox``, ``Mosaic``)."""

from __future__ import annotations

from . import detection, functional, transforms
from .transforms import *  # noqa: F403
from .transforms import __all__ as _image_transforms

__all__ = [*_image_transforms, "detection", "functional", "transforms"]
