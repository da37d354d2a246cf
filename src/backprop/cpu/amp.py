"""``backprop.cpu.amp``: torch's deprecated CPU spellings of ``backprop.amp`` (FutureWarning, as torch)."""

from __future__ import annotations

import warnings

from .. import amp as _amp
from ..amp.grad_scaler import deprecated_grad_scaler

__all__ = ["GradScaler", "autocast"]


class autocast(_amp.autocast):  # noqa: N801 - torch's name
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``: deprecated,
    ``backprop.amp.autocast("cpu", ...)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        warnings.warn(
            "`torch.cpu.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cpu', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


GradScaler = deprecated_grad_scaler("cpu")
