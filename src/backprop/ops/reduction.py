"""Reductions: sum, mean, prod, max/min, amax/amin, argmax/argmin, var/std, logsumexp, norm,
cumsum/cumprod, all/any. Backward passes re-expand the gradient over the reduced dims."""

from __future__ import annotations

import builtins
import warnings

import numpy

from .. import _dtype, return_types
from .._autocast import autocast_op
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make
from ..autograd.function import Function
from . import _backward as B
from ._utils import as_float, in_float32, normalize_dim, normalize_dims
from .inplace import write_out


def _keepdim_shape(shape: tuple, dims: tuple) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _restore_dims(grad: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if keepdim:
        return grad
    return grad.reshape(_keepdim_shape(shape, dims))


def _reduced_count(shape: tuple, dims: tuple) -> int:
    n = 1
    for d in dims:
        n *= shape[d]
    return n


def _dims_arg(input: Tensor, dim, op: str) -> tuple:
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(input._data.ndim))
    return normalize_dims(dim, input._data.ndim, op)


class SumToSize(Function):
    """Sum a broadcast gradient back to ``shape`` (the inverse of ``expand``)."""

    @staticmethod
    def forward(ctx, a, shape):
        arr = a._data
        lead = arr.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and arr.shape[i + lead] != 1)
        out = arr.sum(axis=axes, keepdims=True) if axes else arr
        if lead:
            out = out.reshape(out.shape[lead:])
        return out if axes else out.copy()

    @staticmethod
    def backward(ctx, grad):
        return B.expand(grad, ctx.input_shape(0)), None


def sum_to_size(input: Tensor, *size) -> Tensor:
    from ._utils import is_expandable_to, parse_size

    shape = parse_size(size, "sum_to_size")
    if not is_expandable_to(shape, input._data.shape):
        raise RuntimeError(f"sum_to_size: size {list(shape)} is not expandable to size {list(input._data.shape)}")
    if input._data.dtype == bool and (shape != input._data.shape or not shape):  # bools sum to int64 (size () is sum())
        input = _make(input._data.astype(numpy.int64))
    if input._data.dtype.kind == "V":  # bfloat16: accumulated in float32, as torch
        return SumToSize.apply(input.float(), shape).to(input.dtype)
    return SumToSize.apply(input, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim, dtype):
        ctx.dims = dims
        ctx.keepdim = keepdim
        arr = a._data
        return array_module(arr).sum(arr, axis=dims, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape(0)
        return B.expand(_restore_dims(grad, shape, ctx.dims, ctx.keepdim), shape), None, None, None


@autocast_op("sum")
def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001 - torch's name
    dims = _dims_arg(input, dim, "sum")
    np_dtype = _dtype.to_dtype(dtype).np if dtype is not None else None
    if np_dtype is None and input._data.dtype.kind in "iubV":
        if input._data.dtype.kind == "V":  # bfloat16: accumulated in float32 and rounded once, as torch
            return Sum.apply(input.float(), dims, keepdim, None).to(input.dtype)
        np_dtype = numpy.int64
    return Sum.apply(input, dims, keepdim, np_dtype)


def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    from .elementwise import isnan, where

    if not _dtype.is_float_array(input._data):  # no NaNs to skip: integers and bools sum to int64
        return sum(input, dim, keepdim, dtype=dtype)
    return sum(where(isnan(input), 0.0, input), dim, keepdim, dtype=dtype)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.dims = dims
        ctx.keepdim = keepdim
        arr = a._data
        xp = array_module(arr)
        n = _reduced_count(arr.shape, dims)
        if n == 0:
            return xp.full(_reduced_shape(arr.shape, dims, keepdim), numpy.nan, dtype=arr.dtype)
        return xp.mean(arr, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape(0)
        n = _reduced_count(shape, ctx.dims)
        return B.expand(_restore_dims(grad, shape, ctx.dims, ctx.keepdim) / builtins.max(n, 1), shape), None, None


def _reduced_shape(shape, dims, keepdim):
    if keepdim:
        return _keepdim_shape(shape, dims)
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        from .elementwise import to_dtype

        input = to_dtype(input, dtype)
    if input._data.dtype.kind not in "fc":
        if input._data.dtype.kind == "V":  # bfloat16: accumulated in float32, as torch
            return Mean.apply(input.float(), _dims_arg(input, dim, "mean"), keepdim).to(input.dtype)
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
            f"Got: {input.dtype.name.capitalize()}"
        )
    return Mean.apply(input, _dims_arg(input, dim, "mean"), keepdim)


def nanmean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    from .elementwise import isnan, logical_not

    valid = logical_not(isnan(input))
    return nansum(input, dim, keepdim) / sum(valid, dim, keepdim)


class Prod(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim, dtype):
        arr = a._data
        out = array_module(arr).prod(arr, axis=dims, keepdims=keepdim, dtype=dtype)
        ctx.dims = dims
        ctx.keepdim = keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        shape = a.shape
        g = _restore_dims(grad, shape, ctx.dims, ctx.keepdim)
        o = _restore_dims(out, shape, ctx.dims, ctx.keepdim)
        arr = a if B.is_array(a) else a._data
        if B.is_array(a) and not backend_of(arr).checks_values:  # a GPU: no host check, the division-free form
            return g * _prod_of_others(arr, ctx.dims), None, None, None
        if not (arr == 0).any():
            return g * o / a, None, None, None
        # With zeros: d prod / d a_i is the product of the others (computed without division).
        return g * B.constant(_prod_of_others(arr, ctx.dims), g), None, None, None


def _prod_of_others(arr, dims):
    xp = array_module(arr)
    moved = xp.moveaxis(arr, dims, tuple(range(len(dims))))
    flat = moved.reshape((-1,) + moved.shape[len(dims):])
    ones = xp.ones((1,) + flat.shape[1:], dtype=arr.dtype)
    left = xp.cumprod(xp.concatenate([ones, flat[:-1]]), axis=0)
    right = xp.cumprod(xp.concatenate([ones, flat[::-1][:-1]]), axis=0)[::-1]
    res = (left * right).reshape(moved.shape)
    return xp.moveaxis(res, tuple(range(len(dims))), dims)


@autocast_op("prod")
def prod(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    dims = tuple(range(input._data.ndim)) if dim is None else (normalize_dim(dim, input._data.ndim, "prod"),)
    if input._data.ndim == 0:
        dims = ()
    np_dtype = _dtype.to_dtype(dtype).np if dtype is not None else None
    if np_dtype is None and input._data.dtype.kind in "iub":
        np_dtype = numpy.int64
    return (Prod if input._data.dtype.kind != "c" else Prod._complex).apply(input, dims, keepdim, np_dtype)


class _ExtremeAll(Function):
    """max()/min()/amax/amin: the gradient is shared evenly among tied extreme elements."""

    @staticmethod
    def forward(ctx, a, dims, keepdim, use_max):
        arr = a._data
        xp = array_module(arr)
        out = (xp.amax if use_max else xp.amin)(arr, axis=dims, keepdims=keepdim)
        ctx.dims = dims
        ctx.keepdim = keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        shape = a.shape
        o = _restore_dims(out, shape, ctx.dims, ctx.keepdim)
        g = _restore_dims(grad, shape, ctx.dims, ctx.keepdim)
        mask = B.cast(a == o, ctx._input_meta[0][1])
        count = B.sum(mask, ctx.dims, keepdim=True)
        return g * mask / count, None, None, None


class _ExtremeDim(Function):
    """max(dim)/min(dim): values and indices; the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, use_max):
        arr = a._data
        xp = array_module(arr)
        idx = (xp.argmax if use_max else xp.argmin)(arr, axis=dim, keepdims=True)
        values = xp.take_along_axis(arr, idx, axis=dim)
        if not keepdim:
            values = values.squeeze(dim)
            idx_out = idx.squeeze(dim)
        else:
            idx_out = idx
        ctx.dim = dim
        ctx.keepdim = keepdim
        ctx.index = idx
        ctx.mark_non_differentiable(idx_out)
        return values, idx_out

    @staticmethod
    def backward(ctx, grad, grad_indices):
        from .indexing import Scatter

        shape = ctx.input_shape(0)
        g = _restore_dims(grad, shape, (ctx.dim,), ctx.keepdim)
        return B.call(Scatter, B.zeros(shape, grad), ctx.dim, ctx.index, g), None, None, None


def _check_nonempty(input: Tensor, op: str) -> None:
    if input._data.size == 0:
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
        )


def _extreme(input: Tensor, dim, keepdim: bool, use_max: bool, op: str, other=None):
    if isinstance(dim, Tensor) or other is not None:
        from .elementwise import maximum, minimum

        rhs = other if other is not None else dim
        return (maximum if use_max else minimum)(input, rhs)
    if dim is None:
        _check_nonempty(input, op)
        return _ExtremeAll.apply(input, tuple(range(input._data.ndim)), False, use_max)
    d = normalize_dim(dim, input._data.ndim, op)
    if input._data.ndim == 0:
        out = clone_scalar(input)
        return getattr(return_types, op)(out, _make(array_module(input._data).zeros((), dtype=numpy.int64)))
    if input._data.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    values, indices = _ExtremeDim.apply(input, d, keepdim, use_max)
    return getattr(return_types, op)(values, indices)


def clone_scalar(t: Tensor) -> Tensor:
    from .elementwise import clone

    return clone(t)


def max(input: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001 - torch's name
    """``max(x)`` -> the largest value; ``max(x, dim)`` -> (values, indices); ``max(x, y)`` -> maximum."""
    return _extreme(input, dim, keepdim, True, "max", other)


def min(input: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001 - torch's name
    return _extreme(input, dim, keepdim, False, "min", other)


# the C++ names torch's aminmax uses for an ``out`` of the wrong dtype
_C_TYPE_NAMES = {"float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double", "int64": "long int",
                 "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char", "bool": "bool",
                 "complex64": "c10::complex<float>", "complex128": "c10::complex<double>"}  # fmt: skip


def _extreme_out(result: Tensor, out, op: str, input: Tensor) -> Tensor:
    """amax/amin's ``out=``: the input's dtype exactly (torch's check), then written as every out=."""
    if isinstance(out, Tensor) and out.dtype is not input.dtype:
        raise RuntimeError(
            f"Expected the dtype for input and out to match, but got {_torch_type_name(input)} for input's dtype and "
            f"{_torch_type_name(out)} for out's dtype."
        )
    return write_out(result, out, op, (input,))


def amax(input: Tensor, dim=(), keepdim: bool = False, *, out=None) -> Tensor:
    if out is not None:
        return _extreme_out(amax(input, dim, keepdim), out, "amax", input)
    dims = _dims_arg(input, dim, "amax")
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        _check_nonempty(input, "amax")  # a full reduction of nothing has no identity
    for d in dims:
        if input._data.shape[d] == 0:
            raise IndexError(f"amax(): Expected reduction dim {d} to have non-zero size.")
    return _ExtremeAll.apply(input, dims, keepdim, True)


def amin(input: Tensor, dim=(), keepdim: bool = False, *, out=None) -> Tensor:
    if out is not None:
        return _extreme_out(amin(input, dim, keepdim), out, "amin", input)
    dims = _dims_arg(input, dim, "amin")
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        _check_nonempty(input, "amin")  # a full reduction of nothing has no identity
    for d in dims:
        if input._data.shape[d] == 0:
            raise IndexError(f"amin(): Expected reduction dim {d} to have non-zero size.")
    return _ExtremeAll.apply(input, dims, keepdim, False)


def aminmax(input: Tensor, *, dim=None, keepdim: bool = False, out=None):
    if out is not None:
        for o in out:
            if isinstance(o, Tensor) and o.dtype is not input.dtype:
                expected, got = (_C_TYPE_NAMES.get(d.name, d.name) for d in (input.dtype, o.dtype))
                raise RuntimeError(f"Expected out tensor to have dtype {expected}, but got {got} instead")
        lo, hi = aminmax(input, dim=dim, keepdim=keepdim)
        return return_types.aminmax(write_out(lo, out[0], "aminmax", (input,)), write_out(hi, out[1], "aminmax", (input,)))
    if dim is None and input._data.size == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity.")
    return return_types.aminmax(amin(input, dim if dim is not None else (), keepdim), amax(input, dim if dim is not None else (), keepdim))


def _arg_extreme(input: Tensor, dim, keepdim: bool, op: str) -> Tensor:
    """argmax/argmin (``op``, the array function's name too)."""
    arr = input._data
    xp = array_module(arr)
    fn = getattr(xp, op)
    if arr.dtype == bool:
        raise RuntimeError(f"{op}(): does not support bool input")
    if dim is None:
        if arr.size == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        idx = fn(arr.reshape(-1))
        out = xp.asarray(idx, dtype=numpy.int64)
        if keepdim:
            out = out.reshape((1,) * arr.ndim)
        return _make(out)
    d = normalize_dim(dim, arr.ndim, op)
    if arr.ndim == 0:
        return _make(xp.zeros((), dtype=numpy.int64))
    if arr.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    return _make(fn(arr, axis=d, keepdims=keepdim).astype(numpy.int64, copy=False))


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(input, dim, keepdim, "argmax")


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(input, dim, keepdim, "argmin")


def _correction(unbiased, correction) -> float:
    if correction is not None:
        return float(correction)
    if unbiased is None:
        return 1.0
    return 1.0 if unbiased else 0.0


B.holomorphic(Prod)  # complex inputs: the same formula between conjugations (see _backward.holomorphic)


def var(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (default 1), composed of primitives."""
    if isinstance(dim, bool):  # legacy var(input, unbiased)
        unbiased, dim = dim, None
    return _var(input, dim, unbiased, keepdim, correction, "var")


def _var(input: Tensor, dim, unbiased, keepdim: bool, correction, op: str) -> Tensor:
    kind = input._data.dtype.kind
    if kind not in "fcV":  # V: ml_dtypes' bfloat16
        raise RuntimeError("std and var only support floating point and complex dtypes")
    if kind == "V":  # bfloat16: accumulated in float32, rounded back, as torch
        return _var(input.float(), dim, unbiased, keepdim, correction, op).to(input.dtype)
    x = input
    dims = _dims_arg(x, dim, "var")
    n = _reduced_count(x._data.shape, dims)
    if n - _correction(unbiased, correction) <= 0:  # inf/nan, with torch's warning
        warnings.warn(
            f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction factor (input "
            "numel divided by output numel).",
            UserWarning,
            stacklevel=3,
        )
    centered = x - mean(x, dims, keepdim=True)
    if kind == "c":  # |x - mean|^2: a real variance
        from .complex_ops import imag, real

        re, im = real(centered), imag(centered)
        squares = re * re + im * im
    else:
        squares = centered * centered
    return sum(squares, dims, keepdim) / builtins.max(n - _correction(unbiased, correction), 0)


def std(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    from .elementwise import sqrt

    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return sqrt(_var(input, dim, unbiased, keepdim, correction, "std"))


def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return var(input, dim, unbiased, keepdim, correction=correction), mean(as_float(input), _dims_arg(input, dim, "var_mean"), keepdim)


def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    return std(input, dim, unbiased, keepdim, correction=correction), mean(as_float(input), _dims_arg(input, dim, "std_mean"), keepdim)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        arr = a._data
        backend = backend_of(arr)
        xp = backend.xp
        real = arr.real  # complex inputs: the largest real part is factored out (torch)
        m = xp.amax(real, axis=dims, keepdims=True) if arr.size else xp.zeros(_keepdim_shape(arr.shape, dims), real.dtype)
        m = xp.where(xp.isfinite(m), m, 0)
        s = xp.sum(xp.exp(arr - m), axis=dims, keepdims=True)
        out = xp.log(s) + m
        if not keepdim:
            out = out.reshape(_reduced_shape(arr.shape, dims, False))
        ctx.dims = dims
        ctx.keepdim = keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        shape = a.shape
        g = _restore_dims(grad, shape, ctx.dims, ctx.keepdim)
        return g * B.exp(a - _restore_dims(out, shape, ctx.dims, ctx.keepdim)), None, None


B.holomorphic(LogSumExp)


@autocast_op("logsumexp")
def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    x = as_float(input)
    fn = LogSumExp._complex if x._data.dtype.kind == "c" else LogSumExp
    return fn.apply(x, _dims_arg(x, dim, "logsumexp"), keepdim)


class Norm2(Function):
    """Euclidean norm; its gradient ``x / ||x||`` is defined as 0 at the zero vector (as torch)."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        arr = a._data
        xp = array_module(arr)
        out = xp.sqrt(xp.sum(arr * arr, axis=dims, keepdims=keepdim))
        ctx.dims = dims
        ctx.keepdim = keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        shape = a.shape
        g = _restore_dims(grad, shape, ctx.dims, ctx.keepdim)
        out_keep = _restore_dims(out, shape, ctx.dims, ctx.keepdim)
        safe = B.where(out_keep == 0, 1.0, out_keep)
        return B.where(out_keep == 0, 0.0, g / safe) * a, None, None


@autocast_op("norm")
def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """torch.norm: vector p-norms over ``dim`` (all dims by default); 'fro' is the 2-norm."""
    x = as_float(input)
    if dtype is not None:
        x = x.to(dtype)
    if p == "nuc":
        from .decompositions import matrix_norm  # decompositions builds on this module

        dims = tuple(range(x._data.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
        return matrix_norm(x, "nuc", dims, keepdim)
    return vector_norm(x, 2 if p in ("fro", None) else p, dim, keepdim)


class NormZero(Function):
    """The 0-"norm", the count of nonzeros: piecewise constant, so (as torch) differentiable
    with a zero gradient rather than cut from the graph."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        arr = a._data
        # CuPy's count_nonzero has no keepdims: restore the reduced dims by a reshape
        out = array_module(arr).count_nonzero(arr, axis=dims).astype(arr.dtype)
        return out.reshape(_keepdim_shape(arr.shape, dims)) if keepdim else out

    @staticmethod
    def backward(ctx, grad):
        return B.zeros(ctx.input_shape(0), grad), None, None


@autocast_op("vector_norm")
def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    from .elementwise import abs as abs_

    x = as_float(x)
    if x._data.dtype.kind == "V" and dtype is None:  # bfloat16: accumulated in float32, rounded once, as torch
        return in_float32(vector_norm, x, ord, dim, keepdim)
    if dtype is not None and _dtype.to_dtype(dtype).is_complex:  # a complex dtype: cast, then the (real) magnitudes
        x = x.to(dtype)
    if x._data.dtype.kind == "c":  # the norm of complex values is that of their magnitudes (real)
        x = abs_(x)
    if dtype is not None and not _dtype.to_dtype(dtype).is_complex:
        x = x.to(dtype)
    dims = _dims_arg(x, dim, "vector_norm")
    ord = float(ord)
    if ord == 2.0:
        return Norm2.apply(x, dims, keepdim)
    if ord == 1.0:
        return sum(abs_(x), dims, keepdim)
    if ord == float("inf"):
        return amax(abs_(x), dims, keepdim)
    if ord == float("-inf"):
        return amin(abs_(x), dims, keepdim)
    if ord == 0.0:
        return NormZero.apply(x, dims, keepdim)
    return NormP.apply(x, ord, dims, keepdim)


class NormP(Function):
    """The p-norm for p other than 0, 1, 2, +-inf; as torch, its gradient is 0 where the norm
    is 0 (and, for p < 1, at the zero entries), not the NaN of the chain rule."""

    _array_backward = False

    @staticmethod
    def forward(ctx, a, p, dims, keepdim):
        arr = a._data
        xp = array_module(arr)
        out = xp.sum(xp.abs(arr) ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)
        out = xp.asarray(out, dtype=arr.dtype)  # an array (NumPy gives scalars for full reductions), saved as returned
        ctx.p, ctx.dims, ctx.keepdim = p, dims, keepdim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import abs as abs_
        from .elementwise import sign, where

        a, out = ctx.saved_tensors
        p = ctx.p
        shape = a.shape
        g = _restore_dims(grad, shape, ctx.dims, ctx.keepdim)
        norm = _restore_dims(out, shape, ctx.dims, ctx.keepdim)
        zero_norm = norm == 0
        safe_norm = where(zero_norm, 1.0, norm)
        absa = abs_(a)
        safe_abs = where(a == 0, 1.0, absa)
        scaled = where(a == 0, 0.0, sign(a) * safe_abs ** (p - 1))  # d|a|^p / (p da)
        return where(zero_norm, 0.0, scaled * g / safe_norm ** (p - 1)), None, None, None


class Cumsum(Function):
    @staticmethod
    def forward(ctx, a, dim, dtype):
        ctx.dim = dim
        arr = a._data
        return array_module(arr).cumsum(arr, axis=dim, dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        d = ctx.dim
        return B.flip(B.cumsum(B.flip(grad, (d,)), d), (d,)), None, None


@autocast_op("cumsum")
def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    d = normalize_dim(dim, input._data.ndim, "cumsum")
    np_dtype = _dtype.to_dtype(dtype).np if dtype is not None else None
    if input._data.dtype.kind == "V" and (np_dtype is None or np_dtype == input._data.dtype):
        return cumsum(input.float(), d).to(input.dtype)  # bfloat16: accumulated in float32, as torch
    if np_dtype is None and input._data.dtype.kind in "iub":
        np_dtype = numpy.int64
    if input._data.ndim == 0:
        return input.clone() if np_dtype is None else input.to(_dtype.from_numpy_dtype(np_dtype))
    return Cumsum.apply(input, d, np_dtype)


def _cumprod_vjp(a, out, grad, d: int):
    """The gradient of ``out = cumprod(a, d)``: d out_i / d x_k = prod_{j <= i, j != k} x_j (i >= k).

    Before a lane's first zero x_z that is out_i / x_k (out_i is 0 from z on); at z it is the
    cumprod with x_z read as 1; past z every product holds x_z, so it is x_z times the gradient
    of that cumprod -- 0, but written so under ``create_graph`` its derivative in x_z is right.
    """
    arr = a if B.is_array(a) else a._data
    zero = arr == 0
    seen = array_module(arr).cumsum(zero, axis=d)
    before = seen == 0
    first = zero & (seen == 1)

    def reverse_cumsum(x):
        return B.flip(B.cumsum(B.flip(x, (d,)), d), (d,))

    skip = B.where(first, 1, a)  # x_z read as 1
    skip_out = B.call(Cumprod, skip, d)
    grad_before = reverse_cumsum(grad * out) / B.where(before, a, 1)
    grad_first = reverse_cumsum(grad * skip_out)
    if B.is_array(a) or not bool(zero.any()):
        grad_past = 0  # exactly 0 as a value; only its derivative needs the product below
    else:
        x_z = B.sum(B.where(first, a, 0), (d,), keepdim=True)
        grad_past = x_z * _cumprod_vjp(skip, skip_out, grad, d)
    return B.where(before, grad_before, B.where(first, grad_first, grad_past))


class Cumprod(Function):
    @staticmethod
    def forward(ctx, a, dim):
        arr = a._data
        if arr.dtype.kind == "V":  # bfloat16: the running product in float32, each output rounded, as torch
            out = array_module(arr).cumprod(arr, axis=dim, dtype=numpy.float32).astype(arr.dtype)
        else:
            out = array_module(arr).cumprod(arr, axis=dim)
        ctx.dim = dim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return _cumprod_vjp(a, out, grad, ctx.dim), None


B.holomorphic(Cumprod)


@autocast_op("cumprod")
def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    d = normalize_dim(dim, input._data.ndim, "cumprod")
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "biu":  # integer products accumulate in int64, as sum
        input = input.to(_dtype.int64)
    if input._data.ndim == 0:  # NumPy's cumprod flattens 0-d input to shape (1,)
        return input.clone()
    return (Cumprod if input._data.dtype.kind != "c" else Cumprod._complex).apply(input, d)


class LogCumSumExp(Function):
    """log(cumsum(exp(x))) along ``dim``, stable (a running ``logaddexp``)."""

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        arr = a._data
        # the running sum in float64 for narrower floats (as torch's CPU kernel): a float32 scan
        # loses up to ~n ulps, which the backward's exp of (a - out) turns into relative error
        if arr.dtype.kind == "c":
            from .elementwise import _complex_logaddexp

            # a left-to-right fold, as torch: the imaginary parts are not reduced mod 2 pi, so
            # another association of the same sums may differ from torch's by multiples of 2 pi
            xp = array_module(arr)
            run = xp.moveaxis(arr.astype(numpy.complex128), dim, 0).copy()
            for i in range(1, run.shape[0]):
                run[i] = _complex_logaddexp(run[i - 1], run[i])
            out = xp.moveaxis(run, 0, dim).astype(arr.dtype, copy=False)
        else:
            wide = arr.astype(numpy.float64) if arr.dtype.itemsize < 8 else arr
            out = backend_of(arr).accumulate("logaddexp", wide, dim).astype(arr.dtype, copy=False)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # d out_i / d a_j = exp(a_j - out_i) for i >= j, so grad_j = exp(a_j) * sum_{i>=j} g_i exp(-out_i):
        # a reversed log-cum-sum-exp of log|g| - out, taken for the positive and the negative g apart.
        a, out = ctx.saved_tensors
        d = ctx.dim
        if (grad if B.is_raw(grad) else grad._data).dtype.kind == "c":  # complex (the holomorphic variant): log g exists, no sign split
            logs = B.log(grad) - out
            return B.exp(B.flip(B.call(LogCumSumExp, B.flip(logs, (d,)), d), (d,)) + a), None

        def reversed_part(sign):
            mask = grad * sign > 0
            logs = B.where(mask, B.log(B.where(mask, grad * sign, 1.0)) - out, float("-inf"))
            return B.exp(B.flip(B.call(LogCumSumExp, B.flip(logs, (d,)), d), (d,)) + a)

        return reversed_part(1.0) - reversed_part(-1.0), None


B.holomorphic(LogCumSumExp)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    if input._data.dtype.kind not in "fcV":
        from .elementwise import _TORCH_TYPE_NAMES

        name = _TORCH_TYPE_NAMES[input._data.dtype.name]
        raise NotImplementedError(f'"logcumsumexp_out_cpu" not implemented for \'{name}\'')
    d = normalize_dim(dim, input._data.ndim, "logcumsumexp")
    if input._data.ndim == 0:
        return input.clone()
    return (LogCumSumExp._complex if input._data.dtype.kind == "c" else LogCumSumExp).apply(input, d)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None, append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``prepend``/``append`` joined first);
    booleans differ by logical xor, as in torch."""
    from .elementwise import logical_xor, sub
    from .movement import cat, narrow

    if n == 0:  # torch returns the input as it is (prepend/append ignored)
        return input

    if input._data.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = normalize_dim(dim, input._data.ndim, "diff")
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat(parts, d) if len(parts) > 1 else input
    step = logical_xor if x._data.dtype == bool else sub
    for _ in range(n):
        size = x._data.shape[d]
        if size == 0:
            break
        x = step(narrow(x, d, 1, size - 1), narrow(x, d, 0, size - 1))
    return x


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - torch's name
    arr = input._data
    dims = None if dim is None else normalize_dims(dim, arr.ndim, "all")
    return _make(array_module(arr).all(arr, axis=dims, keepdims=keepdim))


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - torch's name
    arr = input._data
    dims = None if dim is None else normalize_dims(dim, arr.ndim, "any")
    return _make(array_module(arr).any(arr, axis=dims, keepdims=keepdim))


def count_nonzero(input: Tensor, dim=None) -> Tensor:
    arr = input._data
    xp = array_module(arr)
    dims = None if dim is None else normalize_dims(dim, arr.ndim, "count_nonzero")
    return _make(xp.asarray(xp.count_nonzero(arr, axis=dims), dtype=numpy.int64))


def hash_tensor(input: Tensor, dim=(), *, keepdim: bool = False, mode: int = 0) -> Tensor:
    """torch.hash_tensor: each element upcast to its 64-bit float or integer form, its bits read
    as uint64 and xor-reduced over ``dim`` (every dim when empty). A uint64 result; no gradient."""
    if mode != 0:
        raise RuntimeError(f"hash_tensor only supports mode=0 (xor reduction), but got mode={mode}")
    arr = input._data
    xp = array_module(arr)
    whole = dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0)
    if whole and arr.size == 0:
        raise RuntimeError(
            "hash_tensor: Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    dims = None if whole else normalize_dims(dim, arr.ndim, "hash_tensor")
    wide = arr.astype(numpy.float64 if _dtype.is_float_kind(arr.dtype.kind) else numpy.int64)
    bits = wide.view(numpy.uint64)
    if arr.ndim == 0:
        return _make(bits.copy())
    return _make(xp.bitwise_xor.reduce(bits, axis=dims, keepdims=keepdim))


# ---------------------------------------------------------------------------- distances, integrals, gradients
# Composites of differentiable primitives: their gradients come from those ops' formulas.
@autocast_op("dist")
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcast), a 0-d tensor."""
    from .elementwise import sub

    if input._data.dtype.kind not in "fcV" or other._data.dtype.kind not in "fcV":
        bad = input if input._data.dtype.kind not in "fcV" else other
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. Got {_torch_type_name(bad)} instead.")
    return vector_norm(sub(input, other), p)


def _torch_type_name(t: Tensor) -> str:
    from .elementwise import _TORCH_TYPE_NAMES

    return _TORCH_TYPE_NAMES[t._data.dtype.name]


@autocast_op("renorm")
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to norm ``maxnorm``."""
    from .elementwise import div, mul, where

    if input._data.dtype.kind not in "fcV":
        raise RuntimeError(f"renorm: Expected a floating point or complex tensor as input. Got {_torch_type_name(input)}")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    ndim = input._data.ndim
    if ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {ndim} dimensions")
    d = normalize_dim(dim, ndim, "renorm")
    others = tuple(i for i in range(ndim) if i != d)
    norms = vector_norm(input, p, others, keepdim=True)
    factor = where(norms > maxnorm, div(maxnorm, norms + 1e-7), 1.0)
    return mul(input, factor)


def _slices(x: Tensor, dim: int):
    """(x[1:], x[:-1]) along ``dim``."""
    from .movement import narrow

    n = x._data.shape[dim]
    return narrow(x, dim, 1, n - 1), narrow(x, dim, 0, n - 1)


def _trapezoid_spacing(y: Tensor, x: Tensor, dim: int, op: str) -> Tensor:
    """The spacing ``x[1:] - x[:-1]`` along ``dim``, shaped to broadcast against ``y``'s slices."""
    from .elementwise import sub

    if x._data.ndim == 1:
        if x._data.shape[0] != y._data.shape[dim]:
            raise RuntimeError(f"{op}: There must be one `x` value for each sample point")
        shape = [1] * y._data.ndim
        shape[dim] = x._data.shape[0]
        x = x.reshape(shape)
    elif x._data.ndim < y._data.ndim:
        x = x.reshape((1,) * (y._data.ndim - x._data.ndim) + x._data.shape)
    right, left = _slices(x, dim)
    return sub(right, left)


def _trapezoid_args(y: Tensor, x, dx, dim: int, op: str) -> tuple:
    if x is not None and dx is not None:
        raise RuntimeError(f"{op}: received both x and dx")
    if y._data.ndim == 0:
        raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got {dim})")
    d = normalize_dim(dim, y._data.ndim, op)
    if isinstance(x, Tensor):
        return d, _trapezoid_spacing(y, x, d, op)
    return d, (1 if dx is None and x is None else dx if dx is not None else x)


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: sample points ``x`` (a tensor) or a constant spacing ``dx``."""
    from .elementwise import add, div, mul

    d, spacing = _trapezoid_args(y, x, dx, dim, "trapezoid")
    if y._data.shape[d] == 0:  # no intervals: zeros of the reduced shape
        shape = y._data.shape[:d] + y._data.shape[d + 1 :]
        dt = y._data.dtype if _dtype.is_float_array(y._data) else _dtype._default_float.np
        return _make(array_module(y._data).zeros(shape, dtype=dt))
    right, left = _slices(y, d)
    return div(sum(mul(spacing, add(right, left)), d), 2.0)


def trapz(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """``trapezoid`` (the older name): ``trapz(y, x, dim=...)`` or ``trapz(y, dx=..., dim=...)``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoidal integral along ``dim`` (one element fewer than ``y`` there)."""
    from .elementwise import add, div, mul

    d, spacing = _trapezoid_args(y, x, dx, dim, "cumulative_trapezoid")
    if y._data.shape[d] == 0:
        dt = y._data.dtype if _dtype.is_float_array(y._data) else _dtype._default_float.np
        return _make(array_module(y._data).zeros(y._data.shape, dtype=dt))
    right, left = _slices(y, d)
    return cumsum(div(mul(spacing, add(right, left)), 2.0), d)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:
    """Estimates of the partial derivatives along ``dim`` (all dims by default) by central
    differences inside and one-sided differences of order ``edge_order`` (1 or 2) at the edges.
    ``spacing``: a number, one number per dim, or one coordinate tensor per dim."""
    ndim = input._data.ndim
    if dim is None:
        dims = tuple(range(ndim))
    elif isinstance(dim, int):
        dims = (normalize_dim(dim, ndim, "gradient"),)
    else:
        dims = tuple(normalize_dim(d, ndim, "gradient") for d in dim)
    if len(set(dims)) != len(dims):
        dup = next(d for d in dims if dims.count(d) > 1)
        raise RuntimeError(f"dim {dup} appears multiple times in the list of dims")
    if spacing is None:
        spacing = 1
    if isinstance(spacing, (list, tuple)):
        spacings = list(spacing)
        if len(spacings) != len(dims):
            raise RuntimeError(
                f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim arguments "
                f"to have the same length, but got a spacing argument of length {len(spacings)} and a dim argument "
                f"of length {len(dims)}."
            )
    elif isinstance(spacing, Tensor) and spacing._data.ndim:
        raise RuntimeError("torch.gradient expected spacing to be a scalar, a list of scalars or a list of tensors")
    else:
        spacings = [spacing.item() if isinstance(spacing, Tensor) else spacing] * len(dims)
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    for d in dims:
        if input._data.shape[d] < edge_order + 1:
            raise RuntimeError(
                "torch.gradient expected each dimension size to be at least edge_order+1"
            )
    out = []
    for d, h in zip(dims, spacings):
        if isinstance(h, Tensor):
            if h._data.ndim != 1 or h._data.shape[0] != input._data.shape[d]:
                raise RuntimeError(
                    "torch.gradient expected each tensor to be on the same device and to have one coordinate per sample"
                )
            out.append(_gradient_coordinates(input, h, d, edge_order))
        else:
            out.append(_gradient_uniform(input, h, d, edge_order))
    return tuple(out)


def _gradient_uniform(f: Tensor, h, d: int, edge_order: int) -> Tensor:
    from .elementwise import add, div, mul, sub
    from .movement import cat, narrow

    n = f._data.shape[d]

    def at(start: int, length: int = 1) -> Tensor:
        return narrow(f, d, start % n, length)

    inner = div(sub(at(2, n - 2), at(0, n - 2)), h * 2.0) if n > 2 else None
    if edge_order == 1:
        first = div(sub(at(1), at(0)), h)
        last = div(sub(at(-1), at(-2)), h)
    else:  # second-order one-sided: (-3 f0 + 4 f1 - f2) / 2h and its mirror
        first = div(sub(sub(mul(at(1), 2.0), mul(at(0), 1.5)), mul(at(2), 0.5)), h)
        last = div(sub(add(mul(at(-1), 1.5), mul(at(-3), 0.5)), mul(at(-2), 2.0)), h)
    parts = [first] + ([inner] if inner is not None else []) + [last]
    return cat(parts, d)


def _gradient_coordinates(f: Tensor, x: Tensor, d: int, edge_order: int) -> Tensor:
    """Non-uniform samples at coordinates ``x``: the second-order-accurate three-point formula
    inside; one-sided differences of order ``edge_order`` at the ends."""
    from .elementwise import add, div, mul, sub
    from .movement import cat, narrow

    n = f._data.shape[d]
    shape = [1] * f._data.ndim
    shape[d] = -1
    h = sub(narrow(x, 0, 1, n - 1), narrow(x, 0, 0, n - 1))  # the n - 1 steps

    def at(start: int, length: int = 1) -> Tensor:
        return narrow(f, d, start % n, length)

    def coef(t: Tensor) -> Tensor:
        return t.reshape(shape)

    parts = []
    h1, h2 = narrow(h, 0, 0, 1), narrow(h, 0, 1, 1)
    if edge_order == 1:
        parts.append(div(sub(at(1), at(0)), coef(h1)))
    else:
        a = -div(add(mul(h1, 2.0), h2), mul(h1, add(h1, h2)))
        b = div(add(h1, h2), mul(h1, h2))
        c = -div(h1, mul(h2, add(h1, h2)))
        parts.append(add(add(mul(coef(a), at(0)), mul(coef(b), at(1))), mul(coef(c), at(2))))
    if n > 2:
        hl, hr = narrow(h, 0, 0, n - 2), narrow(h, 0, 1, n - 2)
        a = -div(hr, mul(hl, add(hl, hr)))
        b = div(sub(hr, hl), mul(hl, hr))
        c = div(hl, mul(hr, add(hl, hr)))
        parts.append(add(add(mul(coef(a), at(0, n - 2)), mul(coef(b), at(1, n - 2))), mul(coef(c), at(2, n - 2))))
    hr = narrow(h, 0, n - 2, 1)  # the last step
    if edge_order == 1:
        parts.append(div(sub(at(-1), at(-2)), coef(hr)))
    else:
        hl = narrow(h, 0, n - 3, 1)
        a = div(hr, mul(hl, add(hl, hr)))
        b = -div(add(hr, hl), mul(hl, hr))
        c = div(add(mul(hr, 2.0), hl), mul(hr, add(hl, hr)))
        parts.append(add(add(mul(coef(a), at(-3)), mul(coef(b), at(-2))), mul(coef(c), at(-1))))
    return cat(parts, d)
