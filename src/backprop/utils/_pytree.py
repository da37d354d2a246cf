"""Nested containers of tensors (torch.utils._pytree's ``tree_map``, for the structures torch's
modules return: tensors in tuples, namedtuples, lists and dicts)."""

from __future__ import annotations

from .._tensor import Tensor


def tree_map_tensors(fn, obj):
    """``obj`` rebuilt with every tensor ``t`` in it replaced by ``fn(t)``; other leaves unchanged."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(tree_map_tensors(fn, x) for x in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(tree_map_tensors(fn, x) for x in obj)
    if isinstance(obj, dict):
        pairs = {k: tree_map_tensors(fn, v) for k, v in obj.items()}
        try:
            return pairs if type(obj) is dict else type(obj)(pairs)
        except TypeError:  # a dict type that cannot be built from pairs (defaultdict)
            return pairs
    return obj
