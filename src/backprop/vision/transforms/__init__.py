"""Transforms for vision: ``detection`` holds the box-aware augmentation (callables
``(image, target) -> (image, target)``: flips, ``RandomAffine``, ``RandomHSV``, ``Letterbox``, ``Mosaic``)."""

from __future__ import annotations

from . import detection

__all__ = ["detection"]
