"""Helpers shared by the ops: dims, shapes, operand promotion, error messages, unbroadcast."""

from __future__ import annotations

import functools
import math

import numpy

from .. import _dtype
from .._backend import _BY_ARRAY_TYPE, array_module, backend_of, is_array
from .._backend.cpu import OutOfMemoryError, quiet_numpy, restore_numpy
from .._tensor import Size, Tensor, _make, shape_str
from ..autograd.grad_mode import _state as _grad_state

_FROM_NUMPY = _dtype._FROM_NUMPY


def require_tensor(op: str, value, name: str = "input", position: int = 1) -> None:
    """torch's rule for tensor-only arguments: a Python number there is a TypeError."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def normalize_dim(dim: int, ndim: int, op: str = "") -> int:
    """Wrap a possibly negative ``dim``; 0-d tensors accept -1 and 0 like torch."""
    n = ndim if ndim > 0 else 1
    try:
        d = int(dim)
    except TypeError:
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}") from None
    if d < -n or d >= n:
        prefix = f"{op}(): " if op else ""
        raise IndexError(f"{prefix}Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return d + n if d < 0 else d


def normalize_dims(dim, ndim: int, op: str = "") -> tuple:
    """``None`` -> all dims; int or sequence -> a sorted tuple of wrapped, unique dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, numpy.integer)) or (isinstance(dim, Tensor) and dim._data.ndim == 0):
        dims = (normalize_dim(dim, ndim, op),)
    else:
        dims = tuple(normalize_dim(d, ndim, op) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{op}(): dim {dims[0]} appears multiple times in the list of dims")
    if ndim == 0:
        return ()
    return tuple(sorted(dims))


def parse_size(size, op: str = "", check_negative: bool = True) -> tuple:
    """Accept ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(Size)``; validate the entries
    (``check_negative`` False: the caller words its own error for a dim below -1)."""
    if len(size) == 1 and not isinstance(size[0], (int, numpy.integer)) and size[0] is not None:
        size = size[0]
        if isinstance(size, Tensor):
            size = size.tolist()
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, numpy.integer)):
            raise TypeError(f"{op}(): argument 'size' must be tuple of ints, but found element of type {type(s).__name__}")
        out.append(int(s))
    for s in out:
        if s < -1 and check_negative:
            raise RuntimeError(f"{op}(): Trying to create tensor with negative dimension {s}: {out}")
    return tuple(out)


def creation_size(size, op: str = "", varargs: bool = False) -> tuple:
    """``parse_size`` for new tensors (zeros, rand, ...): every dim must be non-negative.

    ``varargs``: ``size`` is the ``*size`` of ``zeros(*size)``, which needs at least one argument.
    """
    if varargs and not size:
        raise TypeError(f'{op}() missing 1 required positional arguments: "size"')
    shape = parse_size(size, op, check_negative=False)
    if any(s < 0 for s in shape):
        if op == "zeros":  # torch words zeros' check its own way
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    if any(s > _INT64_MAX for s in shape):
        raise TypeError(f"{op}(): argument 'size' failed to unpack the object: Overflow when unpacking long long")
    if len(shape) > 1 and math.prod(shape) > _INT64_MAX:
        raise RuntimeError(f"Storage size calculation overflowed with sizes={list(shape)}")
    return shape


_INT64_MAX = 2**63 - 1


def out_of_memory(shape, np_dtype, device: str = "cpu") -> OutOfMemoryError:
    """torch's error for an allocation of ``shape`` x ``np_dtype`` that failed."""
    nbytes = math.prod(shape) * numpy.dtype(np_dtype).itemsize
    if device == "cpu":
        return OutOfMemoryError(f"DefaultCPUAllocator: can't allocate memory: you tried to allocate {nbytes} bytes.")
    return OutOfMemoryError(f"CUDA out of memory. Tried to allocate {nbytes} bytes.")


# ---------------------------------------------------------------------------- numbers into a dtype
# the C++ type torch names when a number does not fit a dtype (fills, masked_fill, where, clamp)
C_TYPE_NAMES = {"float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double", "int64": "int64_t",
                "int32": "int", "int16": "int16_t", "int8": "int8_t", "uint8": "uint8_t", "bool": "bool"}  # fmt: skip
_HALF_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38}


def fitting_scalar(value, np_dtype, c_name: bool = True, half: bool = False):
    """The Python number ``value`` as torch's checked conversion into ``np_dtype`` gives it: the
    fills (``full``, ``fill_``, ``masked_fill``, ``index_fill``, ``__setitem__``), ``where`` and
    ``clamp`` with a number, and ``tensor(..., dtype=)``. A value out of the dtype's range is
    torch's RuntimeError ("value cannot be converted to type int8_t without overflow"; ``c_name``
    False: the dtype's own name, as ``tensor()`` says it) where NumPy would raise OverflowError or
    wrap. uint8 takes integers down to -255 (wrapped, as torch's C cast); floats into an integer
    dtype must lie in its range (NaN does not); with ``half`` (torch's ``fill_``, ``masked_fill``,
    ``clamp``) float16/bfloat16 refuse finite values past their largest, elsewhere they become inf.
    Arithmetic with numbers wraps instead, as torch (``number_operand``)."""
    dt = numpy.dtype(np_dtype)
    kind = dt.kind
    t = type(value)
    if kind in "iu" and (t is int or t is float):
        info = numpy.iinfo(dt)
        if t is int:
            ok = (-info.max if kind == "u" else info.min) <= value <= info.max
        else:
            ok = (0 if kind == "u" else info.min) <= value <= info.max  # False for NaN
        if ok:
            return value & info.max if t is int and value < 0 and kind == "u" else value
    elif half and (t is float or t is int) and (limit := _HALF_MAX.get(dt.name)) is not None:
        if not (abs(value) > limit and math.isfinite(value)):
            return value
    else:
        return value
    name = dt.name
    raise RuntimeError(f"value cannot be converted to type {C_TYPE_NAMES.get(name, name) if c_name else name} without overflow")


def is_expandable_to(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != 1 and s != t:
            return False
    return True


def broadcast_shapes(*shapes, op: str = "broadcast_shapes") -> tuple:
    """torch.broadcast_shapes, with torch's message on mismatch (an int stands for a 1-d shape)."""
    shapes = tuple((s,) if isinstance(s, (int, numpy.integer)) else tuple(s) for s in shapes)
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, s in enumerate(reversed(tuple(shape))):
            j = ndim - 1 - i
            if out[j] == 1:
                out[j] = s
            elif s != 1 and s != out[j]:
                raise RuntimeError(
                    f"{op}(): The size of tensor a ({out[j]}) must match the size of tensor b ({s}) at "
                    f"non-singleton dimension {j} (shapes {', '.join(shape_str(x) for x in shapes)})"
                )
    return Size(out)


def broadcast_error(op: str, *operands) -> RuntimeError:
    """The error for operands whose shapes do not broadcast (raised instead of NumPy's ValueError)."""
    shapes = [o._data.shape if isinstance(o, Tensor) else numpy.shape(o) for o in operands]
    try:
        broadcast_shapes(*shapes, op=op)
    except RuntimeError as exc:
        return exc
    return RuntimeError(f"{op}(): invalid operand shapes {', '.join(shape_str(s) for s in shapes)}")


def dtype_name(t) -> str:
    return str(t.dtype) if isinstance(t, Tensor) else type(t).__name__


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``: the gradient of broadcasting an input of ``shape``.

    The one place broadcasting is undone in backward passes. ``grad`` is an array (no graph)
    or a Tensor (differentiable: the ``sum_to_size`` op, whose own backward is ``expand``).
    """
    if grad.shape == shape:
        return grad
    if type(grad) in _BY_ARRAY_TYPE:
        lead = grad.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and grad.shape[i + lead] != 1)
        if not axes:
            out = grad
        elif grad.dtype.kind == "V":  # bfloat16: accumulate in float32, as torch
            out = grad.sum(axis=axes, keepdims=True, dtype=numpy.float32).astype(grad.dtype)
        else:
            out = grad.sum(axis=axes, keepdims=True)
        return out.reshape(shape)
    from .reduction import sum_to_size

    return sum_to_size(grad, shape)


def as_float(t: Tensor) -> Tensor:
    """Integer/bool tensors become the default float dtype (exp, sqrt, mean, ... of ints)."""
    kind = t._data.dtype.kind
    if kind == "f" or kind == "c" or kind == "V":  # V: ml_dtypes' bfloat16
        return t
    return _make(t._data.astype(_dtype._default_float.np))


def in_float32(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its bfloat16 tensor arguments (also inside lists/tuples) upcast
    to float32 and its float32 tensor results rounded to bfloat16 once: torch's CPU bfloat16
    kernels (norms, softmax, pooling, interpolation, losses, ...) compute in float32 and round
    the result at the end, and so do we. The casts are recorded, so gradients come back in
    bfloat16, also computed in float32 and rounded once. Callers test for bfloat16 first
    (``x._data.dtype.kind == "V"``), so other dtypes pay nothing."""
    up = _dtype.float32
    down = _dtype.get_bfloat16()

    def upcast(v):
        if isinstance(v, Tensor):
            return cast_to(v, up) if v._data.dtype.kind == "V" else v
        if isinstance(v, (list, tuple)) and any(isinstance(e, Tensor) for e in v):
            return type(v)(upcast(e) for e in v)
        return v

    def downcast(v):
        if isinstance(v, Tensor):
            return cast_to(v, down) if v._data.dtype == numpy.float32 else v
        if type(v) is tuple:
            return tuple(downcast(e) for e in v)
        return v

    out = fn(*[upcast(a) for a in args], **{k: upcast(v) for k, v in kwargs.items()})
    return downcast(out)


def to_tensor_operand(value, dtype: _dtype.dtype, like: Tensor | None = None) -> Tensor:
    """A Python number (or array) as a 0-d (or n-d) tensor of ``dtype``, on ``like``'s device
    (numbers through the per-device scalar cache of ``scalar_operand``)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, complex)):
        return scalar_operand(fitting_scalar(value, dtype.np), dtype.np, like)
    if like is not None and type(like._data) is not numpy.ndarray:
        return _make(backend_of(like._data).asarray(value, dtype=dtype.np, index=like.device.index))
    return _make(numpy.asarray(value, dtype=dtype.np))


def promote_operands(a, b, op: str):
    """Bring two operands (tensors or numbers) to torch's common dtype; returns two Tensors.

    A cast of a tensor that requires grad is recorded in the graph, so its gradient comes
    back in its own dtype.
    """
    ta = type(a)
    tb = type(b)
    if ta is tb is Tensor and a._data.dtype is b._data.dtype:
        return a, b
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}(): expected at least one Tensor operand")
    for v in (a, b):
        if not isinstance(v, (Tensor, int, float, bool, complex, numpy.generic)):
            if isinstance(v, (list, tuple)) or is_array(v):
                continue
            raise TypeError(
                f"{op}(): unsupported operand type(s): {type(a).__name__} and {type(b).__name__}"
            )
    a = _coerce_array_like(a)
    b = _coerce_array_like(b)
    target = _dtype.result_type(a, b)
    like = a if isinstance(a, Tensor) else b
    a = cast_to(a, target) if isinstance(a, Tensor) else number_operand(a, target, like)
    b = cast_to(b, target) if isinstance(b, Tensor) else number_operand(b, target, like)
    return a, b


def _coerce_array_like(v):
    if isinstance(v, (list, tuple)) or is_array(v):
        from .._creation import tensor

        return tensor(v)
    return v


def cast_to(value, target: _dtype.dtype) -> Tensor:
    """``value`` (Tensor or number) as a Tensor of dtype ``target`` (differentiable for tensors).
    A number becomes a 0-d CPU tensor (``number_operand`` puts it on a device)."""
    if isinstance(value, Tensor):
        if value._data.dtype is target.np or value._data.dtype == target.np:
            return value
        if not (value._requires_grad and _grad_state.enabled):  # no graph to record: a plain cast
            return _make(value._data.astype(target.np))
        from .elementwise import to_dtype

        return to_dtype(value, target)
    return number_operand(value, target)


def number_operand(value, target: _dtype.dtype, like: Tensor | None = None) -> Tensor:
    """A Python number as a 0-d tensor of dtype ``target`` on ``like``'s device (CPU if None),
    wrapping out-of-range integers like torch's C cast (``uint8 + (-1)``)."""
    if isinstance(value, bool) and target._kind != 0:
        value = int(value)
    if type(value) is int and target._kind == 1:
        info = numpy.iinfo(target.np)
        if not info.min <= value <= info.max:  # wrap around like torch's C cast: uint8 + (-1), int8 + 1000
            value = numpy.asarray(value, dtype=numpy.int64).astype(target.np)[()]
    return scalar_operand(value, target.np, like)


def scalar_operand(value, np_dtype, like: Tensor | None = None) -> Tensor:
    """A Python number as a 0-d tensor of ``np_dtype`` on ``like``'s device (CPU if None)."""
    if like is None or type(like._data) is numpy.ndarray:
        quiet = quiet_numpy()  # 1e6 into float16 is inf without NumPy's warning, as torch
        try:
            return _make(numpy.asarray(value, dtype=np_dtype))
        finally:
            restore_numpy(quiet)
    backend = backend_of(like._data)
    return _make(backend.scalar(value, np_dtype, backend.device_of(like._data).index))


def check_same_shape_count(op: str, tensors) -> None:
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected a sequence of Tensors, got an element of type {type(t).__name__}")


def zeros_of(shape: tuple, like: Tensor) -> Tensor:
    """A zero tensor of ``shape`` with ``like``'s dtype and device (gradient buffers in backward passes)."""
    return _make(array_module(like._data).zeros(shape, dtype=like._data.dtype))


def ones_vector(width: int, like) -> object:
    """A cached read-only vector of ones with the dtype and device of array ``like`` (row and
    column sums as BLAS products)."""
    if type(like) is numpy.ndarray:
        return _ones(width, like.dtype, None, None)
    backend = backend_of(like)
    return _ones(width, like.dtype, backend, backend.device_of(like))


@functools.lru_cache(maxsize=64)
def _ones(width: int, dtype, backend, device):
    if backend is None:
        ones = numpy.ones(width, dtype=dtype)
        ones.flags.writeable = False
        return ones
    with backend.use(device.index):
        return backend.make_read_only(backend.xp.ones(width, dtype=dtype))


def row_sums(a):
    """Sums over the last axis, keepdims: a matrix-vector product with ones, which BLAS runs
    5x faster than NumPy's reduction over short rows."""
    return array_module(a).matmul(a, ones_vector(a.shape[-1], a))[..., None]
