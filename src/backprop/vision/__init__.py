"""Computer vision, torchvision's counterpart: ``ops`` (boxes, NMS, IoU losses, RoI pooling), ``datasets``,
``transforms`` (including box-aware augmentation), ``models`` (the YOLO-style detector) and ``utils`` (drawing).

The subpackages load on first use, so ``import backprop`` stays light."""

from __future__ import annotations

import importlib
from types import ModuleType

_SUBMODULES = ("datasets", "models", "ops", "transforms", "utils")

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
