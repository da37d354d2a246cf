"""``torch.masked`` reductions and normalizations on strided tensors with a boolean ``mask``.

Every op is a composite: the masked-out elements of the input are replaced by the identity of
the reduction (0 for sums, 1 for products, -inf for maxima, ...) with ``where``, and the ordinary
op then runs on the result. The gradient therefore comes from the primitives, and ``where``
sends none to masked-out elements. Slices with no masked-in element give what the ordinary op
gives on identities only (amax -> -inf, prod -> 1, ...); mean, var, std and median give NaN.
Sparse layouts and ``MaskedTensor`` are not modelled.
"""

from __future__ import annotations

import builtins

from .. import _dtype
from .._creation import full, ones
from .._tensor import Tensor
from ..ops.elementwise import logaddexp as _logaddexp
from ..ops.elementwise import maximum, sqrt, where
from ..ops.indexing import nanmedian
from ..ops.movement import broadcast_to
from ..ops.nn_ops import log_softmax as _log_softmax
from ..ops.nn_ops import softmax as _softmax
from ..ops.reduction import amax as _amax
from ..ops.reduction import amin as _amin
from ..ops.reduction import argmax as _argmax
from ..ops.reduction import argmin as _argmin
from ..ops.reduction import cumprod as _cumprod
from ..ops.reduction import cumsum as _cumsum
from ..ops.reduction import logsumexp as _logsumexp
from ..ops.reduction import sum as _sum
from ..ops.reduction import vector_norm

DimOrDims = int | tuple[int, ...] | list[int] | None

# Integer dtypes that sum/prod widen to int64 when no dtype is given (torch's rule).
_SMALL_INTEGRAL = ("bool", "uint8", "int8", "int16", "int32")


def _is_float(dt: _dtype.dtype) -> bool:
    return dt.is_floating_point


def _is_inexact(dt: _dtype.dtype) -> bool:
    """Floating or complex: the dtypes mean/var/std compute in."""
    return dt.is_floating_point or dt.is_complex


def _identity(op: str, input: Tensor, ord: float = 2.0) -> Tensor:
    """The 0-d identity of reduction ``op`` for ``input``'s dtype: the value masked-out elements
    take, so that including them changes nothing."""
    dt = input.dtype
    signed_int = not _is_float(dt) and dt is not _dtype.bool_ and (dt.is_signed or dt is _dtype.uint8)
    if op in ("sum", "cumsum"):
        value = 0
    elif op in ("prod", "cumprod"):
        value = 1
    elif op in ("amax", "argmax", "logaddexp", "logsumexp"):
        complex_ok = op == "logsumexp" and dt.is_complex  # -inf + 0j
        if not (_is_float(dt) or signed_int or complex_ok):
            raise NotImplementedError(f"identity of {op} on {dt} input")
        value = float("-inf") if _is_float(dt) or complex_ok else _dtype.iinfo(dt).min
    elif op in ("amin", "argmin"):
        if not (_is_float(dt) or signed_int):
            raise NotImplementedError(f"identity of {op} on {dt} input")
        value = float("inf") if _is_float(dt) else _dtype.iinfo(dt).max
    elif op == "norm":
        if ord == float("-inf"):
            if not dt.is_floating_point:
                raise AssertionError(f"input must be floating point, got {dt}")
            value = float("inf")
        else:
            value = 0
    elif op == "median":
        value = float("nan")
    else:
        raise NotImplementedError(f"identity of {op} on {dt} input")
    return full((), value, dtype=dt, device=input.device)


def _canonical_dim(dim: DimOrDims, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative dims; ``None`` and ``()`` mean all dims."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    rank = builtins.max(ndim, 1)
    dims: list[int] = []
    for d in (dim,) if isinstance(dim, int) else dim:
        if d in dims:
            raise RuntimeError(f"dim={d} appears multiple times in the list of dims")
        if d >= rank or d < -rank:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {d})")
        dims.append(d % rank)
    return tuple(sorted(dims))


def _input_mask(input: Tensor, mask: Tensor) -> Tensor:
    """``mask`` broadcast to ``input``'s shape, as bool."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a Tensor, not {type(mask).__name__}")
    if tuple(mask.shape) != tuple(input.shape):
        if mask.ndim > input.ndim:
            raise IndexError(
                "_input_mask expected broadcastable mask (got mask dimensionality higher than of the input)"
            )
        mask = broadcast_to(mask, tuple(input.shape))
    return mask if mask.dtype is _dtype.bool_ else mask.to(_dtype.bool_)


def _masked_input(op: str, input: Tensor, mask: Tensor | None, ord: float = 2.0) -> Tensor:
    """``input`` with its masked-out elements replaced by ``op``'s identity."""
    if mask is None:
        return input
    return where(_input_mask(input, mask), input, _identity(op, input, ord))


def _sum_dtype(input: Tensor, dtype) -> _dtype.dtype:
    if dtype is not None:
        return _dtype.to_dtype(dtype)
    return _dtype.int64 if input.dtype.name in _SMALL_INTEGRAL else input.dtype


def _out_dtype(input: Tensor, dtype) -> _dtype.dtype:
    return input.dtype if dtype is None else _dtype.to_dtype(dtype)


def sum(  # noqa: A001 - torch's name
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Sum of the masked-in elements over ``dim`` (0 where none is masked in)."""
    out_dtype = _sum_dtype(input, dtype)
    dims = _canonical_dim(dim, input.ndim)
    return _sum(_masked_input("sum", input, mask), dims, bool(keepdim), dtype=out_dtype)


def prod(
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Product of the masked-in elements over ``dim`` (1 where none is masked in)."""
    out_dtype = _sum_dtype(input, dtype)
    dims = _canonical_dim(dim, input.ndim)
    result = _masked_input("prod", input, mask).to(out_dtype)
    for d in reversed(dims):  # one dim at a time: prod takes a single dim
        result = result.prod(dim=d, keepdim=bool(keepdim))
    return result


def cumsum(input: Tensor, dim: int, *, dtype=None, mask: Tensor | None = None) -> Tensor:
    """Cumulative sum along ``dim`` with masked-out elements counted as 0."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    return _cumsum(_masked_input("sum", input, mask), d, dtype=out_dtype).to(out_dtype)


def cumprod(input: Tensor, dim: int, *, dtype=None, mask: Tensor | None = None) -> Tensor:
    """Cumulative product along ``dim`` with masked-out elements counted as 1."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    return _cumprod(_masked_input("prod", input, mask), d, dtype=out_dtype).to(out_dtype)


def amax(
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Maximum of the masked-in elements over ``dim`` (the dtype's lowest value where none is)."""
    out_dtype = _out_dtype(input, dtype)
    x = _masked_input("amax", input, mask)
    return _amax(x, _canonical_dim(dim, x.ndim), bool(keepdim)).to(out_dtype)


def amin(
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Minimum of the masked-in elements over ``dim`` (the dtype's highest value where none is)."""
    out_dtype = _out_dtype(input, dtype)
    x = _masked_input("amin", input, mask)
    return _amin(x, _canonical_dim(dim, x.ndim), bool(keepdim)).to(out_dtype)


def argmax(
    input: Tensor, dim: int | None = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Index of the largest masked-in element along ``dim``, in ``dtype`` (the input's, as torch)."""
    out_dtype = _out_dtype(input, dtype)
    return _argmax(_masked_input("argmax", input, mask), dim, bool(keepdim)).to(out_dtype)


def argmin(
    input: Tensor, dim: int | None = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Index of the smallest masked-in element along ``dim``, in ``dtype`` (the input's, as torch)."""
    out_dtype = _out_dtype(input, dtype)
    return _argmin(_masked_input("argmin", input, mask), dim, bool(keepdim)).to(out_dtype)


def _count(input: Tensor, dim: DimOrDims, keepdim: bool, mask: Tensor | None) -> Tensor:
    """How many elements are masked in over ``dim`` (int64)."""
    if mask is None:
        return sum(ones(tuple(input.shape), dtype=_dtype.int64, device=input.device), dim, keepdim=keepdim)
    return sum(mask, dim, keepdim=keepdim)


def mean(
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool | None = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Mean of the masked-in elements over ``dim`` (NaN where none is masked in)."""
    source = "Input" if dtype is None else "Optional"
    out_dtype = _out_dtype(input, dtype)
    if not _is_inexact(out_dtype):
        raise ValueError(
            f"mean(): Could not infer output dtype. {source} dtype must be either "
            f"a floating point or complex dtype. Got: {out_dtype}"
        )
    inmask = None if mask is None else _input_mask(input, mask)
    count = _count(input, dim, bool(keepdim), inmask)
    total = sum(input, dim, keepdim=keepdim, dtype=out_dtype, mask=inmask)
    return total / count


def median(
    input: Tensor, dim: int = -1, *, keepdim: bool = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """Lower median of the masked-in elements along ``dim`` (NaN where none is masked in)."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    is_float = input.dtype.is_floating_point
    if not is_float:
        input = input.to(_dtype.float32)
    output = nanmedian(_masked_input("median", input, mask), d, keepdim).values
    if is_float:
        return output
    if bool(output.isnan().any()):
        raise ValueError("masked median expects no fully masked out rows if dtype is not floating point")
    return output.to(out_dtype)


def logsumexp(
    input: Tensor, dim: DimOrDims = None, *, keepdim: bool = False, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """log(sum(exp)) of the masked-in elements over ``dim`` (-inf where none is masked in)."""
    out_dtype = _out_dtype(input, dtype)
    dims = _canonical_dim(dim, input.ndim)
    return _logsumexp(_masked_input("logsumexp", input, mask), dims, keepdim=keepdim).to(out_dtype)


def logaddexp(
    input: Tensor,
    other: Tensor,
    *,
    dtype=None,
    input_mask: Tensor | None = None,
    other_mask: Tensor | None = None,
) -> Tensor:
    """log(exp(input) + exp(other)) with each operand's masked-out elements counted as -inf."""
    out_dtype = _out_dtype(input, dtype)
    a = _masked_input("logaddexp", input, input_mask)
    b = _masked_input("logaddexp", other, other_mask)
    return _logaddexp(a, b).to(out_dtype)


def norm(
    input: Tensor,
    ord: float | None = 2.0,
    dim: DimOrDims = None,
    *,
    keepdim: bool | None = False,
    dtype=None,
    mask: Tensor | None = None,
) -> Tensor:
    """Vector ``ord``-norm of the masked-in elements over ``dim``."""
    out_dtype = _out_dtype(input, dtype)
    x = _masked_input("norm", input, mask, 2.0 if ord is None else ord)
    return vector_norm(x, ord, _canonical_dim(dim, input.ndim), bool(keepdim), dtype=out_dtype)


def _std_var(
    input: Tensor,
    dim: DimOrDims,
    unbiased: bool | None,
    correction: float | None,
    keepdim: bool | None,
    dtype,
    mask: Tensor | None,
    take_sqrt: bool,
) -> Tensor:
    if unbiased is not None and correction is not None:
        raise AssertionError("Only one of unbiased and correction may be given")
    corr = 1.0 if unbiased is None else float(bool(unbiased))
    if correction is not None:
        corr = float(correction)
    out_dtype = _out_dtype(input, dtype)
    if dtype is None and not _is_inexact(out_dtype):
        out_dtype = _dtype.float32
    # the squared deviations are summed in floating point even when the output dtype is integral;
    # complex inputs sum |x - mean|^2 as x * conj(x) in the complex dtype (torch's complex result)
    compute_dtype = out_dtype if _is_inexact(out_dtype) else _dtype.float32
    inmask = None if mask is None else _input_mask(input, mask)
    count = _count(input, dim, True, inmask)
    sample_mean = sum(input, dim, keepdim=True, dtype=out_dtype, mask=inmask) / count
    x = input - sample_mean
    total = sum(x * x.conj(), dim, keepdim=keepdim, dtype=compute_dtype, mask=inmask)
    if not keepdim:
        count = count.reshape(tuple(total.shape))
    if corr != 0:
        real_dtype = compute_dtype.to_real() if compute_dtype.is_complex else compute_dtype
        count = count.to(real_dtype) - corr
        count = maximum(count, full((), 0, dtype=real_dtype, device=count.device))
    output = (total / count).to(out_dtype)
    return sqrt(output) if take_sqrt else output


def var(
    input: Tensor,
    dim: DimOrDims = None,
    unbiased: bool | None = None,
    *,
    correction: float | None = None,
    keepdim: bool | None = False,
    dtype=None,
    mask: Tensor | None = None,
) -> Tensor:
    """Variance of the masked-in elements over ``dim`` with ``correction`` (default 1)."""
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, take_sqrt=False)


def std(
    input: Tensor,
    dim: DimOrDims = None,
    unbiased: bool | None = None,
    *,
    correction: float | None = None,
    keepdim: bool | None = False,
    dtype=None,
    mask: Tensor | None = None,
) -> Tensor:
    """Standard deviation of the masked-in elements over ``dim`` with ``correction`` (default 1)."""
    return _std_var(input, dim, unbiased, correction, keepdim, dtype, mask, take_sqrt=True)


def softmax(input: Tensor, dim: int, *, dtype=None, mask: Tensor | None = None) -> Tensor:
    """Softmax along ``dim`` over the masked-in elements (0 at masked-out ones, NaN in empty slices)."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    return _softmax(_masked_input("amax", input, mask), d, dtype=out_dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None, mask: Tensor | None = None) -> Tensor:
    """Log-softmax along ``dim`` over the masked-in elements (-inf at masked-out ones)."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    return _log_softmax(_masked_input("amax", input, mask), d, dtype=out_dtype)


def softmin(input: Tensor, dim: int, *, dtype=None, mask: Tensor | None = None) -> Tensor:
    """Softmin along ``dim`` over the masked-in elements (0 at masked-out ones)."""
    out_dtype = _out_dtype(input, dtype)
    d = _canonical_dim(dim, input.ndim)[0]
    return _softmax(-_masked_input("amin", input, mask), d, dtype=out_dtype)


def normalize(
    input: Tensor, ord: float, dim: int, *, eps: float = 1e-12, dtype=None, mask: Tensor | None = None
) -> Tensor:
    """``input`` divided by the masked ``ord``-norm along ``dim`` (at least ``eps``); masked-out
    elements become 0."""
    out_dtype = _out_dtype(input, dtype)
    x = _masked_input("sum", input, mask)
    nrm = norm(input, ord, dim, keepdim=True, dtype=out_dtype, mask=mask)
    return x / maximum(nrm, full((), eps, dtype=nrm.dtype, device=nrm.device))
