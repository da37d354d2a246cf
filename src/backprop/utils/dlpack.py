"""torch.utils.dlpack: exchange tensors with other libraries through DLPack capsules."""

from __future__ import annotations

from .._creation import from_dlpack
from .._tensor import Tensor

__all__ = ["from_dlpack", "to_dlpack"]


def to_dlpack(tensor: Tensor) -> object:
    """A DLPack capsule sharing ``tensor``'s memory (consume it once, e.g. with ``from_dlpack``)."""
    return tensor.__dlpack__()
