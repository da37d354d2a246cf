"""``torch.sparse``: sparse COO tensors' products, sums and softmax.

A sparse tensor is made with ``backprop.sparse_coo_tensor(indices, values, size)`` or
``dense.to_sparse()``; the kernels and the design (a Tensor subclass whose gradient is its
values' gradient) are in ``backprop/ops/sparse.py``.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..ops import sparse as _ops

__all__ = ["addmm", "check_sparse_tensor_invariants", "log_softmax", "mm", "softmax", "spmm", "sum"]


def mm(mat1: Tensor, mat2: Tensor, reduce: str | None = None) -> Tensor:
    """Sparse @ dense -> dense (sparse @ sparse -> sparse). The gradient of the sparse operand is
    masked to its sparsity pattern (a sparse tensor), as in torch."""
    return _ops.sparse_mm(mat1, mat2, reduce)


def spmm(input: Tensor, mat2: Tensor) -> Tensor:
    """``torch.spmm``: ``torch.mm`` with a sparse first operand (a sparse leaf's gradient is dense)."""
    return _ops.mm(input, mat2, "spmm")


def addmm(mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * mat + alpha * (mat1 @ mat2)`` with a sparse ``mat1``."""
    return _ops.addmm(mat, mat1, mat2, beta=beta, alpha=alpha)


def sum(input: Tensor, dim=None, dtype=None) -> Tensor:  # noqa: A001 - torch's name
    """All entries (a dense 0-d tensor), or over ``dim`` (sparse while sparse dims remain)."""
    return _ops.sparse_sum(input, dim, dtype)


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax along ``dim`` over the specified entries only (the others count as -inf)."""
    return _ops.sparse_softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Log-softmax along ``dim`` over the specified entries only."""
    return _ops.sparse_log_softmax(input, dim, dtype)


class check_sparse_tensor_invariants:  # noqa: N801 - torch's name
    """Whether ``sparse_coo_tensor`` validates its indices by default; a context manager (and
    decorator) that turns the checks on (or off) inside it, as in torch."""

    _enabled = False

    @staticmethod
    def is_enabled() -> bool:
        return check_sparse_tensor_invariants._enabled

    @staticmethod
    def enable() -> None:
        check_sparse_tensor_invariants._enabled = True

    @staticmethod
    def disable() -> None:
        check_sparse_tensor_invariants._enabled = False

    def __init__(self, enable: bool = True) -> None:
        self.state = enable
        self.saved_state = None

    def __enter__(self):
        self.saved_state = check_sparse_tensor_invariants._enabled
        check_sparse_tensor_invariants._enabled = self.state
        return self

    def __exit__(self, *exc) -> None:
        check_sparse_tensor_invariants._enabled = self.saved_state

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with check_sparse_tensor_invariants(self.state):
                return fn(*args, **kwargs)

        return wrapped
