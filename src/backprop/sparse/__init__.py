"""``torch.sparse``: sparse COO tensors' products, sums and softmax.

A sparse tensor is made with ``backprop.sparse_coo_tensor(indices, values, size)`` or
``dense.to_sparse()``; the kernels and the design (a Tensor subclass whose gradient is its
values' gradient) are in ``backprop/ops/sparse.py``.
"""

from __future__ import annotations

from .._creation import tensor as _tensor
from .._creation import zeros as _zeros
from .._dtype import float32 as _float32
from .._dtype import float64 as _float64
from .._dtype import int64 as _int64
from .._tensor import Tensor
from ..ops import sparse as _ops

__all__ = [
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "addmm",
    "check_sparse_tensor_invariants",
    "log_softmax",
    "mm",
    "softmax",
    "spmm",
    "sum",
]


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


def _legacy_constructor(name: str, dtype):
    """``torch.sparse.FloatTensor(indices, values, size)`` (older GCN code builds its adjacency
    so) or ``torch.sparse.FloatTensor(*sizes)`` (an empty sparse tensor). As torch does, values
    given as a Tensor keep their dtype."""

    def make(*args, device=None):
        if args and isinstance(args[0], Tensor):
            indices, values, *size = args
            if not isinstance(values, Tensor):
                values = _tensor(values, dtype=dtype)
            return _ops.sparse_coo_tensor(indices, values, size[0] if size else None, device=device)
        sizes = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else tuple(args)
        empty_idx = _zeros(len(sizes), 0, dtype=_int64, device=device)
        return _ops.sparse_coo_tensor(empty_idx, _zeros(0, dtype=dtype, device=device), sizes)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"Legacy sparse constructor of dtype {dtype}."
    return make


FloatTensor = _legacy_constructor("FloatTensor", _float32)
DoubleTensor = _legacy_constructor("DoubleTensor", _float64)
LongTensor = _legacy_constructor("LongTensor", _int64)


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
