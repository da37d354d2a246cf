"""Small tensor constructors used inside ops (the public creation API is ``backprop._creation``)."""

from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make


def full_like_tensor(like: Tensor, value: Tensor) -> Tensor:
    """``value`` (a 0-d tensor, possibly requiring grad) broadcast to ``like``'s shape and dtype."""
    from .movement import expand

    return expand(value.to(like.dtype), like._data.shape)


def zeros(shape, dtype) -> Tensor:
    return _make(xp.zeros(shape, dtype=dtype))
