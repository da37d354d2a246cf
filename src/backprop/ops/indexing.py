"""Indexing: ``__getitem__``/``__setitem__``, gather/scatter, index_select/index_add,
masked_fill/masked_select, sort/topk, nonzero, unique.

``__getitem__`` with only ints, slices, None and Ellipsis is a view (``movement.basic_index``);
with integer or boolean tensors/lists it is "advanced" indexing, a copy whose backward
scatters the gradient back with accumulation (repeated indices add up).
"""

from __future__ import annotations

import math
import warnings

import numpy

from .. import _dtype, return_types
from .._autocast import autocast_op
from .._backend import array_module, backend_of, is_array, move
from .._tensor import Tensor, _make, shape_str
from ..autograd.function import Function
from ..autograd.grad_mode import _state
from . import _backward as B
from ._utils import C_TYPE_NAMES, cast_to, fitting_scalar, normalize_dim, to_tensor_operand, unbroadcast
from .device import to_device
from .inplace import write_out
from .movement import SliceScatter, basic_index, expand

_BASIC = (int, slice, type(None), type(Ellipsis))


def _index_on(arr, data):
    """Index array ``arr`` moved to the device of ``data``, the array it indexes. As in torch,
    CPU indices (tensors, lists, NumPy arrays) serve a CUDA tensor; a CPU tensor takes no
    device indices."""
    if type(data) is numpy.ndarray:
        raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor (cpu)")
    return move(arr, backend_of(data).device_of(data))


def _index_component(item, op: str, data=None):
    """One component of an index, in the form NumPy understands, following torch's rules;
    index arrays on the device of ``data`` (the indexed array) when it is given."""
    if isinstance(item, Tensor):
        arr = item._data
        if _dtype.is_float_array(arr):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        if arr.dtype == numpy.uint8:
            arr = arr.astype(bool)
        if arr.ndim == 0 and arr.dtype != bool:
            return int(arr)
        return arr if data is None or type(arr) is type(data) else _index_on(arr, data)
    if isinstance(item, slice):
        if item.step is not None and int(item.step) <= 0:
            raise ValueError("step must be greater than zero")
        return slice(
            int(item.start) if item.start is not None else None,
            int(item.stop) if item.stop is not None else None,
            int(item.step) if item.step is not None else None,
        )
    if isinstance(item, bool):
        return item
    if isinstance(item, (int, numpy.integer)):
        return int(item)
    if item is None or item is Ellipsis:
        return item
    if isinstance(item, range):  # a Python range indexes as the list it stands for (torch's rule)
        arr = numpy.arange(item.start, item.stop, item.step, dtype=numpy.int64)
        return arr if data is None or type(arr) is type(data) else _index_on(arr, data)
    if isinstance(item, (list, tuple, numpy.ndarray)):  # host data
        if isinstance(item, (list, tuple)) and any(isinstance(x, range) for x in item):
            item = [list(x) if isinstance(x, range) else x for x in item]
        arr = numpy.asarray(item.tolist() if isinstance(item, numpy.ndarray) and item.dtype == object else item)
        if arr.dtype == object:
            arr = numpy.asarray([x.item() if isinstance(x, Tensor) else x for x in item])
        if arr.size == 0:
            arr = arr.astype(numpy.int64)
        elif arr.dtype == numpy.uint8 and isinstance(item, numpy.ndarray):  # a byte mask, as a uint8 tensor
            arr = arr.astype(bool)
        elif arr.dtype.kind == "f":  # host numbers become a long index, as in torch (truncated toward zero)
            arr = arr.astype(numpy.int64)
        if _dtype.is_float_array(arr):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return arr if data is None or type(arr) is type(data) else _index_on(arr, data)
    if is_array(item):  # a device array (an index normalized before: index_put, backward passes)
        if _dtype.is_float_array(item):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return item if data is None or type(item) is type(data) else _index_on(item, data)
    raise IndexError(
        f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(item).__name__})"
    )


def normalize_index(index, op: str = "index", data=None) -> tuple:
    """Turn a Python index into a tuple of NumPy index components (index arrays on the device
    of ``data``, the indexed array, when it is given)."""
    if not isinstance(index, tuple):
        if _sequence_as_tuple(index):
            warnings.warn(
                "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in "
                "pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor "
                "index, x[torch.tensor(seq)], which will result either in an error or a different result",
                UserWarning,
                stacklevel=3,
            )
            index = tuple(index)
        else:
            index = (index,)
    return tuple(_index_component(i, op, data) for i in index)


def _sequence_as_tuple(index) -> bool:
    """torch's (and NumPy's old) rule: a list shorter than 32 holding a tensor, a sequence, a
    slice, ``...`` or ``None`` is a tuple of indices (``x[[[0, 1], [2, 3]]]`` is ``x[[0, 1], [2, 3]]``)."""
    if type(index) is not list or len(index) >= 32:
        return False
    return any(
        isinstance(x, (Tensor, list, tuple, range, slice, numpy.ndarray)) or x is None or x is Ellipsis for x in index
    )


def _torch_index_error(exc: IndexError, input: Tensor) -> IndexError:
    """NumPy's out-of-range message in torch's words, naming the indexed tensor's shape."""
    msg = str(exc).replace(" for axis ", " for dimension ")
    return IndexError(f"{msg} (indexing a tensor of shape {shape_str(input._data.shape)})")


def _is_basic(index: tuple) -> bool:
    return all(type(i) in _BASIC for i in index)


class Index(Function):
    """Advanced indexing (a copy)."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.index = index
        return a._data[index]

    @staticmethod
    def backward(ctx, grad):
        return B.call(IndexAccumulate, grad, ctx.input_shape(0), ctx.index), None


class IndexAccumulate(Function):
    """The gradient of advanced indexing: ``grad`` added into zeros at ``index`` (duplicates sum)."""

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        out = array_module(grad._data).zeros(shape, dtype=grad._data.dtype)
        backend_of(out).ufunc_at("add", out, index, grad._data)
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(Index, grad, ctx.index), None, None


def getitem(input: Tensor, index) -> Tensor:
    idx = normalize_index(index, "__getitem__", input._data)
    if _is_basic(idx):
        try:
            return basic_index(input, idx)
        except IndexError as exc:
            raise _torch_index_error(exc, input) from None
    try:
        return Index.apply(input, idx)
    except IndexError as exc:
        raise _torch_index_error(exc, input) from None


class ZeroAtIndex(Function):
    """``grad`` with ``index`` set to zero: the gradient of the values overwritten by setitem."""

    @staticmethod
    def forward(ctx, grad, index):
        ctx.index = index
        out = grad._data.copy()
        out[index] = 0
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(ZeroAtIndex, grad, ctx.index), None


class IndexPut(Function):
    """``a[index] = value``, in place."""

    @staticmethod
    def forward(ctx, a, index, value):
        ctx.index = index
        try:
            a._data[index] = value._data
        except ValueError:
            region = a._data[index]
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {shape_str(value._data.shape)} cannot be broadcast to indexing "
                f"result of shape {shape_str(numpy.shape(region))}"
            ) from None
        ctx.mark_dirty(a)
        return a

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        ga = B.call(ZeroAtIndex, grad, ctx.index) if need[0] else None
        gv = None
        if need[2]:
            region = grad[ctx.index]
            gv = unbroadcast(region, ctx.input_shape(2))
        return ga, None, gv


def setitem(input: Tensor, index, value) -> None:
    """``input[index] = value`` (value cast to ``input``'s dtype); differentiable w.r.t. both."""
    from .inplace import apply_inplace, check_inplace

    if (
        not backend_of(input._data).checks_values
        and isinstance(index, Tensor)
        and index._data.dtype == bool
        and index._data.shape == input._data.shape
        and (not isinstance(value, Tensor) or value._data.ndim == 0)
    ):
        # A full-shape mask and one value: masked_fill, as torch does. Writing through the mask
        # would count its True values on the host, a wait on the GPU.
        apply_inplace(input, masked_fill, to_device(index, input.device), value, _name="__setitem__")
        return
    idx = normalize_index(index, "__setitem__", input._data)
    if not isinstance(value, Tensor):
        value = to_tensor_operand(value, input.dtype, input)
    else:
        if value._data.dtype != input._data.dtype:
            value = value.to(input.dtype)
        if type(value._data) is not type(input._data):  # as torch's copy_: values of another device are copied over
            value = to_device(value, input.device)
    check_inplace(input)
    try:
        IndexPut.apply(input, idx, value)
    except IndexError as exc:
        raise _torch_index_error(exc, input) from None
    if not backend_of(input._data).is_writeable(input._data):
        raise RuntimeError("unsupported operation: the written-to tensor is a broadcast view")


@autocast_op("index_put")
def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    out = input.clone()
    if accumulate:
        idx = normalize_index(tuple(indices), "index_put", out._data)
        return out + IndexAccumulate.apply(values.expand(out[idx].shape) if isinstance(values, Tensor) else values, out._data.shape, idx)
    setitem(out, tuple(indices), values)
    return out


# ---------------------------------------------------------------------------- gather / scatter
def _index_array(index: Tensor, op: str, input: Tensor):
    """The array of index tensor ``index``, which must be on ``input``'s device (as in torch)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    if type(index._data) is not type(input._data):
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, {input.device} and "
            f"{index.device}! (when checking argument for argument index in method {op})"
        )
    return index._data


def _check_gather_shapes(op: str, input: Tensor, dim: int, index, src_shape=None) -> None:
    if index.ndim != input._data.ndim and not (index.ndim <= 1 and input._data.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {'self' if src_shape is None else 'input'} tensor")
    for d in range(index.ndim):
        if d != dim and index.shape[d] > input._data.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {shape_str(index.shape)} to be smaller than "
                f"self {shape_str(input._data.shape)} apart from dimension {dim}"
            )
        if src_shape is not None and index.shape[d] > src_shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {shape_str(index.shape)} to be smaller than src "
                f"{shape_str(src_shape)}"
            )
    if op == "gather":
        check_index_range(index, input._data.shape[dim], dim)


# ---------------------------------------------------------------------------- index value checks
def check_index_range(idx, size: int, dim: int, *, negative: bool = False, exc: type = RuntimeError, message: str | None = None) -> None:
    """Raise torch's error when an index value of ``idx`` lies outside ``[0, size)`` (``[-size, size)``
    with ``negative``, for the ops that wrap negative indices as Python does).

    The check is one ``max`` over the index read as unsigned integers (a negative index reads as a
    huge one, so one reduction catches both ends; ``min`` and ``max`` with ``negative``): about
    2% of a gather's time. It runs where the backend ``checks_values`` (the CPU ones): on a GPU
    the reduction would be a host sync on every gather/embedding, stalling the stream, so there,
    as with torch's CUDA kernels (a device-side assert), the values go unchecked.
    The message is torch's: ``message`` when given (formatted with ``{bad}``, ``{size}``,
    ``{dim}``), else "index {bad} is out of bounds for dimension {dim} with size {size}", naming
    the first offending value in order."""
    if not idx.size or not backend_of(idx).checks_values:
        return
    low = -size if negative else 0
    if negative:
        if idx.min() >= low and idx.max() < size:
            return
    elif idx.view(f"u{idx.dtype.itemsize}").max() < size:
        return
    flat = idx.reshape(-1)
    bad = int(flat[((flat < low) | (flat >= size)).argmax()])  # the first one, on the error path only
    text = message if message is not None else "index {bad} is out of bounds for dimension {dim} with size {size}"
    raise exc(text.format(bad=bad, size=size, dim=dim))


_OUT_OF_RANGE_IN_SELF = "index out of range in self"  # torch's index_select/index_add/embedding on their fast paths


def _leading(shape) -> tuple:
    return tuple(slice(0, s) for s in shape)


class Gather(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.dim = dim
        ctx.index = index
        arr = a._data
        sl = list(_leading(index.shape))
        sl[dim] = slice(None)
        return array_module(arr).take_along_axis(arr[tuple(sl)], index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape(0)
        return B.call(ScatterAdd, B.zeros(shape, grad), ctx.dim, ctx.index, grad), None, None


def _one_d(t):
    """A 0-d tensor or array as shape (1,) (torch's gather/scatter treat 0-d as 1 element)."""
    if t is None or not isinstance(t, Tensor) and not is_array(t):
        return t
    shape = t._data.shape if isinstance(t, Tensor) else t.shape
    return t.reshape(1) if len(shape) == 0 else t


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False, out=None) -> Tensor:
    d = normalize_dim(dim, input._data.ndim, "gather")
    idx = _index_array(index, "gather", input)
    if out is not None:
        return _write_out(out, gather(input, d, index), "gather", input, index)
    if idx.size == 0:  # nothing read: torch skips the shape checks and returns the index's shape
        return basic_index(input.reshape(-1), (slice(0, 0),)).reshape(idx.shape)
    if input._data.ndim == 0:  # one element: as shape (1,)
        if idx.ndim > 1:
            raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
        return gather(input.reshape(1), 0, _make(idx.reshape(-1))).reshape(idx.shape)
    _check_gather_shapes("gather", input, d, idx)
    return Gather.apply(input, d, idx)


def _write_out(out: Tensor, result: Tensor, op: str, *inputs) -> Tensor:
    """``out=`` of the indexing ops: torch demands the result's exact dtype here."""
    return write_out(result, out, op, inputs, exact_dtype=True)


def take_along_dim(input: Tensor, indices: Tensor, dim=None) -> Tensor:
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = normalize_dim(dim, input._data.ndim, "take_along_dim")
    idx = _index_array(indices, "take_along_dim", input)
    size = input._data.shape[d] if input._data.ndim else 1
    if idx.size and backend_of(idx).checks_values and idx.min() < 0:
        # along a given dim torch wraps negative indices in [-size, 0); values past the end still raise
        # here (torch reads outside the tensor there)
        check_index_range(idx, size, d, negative=True)
        indices = _make(array_module(idx).where(idx < 0, idx + size, idx))
    shape = list(numpy.broadcast_shapes(input._data.shape[:d] + (1,) + input._data.shape[d + 1 :], indices._data.shape[:d] + (1,) + indices._data.shape[d + 1 :]))
    in_shape = shape.copy()
    in_shape[d] = input._data.shape[d]
    ix_shape = shape.copy()
    ix_shape[d] = indices._data.shape[d]
    return gather(expand(input, tuple(in_shape)), d, expand(indices, tuple(ix_shape)))


def _full_index(index, dim: int) -> tuple:
    """``index`` along ``dim`` and every position along the other dims (``indices(sparse=True)``)."""
    xp = array_module(index)
    nd = index.ndim
    return tuple(
        index if i == dim else xp.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)) for i, n in enumerate(index.shape)
    )


class Scatter(Function):
    @staticmethod
    def forward(ctx, a, dim, index, src):
        ctx.dim = dim
        ctx.index = index
        out = a._data.copy()
        out[_full_index(index, dim)] = src._data[_leading(index.shape)] if src._data.ndim else src._data
        return out

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        ga = gs = None
        if need[0]:
            ga = B.call(ZeroAtIndex, grad, _full_index(ctx.index, ctx.dim))
        if need[3]:
            gs = _pad_to(B.call(Gather, grad, ctx.dim, ctx.index), ctx.input_shape(3))
        return ga, None, None, gs


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, a, dim, index, src):
        ctx.dim = dim
        ctx.index = index
        out = a._data.copy()
        backend_of(out).ufunc_at("add", out, _full_index(index, dim), src._data[_leading(index.shape)])
        return out

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        gs = _pad_to(B.call(Gather, grad, ctx.dim, ctx.index), ctx.input_shape(3)) if need[3] else None
        return (grad if need[0] else None), None, None, gs


def _pad_to(t, shape: tuple):
    """``t`` (array or Tensor) in the leading corner of zeros of ``shape`` (src may be larger than index)."""
    if tuple(t.shape) == shape:
        return t
    return B.call(SliceScatter, t, shape, _leading(tuple(t.shape)))


def _zero_d_scatter(fn, input: Tensor, dim: int, index: Tensor, src, *args, **kwargs):
    """``fn`` on a 0-d ``input`` as on shape (1,): index and src reshaped alike, result back to 0-d."""
    normalize_dim(dim, 0, fn.__name__)
    out = fn(input.reshape(1), 0, _one_d(index), _one_d(src), *args, **kwargs)
    return out.reshape(())


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    if src is None:
        src = value
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
        if not isinstance(src, Tensor):
            src = _make(array_module(input._data).full(index._data.shape, src, dtype=input._data.dtype))
        return scatter_reduce(input, dim, index, src, "sum" if reduce == "add" else "prod")
    if input._data.ndim == 0:
        return _zero_d_scatter(scatter, input, dim, index, src)
    d = normalize_dim(dim, input._data.ndim, "scatter")
    idx = _index_array(index, "scatter", input)
    if not isinstance(src, Tensor):
        src = to_tensor_operand(src, input.dtype, input)
        _check_gather_shapes("scatter", input, d, idx)
    else:
        if src._data.dtype != input._data.dtype:
            raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype ({input.dtype} vs {src.dtype})")
        _check_gather_shapes("scatter", input, d, idx, src._data.shape)
    check_index_range(idx, input._data.shape[d], d)
    return Scatter.apply(input, d, idx, src)


@autocast_op("scatter_add")
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    if input._data.ndim == 0:
        return _zero_d_scatter(scatter_add, input, dim, index, src)
    d = normalize_dim(dim, input._data.ndim, "scatter_add")
    idx = _index_array(index, "scatter_add", input)
    if src._data.dtype != input._data.dtype:
        raise RuntimeError(f"scatter_add(): Expected self.dtype to be equal to src.dtype ({input.dtype} vs {src.dtype})")
    _check_gather_shapes("scatter_add", input, d, idx, src._data.shape)
    check_index_range(idx, input._data.shape[d], d)
    return ScatterAdd.apply(input, d, idx, src)


_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
_UFUNC_OF = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _scatter_reduce_array(arr, dim: int, index, src, reduce: str, include_self: bool):
    """``arr`` with each ``src[i]`` (i over ``index``'s positions) reduced into
    ``arr[index[i] along dim]``. The targets are sorted and each one's values reduced in one
    segmented pass (``reduceat``), so every reduction runs on every backend."""
    xp = array_module(arr)
    out = arr.copy()
    if index.size == 0:
        return out
    full = _full_index(xp.where(index < 0, index + arr.shape[dim], index), dim)
    strides = [1] * arr.ndim
    for d in range(arr.ndim - 2, -1, -1):
        strides[d] = strides[d + 1] * arr.shape[d + 1]
    pos = sum(ix * st for ix, st in zip(full, strides)).reshape(-1)
    vals = src[_leading(index.shape)].reshape(-1)
    order = xp.argsort(pos, kind="stable")
    pos, vals = pos[order], vals[order]
    first = xp.concatenate([xp.ones(1, dtype=bool), pos[1:] != pos[:-1]])
    starts = xp.nonzero(first)[0]
    targets = pos[starts]
    ufunc = _UFUNC_OF[reduce]
    if arr.dtype == bool and ufunc in ("add", "multiply"):
        ufunc = "logical_or" if ufunc == "add" else "logical_and"
        reduced = backend_of(arr).reduceat("maximum" if ufunc == "logical_or" else "minimum", vals, starts, 0)
    else:
        reduced = backend_of(arr).reduceat(ufunc, vals, starts, 0)
    flat = out.reshape(-1)
    if include_self:
        reduced = getattr(xp, ufunc)(flat[targets], reduced)
    if reduce == "mean":
        counts = xp.diff(xp.concatenate([starts, xp.asarray([pos.size], dtype=starts.dtype)])) + int(include_self)
        if arr.dtype.kind in "iu":
            reduced = xp.floor_divide(reduced, counts.astype(arr.dtype))
        else:
            reduced = reduced / counts.astype(arr.dtype)
    flat[targets] = reduced.astype(arr.dtype, copy=False)
    return out


class ScatterReduce(Function):
    """``scatter_reduce`` for prod/mean/amax/amin; gradients as torch defines them."""

    @staticmethod
    def forward(ctx, a, src, dim, index, reduce, include_self):
        ctx.args = (dim, index, reduce, include_self)
        out = _scatter_reduce_array(a._data, dim, index, src._data, reduce, include_self)
        ctx.save_for_backward(a, src, _make(out))
        return out

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import where

        dim, index, reduce, include_self = ctx.args
        arrays = is_array(grad)
        a, src, result = (_make(v) if is_array(v) else v for v in ctx.saved_tensors)
        g = _make(grad) if arrays else grad
        idx = _make(index)
        if reduce == "mean":
            ones = _make(array_module(index).ones(index.shape, dtype=a._data.dtype))
            n = scatter_add(ones_like_data(g, 1 if include_self else 0), dim, idx, ones)
            n = where(n == 0, 1, n)
            ga = g / n
            gs = gather(ga, dim, idx)
        elif reduce == "prod":
            masked_self = where(a == 0, 1, a)
            masked_self_result = scatter_reduce(masked_self, dim, idx, src, "prod", include_self=include_self)
            ga = g * masked_self_result / masked_self
            src_i = src[_leading(index.shape)] if src.shape != tuple(index.shape) else src
            src_zero = src_i == 0
            zeros_base = ones_like_data(g, 0)
            num_zeros = gather(scatter_add(zeros_base, dim, idx, src_zero.to(g.dtype)), dim, idx)
            single_zero = src_zero & (num_zeros == 1)
            masked_src = where(single_zero, 1, src_i)
            masked_src_result = scatter_reduce(a, dim, idx, masked_src, "prod", include_self=include_self)
            gs = where(single_zero, gather(g * masked_src_result, dim, idx),
                       gather(g * result, dim, idx) / where(src_zero, 1, src_i))
            gs = where(num_zeros > 1, 0, gs)
        else:  # amax / amin: shared evenly among the elements equal to the result
            value = gather(result, dim, idx)
            src_i = src[_leading(index.shape)] if src.shape != tuple(index.shape) else src
            self_is = (a == result).to(g.dtype)
            src_is = (src_i == value).to(g.dtype)
            count = scatter_add(self_is, dim, idx, src_is)
            distributed = g / count
            ga = self_is * distributed
            gs = src_is * gather(distributed, dim, idx)
        if not include_self:
            ga = scatter(ga, dim, idx, 0)
        gs = _pad_to(gs, ctx.input_shape(1))
        if arrays:
            ga, gs = ga._data, gs._data
        need = ctx.needs_input_grad
        return (ga if need[0] else None), (gs if need[1] else None), None, None, None, None


def ones_like_data(like: Tensor, value) -> Tensor:
    """A constant tensor of ``like``'s shape, dtype and device filled with ``value``."""
    return _make(array_module(like._data).full(like._data.shape, value, dtype=like._data.dtype))


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce ``src`` into ``input`` at ``index`` along ``dim`` with sum, prod, mean, amax or
    amin; ``include_self=False`` leaves ``input``'s own values out where anything lands."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch takes the short names too
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if input._data.ndim == 0:
        return _zero_d_scatter(scatter_reduce, input, dim, index, src, reduce, include_self=include_self)
    d = normalize_dim(dim, input._data.ndim, "scatter_reduce")
    idx = _index_array(index, "scatter_reduce", input)
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' must be Tensor, not {type(src).__name__}")
    if src._data.dtype != input._data.dtype:
        raise RuntimeError(f"scatter_reduce(): Expected self.dtype to be equal to src.dtype ({input.dtype} vs {src.dtype})")
    _check_gather_shapes("scatter_reduce", input, d, idx, src._data.shape)
    check_index_range(idx, input._data.shape[d], d)
    if reduce == "sum":
        base = input if include_self else scatter(input, d, index, value=0)
        return scatter_add(base, d, index, src)
    return ScatterReduce.apply(input, src, d, idx, reduce, bool(include_self))




# ---------------------------------------------------------------------------- index_select / index_add
class IndexSelect(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.dim = dim
        ctx.index = index
        return array_module(a._data).take(a._data, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return B.call(IndexAdd, B.zeros(ctx.input_shape(0), grad), ctx.dim, ctx.index, grad), None, None


class IndexAdd(Function):
    @staticmethod
    def forward(ctx, a, dim, index, src):
        ctx.dim = dim
        ctx.index = index
        out = a._data.copy()
        backend_of(out).ufunc_at("add", out, (slice(None),) * dim + (index,), src._data)
        return out

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        gs = B.call(IndexSelect, grad, ctx.dim, ctx.index) if need[3] else None
        return (grad if need[0] else None), None, None, gs


def index_select(input: Tensor, dim: int, index: Tensor, *, out=None) -> Tensor:
    if out is not None:
        return _write_out(out, index_select(input, dim, index), "index_select", input, index)
    d = normalize_dim(dim, input._data.ndim, "index_select")
    idx = _index_array(index, "index_select", input)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    idx = idx.reshape(-1)
    if d == 0:  # torch's contiguous fast path
        check_index_range(idx, input._data.shape[d] if input._data.ndim else 1, d, exc=IndexError, message=_OUT_OF_RANGE_IN_SELF)
        if input._data.ndim == 0:
            return input.clone()
    else:
        check_index_range(idx, input._data.shape[d], d, message="INDICES element is out of DATA bounds, id={bad} axis_dim={size}")
    return IndexSelect.apply(input, d, idx)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    if input._data.ndim == 0:
        normalize_dim(dim, 0, "index_add")
        return index_add(input.reshape(1), 0, index, _one_d(source), alpha=alpha).reshape(())
    d = normalize_dim(dim, input._data.ndim, "index_add")
    idx = _index_array(index, "index_add", input).reshape(-1)
    src_shape = source._data.shape if source._data.ndim else (1,)
    if idx.size != (src_shape[d] if len(src_shape) > d else 1):
        raise RuntimeError(
            f"index_add_(): Number of indices ({idx.size}) should be equal to source.size(dim): "
            f"({src_shape[d] if len(src_shape) > d else 1}), for dim: {d}"
        )
    if input._data.ndim and (len(src_shape) != input._data.ndim or any(
        s != t for i, (s, t) in enumerate(zip(src_shape, input._data.shape)) if i != d
    )):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. Got self.shape = "
            f"{list(input._data.shape)} source.shape = {list(source._data.shape)}"
        )
    if alpha != 1:
        source = source * alpha
    if input._data.ndim == 1:  # torch's one-dimensional fast path
        check_index_range(idx, input._data.shape[d], d, exc=IndexError, message=_OUT_OF_RANGE_IN_SELF)
    else:
        check_index_range(idx, input._data.shape[d], d)
    return IndexAdd.apply(input, d, idx, source)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    if input._data.ndim == 0:
        normalize_dim(dim, 0, "index_fill")
        return index_fill(input.reshape(1), 0, index, value).reshape(())
    d = normalize_dim(dim, input._data.ndim, "index_fill")
    mask = array_module(input._data).zeros(input._data.shape[d], dtype=bool)
    mask[_index_array(index, "index_fill", input).reshape(-1)] = True
    shape = [1] * input._data.ndim
    shape[d] = -1
    return masked_fill(input, _make(mask.reshape(shape)), value)


# ---------------------------------------------------------------------------- masks
def _check_real_fill(value: complex, input: Tensor) -> None:
    """A complex fill value into a real tensor: allowed without an imaginary part, else torch's error."""
    if complex(value).imag != 0:
        name = C_TYPE_NAMES.get(input._data.dtype.name, str(input.dtype))
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``value`` where ``mask`` (broadcast to ``input``) is True; differentiable w.r.t. input and a 0-d value."""
    from .elementwise import where

    if not isinstance(mask, Tensor) or mask._data.dtype != bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {got}")
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value._data.ndim} dimension(s)."
            )
        if value._data.dtype.kind == "c" and input._data.dtype.kind != "c":
            _check_real_fill(value.item(), input)  # one host read, only for a complex value into a real input
            value = value.real
        value = cast_to(value, input.dtype)
    else:
        if isinstance(value, complex) and input._data.dtype.kind != "c":
            _check_real_fill(value, input)
            value = value.real
        value = to_tensor_operand(fitting_scalar(value, input._data.dtype, half=True), input.dtype, input)
    try:  # out of place, input and mask broadcast together (masked_fill_ then refuses a larger shape)
        numpy.broadcast_shapes(mask._data.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill: the shape of the mask {shape_str(mask._data.shape)} must be broadcastable to the shape of the "
            f"input {shape_str(input._data.shape)}"
        ) from None
    if type(mask._data) is not type(input._data):
        mask = to_device(mask, input.device)
    return where(mask, value, input)


def masked_select(input: Tensor, mask: Tensor, *, out=None) -> Tensor:
    if out is not None:
        return _write_out(out, masked_select(input, mask), "masked_select", input, mask)
    from .movement import broadcast_tensors

    if mask._data.dtype != bool:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    a, m = broadcast_tensors(input, mask)
    return getitem(a, m)


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """Where ``mask`` (broadcast with ``input``) is True, the next element of ``source`` in
    row-major order; elsewhere ``input``. Differentiable w.r.t. input and source."""
    from .elementwise import where
    from .movement import broadcast_tensors

    if not isinstance(mask, Tensor) or mask._data.dtype != bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype {got}")
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"masked_scatter_: expected self and source to have same dtypes but got {input.dtype} and {source.dtype}"
        )
    try:
        x, m = broadcast_tensors(input, mask)
    except RuntimeError:
        raise RuntimeError(
            f"masked_scatter: the shape of the mask {shape_str(mask._data.shape)} must be broadcastable to the shape of "
            f"the input {shape_str(input._data.shape)}"
        ) from None
    xp = array_module(m._data)
    flat_mask = m._data.reshape(-1)
    taken = xp.cumsum(flat_mask) - 1  # the source element each True position takes
    n = source._data.size
    if backend_of(flat_mask).checks_values and flat_mask.size and int(taken[-1]) + 1 > n:
        raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask")
    if n == 0:
        return x.clone()
    picks = _make(xp.clip(taken, 0, n - 1).astype(numpy.int64))
    values = source.reshape(-1)[picks].reshape(x._data.shape)
    return where(m, values, x)


# ---------------------------------------------------------------------------- sort / topk
class _SortLike(Function):
    """Values picked along ``dim`` by precomputed indices; backward scatters the gradient back."""

    @staticmethod
    def forward(ctx, a, dim, indices):
        ctx.dim = dim
        ctx.indices = indices
        return array_module(a._data).take_along_axis(a._data, indices, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape(0)
        return B.call(ScatterAdd, B.zeros(shape, grad), ctx.dim, ctx.indices, grad), None, None


def _sort_key(arr, descending: bool):
    """What an ascending stable sort of ``arr`` orders by to give torch's order (NaN counts as the largest)."""
    xp = array_module(arr)
    if not descending:
        return arr
    if _dtype.is_float_array(arr):
        return xp.where(xp.isnan(arr), -numpy.inf, -arr)
    if arr.dtype == bool:
        return ~arr
    return -arr.astype(numpy.int64)


def _sort_indices(arr, dim: int, descending: bool):
    xp = array_module(arr)
    if arr.ndim == 0:
        return xp.zeros((), dtype=numpy.int64)
    order = xp.argsort(_sort_key(arr, descending), axis=dim, kind="stable")
    if descending and _dtype.is_float_array(arr):
        nan = xp.isnan(arr)
        if bool(nan.any()):  # NaN before +inf (both have the key -inf): a second stable pass on "is not NaN"
            order = xp.take_along_axis(order, xp.argsort(xp.take_along_axis(~nan, order, axis=dim), axis=dim, kind="stable"), axis=dim)
    return order.astype(numpy.int64)


def _topk_indices(arr, k: int, dim: int, largest: bool):
    """The indices :func:`_sort_indices` would put first along ``dim``, ``k`` of them (ties: lower index first).

    When ``k`` is small against the dimension (beam search over a vocabulary) the ``k`` are selected by a
    partition, O(n), and only they are sorted; otherwise, or with NaNs, the whole dimension is sorted."""
    xp = array_module(arr)
    n = arr.shape[dim]
    if k == 0 or 4 * k >= n or (_dtype.is_float_array(arr) and bool(xp.isnan(arr).any())):
        return xp.take(_sort_indices(arr, dim, largest), xp.arange(k), axis=dim)
    key = _sort_key(arr, largest)
    key = xp.moveaxis(key, dim, -1)
    kth = xp.partition(key, k - 1, axis=-1)[..., k - 1 : k]  # each row's k-th smallest key
    below = key < kth
    ties = key == kth
    # all keys below the k-th, then the first of its ties in index order until k are taken
    take = below | (ties & (xp.cumsum(ties, axis=-1) <= k - below.sum(axis=-1, keepdims=True)))
    chosen = xp.nonzero(take.reshape(-1, n))[1].reshape(key.shape[:-1] + (k,))
    order = xp.argsort(xp.take_along_axis(key, chosen, axis=-1), axis=-1, kind="stable")
    return xp.moveaxis(xp.take_along_axis(chosen, order, axis=-1), -1, dim).astype(numpy.int64)


def _check_sortable(input: Tensor) -> None:
    if input._data.dtype.kind == "c":  # complex numbers have no order (torch's leading space kept)
        raise RuntimeError(f" Sort does not support complex dtypes on {'CPU' if input.device.type == 'cpu' else 'CUDA'}")


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    _check_sortable(input)
    d = normalize_dim(dim, input._data.ndim, "sort")
    idx = _sort_indices(input._data, d, descending)
    if input._data.ndim == 0:
        return return_types.sort(input.clone(), _make(idx))
    return return_types.sort(_SortLike.apply(input, d, idx), _make(idx))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    _check_sortable(input)
    d = normalize_dim(dim, input._data.ndim, "argsort")
    return _make(_sort_indices(input._data, d, descending))


def msort(input: Tensor) -> Tensor:
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    d = normalize_dim(dim, input._data.ndim, "topk")
    size = input._data.shape[d] if input._data.ndim else 1
    if k < 0 or k > size:
        raise RuntimeError(f"selected index k out of range (k={k}, size {size} at dim {d})")
    if input._data.ndim == 0:
        return return_types.topk(input.clone(), _make(_sort_indices(input._data, d, largest)))
    idx = _topk_indices(input._data, k, d, largest)
    return return_types.topk(_SortLike.apply(input, d, idx), _make(idx))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    if out is not None:
        values, indices = kthvalue(input, k, dim, keepdim)
        return return_types.kthvalue(_write_out(out[0], values, "kthvalue", input), _write_out(out[1], indices, "kthvalue", input))
    d = normalize_dim(dim, input._data.ndim, "kthvalue")
    size = input._data.shape[d] if input._data.ndim else 1
    if size == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if input._data.ndim == 0:
        return return_types.kthvalue(input.clone(), _make(array_module(input._data).zeros((), dtype=numpy.int64)))
    idx = _sort_indices(input._data, d, False)
    xp = array_module(idx)
    pick = xp.take(idx, xp.arange(k - 1, k), axis=d)
    values = _SortLike.apply(input, d, pick)
    if not keepdim:
        values = values.squeeze(d)
        pick = pick.squeeze(d)
    return return_types.kthvalue(values, _make(pick))


# ---------------------------------------------------------------------------- order statistics
class _SharedValue(Function):
    """A reduction of the whole input to one of its values (``median()``, ``nanmedian()``);
    as in torch, the gradient is shared evenly among the elements equal to that value."""

    @staticmethod
    def forward(ctx, a, value):
        ctx.save_for_backward(a, value)
        return value

    @staticmethod
    def backward(ctx, grad):
        a, value = ctx.saved_tensors
        mask = B.cast(a == value, ctx._input_meta[0][1])
        return grad * mask / B.sum(mask, tuple(range(len(ctx.input_shape(0))))), None


def _median_positions(arr, dim: int, ignore_nan: bool):
    """Sort order along ``dim`` (NaN last) and, per row, the sorted position of the (lower)
    median: of the non-NaN values with ``ignore_nan``; otherwise a NaN's, if the row has one."""
    xp = array_module(arr)
    order = _sort_indices(arr, dim, False)
    n = arr.shape[dim]
    if not _dtype.is_float_array(arr):
        return order, xp.full(arr.shape[:dim] + (1,) + arr.shape[dim + 1 :], (n - 1) // 2, dtype=numpy.int64)
    nans = xp.isnan(arr).sum(axis=dim, keepdims=True)
    valid = n - nans
    if ignore_nan:
        pos = xp.maximum(valid - 1, 0) // 2
    else:
        pos = xp.where(nans > 0, valid, (n - 1) // 2)
    return order, pos.astype(numpy.int64)


def _median(input: Tensor, dim, keepdim: bool, ignore_nan: bool, name: str):
    arr = input._data
    xp = array_module(arr)
    if dim is None:
        if arr.size == 0:
            return _make(xp.asarray(numpy.nan, dtype=arr.dtype)) if _dtype.is_float_array(arr) else _make(arr.reshape(-1)[:0])
        flat = arr.reshape(-1)
        order, pos = _median_positions(flat, 0, ignore_nan)
        value = flat[order[pos[0]]]
        return _SharedValue.apply(input, _make(xp.asarray(value)))
    d = normalize_dim(dim, arr.ndim, name)
    if arr.ndim == 0:
        return getattr(return_types, name)(input.clone(), _make(xp.zeros((), dtype=numpy.int64)))
    if arr.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    order, pos = _median_positions(arr, d, ignore_nan)
    pick = xp.take_along_axis(order, pos, axis=d)
    values = _SortLike.apply(input, d, pick)
    if not keepdim:
        values = values.squeeze(d)
        pick = pick.squeeze(d)
    return getattr(return_types, name)(values, _make(pick))


def median(input: Tensor, dim=None, keepdim: bool = False):
    """The lower median: ``median(x)`` of all values (NaN if any is NaN), ``median(x, dim)``
    -> (values, indices) along ``dim``."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input: Tensor, dim=None, keepdim: bool = False):
    """``median`` ignoring NaN (NaN only where a row has no other values)."""
    return _median(input, dim, keepdim, True, "nanmedian")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input: Tensor, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool, name: str) -> Tensor:
    from .elementwise import where
    from .movement import movedim

    arr = input._data
    xp = array_module(arr)
    if not _dtype.is_float_array(arr):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest. Got {interpolation}"
        )
    if isinstance(q, Tensor):
        if q._data.dtype != arr.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
        if q._data.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if type(q._data) is not type(arr):
            raise RuntimeError(f"{name}() q tensor must be on the same device as the input tensor")
        qs, scalar_q = q._data.reshape(-1), q._data.ndim == 0
    else:
        qs, scalar_q = numpy.asarray([q], dtype=arr.dtype), True
    # a Python q is checked on the host; a q tensor only where values may be read (not on a GPU, as torch)
    if backend_of(qs).checks_values and ((qs < 0) | (qs > 1)).any():
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    if type(qs) is not type(arr):
        qs = move(qs, input.device)
    if dim is None:
        x, d = input.reshape(-1), 0
    else:
        d = normalize_dim(dim, arr.ndim, name)
        x = input if arr.ndim else input.reshape(1)
    if x._data.shape[d] == 0:
        raise IndexError(f"{name}() input tensor must be non-empty")
    rows = movedim(x, d, -1)  # (..., n): quantiles are taken along the last dim
    order = _sort_indices(rows._data, rows._data.ndim - 1, False)
    ordered = _SortLike.apply(rows, rows._data.ndim - 1, order)
    n = rows._data.shape[-1]
    nans = xp.isnan(rows._data).sum(axis=-1, keepdims=True)
    count = (n - nans) if ignore_nan else xp.full_like(nans, n)
    ranks = qs * (xp.maximum(count, 1) - 1).astype(arr.dtype)  # (..., Q)
    if interpolation == "lower":
        ranks = xp.floor(ranks)
    elif interpolation == "higher":
        ranks = xp.ceil(ranks)
    elif interpolation == "nearest":
        ranks = xp.round(ranks)  # half to even, as torch
    lo = xp.floor(ranks).astype(numpy.int64)
    hi = xp.ceil(ranks).astype(numpy.int64)
    lo_v = gather(ordered, -1, _make(lo))
    if interpolation == "midpoint":
        out = lo_v + (gather(ordered, -1, _make(hi)) - lo_v) * 0.5
    elif interpolation == "linear":
        if isinstance(q, Tensor) and q.requires_grad:  # the fraction depends on q: q gets a gradient
            frac = q.reshape(-1) * _make((xp.maximum(count, 1) - 1).astype(arr.dtype)) - _make(lo.astype(arr.dtype))
        else:
            frac = _make((ranks - lo).astype(arr.dtype))
        out = lo_v + (gather(ordered, -1, _make(hi)) - lo_v) * frac
    else:
        out = lo_v
    undefined = (count == 0) if ignore_nan else (nans > 0)
    if not backend_of(arr).checks_values or undefined.any():  # on a GPU: no wait for the device
        out = where(_make(xp.broadcast_to(undefined, out._data.shape)), float("nan"), out)
    out = movedim(out, -1, 0)  # (Q, ...)
    if keepdim:
        if dim is None:
            out = out.reshape((out._data.shape[0],) + (1,) * arr.ndim)
        elif arr.ndim:
            out = out.unsqueeze(d + 1)
    return out.squeeze(0) if scalar_q else out


@autocast_op("quantile")
def quantile(input: Tensor, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles (a float or a 1-D tensor of them; a tensor adds a leading dim) of
    all values or along ``dim``; NaN where a row has a NaN. Differentiable (as torch: the
    gradient goes to the one or two order statistics interpolated)."""
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


@autocast_op("nanquantile")
def nanquantile(input: Tensor, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaN values."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as torch returns; the gradient goes to that index."""
    arr = input._data
    xp = array_module(arr)
    d = normalize_dim(dim, arr.ndim, "mode")
    if arr.ndim == 0:
        return return_types.mode(input.clone(), _make(xp.zeros((), dtype=numpy.int64)))
    if arr.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    rows = xp.moveaxis(arr, d, -1)
    n = rows.shape[-1]
    order = xp.argsort(rows, axis=-1, kind="stable")  # equal values keep their index order
    ordered = xp.take_along_axis(rows, order, axis=-1)
    same = ordered[..., 1:] == ordered[..., :-1]
    if _dtype.is_float_array(arr):
        same |= xp.isnan(ordered[..., 1:]) & xp.isnan(ordered[..., :-1])
    # run length ending at each sorted position: position - start of its run + 1
    positions = xp.arange(n)
    starts = xp.where(xp.concatenate([xp.ones(same.shape[:-1] + (1,), dtype=bool), ~same], axis=-1), positions, 0)
    run = positions - backend_of(starts).accumulate("maximum", starts, -1) + 1
    best = xp.argmax(run, axis=-1)[..., None]  # first maximal run: the smallest value; its end is the last occurrence
    pick = xp.take_along_axis(order, best, axis=-1).astype(numpy.int64)
    pick = xp.moveaxis(pick, -1, d)
    values = _SortLike.apply(input, d, pick)
    if not keepdim:
        values = values.squeeze(d)
        pick = pick.squeeze(d)
    return return_types.mode(values, _make(pick))


def _cumulative_extreme(input: Tensor, dim: int, use_max: bool, name: str):
    arr = input._data
    xp = array_module(arr)
    backend = backend_of(arr)
    d = normalize_dim(dim, arr.ndim, name)
    if arr.ndim == 0:
        return getattr(return_types, name)(input.clone(), _make(xp.zeros((), dtype=numpy.int64)))
    if arr.shape[d] == 0:
        return getattr(return_types, name)(input.clone(), _make(xp.zeros(arr.shape, dtype=numpy.int64)))
    if _dtype.is_float_array(arr):
        running = backend.accumulate("fmax" if use_max else "fmin", arr, d)
    else:
        running = backend.accumulate("maximum" if use_max else "minimum", arr, d)
    # torch moves the index to every later element equal to the running extreme (ties -> the
    # latest) and, once a NaN is seen, to every later NaN; values after a NaN are NaN.
    shape = [1] * arr.ndim
    shape[d] = arr.shape[d]
    positions = xp.arange(arr.shape[d]).reshape(shape)
    hit = arr == running
    if _dtype.is_float_array(arr):
        isnan = xp.isnan(arr)
        seen_nan = backend.accumulate("logical_or", isnan, d)
        hit = xp.where(seen_nan, isnan, hit)
    indices = backend.accumulate("maximum", xp.where(hit, positions, 0), d).astype(numpy.int64)
    return getattr(return_types, name)(gather(input, d, _make(indices)), _make(indices))


def cummax(input: Tensor, dim: int):
    """Running maximum along ``dim`` and the index of each maximum (differentiable values)."""
    return _cumulative_extreme(input, dim, True, "cummax")


def cummin(input: Tensor, dim: int):
    """Running minimum along ``dim`` and the index of each minimum (differentiable values)."""
    return _cumulative_extreme(input, dim, False, "cummin")


def take(input: Tensor, index: Tensor, *, out=None) -> Tensor:
    """Elements of the flattened ``input`` at ``index`` (any shape; the result has its shape)."""
    if out is not None:
        return _write_out(out, take(input, index), "take", input, index)
    idx = _index_array(index, "take", input)
    n = input._data.size
    if idx.size and backend_of(idx).checks_values and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take(): index out of range for tensor of size {shape_str(input._data.shape)}")
    flat = input.reshape(-1)
    return gather(flat, 0, _make(array_module(idx).where(idx < 0, idx + n, idx).reshape(-1))).reshape(idx.shape)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Histogram of ``bins`` equal-width bins over [min, max] (the data's range when both are
    0); values outside are ignored, ``max`` falls in the last bin. Not differentiable."""
    arr = input._data
    if not _dtype.is_float_array(arr):
        from .elementwise import _TORCH_TYPE_NAMES

        raise NotImplementedError(f'"histogram_cpu" not implemented for \'{_TORCH_TYPE_NAMES[arr.dtype.name]}\'')
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for bins")
    lo, hi = float(min), float(max)
    if lo == hi and arr.size:
        lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # a NaN or inf in the data or the bounds
        raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min {lo} max {hi}")
    xp = array_module(arr)
    if arr.dtype.kind == "V":
        # bfloat16: torch's bin index (x - min) * bins / (max - min), each step rounded to bfloat16
        flat = arr.reshape(-1)
        one = flat.dtype.type
        lo_b, hi_b = one(lo), one(hi)
        inside = flat[(flat >= lo_b) & (flat <= hi_b)]
        pos = xp.trunc((inside - lo_b) * one(bins) / (hi_b - lo_b)).astype(numpy.int64)
        counts = xp.bincount(xp.minimum(pos, bins - 1), minlength=bins)
    else:
        counts, _ = xp.histogram(arr.reshape(-1), bins=bins, range=(lo, hi))
    return _make(counts.astype(arr.dtype))


def _histogram_edges(column, bins, lo_hi, dim: int, op: str):
    """The bin edges of one dimension: a given edges tensor, or ``bins + 1`` evenly spaced edges
    over ``lo_hi`` (the data's range when None; widened by 0.5 each side when it is one point)."""
    xp = array_module(column)
    if isinstance(bins, Tensor):
        return bins._data.astype(column.dtype, copy=False)
    if bins <= 0:
        raise RuntimeError(f"{op}: bins must be > 0, but got {bins} for dimension {dim}")
    if lo_hi is None:
        lo, hi = (float(column.min()), float(column.max())) if column.size else (0.0, 1.0)
    else:
        lo, hi = float(lo_hi[0]), float(lo_hi[1])
        if lo > hi:
            raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {lo:g} max {hi:g} for dimension {dim}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histogramdd: dimension {dim}'s range [{lo:g}, {hi:g}] is not finite")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    # evenly spaced from both ends (as linspace), in float64, then the input's dtype
    i = numpy.arange(bins + 1, dtype=numpy.float64)
    step = (hi - lo) / bins
    edges = numpy.where(i < (bins + 1) / 2, lo + i * step, hi - (bins - i) * step)
    return xp.asarray(edges.astype(column.dtype))


def _histogram_check(input: Tensor, weight, op: str) -> None:
    if not _dtype.is_float_array(input._data):
        from .elementwise import _TORCH_TYPE_NAMES

        raise NotImplementedError(f'"histogramdd" not implemented for \'{_TORCH_TYPE_NAMES[input._data.dtype.name]}\'')
    if weight is not None and weight._data.shape != input._data.shape[: weight._data.ndim]:
        raise RuntimeError(f"{op}: expected weight to have the same shape as the input's samples")


def _bin_counts(data, edges: list, weight, density: bool):
    """Counts (or weight sums) of the rows of ``data`` (N, D) in the cells of the edges per
    dimension: x is in bin j when edges[j] <= x < edges[j + 1], the last bin including its right
    edge; rows outside the edges in any dimension are not counted."""
    xp = array_module(data)
    n, d = data.shape
    flat = xp.zeros(n, dtype=numpy.int64)
    inside = xp.ones(n, dtype=bool)
    sizes = []
    for i, e in enumerate(edges):
        col = data[:, i]
        bins = e.shape[0] - 1
        sizes.append(bins)
        inside &= (col >= e[0]) & (col <= e[-1])
        pos = xp.clip(xp.searchsorted(e, col, side="right") - 1, 0, bins - 1)
        flat = flat * bins + pos
    w = inside.astype(data.dtype) if weight is None else xp.where(inside, weight.reshape(-1), 0).astype(data.dtype)
    cells = math.prod(sizes)
    hist = xp.bincount(flat, weights=w, minlength=cells)[:cells].astype(data.dtype).reshape(sizes)
    if density:
        volume = xp.ones((), dtype=data.dtype)
        for i, e in enumerate(edges):
            shape = [1] * d
            shape[i] = -1
            volume = volume * xp.diff(e).reshape(shape)
        with backend_of(data).errstate(invalid="ignore", divide="ignore"):  # no samples: NaN, as torch
            hist = hist / (hist.sum() * volume)
    return hist.astype(data.dtype, copy=False)


def histogram(input: Tensor, bins=100, *, range=None, weight: Tensor | None = None, density: bool = False):  # noqa: A002
    """(hist, bin_edges): counts (or ``weight`` sums; a density when ``density``) of ``input``'s
    elements in ``bins`` equal bins over ``range`` (the data's range by default) or between
    the edges of a ``bins`` tensor. Values outside are ignored; the last bin includes its
    right edge. Not differentiable."""
    _histogram_check(input, weight, "torch.histogram")
    if isinstance(bins, Tensor) and bins._data.ndim != 1:
        raise RuntimeError(f"torch.histogram(): bins tensor should have one dimension, but got {bins._data.ndim} dimensions")
    arr = input._data.reshape(-1, 1)
    edges = _histogram_edges(arr[:, 0], bins, range, 0, "torch.histogram()")
    w = weight._data if weight is not None else None
    hist = _bin_counts(arr, [edges], w, density)
    return return_types.histogram(_make(hist), _make(edges))


def histogramdd(input: Tensor, bins, *, range=None, weight: Tensor | None = None, density: bool = False):  # noqa: A002
    """(hist, bin_edges): the D-dimensional histogram of the rows of ``input`` (..., D).
    ``bins``: an int, one int per dimension, or one edges tensor per dimension; ``range``:
    ``[min_0, max_0, min_1, max_1, ...]``. Not differentiable."""
    _histogram_check(input, weight, "torch.histogramdd")
    if input._data.ndim < 1:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 1 dimension")
    d = input._data.shape[-1]
    data = input._data.reshape(-1, d)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * d
    if len(per_dim) != d:
        raise RuntimeError(f"torch.histogramdd: expected {d} sequences of bin edges for each of the {d} dimensions of the input")
    if range is not None and len(range) != 2 * d:
        raise RuntimeError(f"torch.histogramdd: for a {d}-dimensional histogram range should have {2 * d} elements")
    edges = [
        _histogram_edges(data[:, i], b, None if range is None else range[2 * i : 2 * i + 2], i, "torch.histogramdd")
        for i, b in enumerate(per_dim)
    ]
    w = weight._data if weight is not None else None
    hist = _bin_counts(data, edges, w, density)
    return return_types.histogramdd(_make(hist), tuple(_make(e) for e in edges))


def nonzero(input: Tensor, *, as_tuple: bool = False):
    xp = array_module(input._data)
    nz = xp.nonzero(input._data) if input._data.ndim else xp.nonzero(input._data.reshape(1))
    if as_tuple:
        return tuple(_make(i.astype(numpy.int64)) for i in nz)
    if input._data.ndim == 0:  # one (empty) index row per nonzero scalar, as torch
        return _make(xp.zeros((len(nz[0]), 0), dtype=numpy.int64))
    return _make(xp.stack(nz, axis=1).astype(numpy.int64) if nz else xp.zeros((0, 0), dtype=numpy.int64))


def argwhere(input: Tensor) -> Tensor:
    return nonzero(input)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):  # noqa: A002
    res = array_module(input._data).unique(input._data, return_inverse=return_inverse, return_counts=return_counts, axis=dim)
    if not (return_inverse or return_counts):
        return _make(res)
    out = [_make(res[0])]
    i = 1
    if return_inverse:
        out.append(_make(res[i].reshape(input._data.shape if dim is None else -1).astype(numpy.int64)))
        i += 1
    if return_counts:
        out.append(_make(res[i].astype(numpy.int64)))
    return tuple(out)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each value 0..max of a 1-d non-negative integer tensor (sums of ``weights``)."""
    data = input._data
    if data.dtype.kind not in "iub":
        from .elementwise import _TORCH_TYPE_NAMES

        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_TORCH_TYPE_NAMES.get(data.dtype.name, data.dtype.name)}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if data.ndim != 1 or (data.size and backend_of(data).checks_values and data.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights._data.ndim != 1 or weights._data.shape[0] != data.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = weights._data if weights is not None else None
    out = array_module(input._data).bincount(input._data, weights=w, minlength=minlength)
    if weights is None:
        out = out.astype(numpy.int64)
    return _make(out)


def searchsorted(sorted_sequence: Tensor, values, *, out_int32: bool = False, right: bool = False, side=None, sorter=None, out=None) -> Tensor:
    """Insertion points of ``values`` in the sorted innermost rows of ``sorted_sequence``
    (leftmost, or rightmost with ``right=True``/``side="right"``); int64, or int32 with ``out_int32``."""
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
    if side == "left" and right:
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True")
    side = side or ("right" if right else "left")
    seq = sorted_sequence._data
    xp = array_module(seq)
    scalar = not isinstance(values, Tensor)
    vals = xp.asarray(values, dtype=seq.dtype) if scalar else values._data
    if sorter is not None:
        if sorter._data.shape != seq.shape:
            raise RuntimeError("torch.searchsorted(): boundary and sorter must have the same size")
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    if seq.ndim > 1 and (scalar or vals.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries "
            f"tensor and input value tensor must match, but we got boundaries tensor {shape_str(seq.shape)} and input "
            f"value tensor {shape_str(vals.shape)}"
        )
    dtype = numpy.int32 if out_int32 else numpy.int64
    if seq.ndim <= 1:
        res = xp.searchsorted(seq.reshape(-1), vals, side=side)
    elif vals.size == 0 or seq.size == 0:
        res = xp.zeros(vals.shape, dtype=numpy.int64)
    else:
        rows = seq.reshape(-1, seq.shape[-1])
        v = vals.reshape(rows.shape[0], -1)
        res = xp.stack([xp.searchsorted(r, q, side=side) for r, q in zip(rows, v)]).reshape(vals.shape)
    result = _make(xp.asarray(res).astype(dtype))
    if out is not None:
        return _write_out(out, result, "searchsorted", sorted_sequence, values)
    return result


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False, out=None) -> Tensor:
    """The bucket of each input value among the 1-d sorted ``boundaries``."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries._data.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


# ---------------------------------------------------------------------------- index_copy / index_reduce / put / ...
def _along(dim: int, idx) -> tuple:
    return (slice(None),) * dim + (idx,)


@autocast_op("index_copy")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with the slices ``index`` along ``dim`` replaced by ``source``'s slices."""
    if input._data.ndim == 0:
        normalize_dim(dim, 0, "index_copy")
        return index_copy(input.reshape(1), 0, _one_d(index), _one_d(source)).reshape(())
    d = normalize_dim(dim, input._data.ndim, "index_copy")
    idx = _index_array(index, "index_copy", input)
    if idx.ndim > 1:
        raise IndexError("index_copy_(): Index should have dimension 1 or 0 (got " + f"{idx.ndim})")
    idx = idx.reshape(-1)
    src_shape = source._data.shape if source._data.ndim else (1,)
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"index_copy_(): self and source expected to have the same dtype, but got (self) {input.dtype} and "
            f"(source) {source.dtype}"
        )
    if len(src_shape) != input._data.ndim or any(a != b for i, (a, b) in enumerate(zip(src_shape, input._data.shape)) if i != d):
        raise RuntimeError(
            f"index_copy_(): Source/destination tensor must have same slice shapes. Destination slice shape: "
            f"{shape_str(input._data.shape[:d] + input._data.shape[d + 1:])} at dimension {d} and source slice shape: "
            f"{shape_str(src_shape[:d] + src_shape[d + 1:])} at dimension {d}."
        )
    if idx.size != src_shape[d]:
        raise IndexError(
            f"index_copy_(): Number of indices ({idx.size}) should be equal to source.size(dim) ({src_shape[d]})"
        )
    check_index_range(idx, input._data.shape[d], d, exc=IndexError, message="index_copy_(): index {bad} is out of bounds for dimension {dim} with size {size}")
    out = input.clone()
    setitem(out, _along(d, idx), source.reshape(src_shape))
    return out


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce (prod, mean, amax, amin) the slices of ``source`` into ``input``'s slices ``index``
    along ``dim``: ``scatter_reduce`` with the index spread over each slice."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if input._data.ndim == 0:
        normalize_dim(dim, 0, "index_reduce")
        return index_reduce(input.reshape(1), 0, _one_d(index), _one_d(source), reduce, include_self=include_self).reshape(())
    d = normalize_dim(dim, input._data.ndim, "index_reduce")
    idx = _index_array(index, "index_reduce", input)
    if idx.ndim > 1:
        raise IndexError("index_reduce_(): Index is supposed to be a vector")
    idx = idx.reshape(-1)
    src = source if source._data.ndim else source.reshape(1)
    if src._data.ndim != input._data.ndim or any(
        a != b for i, (a, b) in enumerate(zip(src._data.shape, input._data.shape)) if i != d
    ):
        raise RuntimeError("index_reduce_(): Source/destination tensor must have same slice shapes.")
    if idx.size != src._data.shape[d]:
        raise RuntimeError(
            f"index_reduce_(): Number of indices ({idx.size}) should be equal to source.size(dim) ({src._data.shape[d]})"
        )
    if source._data.dtype != input._data.dtype:
        raise RuntimeError("index_reduce_(): self and source expected to have the same dtype")
    check_index_range(idx, input._data.shape[d], d, exc=IndexError, message=_OUT_OF_RANGE_IN_SELF)
    xp = array_module(idx)
    view = [1] * src._data.ndim
    view[d] = -1
    spread = xp.broadcast_to(idx.reshape(view), src._data.shape).copy()
    return scatter_reduce(input, d, _make(spread), src, reduce, include_self=include_self)


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """``input`` (flattened) with the elements at ``index`` set to ``source``'s (or added to, with ``accumulate``)."""
    idx = _index_array(index, "put", input).reshape(-1)
    n = input._data.size
    if source._data.size != idx.size:
        raise RuntimeError(
            f"put_(): Expected source and index to have the same number of elements, but got source.numel() = "
            f"{source._data.size}, index.numel() = {idx.size}"
        )
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got self.dtype = {input.dtype} and source.dtype = {source.dtype}")
    if idx.size and backend_of(idx).checks_values and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"out of range: tried to access index {int(idx.max()) if idx.max() >= n else int(idx.min())} on a tensor of {n} elements.")
    flat = input.reshape(-1)
    out = index_put(flat, (_make(idx),), source.reshape(-1), accumulate)
    return out.reshape(input._data.shape)


def unravel_index(indices: Tensor, shape) -> tuple:
    """The coordinates (one int64 tensor per dim of ``shape``) of flat ``indices``."""
    if not isinstance(indices, Tensor):
        raise TypeError(f"expected 'indices' to be a tensor, but got {type(indices).__name__}")
    if indices._data.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError("'shape' cannot have negative values, but got " + str(shape))
    arr = indices._data.astype(numpy.int64)
    n = 1
    for s in shape:
        n *= s
    if arr.size and backend_of(arr).checks_values and (arr.min() < -n or arr.max() >= n):
        raise RuntimeError(f"'indices' must be in range [-{n}, {n}), but got values outside it")
    xp = array_module(arr)
    arr = xp.where(arr < 0, arr + n, arr)
    coords = []
    for s in reversed(shape):
        coords.append(arr % s if s else arr)
        arr = arr // s if s else arr
    return tuple(_make(c) for c in reversed(coords))


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """Each run of equal consecutive elements (or slices along ``dim``) reduced to one; with the
    index of each input element's run and each run's length when asked."""
    arr = input._data
    xp = array_module(arr)
    if dim is None:
        rows = arr.reshape(-1, 1)
        n = rows.shape[0]
    else:
        d = normalize_dim(dim, arr.ndim, "unique_consecutive")
        moved = xp.moveaxis(arr, d, 0)
        n = moved.shape[0]
        rows = moved.reshape(n, int(numpy.prod(moved.shape[1:], dtype=numpy.int64)))
    if n == 0:
        starts = xp.zeros(0, dtype=numpy.int64)
        new_run = xp.zeros(0, dtype=bool)
    else:
        differ = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else xp.zeros(n - 1, dtype=bool)
        new_run = xp.concatenate([xp.ones(1, dtype=bool), differ])
        starts = xp.nonzero(new_run)[0].astype(numpy.int64)
    if dim is None:
        values = _make(arr.reshape(-1)[starts])
    else:
        values = _make(xp.moveaxis(moved[starts], 0, d))
    if not (return_inverse or return_counts):
        return values
    out = [values]
    if return_inverse:
        inverse = (xp.cumsum(new_run) - 1).astype(numpy.int64)
        out.append(_make(inverse.reshape(arr.shape) if dim is None else inverse))
    if return_counts:
        out.append(_make(xp.diff(xp.concatenate([starts, xp.asarray([n], dtype=numpy.int64)])).astype(numpy.int64)))
    return tuple(out)


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """``nonzero`` with exactly ``size`` rows: cut, or padded with ``fill_value``."""
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, but got {size}")
    nz = nonzero(input)._data
    xp = array_module(nz)
    ncols = input._data.ndim
    out = xp.full((size, ncols), fill_value, dtype=numpy.int64)
    k = min(size, nz.shape[0])
    out[:k] = nz[:k]
    return _make(out)


def _clamped_indices(input: Tensor, indices) -> tuple:
    """``indices`` (None: a whole dim) with values clamped into range: the masked-out entries
    of ``_unsafe_masked_index`` may hold any value."""
    out = []
    for d, ix in enumerate(indices):
        if ix is None:
            out.append(slice(None))
            continue
        size = input._data.shape[d]
        arr = ix._data
        out.append(_make(array_module(arr).clip(arr, -size, max(size - 1, 0))))
    return tuple(out)


def _unsafe_masked_index(input: Tensor, mask: Tensor, indices, fill) -> Tensor:
    """``where(mask, input[indices], fill)``; entries of ``indices`` under a False mask are not read."""
    from .elementwise import where

    picked = getitem(input, _clamped_indices(input, indices))
    return where(mask, picked, fill)


def _unsafe_masked_index_put_accumulate(input: Tensor, mask: Tensor, indices, values: Tensor) -> Tensor:
    """``index_put(input, indices, where(mask, values, 0), accumulate=True)``; masked-out indices are not written."""
    from .elementwise import logical_not

    return index_put(input, _clamped_indices(input, indices), masked_fill(values, logical_not(mask), 0), accumulate=True)


_SEGMENT_EMPTY = {"sum": 0.0, "prod": 1.0, "max": float("-inf"), "min": float("inf"), "mean": float("nan")}
_SEGMENT_SCATTER = {"sum": "sum", "prod": "prod", "max": "amax", "min": "amin", "mean": "mean"}


def segment_reduce(data: Tensor, reduce: str, *, lengths=None, indices=None, offsets=None, axis: int = 0, unsafe: bool = False, initial=None) -> Tensor:
    """Reduce consecutive segments of ``data`` along ``axis`` (their ``lengths``, or ``offsets``
    of their starts and the end) with sum, prod, max, min or mean; an empty segment gives
    ``initial`` (default: the reduction's identity, NaN for mean). Differentiable."""
    from .._creation import full

    if reduce not in _SEGMENT_EMPTY:
        raise RuntimeError(f"segment_reduce(): unsupported reduction {reduce}")
    if indices is not None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    ax = normalize_dim(axis, data._data.ndim, "segment_reduce")
    if lengths is not None:
        lens = lengths._data.astype(numpy.int64)
    elif offsets is not None:
        offs = offsets._data.astype(numpy.int64)
        lens = offs[..., 1:] - offs[..., :-1]
    else:
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined")
    if ax != lens.ndim - 1:
        raise RuntimeError("segment_reduce(): Expected axis to be the last dimension of lengths")
    if lens.shape[:-1] != data._data.shape[:ax]:
        raise RuntimeError("segment_reduce(): Expected lengths' leading dims to match the data's")
    xp = array_module(lens)
    nseg = lens.shape[-1]
    n = data._data.shape[ax]
    ends = xp.cumsum(lens, axis=-1)
    if backend_of(lens).checks_values and lens.size and (
        (lens < 0).any() or (ends[..., -1] > n).any() or not unsafe and (ends[..., -1] != n).any()
    ):
        raise RuntimeError("segment_reduce(): Expected all rows of lengths along axis to sum to data.size(lengths.dim()-1)")
    # the segment of each position along ``axis`` (rows past the last segment go to an extra one, dropped)
    seg = (xp.arange(n, dtype=numpy.int64) >= ends[..., :, None]).sum(axis=-2) if nseg else xp.zeros(lens.shape[:-1] + (n,), dtype=numpy.int64)
    rest = data._data.shape[ax + 1 :]
    index = _make(xp.broadcast_to(seg.reshape(seg.shape + (1,) * len(rest)), data._data.shape).copy())
    shape = data._data.shape[:ax] + (nseg + 1,) + rest
    fill = _SEGMENT_EMPTY[reduce] if initial is None else initial
    base = full(shape, fill, dtype=data.dtype, device=data.device)
    if initial is not None and reduce == "mean":  # torch: (initial + sum) / count
        total = scatter_reduce(base, ax, index, data, "sum", include_self=True)
        counts = lens.astype(data._data.dtype).reshape(lens.shape + (1,) * len(rest))
        out = total.narrow(ax, 0, nseg) / _make(xp.where(counts == 0, 1, counts))
        return out
    out = scatter_reduce(base, ax, index, data, _SEGMENT_SCATTER[reduce], include_self=initial is not None)
    return out.narrow(ax, 0, nseg)


_segment_reduce = segment_reduce


def _grad_mode_enabled() -> bool:
    return _state.enabled


_ = _dtype  # dtype helpers are reached through Tensor methods here
