"""``backprop.cuda.amp``: torch's deprecated CUDA spellings of ``backprop.amp`` (FutureWarning, as torch)."""

from __future__ import annotations

import warnings

from .. import amp as _amp
from ..amp.autocast_mode import custom_bwd as _custom_bwd
from ..amp.autocast_mode import custom_fwd as _custom_fwd
from ..amp.grad_scaler import deprecated_grad_scaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class autocast(_amp.autocast):  # noqa: N801 - torch's name
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``: deprecated,
    ``backprop.amp.autocast("cuda", ...)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cuda', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        from .._dtype import float16

        super().__init__(
            "cuda", dtype=float16 if dtype is None else dtype, enabled=enabled, cache_enabled=cache_enabled
        )


GradScaler = deprecated_grad_scaler("cuda")


def custom_fwd(fwd=None, *, cast_inputs=None):
    """Deprecated spelling of ``backprop.amp.custom_fwd(device_type='cuda')``."""
    warnings.warn(
        "`torch.cuda.amp.custom_fwd(args...)` is deprecated. Please use `torch.amp.custom_fwd(args..., device_type='cuda')` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd=None):
    """Deprecated spelling of ``backprop.amp.custom_bwd(device_type='cuda')``."""
    warnings.warn(
        "`torch.cuda.amp.custom_bwd(args...)` is deprecated. Please use `torch.amp.custom_bwd(args..., device_type='cuda')` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _custom_bwd(bwd, device_type="cuda")
