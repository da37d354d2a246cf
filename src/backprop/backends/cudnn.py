"""``backprop.backends.cudnn``: torch.backends.cudnn's flags.

backprop's CUDA backend runs convolutions as CuPy matmuls, not through cuDNN, so
``is_available()`` is False and ``version()`` None; ``enabled``, ``benchmark``,
``deterministic``, ``benchmark_limit`` and ``allow_tf32`` are plain settings scripts can set
and read (backprop's convolutions are deterministic either way; their float32 precision
follows ``backprop.backends.cuda.matmul.allow_tf32``).
"""

from __future__ import annotations

import contextlib
import sys

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True  # torch's default for convolutions
fp32_precision = "none"  # torch's newer spelling of allow_tf32 ("ieee", "tf32", "none")

_FLAGS = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")


def is_available() -> bool:
    """False: backprop does not use cuDNN."""
    return False


def version() -> int | None:
    """cuDNN's version; None, as torch without cuDNN."""
    return None


def is_acceptable(tensor) -> bool:
    """Whether cuDNN would take ``tensor``: never, without cuDNN."""
    return False


def set_flags(_enabled=None, _benchmark=None, _benchmark_limit=None, _deterministic=None, _allow_tf32=None) -> tuple:
    """Set the given flags; returns the previous (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)."""
    module = sys.modules[__name__]
    previous = tuple(getattr(module, name) for name in _FLAGS)
    for name, value in zip(_FLAGS, (_enabled, _benchmark, _benchmark_limit, _deterministic, _allow_tf32)):
        if value is not None:
            setattr(module, name, value)
    return previous


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    """These flag values inside the block, the previous ones after."""
    previous = set_flags(enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    try:
        yield
    finally:
        set_flags(*previous)
