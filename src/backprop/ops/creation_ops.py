"""Small tensor constructors used inside ops (the public creation API is ``backprop._creation``)."""

from __future__ import annotations

from .._tensor import Tensor
from .device import to_device


def full_like_tensor(like: Tensor, value: Tensor) -> Tensor:
    """``value`` (a 0-d tensor, possibly requiring grad) broadcast to ``like``'s shape, dtype
    and device (differentiable: a CPU value's gradient goes back to the CPU)."""
    from .movement import expand

    return expand(to_device(value.to(like.dtype), like.device), like._data.shape)
