"""``pin_memory`` (torch.utils.data._utils.pin_memory): a batch with its tensors in page-locked memory.

What ``DataLoader(pin_memory=True)`` applies to every batch when a CUDA backend is loaded: each
CPU tensor becomes a pinned copy (``Tensor.pin_memory()``), so that its copy to the GPU can be
fast and asynchronous (``.to("cuda", non_blocking=True)``); tensors already on a device stay as
they are. Mappings, namedtuples and sequences are rebuilt as torch rebuilds them (tuples become
lists, as torch's do), and other objects with a ``pin_memory()`` method are pinned through it.
"""

from __future__ import annotations

import collections
import copy

from ...._tensor import Tensor

__all__ = ["pin_memory"]


def pin_memory(data, device=None):
    """``data`` with every tensor in it pinned (see the module docstring)."""
    if isinstance(data, Tensor):
        return data.pin_memory(device)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({k: pin_memory(sample, device) for k, sample in data.items()})
                return clone
            return type(data)({k: pin_memory(sample, device) for k, sample in data.items()})
        except TypeError:
            return {k: pin_memory(sample, device) for k, sample in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_memory(sample, device) for sample in data))
    if isinstance(data, tuple):
        return [pin_memory(sample, device) for sample in data]  # a list, as torch returns
    if isinstance(data, collections.abc.Sequence):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, item in enumerate(data):
                    clone[i] = pin_memory(item, device)
                return clone
            return type(data)([pin_memory(sample, device) for sample in data])
        except TypeError:
            return [pin_memory(sample, device) for sample in data]
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data
