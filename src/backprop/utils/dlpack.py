"""torch.utils.dlpack: exchange tensors with other libraries through DLPack capsules.

``from_dlpack`` takes what ``backprop.from_dlpack`` takes and also bare capsules of device
memory: a capsule does not say where its memory lives, so its device is read from the
``DLTensor`` it holds (host memory becomes a CPU tensor, CUDA memory a CUDA tensor).
"""

from __future__ import annotations

from .._creation import capsule_device
from .._creation import from_dlpack as _from_dlpack
from .._tensor import Tensor

__all__ = ["capsule_device", "from_dlpack", "to_dlpack"]


def from_dlpack(ext_tensor: object) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``: an object with ``__dlpack__`` (a torch tensor,
    a NumPy or CuPy array...) or a DLPack capsule (``to_dlpack``'s result), on its device."""
    return _from_dlpack(ext_tensor)


def to_dlpack(tensor: Tensor) -> object:
    """A DLPack capsule sharing ``tensor``'s memory (consume it once, e.g. with ``from_dlpack``)."""
    return tensor.__dlpack__()
