"""Sparse COO tensors (``layout=torch.sparse_coo``) and their differentiable ops.

Design: a sparse tensor is a ``Tensor`` subclass, ``SparseTensor``, whose ``_data`` is its
*values* array (``nnz x dense dims``) and which adds the int64 ``(sparse_dim, nnz)`` indices
array, the full shape and a coalesced flag. A subclass rather than a layout field and a
second payload on every Tensor keeps the dense class as it was (its only additions: the
class attributes ``layout = strided`` and ``_sparse_layout = False``) and the dense ops free of
layout branches, while ``isinstance(x, Tensor)``, ``.to(device)``, modules holding one as a
buffer, ``requires_grad``, hooks and ``backward`` keep working on sparse tensors.

Autograd: the engine sees a sparse tensor as its values array, so the gradient that flows to
one is a values-shaped array aligned with its indices -- the dense gradient *masked* to its
sparsity pattern, which is torch's gradient for ``sparse.mm``, ``to_dense``, ``coalesce``,
``sparse.sum`` and ``sparse_coo_tensor(indices, values)`` (a leaf's ``.grad`` is shown as the
sparse tensor it stands for). ``torch.mm``/``spmm``/``matmul`` with a sparse *leaf* that
requires grad give it torch's dense gradient instead: it reaches the leaf through a
``_DenseGradSlot`` (a memory-free stand-in in the graph) into ``_sp_other_grad``, and ``.grad``
is then dense (the masked part added), as torch's is.

Two identity primitives bridge the layouts: ``SparseCooTensorWithDimsAndTensors`` (values ->
sparse) and ``Values`` (sparse -> values). Every value-wise op (scalar products, sums,
transposes, coalescing, ``to_sparse``, softmax) is a composite of those and dense ops on the
values. ``to_dense`` and the sparse @ dense product are primitives: the product runs through
SciPy's CSR matrices on the CPU (``backend_of(x).scipy("sparse")``; Cora's 2708-node
adjacency times 16 features: 1.2 ms, against 4.5 ms for NumPy's ``add.at`` scatter-add and
2.8 ms for a sorted gather + ``add.reduceat``; 12 ms against 509 ms for 1433 features) and as
a gather and scatter-add of rows elsewhere (``backend.ufunc_at``: CuPy's atomic adds).

Dense-only ops refuse sparse tensors with torch's ``NotImplementedError`` ("Could not run
'aten::exp' with arguments from the 'SparseCPU' backend ..."): as methods through the
overrides ``install_methods`` puts on ``SparseTensor``, and as functions through
``Function.apply``, which refuses a sparse argument of any primitive not marked
``_sparse_ok`` (one identity test per tensor argument, paid only by Tensor subclasses). The
functional forms torch serves for sparse tensors (``torch.sum``, ``torch.add``, ...) are
wrapped by ``sparse_aware`` in ``backprop/__init__.py``.
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy

from .. import _dtype
from .._backend import CPU, array_module, backend_for, backend_of
from .._creation import tensor as _tensor_fn
from .._device import as_device
from .._device import device as device_cls
from .._layout import sparse_coo, strided
from .._tensor import Size, Tensor, _make, shape_str
from .._tensor_str import tensor_repr
from ..autograd.function import Function, edge_of
from ..autograd.grad_mode import _state
from . import _backward as B
from ._utils import normalize_dim
from .device import to_device
from .elementwise import to_dtype
from .indexing import index_add
from .movement import cat
from .reduction import sum as dense_sum

_object_new = object.__new__


def _backend_name(t: Tensor) -> str:
    return "SparseCPU" if type(t._data) is numpy.ndarray else "SparseCUDA"


def not_implemented(op: str, t: Tensor) -> NotImplementedError:
    """torch's error for an op that has no sparse kernel."""
    return NotImplementedError(
        f"Could not run 'aten::{op}' with arguments from the '{_backend_name(t)}' backend. backprop's sparse COO "
        "tensors support backprop.sparse (mm, addmm, sum, softmax, log_softmax), mm/matmul/@ with a dense "
        "second operand, to_dense(), coalesce(), transposes and scalar/sparse arithmetic; call .to_dense() first."
    )


class SparseTensor(Tensor):
    """A sparse COO tensor: ``_data`` holds the values (``nnz x dense dims``), ``_sp_indices`` the
    ``(sparse_dim, nnz)`` int64 indices on the same device, ``_sp_shape`` the full shape."""

    # _sp_other_grad: gradient not aligned with the values (torch.mm's dense one, an assigned one)
    # _sp_slots: weak references to the _DenseGradSlots standing for this leaf in live graphs
    __slots__ = ("_sp_indices", "_sp_shape", "_sp_coalesced", "_sp_other_grad", "_sp_slots")
    _sparse_layout = True

    def __new__(cls, *args, **kwargs):
        raise TypeError("create sparse tensors with backprop.sparse_coo_tensor(indices, values, size) or Tensor.to_sparse()")

    # ------------------------------------------------------------------ metadata
    @property
    def layout(self):
        return sparse_coo

    @property
    def is_sparse(self) -> bool:
        return True

    @property
    def shape(self) -> Size:
        return Size(self._sp_shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._sp_shape)

        return self._sp_shape[normalize_dim(dim, len(self._sp_shape), "size")]

    @property
    def ndim(self) -> int:
        return len(self._sp_shape)

    def dim(self) -> int:
        return len(self._sp_shape)

    ndimension = dim

    def numel(self) -> int:
        return math.prod(self._sp_shape)

    nelement = numel

    def __len__(self) -> int:
        if not self._sp_shape:
            raise TypeError("len() of a 0-d tensor")
        return self._sp_shape[0]

    def sparse_dim(self) -> int:
        return self._sp_indices.shape[0]

    def dense_dim(self) -> int:
        return self._data.ndim - 1

    def _nnz(self) -> int:
        return self._data.shape[0]

    def is_coalesced(self) -> bool:
        return self._sp_coalesced

    def is_contiguous(self, memory_format=None) -> bool:
        return False

    def stride(self, dim: int | None = None):
        raise RuntimeError("Sparse tensors do not have strides")

    def data_ptr(self) -> int:
        raise RuntimeError("Cannot access data pointer of Tensor that doesn't have storage")

    def tolist(self):
        raise RuntimeError("Cannot access data pointer of Tensor that doesn't have storage")

    def numpy(self, *, force: bool = False):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def __array__(self, dtype=None, copy=None):
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self.to_dense().item()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.to_dense())

    def __iter__(self):
        raise not_implemented("unbind", self)

    def __repr__(self) -> str:
        def nested(t: Tensor, indent: int) -> str:
            text = tensor_repr(t)
            dtype_suffix = f", dtype={t.dtype!r})"  # torch shows the dtype once, on the outer line
            if text.endswith(dtype_suffix):
                text = text[: -len(dtype_suffix)] + ")"
            if t._data.size == 0 and "size=" not in text:  # torch shows an empty part's size
                text = text[:-1] + f", size={tuple(t._data.shape)})"
            return text.replace("\n", "\n" + " " * indent)

        extras = [f"size={tuple(self._sp_shape)}", f"nnz={self._nnz()}"]
        if self.dtype not in (_dtype._default_float, _dtype._default_complex, _dtype.int64, _dtype.bool_):
            extras.append(f"dtype={self.dtype!r}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        extras.append(f"layout={sparse_coo!r}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        lines = [
            "tensor(indices=" + nested(_make(self._sp_indices), 15) + ",",
            "       values=" + nested(_make(self._data), 14) + ",",
            "       " + ", ".join(extras[:-1] if self._requires_grad else extras) + ("," if self._requires_grad else ")"),
        ]
        if self._requires_grad:
            lines.append("       " + extras[-1] + ")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ autograd state
    @property
    def grad(self) -> Tensor | None:
        """The gradient: a sparse tensor of this one's pattern when every contribution was masked
        to it (sparse.mm, to_dense, ...), dense once torch.mm/spmm contributed (as in torch)."""
        masked = None if self._grad is None else _grad_as_sparse(self, self._grad)
        other = self._sp_other_grad
        if other is None:
            return masked
        return other if masked is None else add(other, masked)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
        if value is not None and tuple(value.shape) != tuple(self._sp_shape):
            raise RuntimeError(
                f"assigned grad has data of a different size: grad {shape_str(value.shape)} vs tensor "
                f"{shape_str(self._sp_shape)}"
            )
        self._grad = None
        self._sp_other_grad = value

    def register_hook(self, hook):
        """``hook(grad)`` with the gradient as torch passes it (a sparse tensor of this one's
        pattern); a returned tensor (sparse or dense) replaces it."""
        owner = self

        def on_values(grad: Tensor):
            out = hook(grad_result(owner, grad, []))
            if out is None:
                return None
            return values_of(sparse_mask(out.to_dense() if isinstance(out, SparseTensor) else out, owner))

        return Tensor.register_hook(self, on_values)

    @property
    def data(self) -> SparseTensor:
        return _new(self._sp_indices, self._data, self._sp_shape, self._sp_coalesced)

    def detach(self) -> SparseTensor:
        out = _new(self._sp_indices, self._data, self._sp_shape, self._sp_coalesced)
        out._version_counter = self._version_counter
        return out

    def __reduce_ex__(self, protocol):
        return (_rebuild_sparse, (self._sp_indices, self._data, self._sp_shape, self._sp_coalesced, self._requires_grad))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        new = _rebuild_sparse(self._sp_indices.copy(), self._data.copy(), self._sp_shape, self._sp_coalesced, self._requires_grad)
        memo[id(self)] = new
        return new


def _new(indices, values, shape, coalesced: bool) -> SparseTensor:
    """A SparseTensor leaf wrapping these arrays (no copy, no checks)."""
    t = _object_new(SparseTensor)
    t._data = values
    t._requires_grad = False
    t._grad_fn = None
    t._output_nr = 0
    t._grad = None
    t._version_counter = [0]
    t._sp_indices = indices
    t._sp_shape = tuple(int(s) for s in shape)
    t._sp_coalesced = bool(coalesced)
    t._sp_other_grad = None
    t._sp_slots = None
    return t


class _DenseGradSlot(Tensor):
    """The graph input standing for a sparse leaf in ``torch.mm(leaf, x)``: a stride-0 (memory-free)
    dense tensor of the leaf's shape, whose ``.grad`` -- what the engine accumulates into -- is the
    leaf's dense gradient (``_sp_other_grad``)."""

    __slots__ = ("_owner",)

    @property
    def _grad(self):
        owner = self._owner
        other = owner._sp_other_grad
        if isinstance(other, SparseTensor):  # an assigned sparse gradient: made dense to add into
            other = owner._sp_other_grad = other.to_dense()
        return other

    @_grad.setter
    def _grad(self, value) -> None:
        self._owner._sp_other_grad = value


def _dense_grad_slot(leaf: SparseTensor) -> _DenseGradSlot:
    xp = array_module(leaf._data)
    t = _object_new(_DenseGradSlot)
    t._owner = leaf  # first: the _grad property reads it
    t._data = xp.broadcast_to(xp.zeros((), dtype=leaf._data.dtype), leaf._sp_shape)
    t._requires_grad = True
    t._grad_fn = None
    t._output_nr = 0
    t._version_counter = [0]
    live = [r for r in (leaf._sp_slots or ()) if r() is not None]
    live.append(weakref.ref(t))
    leaf._sp_slots = live
    return t


def grad_capture_edges(t: SparseTensor) -> list:
    """``autograd.grad`` w.r.t. a sparse leaf: the extra graph edges its dense gradient arrives on
    (one per live ``_DenseGradSlot``), besides its own."""

    slots = [r() for r in (t._sp_slots or ())]
    return [edge_of(slot) for slot in slots if slot is not None]


def grad_result(t: SparseTensor, masked, dense_parts: list):
    """``autograd.grad``'s result for sparse input ``t`` from its captured gradients: a sparse
    tensor of its pattern, or dense when torch.mm contributed (None when nothing did)."""
    dense = None
    for part in dense_parts:
        if part is not None:
            dense = part if dense is None else dense + part
    sparse = None
    if masked is not None:
        if t._sp_coalesced:
            sparse = from_values(masked, t._sp_indices, t._sp_shape, True)
        else:
            k = t._sp_indices.shape[0]
            lin = _linear(t._sp_indices, t._sp_shape[:k])
            uniq, first = array_module(lin).unique(lin, return_index=True)
            sparse = from_values(masked[_index_tensor(first)], _unlinear(uniq.astype(numpy.int64), t._sp_shape[:k]), t._sp_shape, True)
    if dense is None:
        return sparse
    return dense if sparse is None else add(dense, sparse)


def _rebuild_sparse(indices, values, shape, coalesced, requires_grad) -> SparseTensor:
    t = _new(indices, values, shape, coalesced)
    t._requires_grad = requires_grad
    return t


# ---------------------------------------------------------------------------- the two bridges
class SparseCooTensorWithDimsAndTensors(Function):
    """values -> sparse tensor (shares the values array). The gradient of a sparse tensor is
    values-shaped already: it passes through."""

    _sparse_ok = True

    @staticmethod
    def forward(ctx, values, indices, shape, coalesced):
        return _new(indices, values._data, shape, coalesced)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None, None


class Values(Function):
    """sparse tensor -> its values (a dense tensor sharing them)."""

    _sparse_ok = True

    @staticmethod
    def forward(ctx, s):
        return s._data

    @staticmethod
    def backward(ctx, grad):
        return grad


def values_of(s: SparseTensor) -> Tensor:
    """The values of ``s`` as a dense Tensor, differentiable when ``s`` requires grad."""
    if s._requires_grad and _state.enabled:
        return Values.apply(s)
    v = _make(s._data)
    v._version_counter = s._version_counter
    return v


def from_values(values: Tensor, indices, shape, coalesced: bool) -> SparseTensor:
    """A sparse tensor of ``values`` at ``indices`` (differentiable w.r.t. ``values``)."""
    if values._requires_grad and _state.enabled:
        return SparseCooTensorWithDimsAndTensors.apply(values, indices, tuple(shape), coalesced)
    out = _new(indices, values._data, shape, coalesced)
    out._version_counter = values._version_counter
    return out


# ---------------------------------------------------------------------------- index arithmetic
def _linear(indices, shape):
    """Row-major linear index of each column of ``indices`` over the sparse dims ``shape``."""
    xp = array_module(indices)
    lin = xp.zeros(indices.shape[1], dtype=numpy.int64)
    for d, n in enumerate(shape):
        lin = lin * n + indices[d]
    return lin


def _unlinear(lin, shape):
    xp = array_module(lin)
    rows = []
    for n in reversed(shape):
        rows.append(lin % n)
        lin = lin // n
    return xp.stack(rows[::-1]) if rows else xp.zeros((0, lin.shape[0]), dtype=numpy.int64)


def _index_tensor(arr) -> Tensor:
    """An int64 index array (of the tensor's device) as the Tensor index graph-mode indexing takes."""
    return _make(arr)


# ---------------------------------------------------------------------------- creation
def sparse_coo_tensor(
    indices,
    values,
    size=None,
    *,
    dtype=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
    is_coalesced: bool | None = None,
) -> SparseTensor:
    """torch.sparse_coo_tensor: a sparse tensor with ``values`` at ``indices`` (``sparse_dim x nnz``).

    ``values`` may be a Tensor requiring grad: the result is then differentiable w.r.t. it.
    Without ``size`` the shape is the smallest that holds the indices. ``check_invariants``
    (default: ``backprop.sparse.check_sparse_tensor_invariants.is_enabled()``) validates the
    indices against the size.
    """

    if not isinstance(values, Tensor):
        values = _tensor_fn(values, dtype=dtype, device=device)
    elif isinstance(values, SparseTensor):
        raise RuntimeError("sparse_coo_tensor(): values must be a strided (dense) tensor")
    if device is not None:
        values = to_device(values, as_device(device))
    if dtype is not None and _dtype.to_dtype(dtype) is not values.dtype:

        values = to_dtype(values, dtype)
    backend = backend_of(values._data)
    if isinstance(indices, Tensor):
        if isinstance(indices, SparseTensor):
            raise RuntimeError("sparse_coo_tensor(): indices must be a strided (dense) tensor")
        idx = indices._data
        idx = backend.asarray(backend_for(indices.device).to_host(idx) if backend_of(idx) is not backend else idx)
    else:
        idx = backend.asarray(numpy.asarray(indices))
    if idx.dtype.kind not in "iub":
        idx = idx.astype(numpy.int64)  # torch truncates floating indices too
    idx = idx.astype(numpy.int64, copy=False)
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {shape_str(idx.shape)}")
    vdata = values._data
    if vdata.ndim == 0:
        raise RuntimeError("values must have at least one dimension (nnz), but got a 0-d tensor")
    sparse_dim, nnz = idx.shape
    if vdata.shape[0] != nnz:
        raise RuntimeError(
            f"indices and values must have same nnz, but got nnz from indices: {nnz}, nnz from values: {vdata.shape[0]}"
        )
    dense_shape = tuple(vdata.shape[1:])
    if size is None:
        if nnz == 0:
            sparse_shape = (0,) * sparse_dim
        else:
            sparse_shape = tuple(int(m) + 1 for m in backend.to_host(idx.max(axis=1)))
        shape = sparse_shape + dense_shape
    else:
        shape = tuple(int(s) for s in (size if not isinstance(size, int) else (size,)))
        if len(shape) != sparse_dim + len(dense_shape):
            raise RuntimeError(
                f"'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) = {len(shape)}, "
                f"sparse_dim = {sparse_dim}, dense_dim = {len(dense_shape)}"
            )
        if shape[sparse_dim:] != dense_shape:
            raise RuntimeError(
                f"values has incorrect size, expected {shape_str((nnz,) + shape[sparse_dim:])}, got {shape_str(vdata.shape)}"
            )
    if check_invariants is None:
        from ..sparse import check_sparse_tensor_invariants  # (that package imports this module)

        check_invariants = check_sparse_tensor_invariants.is_enabled()
    if check_invariants and nnz:
        _check_indices(idx, shape[:sparse_dim])
    coalesced = bool(is_coalesced) if is_coalesced is not None else nnz <= 1
    if requires_grad:
        out = _new(idx, vdata, shape, coalesced)
        out.requires_grad_(True)
        return out
    return from_values(values, idx, shape, coalesced)


def _check_indices(idx, sparse_shape) -> None:
    host = backend_of(idx).to_host(idx)
    for d, n in enumerate(sparse_shape):
        lo, hi = int(host[d].min()), int(host[d].max())
        if lo < 0:
            raise RuntimeError(f"found negative index {lo} for dim {d}")
        if hi >= n:
            raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is {n} but found index {hi}")


def to_sparse(self: Tensor, sparseDim: int | None = None, *, layout=None, blocksize=None, dense_dim=None) -> SparseTensor:  # noqa: N803 - torch's name
    """``Tensor.to_sparse``: the nonzero entries of a dense tensor as a coalesced COO tensor
    (with ``sparseDim``, entries are the nonzero slices over the first ``sparseDim`` dims)."""
    if layout is not None and layout is not sparse_coo:
        if layout is strided:
            return self.to_dense()
        raise RuntimeError(f"to_sparse: conversion to {layout!r} is not supported: backprop's sparse layout is sparse_coo")
    if isinstance(self, SparseTensor):
        if sparseDim is not None and sparseDim != self.sparse_dim():
            raise RuntimeError("to_sparse: conversion from Sparse to Sparse with sparse_dim argument != self.sparse_dim() is not supported")
        return self
    data = self._data
    k = data.ndim if sparseDim is None else int(sparseDim)
    if dense_dim is not None:
        k = data.ndim - int(dense_dim)
    if not 0 <= k <= data.ndim:
        raise RuntimeError(f"sparse_dim must be between 0 and {data.ndim}, but got {k}")
    if k == 0:
        raise RuntimeError("to_sparse: a sparse tensor needs at least one sparse dimension (sparse_dim=0 is not supported)")
    xp = array_module(data)
    shape = tuple(data.shape)
    mask = data != 0
    if k < data.ndim:
        mask = mask.reshape(shape[:k] + (-1,)).any(axis=-1)
    lin = xp.flatnonzero(mask).astype(numpy.int64)
    idx = _unlinear(lin, shape[:k])
    flat = self.reshape((math.prod(shape[:k]),) + shape[k:])
    values = flat[_index_tensor(lin)]
    return from_values(values, idx, shape, True)


def to_sparse_coo(self: Tensor) -> SparseTensor:
    return to_sparse(self)


# ---------------------------------------------------------------------------- to_dense
class ToDense(Function):
    _sparse_ok = True

    @staticmethod
    def forward(ctx, s):
        vals = s._data
        k = s._sp_indices.shape[0]
        shape = s._sp_shape
        lin = _linear(s._sp_indices, shape[:k])
        ctx.lin = lin
        ctx.flat_shape = (math.prod(shape[:k]),) + tuple(shape[k:])
        backend = backend_of(vals)
        xp = backend.xp
        out = xp.zeros(ctx.flat_shape, dtype=vals.dtype)
        if s._sp_coalesced:
            out[lin] = vals
        elif backend is CPU and vals.ndim == 1 and vals.dtype.kind == "f":
            out = numpy.bincount(lin, weights=vals, minlength=ctx.flat_shape[0]).astype(vals.dtype)
        else:
            backend.ufunc_at("add", out, lin, vals)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        lin = ctx.lin if B.is_raw(grad) else _index_tensor(ctx.lin)
        return grad.reshape(ctx.flat_shape)[lin], None


def to_dense(self: Tensor, dtype=None, *, masked_grad: bool | None = None) -> Tensor:
    """``Tensor.to_dense``: the strided tensor a sparse one stands for (duplicates summed);
    a strided tensor is returned as it is."""
    if not isinstance(self, SparseTensor):
        return self if dtype is None else self.to(dtype)
    out = ToDense.apply(self)
    return out if dtype is None else out.to(dtype)


# ---------------------------------------------------------------------------- coalesce and values
def coalesce(self: SparseTensor) -> SparseTensor:
    """One entry per index, duplicates summed, indices sorted (row-major); ``self`` if already so."""
    _check_sparse(self, "coalesce")
    if self._sp_coalesced:
        return self
    k = self._sp_indices.shape[0]
    sparse_shape = self._sp_shape[:k]
    lin = _linear(self._sp_indices, sparse_shape)
    xp = array_module(lin)
    uniq, inverse = xp.unique(lin, return_inverse=True)
    inverse = inverse.reshape(-1).astype(numpy.int64, copy=False)
    vals = values_of(self)

    zeros = _make(xp.zeros((uniq.shape[0],) + tuple(vals._data.shape[1:]), dtype=vals._data.dtype))
    summed = index_add(zeros, 0, _index_tensor(inverse), vals)
    return from_values(summed, _unlinear(uniq.astype(numpy.int64), sparse_shape), self._sp_shape, True)


def _check_sparse(t, op: str) -> None:
    if not isinstance(t, SparseTensor):
        kind = "sparse tensor" if op == "values" else "sparse coordinate tensor"
        raise RuntimeError(f"{op} expected {kind} layout but got Strided")


def _dense_only_sparse_op(op: str):
    """A sparse-only method on a strided tensor: torch's NotImplementedError for the CPU/CUDA backend."""

    def refuse(self: Tensor):
        backend = "CPU" if type(self._data) is numpy.ndarray else "CUDA"
        raise NotImplementedError(
            f"Could not run 'aten::{op}' with arguments from the '{backend}' backend: it is defined for sparse tensors only"
        )

    refuse.__name__ = op
    return refuse


def indices(self: SparseTensor) -> Tensor:
    _check_sparse(self, "indices")
    if not self._sp_coalesced:
        raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
    return _make(self._sp_indices)


def values(self: SparseTensor) -> Tensor:
    _check_sparse(self, "values")
    if not self._sp_coalesced:
        raise RuntimeError("Cannot get values on an uncoalesced tensor, please call .coalesce() first")
    return values_of(self)


def raw_indices(self: SparseTensor) -> Tensor:
    _check_sparse(self, "_indices")
    return _make(self._sp_indices)


def raw_values(self: SparseTensor) -> Tensor:
    _check_sparse(self, "_values")
    return values_of(self)


def sparse_mask(self: Tensor, mask: SparseTensor) -> SparseTensor:
    """``Tensor.sparse_mask``: this dense tensor's entries at ``mask``'s indices (its values ignored)."""
    _check_sparse(mask, "sparse_mask")
    if isinstance(self, SparseTensor):
        self = self.to_dense()
    if tuple(self.shape) != tuple(mask._sp_shape):
        raise RuntimeError(
            f"sparse_mask(): operands have incompatible sizes; self has size {shape_str(self.shape)} but mask has size "
            f"{shape_str(mask._sp_shape)}"
        )
    k = mask._sp_indices.shape[0]
    shape = mask._sp_shape
    lin = _linear(mask._sp_indices, shape[:k])
    flat = self.reshape((math.prod(shape[:k]),) + tuple(shape[k:]))
    return from_values(flat[_index_tensor(lin)], mask._sp_indices, shape, mask._sp_coalesced)


def _grad_as_sparse(leaf: SparseTensor, g: Tensor) -> SparseTensor:
    """A sparse leaf's ``.grad``: its values-aligned gradient as a coalesced sparse tensor (one
    entry per index, as torch's masked gradients are)."""
    if leaf._sp_coalesced:
        return _new(leaf._sp_indices, g._data, leaf._sp_shape, True)
    k = leaf._sp_indices.shape[0]
    lin = _linear(leaf._sp_indices, leaf._sp_shape[:k])
    xp = array_module(lin)
    uniq, first = xp.unique(lin, return_index=True)
    return _new(_unlinear(uniq.astype(numpy.int64), leaf._sp_shape[:k]), g._data[first], leaf._sp_shape, True)


# ---------------------------------------------------------------------------- value-wise arithmetic
def _scalar_like(value) -> bool:
    return isinstance(value, (int, float, complex, bool, numpy.number)) or (
        isinstance(value, Tensor) and not isinstance(value, SparseTensor) and value._data.ndim == 0
    )


def mul(self: SparseTensor, other) -> SparseTensor:
    if _scalar_like(other):
        return from_values(values_of(self) * other, self._sp_indices, self._sp_shape, self._sp_coalesced)
    if isinstance(other, SparseTensor):
        return _same_shape(self, other, "mul") or to_sparse(self.to_dense() * other.to_dense(), self.sparse_dim())
    raise not_implemented("mul.Tensor", self)


def div(self: SparseTensor, other) -> SparseTensor:
    if _scalar_like(other):
        return from_values(values_of(self) / other, self._sp_indices, self._sp_shape, self._sp_coalesced)
    raise not_implemented("div.Tensor", self)


def neg(self: SparseTensor) -> SparseTensor:
    return from_values(-values_of(self), self._sp_indices, self._sp_shape, self._sp_coalesced)


def _same_shape(a: SparseTensor, b: SparseTensor, op: str):
    if tuple(a._sp_shape) != tuple(b._sp_shape):
        raise RuntimeError(f"{op}: expected 'self' and 'other' to have same size, but {shape_str(a._sp_shape)} != {shape_str(b._sp_shape)}")
    if a.sparse_dim() != b.sparse_dim():
        raise RuntimeError(f"{op}: expected 'self' and 'other' to have the same sparse dims, but got {a.sparse_dim()} and {b.sparse_dim()}")
    return None


def add(self: Tensor, other, *, alpha=1) -> Tensor:
    """sparse + sparse -> sparse (indices concatenated; coalesced when both were); dense +
    sparse -> dense; sparse + dense raises as in torch."""
    if isinstance(self, SparseTensor):
        if not isinstance(other, SparseTensor):
            raise RuntimeError("add(sparse, dense) is not supported. Use add(dense, sparse) instead.")
        _same_shape(self, other, "add")
        xp = array_module(self._sp_indices)
        b = values_of(other) if alpha == 1 else values_of(other) * alpha

        vals = cat([values_of(self), b.to(self.dtype) if b.dtype is not self.dtype else b], 0)
        out = from_values(vals, xp.concatenate([self._sp_indices, other._sp_indices], axis=1), self._sp_shape, False)
        return out.coalesce() if self._sp_coalesced and other._sp_coalesced else out
    other_dense = other.to_dense()
    return self + (other_dense if alpha == 1 else other_dense * alpha)


def sub(self: Tensor, other, *, alpha=1) -> Tensor:
    return add(self, other, alpha=-alpha)


def transpose(self: SparseTensor, dim0: int, dim1: int) -> SparseTensor:

    n = len(self._sp_shape)
    d0, d1 = normalize_dim(dim0, n, "transpose"), normalize_dim(dim1, n, "transpose")
    k = self._sp_indices.shape[0]
    if d0 >= k or d1 >= k:
        raise RuntimeError(f"sparse transpose: transposed dimensions must be sparse Got sparse_dim: {k}, d0: {d0}, d1: {d1}")
    shape = list(self._sp_shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    order = list(range(k))
    order[d0], order[d1] = order[d1], order[d0]
    return from_values(values_of(self), self._sp_indices[order], shape, self._sp_coalesced and d0 == d1)


def t(self: SparseTensor) -> SparseTensor:
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return self if self.ndim < 2 else transpose(self, 0, 1)


def to(self: SparseTensor, *args, **kwargs) -> SparseTensor:
    """``.to(device)``/``.to(dtype)``: values (differentiably) and indices moved/cast."""
    from .._tensor_methods import parse_to_args  # (it binds this module's methods)

    if len(args) == 1 and not kwargs and isinstance(args[0], Tensor):
        kwargs = {"device": args[0].device, "dtype": args[0].dtype}
        args = ()
    device, dtype, _non_blocking, copy = parse_to_args(args, kwargs)
    vals = values_of(self)
    idx = self._sp_indices
    if device is not None:
        moved = to_device(vals, device)
        if moved is not vals:
            idx = backend_for(moved.device).asarray(backend_of(idx).to_host(idx)) if backend_of(idx) is not backend_of(moved._data) else idx
            vals = moved
    if dtype is not None and _dtype.to_dtype(dtype) is not vals.dtype:
        vals = vals.to(dtype)
    if vals._data is self._data and not copy:
        return self
    if copy and vals._data is self._data:
        vals = vals.clone()
    return from_values(vals, idx, self._sp_shape, self._sp_coalesced)


def clone(self: SparseTensor, *, memory_format=None) -> SparseTensor:
    return from_values(values_of(self).clone(), self._sp_indices.copy(), self._sp_shape, self._sp_coalesced)


# ---------------------------------------------------------------------------- sparse @ dense
def _spmm_arrays(rows, cols, vals, m: int, k: int, x):
    """``A @ x`` for the COO matrix ``A`` (``m x k``; duplicates add) and a dense 2-D ``x``."""
    backend = backend_of(x)
    if backend is CPU and vals.dtype.kind in "fc" and vals.dtype.itemsize >= 4:
        sps = backend.scipy("sparse")
        a = sps.csr_matrix((vals, (rows, cols)), shape=(m, k))
        return numpy.asarray(a @ x, dtype=x.dtype)
    xp = backend.xp
    out = xp.zeros((m, x.shape[1]), dtype=x.dtype)
    if vals.shape[0]:
        backend.ufunc_at("add", out, rows, vals[:, None] * x[cols])
    return out


class SparseAddmm(Function):
    """2-D sparse (no dense dims) @ 2-D dense -> dense. The sparse operand's gradient is the
    dense gradient ``grad @ x^T`` sampled at its indices (torch.sparse.mm's masked gradient)."""

    _sparse_ok = True

    @staticmethod
    def forward(ctx, s, x):
        idx = s._sp_indices
        m, k = s._sp_shape
        ctx.rows, ctx.cols, ctx.m, ctx.k = idx[0], idx[1], m, k
        ctx.save_for_backward(s, x)
        return _spmm_arrays(idx[0], idx[1], s._data, m, k, x._data)

    @staticmethod
    def backward(ctx, grad):
        s, x = ctx.saved_tensors
        need = ctx.needs_input_grad
        rows, cols = ctx.rows, ctx.cols
        gs = gx = None
        if B.is_raw(grad):
            if need[0]:
                gs = (grad[rows] * B.conj(x[cols])).sum(-1)
            if need[1]:
                gx = _spmm_arrays(cols, rows, B.conj(s), ctx.k, ctx.m, grad)
            return gs, gx
        if need[0]:
            gs = (grad[_index_tensor(rows)] * B.conj(x[_index_tensor(cols)])).sum(-1)
        if need[1]:
            st = from_values(B.conj(values_of(s)), s._sp_indices[[1, 0]], (ctx.k, ctx.m), False)
            gx = SparseAddmm.apply(st, grad)
        return gs, gx


class MmSparse(SparseAddmm):
    """torch.mm's sparse @ dense where the sparse operand is not a leaf requiring grad."""



MmSparse._backward_name = "MmBackward0"  # torch's name for the node of torch.mm


class Mm(Function):
    """``torch.mm(sparse_leaf, x)``: torch gives a sparse *leaf* the dense gradient ``grad @ x^T``,
    which reaches it through a ``_DenseGradSlot`` standing for the leaf in the graph."""

    _sparse_ok = True

    @staticmethod
    def forward(ctx, proxy, x, s):
        idx = s._sp_indices
        m, k = s._sp_shape
        ctx.rows, ctx.cols, ctx.m, ctx.k = idx[0], idx[1], m, k
        ctx.vals, ctx.indices = s._data, idx
        ctx.save_for_backward(x)
        return _spmm_arrays(idx[0], idx[1], s._data, m, k, x._data)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        need = ctx.needs_input_grad
        gp = grad @ B.conj(B.matrix_transpose(x)) if need[0] else None
        gx = None
        if need[1]:
            if B.is_raw(grad):
                gx = _spmm_arrays(ctx.cols, ctx.rows, B.conj(ctx.vals), ctx.k, ctx.m, grad)
            else:
                st = _new(ctx.indices[[1, 0]], B.conj(ctx.vals), (ctx.k, ctx.m), False)
                gx = SparseAddmm.apply(st, grad)
        return gp, gx, None


def _check_mm(s: SparseTensor, x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'mat2' must be Tensor, not {type(x).__name__}")
    if s.sparse_dim() != 2 or s.dense_dim() != 0:
        raise RuntimeError(
            f"{op}: expected a 2-D sparse matrix with no dense dimensions as mat1, got sparse_dim={s.sparse_dim()}, "
            f"dense_dim={s.dense_dim()} (shape {shape_str(s._sp_shape)})"
        )
    if x.ndim != 2:
        raise RuntimeError(f"{op}: matrices expected, got {x.ndim}D tensor as mat2 (shape {shape_str(x.shape)})")
    if s._sp_shape[1] != x.shape[0]:
        raise RuntimeError(
            f"{op}: mat1 and mat2 shapes cannot be multiplied ({s._sp_shape[0]}x{s._sp_shape[1]} and "
            f"{x.shape[0]}x{x.shape[1]})"
        )
    if s._data.dtype != x._data.dtype:
        raise RuntimeError(f"{op}: expected mat1 and mat2 to have the same dtype, but got: {s.dtype} != {x.dtype}")


def sparse_mm(mat1: Tensor, mat2: Tensor, reduce: str | None = None) -> Tensor:
    """torch.sparse.mm: sparse @ dense -> dense, sparse @ sparse -> sparse; the sparse operand's
    gradient is masked to its sparsity pattern."""
    if reduce is not None:  # torch: only its CSR kernel takes reduce= (even "sum")
        raise NotImplementedError(
            f"Could not run 'aten::_sparse_mm_reduce_impl' with arguments from the '{_backend_name(mat1)}' backend: "
            f"sparse.mm(..., reduce={reduce!r}) needs a sparse CSR matrix, and backprop's sparse layout is COO"
        )
    if not isinstance(mat1, SparseTensor):
        if isinstance(mat2, SparseTensor):
            return _dense_sparse(mat1, mat2, "sparse.mm")

        from .linalg import mm as dense_mm  # (linalg imports this module)

        return dense_mm(mat1, mat2)
    if isinstance(mat2, SparseTensor):
        if mat1.ndim != 2 or mat2.ndim != 2 or mat1._sp_shape[1] != mat2._sp_shape[0]:
            raise RuntimeError(
                f"sparse.mm: mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, mat1._sp_shape))} and "
                f"{'x'.join(map(str, mat2._sp_shape))})"
            )
        return to_sparse(sparse_mm(mat1, mat2.to_dense()))
    _check_mm(mat1, mat2, "sparse.mm")
    return SparseAddmm.apply(mat1, mat2)


def _dense_sparse(a: Tensor, s: SparseTensor, op: str) -> Tensor:
    """dense @ sparse, as (s^T @ a^T)^T."""
    if a.ndim != 2:
        raise RuntimeError(f"{op}: matrices expected, got {a.ndim}D tensor as mat1 (shape {shape_str(a.shape)})")
    _check_mm(t(s), a.t(), op)
    return SparseAddmm.apply(t(s), a.t()).t()


def mm(mat1: Tensor, mat2: Tensor, op: str = "mm") -> Tensor:
    """torch.mm/spmm with a sparse operand: as ``sparse.mm``, but a sparse leaf requiring grad
    gets torch.mm's dense gradient."""
    if not isinstance(mat1, SparseTensor):
        return _dense_sparse(mat1, mat2, op)
    if isinstance(mat2, SparseTensor):
        return sparse_mm(mat1, mat2)
    _check_mm(mat1, mat2, op)
    if mat1._requires_grad and mat1._grad_fn is None and _state.enabled:
        return Mm.apply(_dense_grad_slot(mat1), mat2, mat1)
    return MmSparse.apply(mat1, mat2)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """torch.matmul with a sparse operand: matrix @ matrix, or sparse matrix @ vector."""
    if isinstance(input, SparseTensor) and not isinstance(other, SparseTensor) and other.ndim == 1:
        return mm(input, other.unsqueeze(1), "matmul").squeeze(1)
    return mm(input, other, "matmul")


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """torch.sparse.addmm: ``beta * input + alpha * (mat1 @ mat2)`` with a sparse ``mat1``."""
    prod = sparse_mm(mat1, mat2)
    if alpha != 1:
        prod = prod * alpha
    if isinstance(input, SparseTensor):
        input = input.to_dense()
    return prod + (input if beta == 1 else input * beta)


# ---------------------------------------------------------------------------- reductions
def sparse_sum(input: Tensor, dim=None, dtype=None) -> Tensor:
    """torch.sparse.sum: over all entries (a dense 0-d tensor), or over ``dim`` (a sparse tensor
    while sparse dims remain, else dense)."""
    if not isinstance(input, SparseTensor):

        return dense_sum(input, dim, dtype=dtype) if dim is not None else dense_sum(input, dtype=dtype)
    vals = values_of(input)
    if dtype is not None:
        vals = vals.to(dtype)
    if dim is None:
        return vals.sum()

    n = input.ndim
    dims = sorted({normalize_dim(d, n, "sparse.sum") for d in ((dim,) if isinstance(dim, int) else dim)})
    k = input.sparse_dim()
    dense_red = [d - k + 1 for d in dims if d >= k]
    if dense_red:
        vals = vals.sum(dense_red)
    keep = [d for d in range(k) if d not in dims]
    shape = tuple(s for d, s in enumerate(input._sp_shape) if d not in dims)
    if not keep:
        return vals.sum(0)
    out = from_values(vals, input._sp_indices[keep], shape, False)
    return coalesce(out)


def sparse_softmax(input: SparseTensor, dim: int, dtype=None, *, log: bool = False) -> SparseTensor:
    """torch.sparse.softmax: softmax over the specified entries along ``dim`` (unspecified entries
    count as -inf), on the coalesced tensor."""
    _check_sparse(input, "sparse.softmax" if not log else "sparse.log_softmax")

    s = coalesce(input)
    if dtype is not None:
        s = to(s, dtype)
    d = normalize_dim(dim, s.ndim, "softmax")
    k = s.sparse_dim()
    if d >= k:
        raise RuntimeError("sparse.softmax: softmax over a dense dimension is not supported by backprop")
    vals = values_of(s)
    others = [i for i in range(k) if i != d]
    key = _linear(s._sp_indices[others], tuple(s._sp_shape[i] for i in others)) if others else None
    xp = array_module(s._sp_indices)
    if key is None:
        groups = xp.zeros(s._nnz(), dtype=numpy.int64)
        n_groups = 1
    else:
        uniq, groups = xp.unique(key, return_inverse=True)
        groups = groups.reshape(-1).astype(numpy.int64, copy=False)
        n_groups = int(uniq.shape[0])
    vd = vals._data
    gmax = xp.full((n_groups,) + vd.shape[1:], -numpy.inf, dtype=vd.dtype)
    if vd.shape[0]:
        backend_of(vd).ufunc_at("maximum", gmax, groups, vd)
    gidx = _index_tensor(groups)
    shifted = vals - _make(gmax)[gidx]
    e = shifted.exp()
    totals = index_add(_make(xp.zeros(gmax.shape, dtype=vd.dtype)), 0, gidx, e)
    out = shifted - totals.log()[gidx] if log else e / totals[gidx]
    return from_values(out, s._sp_indices, s._sp_shape, True)


def sparse_log_softmax(input: SparseTensor, dim: int, dtype=None) -> SparseTensor:
    return sparse_softmax(input, dim, dtype, log=True)


# ---------------------------------------------------------------------------- zero-preserving value-wise ops
# f(0) == 0, so f applied to the (coalesced) values is f of the tensor: torch's sparse kernels.
ZERO_PRESERVING = (
    "abs sqrt sin tan tanh sinh asin asinh atan atanh relu sign sgn ceil floor round trunc frac expm1 log1p "
    "erf erfinv deg2rad rad2deg isnan isinf signbit square"
).split()


def _valuewise(name: str):
    def op(self: SparseTensor) -> SparseTensor:
        s = coalesce(self)
        return from_values(getattr(values_of(s), name)(), s._sp_indices, s._sp_shape, True)

    op.__name__ = name
    op.__doc__ = f"``{name}`` of a sparse tensor: of its coalesced values (zero maps to zero)."
    return op


def pow(self: SparseTensor, exponent) -> SparseTensor:  # noqa: A001 - torch's name
    """``sparse ** scalar`` for a positive exponent (zero stays zero), on the coalesced values."""
    if not isinstance(exponent, (int, float)) or exponent <= 0:
        raise not_implemented("pow.Tensor_Scalar (a sparse tensor to a non-positive or tensor power)", self)
    s = coalesce(self)
    return from_values(values_of(s) ** exponent, s._sp_indices, s._sp_shape, True)


def zeros_like(input: SparseTensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> SparseTensor:
    """``torch.zeros_like`` of a sparse tensor: a sparse tensor of its shape with no entries."""
    vals = input._data
    xp = array_module(vals)
    k = input.sparse_dim()
    out = _new(
        xp.zeros((k, 0), dtype=numpy.int64),
        xp.zeros((0,) + tuple(vals.shape[1:]), dtype=vals.dtype),
        input._sp_shape,
        True,
    )
    if dtype is not None or device is not None:
        out = to(out, *(a for a in (device, dtype) if a is not None))
    return out.requires_grad_(requires_grad) if requires_grad else out


def sparse_aware(dense_fn, sparse_fn, second: bool = False):
    """``dense_fn`` as a top-level function that serves a sparse first argument (or, with
    ``second``, a sparse second one: ``torch.add(dense, sparse)``) with ``sparse_fn``: torch's
    functional forms ``torch.sum(sparse)``, ``torch.add(sparse, sparse)``..."""

    @functools.wraps(dense_fn)
    def fn(input, *args, **kwargs):
        if input.__class__ is SparseTensor or (second and args and args[0].__class__ is SparseTensor):
            return sparse_fn(input, *args, **kwargs)
        return dense_fn(input, *args, **kwargs)

    return fn


# ---------------------------------------------------------------------------- method table
def _sum_method(self: SparseTensor, dim=None, keepdim: bool = False, dtype=None):
    if keepdim:
        raise not_implemented("sum.dim_IntList (keepdim=True)", self)
    return sparse_sum(self, dim, dtype)


def _cast(dtype):
    return lambda self, memory_format=None: to(self, dtype)


def _binary(fn):
    def method(self, other):
        return fn(self, other)

    return method


def _reflected_mul(self, other):
    return mul(self, other)


def _rmatmul(self, other):
    return mm(other, self, "matmul")


def _radd(self, other):
    """dense + sparse -> dense (Python asks the sparse subclass first)."""
    if isinstance(other, Tensor):
        return add(other, self)
    raise not_implemented("add.Tensor", self)


def _rsub(self, other):
    if isinstance(other, Tensor):
        return add(other, self, alpha=-1)
    raise not_implemented("sub.Tensor", self)


def _type(self, dtype=None, non_blocking: bool = False, **kwargs):
    if dtype is None:
        name = Tensor.type(self)  # backprop.sparse.FloatTensor / backprop.cuda.sparse.FloatTensor, as torch's
        head, _, tail = name.rpartition(".")
        return f"{head}.sparse.{tail}"
    return to(self, dtype)


def _cuda(self, device=None, non_blocking: bool = False, memory_format=None):

    dev = device_cls("cuda", device) if isinstance(device, int) else device_cls(device or "cuda")
    return to(self, dev)


SPARSE_METHODS = {
    "coalesce": coalesce,
    "to_dense": to_dense,
    "to_sparse": to_sparse,
    "to_sparse_coo": to_sparse_coo,
    "indices": indices,
    "values": values,
    "_indices": raw_indices,
    "_values": raw_values,
    "sparse_mask": sparse_mask,
    "t": t,
    "transpose": transpose,
    "to": to,
    "cpu": lambda self, memory_format=None: to(self, "cpu"),
    "cuda": _cuda,
    "clone": clone,
    "double": _cast(_dtype.float64),
    "float": _cast(_dtype.float32),
    "half": _cast(_dtype.float16),
    "long": _cast(_dtype.int64),
    "int": _cast(_dtype.int32),
    "bool": _cast(_dtype.bool_),
    "type": _type,
    "mm": lambda self, mat2: mm(self, mat2),
    "matmul": matmul,
    "__matmul__": matmul,
    "__rmatmul__": _rmatmul,
    "__radd__": _radd,
    "__rsub__": _rsub,
    "smm": lambda self, mat2: mm(self, mat2, "smm"),
    "sum": _sum_method,
    "mul": mul,
    "__mul__": _binary(mul),
    "__rmul__": _reflected_mul,
    "div": div,
    "__truediv__": _binary(div),
    "neg": neg,
    "__neg__": neg,
    "add": add,
    "__add__": _binary(add),
    "sub": sub,
    "__sub__": _binary(sub),
    "pow": pow,
    "__pow__": pow,
    **{name: _valuewise(name) for name in ZERO_PRESERVING},
    "softmax": lambda self, dim, dtype=None: sparse_softmax(self, dim, dtype),
    "log_softmax": lambda self, dim, dtype=None: sparse_log_softmax(self, dim, dtype),
}

# Inherited members that are right for a sparse tensor as they are (metadata and autograd state).
_INHERITED_OK = frozenset(
    "backward register_hook register_post_accumulate_grad_hook retain_grad requires_grad_ detach_ dtype device "
    "is_cuda is_cpu is_mps is_xpu is_quantized is_meta element_size itemsize is_floating_point is_complex "
    "get_device requires_grad grad_fn is_leaf output_nr retains_grad name names type_as new_tensor".split()
)
# Operator dunders a dense op would serve wrongly (on the values): refused unless in SPARSE_METHODS.
_OPERATORS = (
    "__getitem__ __setitem__ __rtruediv__ __rpow__ __floordiv__ __rfloordiv__ __mod__ "
    "__rmod__ __abs__ __pos__ __invert__ __and__ __or__ __xor__ __rand__ __ror__ __rxor__ __lshift__ __rshift__ "
    "__iadd__ __isub__ __imul__ __itruediv__ __ipow__ __imatmul__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ "
    "__float__ __int__ __index__ __complex__ __dlpack__ __dlpack_device__ __cuda_array_interface__"
).split()


def _refusing_method(name: str):
    op = name.strip("_") if name.startswith("__") else name

    def refuse(self, *args, **kwargs):
        raise not_implemented(op, self)

    refuse.__name__ = name
    return refuse


def _refusing_property(name: str):
    def refuse(self):
        raise not_implemented(name, self)

    return property(refuse)


def install_methods() -> None:
    """Bind the sparse methods on ``SparseTensor`` and make every other Tensor method refuse a
    sparse tensor with torch's NotImplementedError (run once all Tensor methods are bound)."""
    for name, fn in SPARSE_METHODS.items():
        setattr(SparseTensor, name, fn)
    SparseTensor.T = property(t)
    SparseTensor.mT = property(lambda self: transpose(self, -2, -1))
    own = set(SparseTensor.__dict__)
    for name in list(dir(Tensor)):
        if name in own or name in _INHERITED_OK or name in SPARSE_METHODS:
            continue
        if name.startswith("_") and name not in _OPERATORS:
            continue
        attr = getattr(Tensor, name, None)
        if isinstance(attr, property):
            setattr(SparseTensor, name, _refusing_property(name))
        elif callable(attr):
            setattr(SparseTensor, name, _refusing_method(name))
    # Comparisons refuse too, but sparse tensors stay hashable (by identity) as Tensors are.
    SparseTensor.__hash__ = Tensor.__hash__


# Sparse-only methods on a strided tensor, as torch answers them (bound in _tensor_methods.py).
DENSE_METHODS = {
    "to_sparse": to_sparse,
    "to_sparse_coo": to_sparse_coo,
    "to_dense": to_dense,
    "sparse_mask": sparse_mask,
    "coalesce": coalesce,
    "indices": indices,
    "values": values,
    "is_coalesced": lambda self: _check_sparse(self, "is_coalesced"),
    "sparse_dim": lambda self: 0,
    "dense_dim": lambda self: self._data.ndim,
    "_indices": _dense_only_sparse_op("_indices"),
    "_values": _dense_only_sparse_op("_values"),
    "_nnz": _dense_only_sparse_op("_nnz"),
}
