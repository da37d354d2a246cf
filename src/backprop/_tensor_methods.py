"""Binds the ops onto ``Tensor`` as methods and operators (one implementation per op).

``x.exp()`` is ``ops.elementwise.exp(x)``, ``x + y`` is ``ops.elementwise.add(x, y)``,
``x.add_(y)`` writes ``add(x, y)`` into ``x`` through ``ops.inplace``. This table is the
whole method surface; ``_tensor.py`` holds only the data model.
"""

from __future__ import annotations

import numpy

from . import _dtype, random
from . import fft as _fft
from ._autocast import autocast_op
from ._backend import array_module, backend_for, backend_of, is_array, loaded_backend
from ._creation import empty, full, ones, zeros
from ._device import CPU as CPU_DEVICE
from ._device import as_device
from ._device import device as device_cls
from ._layout import check_memory_format
from ._tensor import Tensor, _make
from .autograd.function import join_device
from .autograd.grad_mode import _state
from .ops import complex_ops as cx
from .ops import decompositions as dec
from .ops import elementwise as ew
from .ops import indexing as ix
from .ops import inplace, nn_ops
from .ops import linalg as la
from .ops import movement as mv
from .ops import reduction as red
from .ops import special as sp
from .ops._utils import number_operand
from .ops.device import to_device


def _bind(names_to_fns: dict) -> None:
    for name, fn in names_to_fns.items():
        setattr(Tensor, name, fn)


# ---------------------------------------------------------------------------- operators
def _reflected(fn):
    def method(self, other):
        if not isinstance(self, Tensor):  # Tensor.__rand__(2, t) called unbound, as torch refuses
            raise TypeError(f"descriptor requires a 'Tensor' object but received a '{type(self).__name__}'")
        return fn(other, self)

    return method


def _eq(self, other):
    if other is None or isinstance(other, (str, type)):
        return False
    return ew.eq(self, other)


def _ne(self, other):
    if other is None or isinstance(other, (str, type)):
        return True
    return ew.ne(self, other)


def _is_operand(other) -> bool:
    """What a Tensor's arithmetic operators accept: Tensors, numbers and arrays."""
    return isinstance(other, (Tensor, int, float, bool, complex, numpy.generic)) or is_array(other)


def _binary_or_notimpl(fn):
    def method(self, other):
        if not _is_operand(other):
            return NotImplemented
        return fn(self, other)

    return method


def _fast_binary(fn_cls, slow, name: str, reflected: bool = False):
    """An arithmetic operator with a fast path for the common cases -- another Tensor of the
    same dtype, or a Python number on a float tensor -- skipping dtype promotion; anything
    else goes through the full op (``slow``)."""
    from .ops._utils import broadcast_error

    def method(self, other):
        to = type(other)
        dt = self._data.dtype
        if dt.kind != "f":  # integer/bool operands: promotion rules (int/int is float, ...)
            if _is_operand(other):
                return slow(other, self) if reflected else slow(self, other)
            return NotImplemented
        if to is Tensor and other._data.dtype is dt:
            pass
        elif to is float or to is int:
            data = self._data
            if type(data) is numpy.ndarray:
                other = _make(numpy.asarray(other, dtype=dt))
            else:
                backend = backend_of(data)
                other = _make(backend.scalar(other, dt, backend.device_of(data).index))
        elif _is_operand(other):
            return slow(other, self) if reflected else slow(self, other)
        else:
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        try:
            return fn_cls.apply(a, b)
        except ValueError:
            raise broadcast_error(name, a, b) from None

    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _invert(self):
    if self._data.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return ew.bitwise_not(self)


# ``&``, ``|``, ``^`` are the bitwise ops (on bool tensors they are the logical ones).
_and = ew.bitwise_and
_or = ew.bitwise_or
_xor = ew.bitwise_xor


def _contains(self, element) -> bool:
    return bool((self == element).any().item())


_bind(
    {
        "__add__": _fast_binary(ew.Add, ew.add, "add"),
        "__radd__": _fast_binary(ew.Add, ew.add, "add", reflected=True),
        "__sub__": _fast_binary(ew.Sub, ew.sub, "sub"),
        "__rsub__": _fast_binary(ew.Sub, ew.sub, "sub", reflected=True),
        "__mul__": _fast_binary(ew.Mul, ew.mul, "mul"),
        "__rmul__": _fast_binary(ew.Mul, ew.mul, "mul", reflected=True),
        "__truediv__": _fast_binary(ew.Div, ew.div, "div"),
        "__rtruediv__": _fast_binary(ew.Div, ew.div, "div", reflected=True),
        "__floordiv__": _binary_or_notimpl(ew.floor_divide),
        "__rfloordiv__": _reflected(ew.floor_divide),
        "__mod__": _binary_or_notimpl(ew.remainder),
        "__rmod__": _reflected(ew.remainder),
        "__pow__": _binary_or_notimpl(ew.pow),
        "__rpow__": _reflected(ew.pow),
        "__matmul__": la.matmul,
        "__rmatmul__": _reflected(la.matmul),
        "__neg__": ew.neg,
        "__pos__": lambda self: self,
        "__abs__": ew.abs,
        "__invert__": _invert,
        "__and__": _and,
        "__rand__": _reflected(_and),
        "__or__": _or,
        "__ror__": _reflected(_or),
        "__xor__": _xor,
        "__rxor__": _reflected(_xor),
        "__eq__": _eq,
        "__ne__": _ne,
        "__lt__": ew.lt,
        "__le__": ew.le,
        "__gt__": ew.gt,
        "__ge__": ew.ge,
        "__getitem__": ix.getitem,
        "__setitem__": ix.setitem,
        "__contains__": _contains,
        "__reversed__": lambda self: mv.flip(self, 0) if self._data.ndim else self,
    }
)


# ---------------------------------------------------------------------------- in-place ops
def _arith_inplace(op, ufunc: str, name: str):
    """``x.add_(y)`` etc.: a direct ``out=`` ufunc (``xp.<ufunc>`` of ``x``'s backend) when no
    graph is recorded, else ``apply_inplace``."""

    def method(self, other, *args, **kwargs):
        alpha = kwargs.pop("alpha", 1)
        rounding_mode = kwargs.get("rounding_mode")
        recording = _state.enabled and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        if recording or args or rounding_mode is not None or self._base is not None and self._base._requires_grad:
            if alpha != 1:
                kwargs["alpha"] = alpha
            return inplace.apply_inplace(self, op, other, *args, _name=name, **kwargs)
        inplace.check_inplace(self)
        inplace._check_castable(_result_dtype(self, other, name), self, name)
        rhs = other._data if isinstance(other, Tensor) else other
        if isinstance(other, Tensor) and type(rhs) is not type(self._data):
            rhs = join_device(other, self.device, name)._data
        if alpha != 1:
            rhs = rhs * alpha
        try:
            try:
                getattr(array_module(self._data), ufunc)(self._data, rhs, out=self._data, casting="unsafe")
            except OverflowError:  # a Python int past the dtype (int8 add_(300)): wrapped, as torch's C cast
                rhs = number_operand(rhs, self.dtype, self)._data
                getattr(array_module(self._data), ufunc)(self._data, rhs, out=self._data, casting="unsafe")
        except ValueError:
            shape = numpy.broadcast_shapes(self._data.shape, numpy.shape(rhs)) if _broadcastable(self, rhs) else None
            if shape is not None and shape != self._data.shape:
                raise RuntimeError(
                    f"{name}: output with shape {list(self._data.shape)} doesn't match the broadcast shape {list(shape)}"
                ) from None
            if not backend_of(self._data).is_writeable(self._data):
                raise RuntimeError(
                    f"{name}: unsupported operation: more than one element of the written-to tensor refers to a single "
                    "memory location. Please clone() the tensor before performing the operation."
                ) from None
            raise inplace.broadcast_error_for(name, self, other) from None
        self._version_counter[0] += 1
        return self

    method.__name__ = name
    return method


def _broadcastable(self, rhs) -> bool:
    try:
        numpy.broadcast_shapes(self._data.shape, numpy.shape(rhs))
        return True
    except ValueError:
        return False


def _result_dtype(self, other, name):
    d = _dtype.result_type(self, other)
    if name == "div_" and not d.is_floating_point:
        return _dtype._default_float
    return d


def _inplace(op, name: str):
    def method(self, *args, **kwargs):
        return inplace.apply_inplace(self, op, *args, _name=name, **kwargs)

    method.__name__ = name
    return method


def _broadcast_error_for(name, a, b):
    from .ops._utils import broadcast_error

    return broadcast_error(name, a, b)


inplace.broadcast_error_for = _broadcast_error_for

_bind(
    {
        "add_": _arith_inplace(ew.add, "add", "add_"),
        "sub_": _arith_inplace(ew.sub, "subtract", "sub_"),
        "subtract_": _arith_inplace(ew.sub, "subtract", "sub_"),
        "mul_": _arith_inplace(ew.mul, "multiply", "mul_"),
        "multiply_": _arith_inplace(ew.mul, "multiply", "mul_"),
        "div_": _arith_inplace(ew.div, "true_divide", "div_"),
        "divide_": _arith_inplace(ew.div, "true_divide", "div_"),
        "true_divide_": _arith_inplace(ew.div, "true_divide", "div_"),
        "__iadd__": _arith_inplace(ew.add, "add", "add_"),
        "__isub__": _arith_inplace(ew.sub, "subtract", "sub_"),
        "__imul__": _arith_inplace(ew.mul, "multiply", "mul_"),
        "__itruediv__": _arith_inplace(ew.div, "true_divide", "div_"),
        "__ifloordiv__": _inplace(ew.floor_divide, "floor_divide_"),
        "__imod__": _inplace(ew.remainder, "remainder_"),
        "__ipow__": _inplace(ew.pow, "pow_"),
        "__iand__": _inplace(_and, "__iand__"),
        "__ior__": _inplace(_or, "__ior__"),
        "__ixor__": _inplace(_xor, "__ixor__"),
        "floor_divide_": _inplace(ew.floor_divide, "floor_divide_"),
        "remainder_": _inplace(ew.remainder, "remainder_"),
        "fmod_": _inplace(ew.fmod, "fmod_"),
        "pow_": _inplace(ew.pow, "pow_"),
        "neg_": _inplace(ew.neg, "neg_"),
        "negative_": _inplace(ew.neg, "neg_"),
        "abs_": _inplace(ew.abs, "abs_"),
        "exp_": _inplace(ew.exp, "exp_"),
        "expm1_": _inplace(ew.expm1, "expm1_"),
        "log_": _inplace(ew.log, "log_"),
        "log1p_": _inplace(ew.log1p, "log1p_"),
        "log2_": _inplace(ew.log2, "log2_"),
        "sqrt_": _inplace(ew.sqrt, "sqrt_"),
        "rsqrt_": _inplace(ew.rsqrt, "rsqrt_"),
        "reciprocal_": _inplace(ew.reciprocal, "reciprocal_"),
        "sin_": _inplace(ew.sin, "sin_"),
        "cos_": _inplace(ew.cos, "cos_"),
        "tan_": _inplace(ew.tan, "tan_"),
        "tanh_": _inplace(ew.tanh, "tanh_"),
        "sigmoid_": _inplace(ew.sigmoid, "sigmoid_"),
        "relu_": _inplace(ew.relu, "relu_"),
        "erf_": _inplace(ew.erf, "erf_"),
        "sign_": _inplace(ew.sign, "sign_"),
        "floor_": _inplace(ew.floor, "floor_"),
        "ceil_": _inplace(ew.ceil, "ceil_"),
        "round_": _inplace(ew.round, "round_"),
        "trunc_": _inplace(ew.trunc, "trunc_"),
        "frac_": _inplace(ew.frac, "frac_"),
        "square_": _inplace(ew.square, "square_"),
        "clamp_": _inplace(ew.clamp, "clamp_"),
        "clip_": _inplace(ew.clamp, "clamp_"),
        "clamp_min_": _inplace(ew.clamp_min, "clamp_min_"),
        "clamp_max_": _inplace(ew.clamp_max, "clamp_max_"),
        "lerp_": _inplace(ew.lerp, "lerp_"),
        "addcmul_": _inplace(ew.addcmul, "addcmul_"),
        "addcdiv_": _inplace(ew.addcdiv, "addcdiv_"),
        "maximum_": _inplace(ew.maximum, "maximum_"),
        "minimum_": _inplace(ew.minimum, "minimum_"),
        "masked_fill_": _inplace(ix.masked_fill, "masked_fill_"),
        "index_fill_": _inplace(ix.index_fill, "index_fill_"),
        "scatter_": _inplace(ix.scatter, "scatter_"),
        "scatter_add_": _inplace(ix.scatter_add, "scatter_add_"),
        "index_add_": _inplace(ix.index_add, "index_add_"),
        "index_put_": _inplace(ix.index_put, "index_put_"),
        "masked_scatter_": _inplace(ix.masked_scatter, "masked_scatter_"),
        "tril_": _inplace(mv.tril, "tril_"),
        "triu_": _inplace(mv.triu, "triu_"),
        "nan_to_num_": _inplace(ew.nan_to_num, "nan_to_num_"),
        "copy_": inplace.copy_,
        "fill_": inplace.fill_,
        "zero_": inplace.zero_,
        "uniform_": random.uniform_,
        "normal_": random.normal_,
        "bernoulli_": random.bernoulli_,
        "random_": random.random_,
        "exponential_": random.exponential_,
        "log_normal_": random.log_normal_,
        "geometric_": random.geometric_,
        "cauchy_": random.cauchy_,
        "multinomial": random.multinomial,
        "bernoulli": random.bernoulli,
    }
)


def _shape_inplace(op, name):
    """In-place shape changes (``squeeze_``, ``t_``...): the tensor takes the view's geometry."""

    def method(self, *args):
        out = op(self, *args)
        self._data = out._data
        if out._grad_fn is not None:
            self._grad_fn = out._grad_fn
            self._output_nr = out._output_nr
        return self

    method.__name__ = name
    return method


_bind(
    {
        "squeeze_": _shape_inplace(mv.squeeze, "squeeze_"),
        "unsqueeze_": _shape_inplace(mv.unsqueeze, "unsqueeze_"),
        "t_": _shape_inplace(mv.t, "t_"),
        "transpose_": _shape_inplace(mv.transpose, "transpose_"),
    }
)


# ---------------------------------------------------------------------------- conversions
def _is_dtype(value) -> bool:
    return isinstance(value, _dtype.dtype) or value in (float, int, bool)


def parse_to_args(args, kwargs, op: str = "to") -> tuple:
    """torch's forms of ``to``: ``(dtype, non_blocking, copy)``, ``(device, dtype, non_blocking,
    copy)``, ``(other, non_blocking, copy)``, each also by keyword. Returns
    ``(device or None, dtype or None, non_blocking, copy)``."""
    rest = list(args)
    device = dtype = None
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        device, dtype = other.device, other.dtype
    else:
        first = rest[0] if rest else None
        if rest and (first is None or isinstance(first, (str, device_cls)) or (type(first) is int)):
            device = rest.pop(0)
        if rest and _is_dtype(rest[0]):
            dtype = rest.pop(0)
    flags = [kwargs.pop("non_blocking", None), kwargs.pop("copy", None)]
    for i in range(2):
        if rest and isinstance(rest[0], bool):
            flags[i] = rest.pop(0)
    device = kwargs.pop("device", device)
    dtype = kwargs.pop("dtype", dtype)
    check_memory_format(kwargs.pop("memory_format", None), op)
    if rest or kwargs:
        bad = ", ".join([type(a).__name__ for a in rest] + list(kwargs))
        raise TypeError(f"{op}() received an invalid combination of arguments - got ({bad})")
    if device is not None:
        device = as_device(device)
        if device.type != "cpu":
            backend_for(device)  # raises now when the device is unavailable
    return device, dtype, bool(flags[0]), bool(flags[1])


def to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (+ ``non_blocking``,
    ``copy``); returns ``self`` when nothing changes and ``copy`` is False. Differentiable."""
    if len(args) == 1 and not kwargs:  # the common forms, without argument parsing
        a = args[0]
        if type(a) is _dtype.dtype:
            return self if a is self.dtype else ew.to_dtype(self, a)
        if a == "cpu" and type(self._data) is numpy.ndarray:
            return self
    device, dtype, _non_blocking, copy = parse_to_args(args, kwargs)
    out = self
    if device is not None:
        out = to_device(out, device)
    if dtype is not None and _dtype.to_dtype(dtype) is not out.dtype:
        out = ew.to_dtype(out, dtype)
    return ew.clone(self) if copy and out is self else out


_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
    "complex64": "ComplexFloatTensor",
    "complex128": "ComplexDoubleTensor",
    "bfloat16": "BFloat16Tensor",
}
_NAME_TO_DTYPE = {v: k for k, v in _TYPE_NAMES.items()}


def type_(self, dtype=None, non_blocking: bool = False, **kwargs):
    """With no argument: the type string (``'backprop.FloatTensor'``); else ``to(dtype)``."""
    if dtype is None:
        where = "" if type(self._data) is numpy.ndarray else f"{self.device.type}."
        return f"backprop.{where}{_TYPE_NAMES[self.dtype.name]}"
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        if name not in _NAME_TO_DTYPE:
            raise ValueError(f"invalid type: '{dtype}'")
        dtype = getattr(_dtype, _NAME_TO_DTYPE[name] if _NAME_TO_DTYPE[name] != "bool" else "bool_")
    return to(self, dtype)


def _cast(dt):
    def method(self, memory_format=None):
        check_memory_format(memory_format, dt.name)
        return to(self, dt)

    return method


def cpu(self, memory_format=None):
    """This tensor in host memory (itself if it already is there)."""
    return self if type(self._data) is numpy.ndarray else to_device(self, CPU_DEVICE)


def cuda(self, device=None, non_blocking: bool = False, memory_format=None):
    """This tensor on a CUDA device (``device``: an index or device; None: the current one)."""
    device = device_cls("cuda", device) if isinstance(device, int) else device_cls(device or "cuda")
    if device.type != "cuda":
        raise RuntimeError(f"Invalid device, must be cuda device (got {device})")
    return to(self, device)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False):
    from ._creation import tensor

    return tensor(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


def _new_filled(fill):
    """``new_zeros``/``new_ones``/``new_empty``: this tensor's dtype and device unless given."""
    factory = {"zeros": zeros, "ones": ones, "empty": empty}[fill]

    def method(self, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs):
        return factory(
            *size,
            dtype=dtype if dtype is not None else self.dtype,
            device=device if device is not None else self.device,
            requires_grad=requires_grad,
        )

    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False):
    return full(
        tuple(size),
        fill_value,
        dtype=dtype if dtype is not None else self.dtype,
        device=device if device is not None else self.device,
        requires_grad=requires_grad,
    )


def _pin_memory(self, device=None):
    """A copy in page-locked host memory when a CUDA backend is loaded (faster, asynchronous
    host-to-device copies); without one, the tensor itself, as there is nothing to pin for."""
    cuda = loaded_backend("cuda")
    if cuda is None or type(self._data) is not numpy.ndarray:
        return self
    return _make(cuda.pinned_copy(self._data))


def _is_pinned(self, device=None) -> bool:
    cuda = loaded_backend("cuda")
    return cuda is not None and type(self._data) is numpy.ndarray and cuda.is_pinned(self._data)


def _contiguous(self, memory_format=None):
    """Itself when row-major already, else a row-major copy (every memory format is row-major here)."""
    check_memory_format(memory_format, "contiguous")
    return self if self._data.flags.c_contiguous else ew.Contiguous.apply(self)


def _where_method(self, condition, other):
    return ew.where(condition, self, other)


def _max_method(self, dim=None, keepdim=False):
    return red.max(self, dim, keepdim)


def _min_method(self, dim=None, keepdim=False):
    return red.min(self, dim, keepdim)


def _norm_method(self, p="fro", dim=None, keepdim=False, dtype=None):
    return red.norm(self, p, dim, keepdim, dtype)


def _size_varargs(fn):
    """Methods accepting sizes as varargs: ``x.view(2, 3)`` as well as ``x.view((2, 3))``."""

    def method(self, *size):
        return fn(self, *size)

    method.__name__ = fn.__name__
    return method


_bind(
    {
        "to": to,
        "type": type_,
        "type_as": lambda self, other: to(self, other.dtype),
        "float": _cast(_dtype.float32),
        "double": _cast(_dtype.float64),
        "half": _cast(_dtype.float16),
        "long": _cast(_dtype.int64),
        "int": _cast(_dtype.int32),
        "short": _cast(_dtype.int16),
        "char": _cast(_dtype.int8),
        "byte": _cast(_dtype.uint8),
        "bool": _cast(_dtype.bool_),
        "cpu": cpu,
        "cuda": cuda,
        "clone": ew.clone,
        "contiguous": _contiguous,
        "new_tensor": new_tensor,
        "new_zeros": _new_filled("zeros"),
        "new_ones": _new_filled("ones"),
        "new_empty": _new_filled("empty"),
        "new_full": new_full,
        "pin_memory": _pin_memory,
        "is_pinned": _is_pinned,
        "share_memory_": lambda self: self,
        "is_shared": lambda self: False,
    }
)

# ---------------------------------------------------------------------------- ops as methods
_bind(
    {
        # elementwise
        "add": ew.add,
        "sub": ew.sub,
        "subtract": ew.sub,
        "mul": ew.mul,
        "multiply": ew.mul,
        "div": ew.div,
        "divide": ew.div,
        "true_divide": ew.true_divide,
        "floor_divide": ew.floor_divide,
        "pow": ew.pow,
        "float_power": ew.float_power,
        "neg": ew.neg,
        "negative": ew.neg,
        "abs": ew.abs,
        "absolute": ew.abs,
        "exp": ew.exp,
        "exp2": ew.exp2,
        "expm1": ew.expm1,
        "log": ew.log,
        "log2": ew.log2,
        "log10": ew.log10,
        "log1p": ew.log1p,
        "sqrt": ew.sqrt,
        "rsqrt": ew.rsqrt,
        "reciprocal": ew.reciprocal,
        "sin": ew.sin,
        "cos": ew.cos,
        "tan": ew.tan,
        "asin": ew.asin,
        "arcsin": ew.asin,
        "acos": ew.acos,
        "arccos": ew.acos,
        "atan": ew.atan,
        "arctan": ew.atan,
        "atan2": ew.atan2,
        "arctan2": ew.atan2,
        "sinh": ew.sinh,
        "cosh": ew.cosh,
        "tanh": ew.tanh,
        "sigmoid": ew.sigmoid,
        "relu": ew.relu,
        "erf": ew.erf,
        "sign": ew.sign,
        "sgn": ew.sign,
        "floor": ew.floor,
        "ceil": ew.ceil,
        "trunc": ew.trunc,
        "fix": ew.trunc,
        "round": ew.round,
        "frac": ew.frac,
        "square": ew.square,
        "clamp": ew.clamp,
        "clip": ew.clamp,
        "clamp_min": ew.clamp_min,
        "clamp_max": ew.clamp_max,
        "maximum": ew.maximum,
        "minimum": ew.minimum,
        "fmax": ew.fmax,
        "fmin": ew.fmin,
        "fmod": ew.fmod,
        "remainder": ew.remainder,
        "lerp": ew.lerp,
        "addcmul": ew.addcmul,
        "addcdiv": ew.addcdiv,
        "where": _where_method,
        "eq": ew.eq,
        "ne": ew.ne,
        "not_equal": ew.ne,
        "lt": ew.lt,
        "less": ew.lt,
        "le": ew.le,
        "less_equal": ew.le,
        "gt": ew.gt,
        "greater": ew.gt,
        "ge": ew.ge,
        "greater_equal": ew.ge,
        "logical_and": ew.logical_and,
        "logical_or": ew.logical_or,
        "logical_xor": ew.logical_xor,
        "logical_not": ew.logical_not,
        "bitwise_and": ew.bitwise_and,
        "bitwise_or": ew.bitwise_or,
        "bitwise_xor": ew.bitwise_xor,
        "bitwise_not": ew.bitwise_not,
        "isnan": ew.isnan,
        "isinf": ew.isinf,
        "isfinite": ew.isfinite,
        "isposinf": ew.isposinf,
        "isneginf": ew.isneginf,
        "signbit": ew.signbit,
        "nan_to_num": ew.nan_to_num,
        "equal": ew.equal,
        "allclose": ew.allclose,
        "isclose": ew.isclose,
        "logaddexp": ew.logaddexp,
        "logaddexp2": ew.logaddexp2,
        "hypot": ew.hypot,
        "deg2rad": ew.deg2rad,
        "rad2deg": ew.rad2deg,
        # reductions
        "sum": red.sum,
        "nansum": red.nansum,
        "mean": red.mean,
        "nanmean": red.nanmean,
        "prod": red.prod,
        "max": _max_method,
        "min": _min_method,
        "amax": red.amax,
        "amin": red.amin,
        "aminmax": red.aminmax,
        "argmax": red.argmax,
        "argmin": red.argmin,
        "var": red.var,
        "std": red.std,
        "logsumexp": red.logsumexp,
        "norm": _norm_method,
        "cumsum": red.cumsum,
        "cumprod": red.cumprod,
        "logcumsumexp": red.logcumsumexp,
        "diff": red.diff,
        "all": red.all,
        "any": red.any,
        "count_nonzero": red.count_nonzero,
        "hash_tensor": red.hash_tensor,
        "sum_to_size": red.sum_to_size,
        # movement
        "reshape": _size_varargs(mv.reshape),
        "view": _size_varargs(mv.view),
        "view_as": mv.view_as,
        "reshape_as": mv.reshape_as,
        "flatten": mv.flatten,
        "ravel": mv.ravel,
        "unflatten": mv.unflatten,
        "squeeze": mv.squeeze,
        "unsqueeze": mv.unsqueeze,
        "permute": mv.permute,
        "transpose": mv.transpose,
        "swapaxes": mv.transpose,
        "swapdims": mv.transpose,
        "t": mv.t,
        "movedim": mv.movedim,
        "moveaxis": mv.movedim,
        "expand": _size_varargs(mv.expand),
        "expand_as": mv.expand_as,
        "broadcast_to": mv.broadcast_to,
        "narrow": mv.narrow,
        "select": mv.select,
        "split": mv.split,
        "chunk": mv.chunk,
        "tensor_split": mv.tensor_split,
        "hsplit": mv.hsplit,
        "vsplit": mv.vsplit,
        "dsplit": mv.dsplit,
        "unfold": mv.unfold,
        "rot90": mv.rot90,
        "kron": mv.kron,
        "unbind": mv.unbind,
        "repeat": _size_varargs(mv.repeat),
        "tile": mv.tile,
        "repeat_interleave": mv.repeat_interleave,
        "fliplr": mv.fliplr,
        "flipud": mv.flipud,
        "roll": mv.roll,
        "tril": mv.tril,
        "triu": mv.triu,
        "diagonal": mv.diagonal,
        "diag": mv.diag,
        "diag_embed": mv.diag_embed,
        "trace": mv.trace,
        # indexing
        "gather": ix.gather,
        "scatter": ix.scatter,
        "scatter_add": ix.scatter_add,
        "scatter_reduce": ix.scatter_reduce,
        "index_select": ix.index_select,
        "index_add": ix.index_add,
        "index_fill": ix.index_fill,
        "index_put": ix.index_put,
        "masked_fill": ix.masked_fill,
        "masked_select": ix.masked_select,
        "masked_scatter": ix.masked_scatter,
        "take_along_dim": ix.take_along_dim,
        "sort": ix.sort,
        "argsort": ix.argsort,
        "msort": ix.msort,
        "topk": ix.topk,
        "kthvalue": ix.kthvalue,
        "median": ix.median,
        "nanmedian": ix.nanmedian,
        "quantile": ix.quantile,
        "nanquantile": ix.nanquantile,
        "mode": ix.mode,
        "cummax": ix.cummax,
        "cummin": ix.cummin,
        "take": ix.take,
        "histc": ix.histc,
        "nonzero": ix.nonzero,
        "argwhere": ix.argwhere,
        "unique": ix.unique,
        "bincount": ix.bincount,
        # linalg
        "matmul": la.matmul,
        "mm": la.mm,
        "bmm": la.bmm,
        "mv": la.mv,
        "dot": la.dot,
        "inner": la.inner,
        "outer": la.outer,
        "ger": la.outer,
        "addmm": la.addmm,
        "baddbmm": la.baddbmm,
        "addmv": la.addmv,
        "cross": la.cross,
        "cov": la.cov,
        "corrcoef": la.corrcoef,
        # nn
        "softmax": nn_ops.softmax,
        "log_softmax": nn_ops.log_softmax,
    }
)

# linalg decompositions, solvers and determinants (ops.decompositions)
_bind(
    {
        "det": dec.det,
        "logdet": dec.logdet,
        "slogdet": dec.torch_slogdet,
        "inverse": dec.inv,
        "cholesky": dec.torch_cholesky,
        "cholesky_inverse": dec.cholesky_inverse,
        "cholesky_solve": dec.cholesky_solve,
        "qr": dec.torch_qr,
        "svd": dec.torch_svd,
        "pinverse": dec.pinverse,
        "matrix_power": dec.matrix_power,
        "matrix_exp": dec.matrix_exp,
        "lu": dec.torch_lu,
        "lu_solve": dec.torch_lu_solve,
        "triangular_solve": dec.triangular_solve,
        "geqrf": dec.geqrf,
        "ormqr": dec.ormqr,
        "orgqr": dec.householder_product,
        "addbmm": la.addbmm,
        "addr": la.addr,
        # (on a clone of self: the beta * self term saves its operand, which the write would overwrite)
        "addbmm_": _inplace(lambda self, *args, **kwargs: la.addbmm(ew.clone(self), *args, **kwargs), "addbmm_"),
        "addr_": _inplace(lambda self, *args, **kwargs: la.addr(ew.clone(self), *args, **kwargs), "addr_"),
    }
)

# special functions (ops.special): ``x.polygamma(n)`` takes n after self, as torch
_bind(
    {
        "lgamma": sp.lgamma,
        "digamma": sp.digamma,
        "polygamma": lambda self, n: sp.polygamma(n, self),
        "erfinv": sp.erfinv,
        "logit": sp.logit,
        "xlogy": sp.xlogy,
        "sinc": sp.sinc,
        "lgamma_": _inplace(sp.lgamma, "lgamma_"),
        "digamma_": _inplace(sp.digamma, "digamma_"),
        "polygamma_": _inplace(lambda self, n: sp.polygamma(n, self), "polygamma_"),
        "erfinv_": _inplace(sp.erfinv, "erfinv_"),
        "logit_": _inplace(sp.logit, "logit_"),
        "xlogy_": _inplace(sp.xlogy, "xlogy_"),
        "sinc_": _inplace(sp.sinc, "sinc_"),
    }
)

# ---------------------------------------------------------------------------- movement, indexing and creation additions (issue #13)
def _new_empty_strided(self, size, stride, *, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False):
    from ._creation import empty_strided

    return empty_strided(size, stride, dtype=dtype if dtype is not None else self.dtype,
                         device=device if device is not None else self.device, requires_grad=requires_grad, layout=layout)


def _resize_(self, *size, memory_format=None):
    """``resize_``: the tensor takes ``size``; its elements kept in order, new ones zero."""
    check_memory_format(memory_format, "resize_")
    if len(size) == 1 and not isinstance(size[0], int):
        size = tuple(size[0])
    inplace.check_inplace(self)
    if _state.enabled and self._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    out = mv.resized(self, size)
    self._data = out._data
    return self


def _resize_as_(self, the_template, *, memory_format=None):
    return _resize_(self, the_template._data.shape, memory_format=memory_format)


def _flip_method(self, *dims, **kwargs):
    if "dims" in kwargs:
        if dims:
            raise TypeError("flip() got multiple values for argument 'dims'")
        return mv.flip(self, kwargs.pop("dims"))
    if kwargs:
        raise TypeError(f"flip() got an unexpected keyword argument '{next(iter(kwargs))}'")
    return mv.flip(self, dims[0] if len(dims) == 1 else dims)


_bind(
    {
        "flip": _flip_method,
        "resize_": _resize_,
        "resize_as_": _resize_as_,
        "new_empty_strided": _new_empty_strided,
        "as_strided": mv.as_strided,
        "as_strided_scatter": mv.as_strided_scatter,
        "slice_scatter": mv.slice_scatter,
        "select_scatter": mv.select_scatter,
        "diagonal_scatter": mv.diagonal_scatter,
        "diagflat": mv.diagflat,
        "split_with_sizes": mv.split_with_sizes,
        "unsafe_chunk": mv.unsafe_chunk,
        "unsafe_split": mv.unsafe_split,
        "index_copy": ix.index_copy,
        "index_copy_": _inplace(ix.index_copy, "index_copy_"),
        "index_reduce": ix.index_reduce,
        "index_reduce_": _inplace(ix.index_reduce, "index_reduce_"),
        "scatter_reduce_": _inplace(ix.scatter_reduce, "scatter_reduce_"),
        "cumprod_": _inplace(red.cumprod, "cumprod_"),
        "narrow_copy": mv.narrow_copy,
        "as_strided_": _shape_inplace(mv.as_strided, "as_strided_"),
        "put": ix.put,
        "put_": _inplace(ix.put, "put_"),
        "unique_consecutive": ix.unique_consecutive,
        "nonzero_static": ix.nonzero_static,
    }
)
# ---- end movement, indexing and creation additions ----

# ---- special functions added for issue #13 (SciPy-backed, ops/special.py) ----
_bind(
    {
        "erfc": sp.erfc,
        "i0": sp.i0,
        "igamma": sp.igamma,
        "igammac": sp.igammac,
        "mvlgamma": sp.mvlgamma,
        "erfc_": _inplace(sp.erfc, "erfc_"),
        "i0_": _inplace(sp.i0, "i0_"),
        "igamma_": _inplace(sp.igamma, "igamma_"),
        "igammac_": _inplace(sp.igammac, "igammac_"),
        "mvlgamma_": _inplace(sp.mvlgamma, "mvlgamma_"),
    }
)
# ---- end special functions ----

Tensor.T = property(mv.reversed_dims)
Tensor.mT = property(mv.matrix_transpose)
Tensor.H = property(lambda self: mv.t(self))
Tensor.mH = property(mv.matrix_transpose)
Tensor.real = property(lambda self: self)

# ---------------------------------------------------------------------------- elementwise and misc math (issue #13)
def _rdiv(self, other):
    """``other / self`` as torch's ``__rdiv__``: ``self.reciprocal() * other``."""
    if not _is_operand(other):
        return NotImplemented
    return ew.mul(ew.reciprocal(self), other)


_bind(
    {
        "acosh": ew.acosh,
        "arccosh": ew.acosh,
        "asinh": ew.asinh,
        "arcsinh": ew.asinh,
        "atanh": ew.atanh,
        "arctanh": ew.atanh,
        "acosh_": _inplace(ew.acosh, "acosh_"),
        "arccosh_": _inplace(ew.acosh, "acosh_"),
        "asinh_": _inplace(ew.asinh, "asinh_"),
        "arcsinh_": _inplace(ew.asinh, "asinh_"),
        "atanh_": _inplace(ew.atanh, "atanh_"),
        "arctanh_": _inplace(ew.atanh, "atanh_"),
        "copysign": ew.copysign,
        "copysign_": _inplace(ew.copysign, "copysign_"),
        "heaviside": ew.heaviside,
        "heaviside_": _inplace(ew.heaviside, "heaviside_"),
        "gcd": ew.gcd,
        "gcd_": _inplace(ew.gcd, "gcd_"),
        "lcm": ew.lcm,
        "lcm_": _inplace(ew.lcm, "lcm_"),
        "ldexp": ew.ldexp,
        "ldexp_": _inplace(ew.ldexp, "ldexp_"),
        "frexp": ew.frexp,
        "nextafter": ew.nextafter,
        "nextafter_": _inplace(ew.nextafter, "nextafter_"),
        "isreal": ew.isreal,
        "positive": ew.positive,
        "bitwise_left_shift": ew.bitwise_left_shift,
        "bitwise_right_shift": ew.bitwise_right_shift,
        "bitwise_left_shift_": _inplace(ew.bitwise_left_shift, "bitwise_left_shift_"),
        "bitwise_right_shift_": _inplace(ew.bitwise_right_shift, "bitwise_right_shift_"),
        "__lshift__": _binary_or_notimpl(ew.bitwise_left_shift),
        "__rshift__": _binary_or_notimpl(ew.bitwise_right_shift),
        "__rlshift__": _reflected(ew.bitwise_left_shift),
        "__rrshift__": _reflected(ew.bitwise_right_shift),
        "__ilshift__": _inplace(ew.bitwise_left_shift, "__ilshift__"),
        "__irshift__": _inplace(ew.bitwise_right_shift, "__irshift__"),
        "__rdiv__": _rdiv,
        "dist": red.dist,
        "renorm": red.renorm,
        # (on a copy: renorm saves its input for backward, which the write would overwrite)
        "renorm_": _inplace(lambda self, *args: red.renorm(ew.clone(self), *args), "renorm_"),
        "histogram": ix.histogram,
    }
)


# ---- complex dtypes, bfloat16 and fft (complex/bfloat16/fft helper) ----
def _set_part(part):
    """``z.real = v`` / ``z.imag = v``: write into that part of this tensor (in place)."""

    def setter(self, value):
        getattr(self, part).copy_(value)

    return setter


def _bfloat16_method(self, memory_format=None):
    return to(self, _dtype.get_bfloat16())


def _chalf_method(self, memory_format=None):
    raise TypeError("chalf(): complex32 has no NumPy dtype, so backprop has no complex32 tensors")


Tensor.real = property(cx.real, _set_part("real"))
Tensor.imag = property(cx.imag, _set_part("imag"))
Tensor.H = property(lambda self: cx.conj(mv.t(self)))
Tensor.mH = property(lambda self: cx.conj(mv.matrix_transpose(self)))
_bind(
    {
        "cfloat": _cast(_dtype.complex64),
        "cdouble": _cast(_dtype.complex128),
        "chalf": _chalf_method,
        "bfloat16": _bfloat16_method,
        "conj": cx.conj,
        "conj_physical": cx.conj_physical,
        "resolve_conj": cx.resolve_conj,
        "resolve_neg": cx.resolve_neg,
        "is_conj": cx.is_conj,
        "is_neg": cx.is_neg,
        "angle": cx.angle,
        "sgn": cx.sgn,
        "adjoint": lambda self: cx.conj(mv.matrix_transpose(self)),
        "stft": _fft.stft,
        "istft": _fft.istft,
    }
)
# ---- end complex dtypes, bfloat16 and fft ----


# ---- sparse COO tensors (issue #14, wt_sparse): the dense side of the conversions; the sparse
# tensor's own methods are bound on ops.sparse.SparseTensor (ops.sparse.install_methods, run by __init__)
from ._layout import strided as _strided  # noqa: E402
from .ops import sparse as _sp  # noqa: E402

Tensor.layout = property(lambda self: _strided)
_bind(_sp.DENSE_METHODS)
# ---- end sparse COO tensors ----

# ---- autograd (issue #14, wt_autograd) ----
# ``number / x`` is torch's ``x.reciprocal() * number`` (``__rtruediv__`` is ``__rdiv__``): the
# reciprocal saves its output, not x, so x may change in place afterwards, and results round as torch's.
_bind({"__rtruediv__": _rdiv})
# ---- end autograd ----

# ---- device and layout predicates torch.Tensor has, and autocast's reflected operators (mixed precision helper) ----
# backprop tensors live on the CPU or a CUDA device, strided and dense: these are all False.
for _name in ("is_ipu", "is_xla", "is_mtia", "is_maia", "is_vulkan", "is_mkldnn", "is_sparse_csr", "is_nested"):
    setattr(Tensor, _name, property(lambda self: False, doc=f"``{_name}``: False (backprop has no such device or layout)."))
# CUDA autocast runs ``number / tensor`` in float32 (torch's __rtruediv__/__rdiv__ are on its list).
Tensor.__rtruediv__ = autocast_op("__rtruediv__")(Tensor.__rtruediv__)
Tensor.__rdiv__ = autocast_op("__rdiv__")(Tensor.__rdiv__)
# ---- end device and layout predicates ----
