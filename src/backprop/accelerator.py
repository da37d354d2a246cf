"""``backprop.accelerator``: torch's device-neutral accelerator API (torch >= 2.6).

The one accelerator backprop knows is CUDA; scripts that ask ``accelerator.is_available()``
before ``current_accelerator()`` run unchanged on GPU and CPU-only machines.
"""

from __future__ import annotations

from . import cuda as _cuda
from ._device import device as _device_cls

__all__ = [
    "current_accelerator",
    "current_device_index",
    "device_count",
    "is_available",
    "set_device_index",
    "synchronize",
]


def is_available() -> bool:
    return _cuda.is_available()


def current_accelerator(check_available: bool = False) -> _device_cls | None:
    """``device(type='cuda')`` when CUDA is available, else None."""
    return _device_cls("cuda") if _cuda.is_available() else None


def device_count() -> int:
    return _cuda.device_count()


def current_device_index() -> int:
    return _cuda.current_device()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    _cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    _cuda.synchronize(device)
