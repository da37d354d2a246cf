"""``backprop.linalg``: the norms (``vector_norm``, ``norm``, ``matrix_norm`` for 'fro') and ``cross``."""

from __future__ import annotations

from .ops.linalg import cross as _cross
from .ops.reduction import vector_norm

__all__ = ["vector_norm", "norm", "matrix_norm", "cross"]


def cross(input, other, *, dim: int = -1):  # noqa: A002 - torch's name
    """Cross product of 3-vectors along ``dim`` (the last by default); inputs broadcast."""
    return _cross(input, other, dim)


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None):
    """Vector 2-norm by default (matrix inputs with ord='fro' give the Frobenius norm)."""
    if ord in (None, "fro"):
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    if ord != "fro":
        raise NotImplementedError(f"matrix_norm(ord={ord!r}) is not supported; only 'fro'")
    return vector_norm(A, 2, dim, keepdim, dtype=dtype)
