"""``backprop.cpu``: torch.cpu's device functions (the host is always there, as one device) and ``amp``."""

from __future__ import annotations

from . import amp

__all__ = ["amp", "current_device", "device_count", "is_available", "is_initialized", "set_device", "synchronize"]


def is_available() -> bool:
    """Always True: the CPU is always there."""
    return True


def is_initialized() -> bool:
    return True


def device_count() -> int:
    """1, as torch: the CPU counts as one device."""
    return 1


def current_device() -> str:
    """``"cpu"``, as ``torch.cpu.current_device()``."""
    return "cpu"


def set_device(device) -> None:
    """Accepted for symmetry with ``backprop.cuda``; there is one CPU device, nothing changes."""


def synchronize(device=None) -> None:
    """CPU ops run synchronously: nothing to wait for."""
