"""torch's ``layout`` and ``memory_format`` objects.

backprop stores every tensor as one strided array, so ``strided`` is the only layout and
every memory format names the same row-major storage: the objects exist so that code passing
``layout=torch.strided`` or ``memory_format=torch.channels_last`` runs unchanged.
"""

from __future__ import annotations


class layout:  # noqa: N801 - torch's name
    """A tensor layout; backprop has one, ``strided``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"backprop.{self._name}"

    def __reduce__(self):
        return self._name


class memory_format:  # noqa: N801 - torch's name
    """A memory format request (``contiguous_format``, ``preserve_format``, ``channels_last``...).
    Accepted wherever torch takes one; the result is always a row-major array."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"backprop.{self._name}"

    def __reduce__(self):
        return self._name


strided = layout("strided")
# torch's sparse layouts: named so that code passing them runs as far as the op, which refuses
# them (check_layout's RuntimeError, or the op's own torch error); no backprop tensor has one.
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def check_layout(value, op: str) -> None:
    """``layout=`` of a creation function: None or ``strided``."""
    if value is not None and value is not strided:
        raise RuntimeError(f"{op}(): unsupported layout {value!r}: backprop tensors are strided")


def check_memory_format(value, op: str) -> None:
    """``memory_format=``: None or one of the memory_format objects."""
    if value is not None and not isinstance(value, memory_format):
        raise TypeError(f"{op}(): argument 'memory_format' must be torch.memory_format, not {type(value).__name__}")
