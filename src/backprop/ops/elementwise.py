"""Elementwise primitives: arithmetic, unary math, activations' building blocks, comparisons.

Binary ops broadcast like torch and promote dtypes with ``promote_operands``; their
backward undoes broadcasting with the one ``unbroadcast`` helper. Unary float ops take
integer inputs by casting them to the default float dtype first (``exp(int_tensor)`` is
float32, as in torch).
"""

from __future__ import annotations

import math

import numpy

from .. import _dtype
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make
from ..autograd.function import Function, same_device
from . import _backward as B
from ._utils import as_float, broadcast_error, cast_to, number_operand, promote_operands, to_tensor_operand, unbroadcast


# ---------------------------------------------------------------------------- casting
class ToDtype(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        arr = a._data
        if arr.dtype.kind == "c" and dtype._kind != 3:  # complex -> real: the real part, as torch (warns)
            from .complex_ops import to_real_warning

            to_real_warning()
            arr = arr.real
        return arr.astype(dtype.np)

    @staticmethod
    def backward(ctx, grad):
        return B.cast(grad, ctx._input_meta[0][1]), None


def to_dtype(a: Tensor, dtype) -> Tensor:
    """Cast (differentiable between float dtypes; a copy, even when the dtype is unchanged)."""
    return ToDtype.apply(a, _dtype.to_dtype(dtype))


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        return xp.array(a._data, copy=True, order="C" if a._data.flags.c_contiguous else "K")

    @staticmethod
    def backward(ctx, grad):
        return grad


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    return Clone.apply(input)


class Contiguous(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        return xp.array(a._data, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)

    @staticmethod
    def backward(ctx, grad):
        return grad


# ---------------------------------------------------------------------------- binary
def _binary(fn, a, b, op: str):
    a, b = promote_operands(a, b, op)
    if a._data.dtype.kind == "c":
        fn = B.complex_fn(fn, op)
    try:
        return fn.apply(a, b)
    except ValueError:
        raise broadcast_error(op, a, b) from None


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a._data + b._data

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, ctx.input_shape(0)) if need[0] else None,
            unbroadcast(grad, ctx.input_shape(1)) if need[1] else None,
        )


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a._data - b._data

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, ctx.input_shape(0)) if need[0] else None,
            unbroadcast(-grad, ctx.input_shape(1)) if need[1] else None,
        )


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._data * b._data

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad * b, a.shape) if need[0] else None,
            unbroadcast(grad * a, b.shape) if need[1] else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a._data / b._data

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad / b, a.shape) if need[0] else None,
            unbroadcast(-grad * a / (b * b), b.shape) if need[1] else None,
        )


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a._data**b._data
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            # d/da a^b = b * a^(b-1); zero where b == 0 (torch: 0^0 has zero gradient).
            ga = grad * B.where(b == 0, 0.0, b * a ** (b - 1))
            ga = unbroadcast(ga, a.shape)
        if need[1]:
            # d/db a^b = a^b * B.log(a); defined as 0 where a == 0 and b >= 0.
            gb = grad * B.where((a == 0) & (b >= 0), 0.0, out * B.log(a))
            gb = unbroadcast(gb, b.shape)
        return ga, gb


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        ctx.save_for_backward(a, b)
        return xp.maximum(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _minmax_grads(ctx, grad, a > b, a < b, a == b, a.shape, b.shape)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        ctx.save_for_backward(a, b)
        return xp.minimum(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _minmax_grads(ctx, grad, a < b, a > b, a == b, a.shape, b.shape)


def _minmax_grads(ctx, grad, a_wins, b_wins, tie, shape_a, shape_b):
    # torch's rule: ties split the gradient evenly; an input gets none only where the other one
    # wins, so where a NaN is involved (no winner, no tie) both inputs get the full gradient.
    need = ctx.needs_input_grad
    shared = B.where(tie, grad * 0.5, grad)
    ga = unbroadcast(B.where(b_wins, 0.0, shared), shape_a) if need[0] else None
    gb = unbroadcast(B.where(a_wins, 0.0, shared), shape_b) if need[1] else None
    return ga, gb


class LogAddExp(Function):
    """log(exp(a) + exp(b)) (``base=2``: log2(2^a + 2^b)), stable and exact at infinities."""

    @staticmethod
    def forward(ctx, a, b, base):
        xp = array_module(a._data)
        ctx.base = base
        ctx.save_for_backward(a, b)
        return (xp.logaddexp if base is None else xp.logaddexp2)(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        # d/da = 1 / (1 + e^(b - a)) (base 2: 1 / (1 + 2^(b - a))), torch's formula
        if ctx.base is None:
            wa, wb = 1 / (1 + B.exp(b - a)), 1 / (1 + B.exp(a - b))
        else:
            wa, wb = 1 / (1 + B.exp((b - a) * math.log(2))), 1 / (1 + B.exp((a - b) * math.log(2)))
        return (
            unbroadcast(grad * wa, a.shape) if need[0] else None,
            unbroadcast(grad * wb, b.shape) if need[1] else None,
            None,
        )


class Hypot(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        out = xp.hypot(a._data, b._data)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad * a / out, a.shape) if need[0] else None,
            unbroadcast(grad * b / out, b.shape) if need[1] else None,
        )


class Atan2(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        ctx.save_for_backward(a, b)
        return xp.arctan2(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        denom = a * a + b * b
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad * b / denom, a.shape) if need[0] else None,
            unbroadcast(-grad * a / denom, b.shape) if need[1] else None,
        )


class Fmod(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        ctx.save_for_backward(a, b)
        return xp.fmod(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, a.shape) if need[0] else None,
            unbroadcast(-grad * B.trunc(a / b), b.shape) if need[1] else None,
        )


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        ctx.save_for_backward(a, b)
        return xp.remainder(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, a.shape) if need[0] else None,
            unbroadcast(-grad * B.floor(a / b), b.shape) if need[1] else None,
        )


def add(input, other, *, alpha=1, out=None) -> Tensor:
    if alpha != 1:
        other = mul(other, alpha)
    return _out(_binary(Add, input, other, "add"), out)


def _is_bool_operand(v) -> bool:
    return isinstance(v, bool) or (isinstance(v, Tensor) and v._data.dtype == bool)


def sub(input, other, *, alpha=1, out=None) -> Tensor:
    if _is_bool_operand(input) and _is_bool_operand(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."
        )
    if _is_bool_operand(input) or _is_bool_operand(other):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, "
            "use the `~` or `logical_not()` operator instead."
        )
    if alpha != 1:
        other = mul(other, alpha)
    return _out(_binary(Sub, input, other, "sub"), out)


def rsub(input, other, *, alpha=1) -> Tensor:
    return sub(other, input, alpha=alpha)


def mul(input, other, *, out=None) -> Tensor:
    return _out(_binary(Mul, input, other, "mul"), out)


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    if rounding_mode is None:
        a, b = promote_operands(input, other, "div")
        kind = a._data.dtype.kind
        if kind != "f" and kind != "c" and kind != "V":  # true division of integers gives the default float
            a, b = cast_to(a, _dtype._default_float), cast_to(b, _dtype._default_float)
        try:
            return _out((Div if kind != "c" else Div._complex).apply(a, b), out)
        except ValueError:
            raise broadcast_error("div", a, b) from None
    a, b = _operands(input, other, "div")
    xp = array_module(a._data)
    if rounding_mode == "trunc":
        q = xp.trunc(a._data / b._data) if a._data.dtype.kind == "f" else _int_div(a._data, b._data, trunc=True)
    elif rounding_mode == "floor":
        q = xp.floor_divide(a._data, b._data)
    else:
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    return _out(_make(q.astype(a._data.dtype, copy=False)), out)


def _int_div(a, b, trunc: bool):
    xp = array_module(a)
    q = xp.floor_divide(a, b)
    if trunc:
        fix = (xp.remainder(a, b) != 0) & ((a < 0) != (b < 0))
        q = q + fix
    return q


divide = div
multiply = mul
subtract = sub


def floor_divide(input, other) -> Tensor:
    return div(input, other, rounding_mode="floor")


def true_divide(input, other) -> Tensor:
    return div(input, other)


def pow(input, exponent) -> Tensor:  # noqa: A001 - torch's name
    if not isinstance(input, Tensor):
        # scalar ** tensor: the base takes the exponent tensor's kind
        exponent_t = exponent
        base_dtype = _dtype.result_type(input, exponent_t)
        return _binary(Pow, cast_to(input, base_dtype), exponent_t, "pow")
    if isinstance(exponent, (int, float)) and input._data.dtype.kind in "iub" and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary(Pow, input, exponent, "pow")


def float_power(input, exponent) -> Tensor:
    a = cast_to(input, _dtype.float64)
    b = cast_to(exponent, _dtype.float64) if isinstance(exponent, Tensor) else exponent
    return pow(a, b)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    _require_tensors("maximum", input, other)
    return _binary(Maximum, input, other, "maximum")


def minimum(input: Tensor, other: Tensor) -> Tensor:
    _require_tensors("minimum", input, other)
    return _binary(Minimum, input, other, "minimum")


def fmax(input, other):
    """Like ``maximum`` but a NaN loses to a number; ties send the gradient to ``input`` (torch)."""
    _require_tensors("fmax", input, other)
    a, b = promote_operands(input, other, "fmax")
    return where((a >= b) | isnan(b), a, b)


def fmin(input, other):
    """Like ``minimum`` but a NaN loses to a number; ties send the gradient to ``input`` (torch)."""
    _require_tensors("fmin", input, other)
    a, b = promote_operands(input, other, "fmin")
    return where((a <= b) | isnan(b), a, b)


def logaddexp(input, other) -> Tensor:
    """log(exp(input) + exp(other)), without overflow."""
    a, b = promote_operands(input, other, "logaddexp")
    return LogAddExp.apply(as_float(a), as_float(b), None)


def logaddexp2(input, other) -> Tensor:
    """log2(2**input + 2**other), without overflow."""
    a, b = promote_operands(input, other, "logaddexp2")
    return LogAddExp.apply(as_float(a), as_float(b), 2)


def hypot(input, other) -> Tensor:
    """sqrt(input**2 + other**2), without overflow."""
    a, b = promote_operands(input, other, "hypot")
    return Hypot.apply(as_float(a), as_float(b))


def deg2rad(input: Tensor) -> Tensor:
    return mul(as_float(input), math.pi / 180)


def rad2deg(input: Tensor) -> Tensor:
    return mul(as_float(input), 180 / math.pi)


def atan2(input, other) -> Tensor:
    a, b = promote_operands(input, other, "atan2")
    return Atan2.apply(as_float(a), as_float(b))


arctan2 = atan2


def fmod(input, other) -> Tensor:
    return _binary(Fmod, input, other, "fmod")


def remainder(input, other) -> Tensor:
    return _binary(Remainder, input, other, "remainder")


def _require_tensors(op: str, *args) -> None:
    for a in args:
        if not isinstance(a, Tensor):
            raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not {type(a).__name__}")


def _operands(input, other, name: str):
    """``promote_operands`` for ops outside ``Function.apply``: a 0-d CPU tensor joins the
    other operand's device, as in torch (anything else on two devices raises)."""
    a, b = promote_operands(input, other, name)
    if type(a._data) is not type(b._data):
        a, b = same_device(name, (a, b))
    return a, b


def _out(result: Tensor, out):
    if out is None:
        return result
    out.copy_(result)
    return out


# ---------------------------------------------------------------------------- unary
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a._data

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.exp(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Exp2(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.exp2(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * math.log(2.0)


class Expm1(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.expm1(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.log(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Log2(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.log2(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * math.log(2.0))


class Log10(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.log10(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * math.log(10.0))


class Log1p(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.log1p(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.sqrt(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (out * 2)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = 1 / xp.sqrt(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * out * out * -0.5


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, a):
        out = 1 / a._data
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -grad * out * out


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.sin(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.cos(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * B.sin(a)


class Tan(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.tan(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out * out + 1)


class Asin(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.arcsin(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.rsqrt(1 - a * a)


class Acos(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.arccos(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * B.rsqrt(1 - a * a)


class Atan(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.arctan(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * a + 1)


class Sinh(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.sinh(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.cosh(a)


class Cosh(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.cosh(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.sinh(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.tanh(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        x = a._data
        # exp of a non-positive number only: no overflow warnings for large |x|.
        e = xp.exp(-xp.abs(x))
        out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


def _sigmoid_complex(ctx, a):
    """1 / (1 + e^-z) for complex z (the real forward's overflow guard compares with 0)."""
    out = 1 / (1 + array_module(a._data).exp(-a._data))
    ctx.save_for_backward(out)
    return out


# Sigmoid's complex forward, under Sigmoid's name (grad_fn SigmoidBackward0, as torch)
_SigmoidComplex = type("Sigmoid", (Sigmoid,), {"__module__": __name__, "forward": staticmethod(_sigmoid_complex)})


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.maximum(a._data, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        ctx.save_for_backward(a)
        return xp.abs(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.sign(a)


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _erf_array(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.exp(-(a * a)) * (2.0 / math.sqrt(math.pi))


class ZeroGrad(Function):
    """Piecewise-constant ops (sign, floor, round, ...): the gradient is zero everywhere."""

    @staticmethod
    def forward(ctx, a, array_fn):
        return array_fn(a._data)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0, None


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        xp = array_module(a._data)
        ctx.save_for_backward(a, lo if isinstance(lo, Tensor) else None, hi if isinstance(hi, Tensor) else None)
        ctx.lo = lo
        ctx.hi = hi
        out = a._data
        if lo is not None:
            out = xp.maximum(out, lo._data if isinstance(lo, Tensor) else lo)
        if hi is not None:
            out = xp.minimum(out, hi._data if isinstance(hi, Tensor) else hi)
        if out is a._data:
            out = out.copy()
        return out.astype(a._data.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, lo_t, hi_t = ctx.saved_tensors
        lo = lo_t if lo_t is not None else ctx.lo
        hi = hi_t if hi_t is not None else ctx.hi
        need = ctx.needs_input_grad
        ga = glo = ghi = None
        if need[0]:
            mask = None
            if lo is not None:
                mask = a >= lo
            if hi is not None:
                mask = (a <= hi) if mask is None else mask & (a <= hi)
            ga = grad * mask if mask is not None else grad
        if len(need) > 1 and need[1]:
            m = a < lo
            if hi is not None:
                m = m & (lo < hi)
            glo = unbroadcast(grad * m, lo_t.shape)
        if len(need) > 2 and need[2]:
            m = a > hi
            if lo is not None:
                m = m | (hi < lo)
            ghi = unbroadcast(grad * m, hi_t.shape)
        return ga, glo, ghi


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond._data
        return array_module(a._data).where(cond._data, a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        cond = ctx.cond
        need = ctx.needs_input_grad
        return (
            None,
            unbroadcast(B.where(cond, grad, 0.0), ctx.input_shape(1)) if need[1] else None,
            unbroadcast(B.where(cond, 0.0, grad), ctx.input_shape(2)) if need[2] else None,
        )


# Complex variants (see ``_backward.holomorphic``): the ops whose gradient formulas are holomorphic.
for _fn in (Add, Sub, Mul, Div, Pow, Neg, Exp, Exp2, Expm1, Log, Log2, Log10, Log1p, Sqrt, Rsqrt, Reciprocal, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh, Clone, Contiguous):
    B.holomorphic(_fn)
Sigmoid._complex = B.holomorphic(_SigmoidComplex)._complex


def _unary(fn):
    def op(input: Tensor, *, out=None) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{fn.__name__.lower()}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        if input._data.dtype.kind == "c":
            return _out(B.complex_fn(fn, op.__name__).apply(input), out)
        return _out(fn.apply(as_float(input)), out)

    op.__name__ = fn.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__} (differentiable; see ``{fn.__name__}`` for its gradient)."
    return op


exp = _unary(Exp)
exp2 = _unary(Exp2)
expm1 = _unary(Expm1)
log = _unary(Log)
log2 = _unary(Log2)
log10 = _unary(Log10)
log1p = _unary(Log1p)
sqrt = _unary(Sqrt)
rsqrt = _unary(Rsqrt)
reciprocal = _unary(Reciprocal)
sin = _unary(Sin)
cos = _unary(Cos)
tan = _unary(Tan)
asin = arcsin = _unary(Asin)
acos = arccos = _unary(Acos)
atan = arctan = _unary(Atan)
sinh = _unary(Sinh)
cosh = _unary(Cosh)
tanh = _unary(Tanh)
sigmoid = _unary(Sigmoid)
erf = _unary(Erf)


def neg(input: Tensor) -> Tensor:
    if input._data.dtype == bool:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return Neg.apply(input)


negative = neg


def relu(input: Tensor) -> Tensor:
    return Relu.apply(input)


def abs(input: Tensor) -> Tensor:  # noqa: A001 - torch's name
    if input._data.dtype == bool:
        raise NotImplementedError(f"\"abs_{input.device.type}\" not implemented for 'Bool'")
    if input._data.dtype.kind == "c":
        from .complex_ops import abs_complex

        return abs_complex(input)
    return Abs.apply(input)


absolute = abs


def square(input: Tensor) -> Tensor:
    return mul(input, input)


def _zero_grad_op(name: str, array_fn, float_only: bool = False):
    def op(input: Tensor) -> Tensor:
        if input._data.dtype.kind in "iub" and name != "sign":
            return _make(input._data.copy())
        return ZeroGrad.apply(input, array_fn)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (piecewise constant: zero gradient)."
    return op


def _array_fn(name: str):
    """``array_module(a).<name>(a)``: the array function ``name`` of its argument's device."""

    def fn(a):
        return getattr(array_module(a), name)(a)

    fn.__name__ = name
    return fn


sign = _zero_grad_op("sign", lambda a: array_module(a).sign(a) if a.dtype != bool else a.copy())
floor = _zero_grad_op("floor", _array_fn("floor"))
ceil = _zero_grad_op("ceil", _array_fn("ceil"))
trunc = _zero_grad_op("trunc", _array_fn("trunc"))
fix = trunc
_round = _array_fn("round")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - torch's name
    if decimals == 0:
        return ZeroGrad.apply(input, _round)
    return ZeroGrad.apply(input, lambda a: array_module(a).round(a, decimals))


def frac(input: Tensor) -> Tensor:
    return sub(input, trunc(input))


def clamp(input: Tensor, min=None, max=None, *, out=None) -> Tensor:  # noqa: A002 - torch's names
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    lo, hi = min, max
    target = _dtype.result_type(input, lo, hi)  # torch promotes with the bounds (bool.clamp(min=1) is int64)
    input = cast_to(input, target)
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo = cast_to(lo, target) if lo is not None else None
        hi = cast_to(hi, target) if hi is not None else None
    return _out(Clamp.apply(input, lo, hi), out)


clip = clamp


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    return clamp(input, max=max)


def where(condition, input=None, other=None) -> Tensor:
    """``where(cond, a, b)`` picks ``a`` where ``cond`` else ``b``; ``where(cond)`` is ``nonzero(as_tuple=True)``."""
    if input is None and other is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor):  # on the device of the tensor operand
        like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
        condition = to_tensor_operand(condition, _dtype.bool_, like)
    elif condition._data.dtype != bool:
        if condition._data.dtype == numpy.uint8:
            condition = _make(condition._data.astype(bool))
        else:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {condition.dtype}")
    target = _dtype.result_type(input, other)
    # numbers become 0-d tensors on the condition's device (no copy to the device per call)
    a = number_operand(input, target, condition) if isinstance(input, (bool, int, float)) else cast_to(input, target)
    b = number_operand(other, target, condition) if isinstance(other, (bool, int, float)) else cast_to(other, target)
    try:
        return Where.apply(condition, a, b)
    except ValueError:
        raise broadcast_error("where", condition, a, b) from None


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    return add(input, mul(sub(end, input), weight))


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    return add(input, mul(mul(tensor1, tensor2), value))


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    return add(input, mul(div(tensor1, tensor2), value))


# ---------------------------------------------------------------------------- erf
# W. J. Cody's rational Chebyshev approximations (Math. Comp. 1969), accurate to double
# precision: NumPy has no erf, and SciPy is not a dependency.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERF_C = (
    5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
    8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
    2.15311535474403846e-8,
)
_ERF_D = (
    1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
    3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03,
)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3)


def _erf_array(x):
    """erf of an array in the input's dtype: exact (Cody) for float64, table interpolation
    (max error 3e-8, a quarter of float32's epsilon) for float32/float16."""
    if x.dtype != numpy.float64:
        return _erf_table(x.astype(numpy.float32, copy=False)).astype(x.dtype, copy=False)
    return _erf_cody(x)


_ERF_STEPS_PER_UNIT, _ERF_N = 2048, 8192  # grid over [0, 4): erf(x >= 4) rounds to 1 in float32
_ERF_MAX_POS = float(_ERF_N) - 0.001
CHUNK = 32768  # elements per pass of a fused elementwise sequence: keeps the passes in cache


def chunks(n: int):
    """Slices covering ``range(n)`` in cache-sized pieces (for multi-pass fused elementwise code)."""
    for start in range(0, n, CHUNK):
        yield slice(start, start + CHUNK)


def passes(backend, n: int):
    """Slices for a fused multi-pass elementwise sequence: cache-sized chunks on the CPU; one
    slice on a GPU, where each pass is a kernel over the whole array."""
    return chunks(n) if backend.type == "cpu" else (slice(None),)


_tables: dict = {}  # (name, array type, device) -> a lookup table's arrays on that device


def device_table(name: str, build, x) -> tuple:
    """The lookup table ``name`` on ``x``'s device: ``build()`` (host arrays) runs once, and the
    result is copied once per device."""
    backend = backend_of(x)
    key = (name, type(x), backend.device_of(x))
    table = _tables.get(key)
    if table is None:
        table = _tables[key] = tuple(backend.asarray(a, index=key[2].index) for a in build())
    return table


def _erf_knots() -> tuple:
    """erf at 8192 knots over [0, 4) (exact float64 algorithm): values and slopes in float32."""
    knots = _erf_cody(numpy.arange(_ERF_N + 1, dtype=numpy.float64) / _ERF_STEPS_PER_UNIT)
    return knots[:-1].astype(numpy.float32), numpy.diff(knots).astype(numpy.float32)


def _erf_table(x):
    """erf by linear interpolation in a 8192-entry table, in cache-sized chunks on the CPU
    (~10 vectorized passes instead of ~45; on a GPU each pass is one kernel over the array)."""
    backend = backend_of(x)
    xp = backend.xp
    values, slopes = device_table("erf", _erf_knots, x)
    flat = x.reshape(-1)
    out = xp.empty_like(flat)
    for sl in passes(backend, flat.size):
        part = flat[sl]
        # erf is odd: interpolate at |x| (scaling by a power of two is exact, so tiny |x| keep
        # full relative precision), then restore the sign. Beyond the grid erf is 1 in float32.
        pos = xp.abs(part)
        pos *= numpy.float32(_ERF_STEPS_PER_UNIT)
        xp.minimum(pos, numpy.float32(_ERF_MAX_POS), out=pos)
        res = interpolate(values, slopes, pos)
        xp.copysign(res, part, out=out[sl])
    return out.reshape(x.shape)


_CLIP = {"mode": "clip"}
_NO_MODE: dict = {}


def interpolate(values, slopes, pos, out=None):
    """Linear interpolation in a uniform table: ``values[i] + slopes[i] * frac`` at grid
    positions ``pos`` (float32, within [0, len(values)); NaN lands on entry 0), which is
    overwritten. Integer and fractional parts come from ``floor`` in float32
    and the indices are intp, because mixed int/float arithmetic and int32 indices each cost
    NumPy an extra conversion pass (together 1.6x slower)."""
    backend = backend_of(pos)
    xp = backend.xp
    with backend.errstate(invalid="ignore"):
        whole = xp.floor(pos)
        pos -= whole
        idx = whole.astype(numpy.intp)
    if backend.type == "cpu":
        mode = _CLIP  # NumPy's take clips the indices (NaN's) as it reads them
    else:
        xp.clip(idx, 0, values.shape[0] - 1, out=idx)  # CuPy's take has no mode: clip first
        mode = _NO_MODE
    out = xp.take(slopes, idx, out=out, **mode)
    out *= pos
    out += xp.take(values, idx, **mode)
    return out


def _erf_cody(x):
    """erf in float64 (W. J. Cody's rational approximations: full double precision)."""
    xp = array_module(x)
    dtype = x.dtype
    x = x.astype(numpy.float64)
    ax = xp.abs(x)
    if xp is not numpy:
        # On a GPU boolean masks would wait for the device (their sizes): every element goes
        # through both formulas and ``where`` picks. erfc underflows to 0 beyond 27 (and inf).
        y = xp.minimum(ax, 27.0)
        erfc = _erfc_scale(y, _erfcx_cody(y))
        tail = xp.where(x < 0, erfc - 1.0, 1.0 - erfc)
        return xp.where(ax <= 0.46875, _erf_small(x, xp.minimum(ax, 0.5)), tail).astype(dtype, copy=False)
    out = xp.empty_like(x)

    small = ax <= 0.46875
    if small.any():
        out[small] = _erf_small(x[small], ax[small])

    tail = ax > 0.46875
    if tail.any():
        y = xp.minimum(ax[tail], 27.0)  # erfc underflows to 0 beyond 27 (and at inf, not NaN)
        erfc = _erfc_scale(y, _erfcx_cody(y))
        out[tail] = xp.where(x[tail] < 0, erfc - 1.0, 1.0 - erfc)

    nan = xp.isnan(x)
    if nan.any():
        out[nan] = numpy.nan
    return out.astype(dtype, copy=False)


def _erf_small(x, y):
    """erf(x) for float64 |x| = y <= 0.46875 (Cody's rational approximation)."""
    z = y * y
    num = _ERF_A[4] * z
    den = z
    for i in range(3):
        num = (num + _ERF_A[i]) * z
        den = (den + _ERF_B[i]) * z
    return x * (num + _ERF_A[3]) / (den + _ERF_B[3])


def _erfcx_cody(y):
    """The scaled complement exp(y^2) erfc(y) for float64 y > 0.46875 (Cody's rational
    approximations on (0.46875, 4] and beyond 4); erf's tails and erfinv's refinement use it."""
    xp = array_module(y)
    if xp is not numpy:  # a GPU: both formulas everywhere (each within its range), ``where`` picks
        return xp.where(y <= 4.0, _erfcx_mid(xp.minimum(y, 4.0)), _erfcx_big(xp.maximum(y, 4.0)))
    out = xp.empty_like(y)
    mid = y <= 4.0
    if mid.any():
        out[mid] = _erfcx_mid(y[mid])
    big = ~mid
    if big.any():
        out[big] = _erfcx_big(y[big])
    return out


def _erfcx_mid(v):
    num = _ERF_C[8] * v
    den = v
    for i in range(7):
        num = (num + _ERF_C[i]) * v
        den = (den + _ERF_D[i]) * v
    return (num + _ERF_C[7]) / (den + _ERF_D[7])


def _erfcx_big(v):
    z = 1.0 / (v * v)
    num = _ERF_P[5] * z
    den = z
    for i in range(4):
        num = (num + _ERF_P[i]) * z
        den = (den + _ERF_Q[i]) * z
    return (1.0 / math.sqrt(math.pi) - z * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / v


def _erfc_scale(y, r):
    # erfc(y) = exp(-y^2) * r, with y^2 split to keep precision (Cody's trick).
    xp = array_module(y)
    ysq = xp.trunc(y * 16.0) / 16.0
    delta = (y - ysq) * (y + ysq)
    return xp.exp(-ysq * ysq) * xp.exp(-delta) * r


# ---------------------------------------------------------------------------- no-grad ops
def _comparison(name: str, ufunc: str):
    def op(input, other, *, out=None) -> Tensor:
        a, b = _operands(input, other, name)
        try:
            return _out(_make(getattr(array_module(a._data), ufunc)(a._data, b._data)), out)
        except ValueError:
            raise broadcast_error(name, a, b) from None

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` (a bool tensor; not differentiable)."
    return op


eq = _comparison("eq", "equal")
ne = not_equal = _comparison("ne", "not_equal")
lt = less = _comparison("lt", "less")
le = less_equal = _comparison("le", "less_equal")
gt = greater = _comparison("gt", "greater")
ge = greater_equal = _comparison("ge", "greater_equal")
logical_and = _comparison("logical_and", "logical_and")
logical_or = _comparison("logical_or", "logical_or")
logical_xor = _comparison("logical_xor", "logical_xor")


_TORCH_TYPE_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
    "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
    "complex64": "ComplexFloat", "complex128": "ComplexDouble", "bfloat16": "BFloat16",
}  # fmt: skip


def _bitwise(name: str, ufunc: str):
    def op(input, other) -> Tensor:
        a, b = _operands(input, other, name)
        if a._data.dtype.kind == "f":
            raise NotImplementedError(f'"{name}_{a.device.type}" not implemented for \'{_TORCH_TYPE_NAMES[a.dtype.name]}\'')
        try:
            return _make(getattr(array_module(a._data), ufunc)(a._data, b._data))
        except ValueError:
            raise broadcast_error(name, a, b) from None

    op.__name__ = name
    return op


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")


def bitwise_not(input: Tensor) -> Tensor:
    if input._data.dtype.kind == "f":
        raise NotImplementedError(f'"bitwise_not_{input.device.type}" not implemented for \'{_TORCH_TYPE_NAMES[input.dtype.name]}\'')
    return _make(array_module(input._data).invert(input._data))


def logical_not(input: Tensor) -> Tensor:
    return _make(array_module(input._data).logical_not(input._data))


def isnan(input: Tensor) -> Tensor:
    return _make(array_module(input._data).isnan(input._data))


def isinf(input: Tensor) -> Tensor:
    return _make(array_module(input._data).isinf(input._data))


def isfinite(input: Tensor) -> Tensor:
    return _make(array_module(input._data).isfinite(input._data))


def isposinf(input: Tensor) -> Tensor:
    return _make(array_module(input._data).isposinf(input._data))


def isneginf(input: Tensor) -> Tensor:
    return _make(array_module(input._data).isneginf(input._data))


def signbit(input: Tensor) -> Tensor:
    return _make(array_module(input._data).signbit(input._data))


def nan_to_num(input: Tensor, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    return _make(array_module(input._data).nan_to_num(input._data, nan=nan, posinf=posinf, neginf=neginf))


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and elements."""
    return input._data.shape == other._data.shape and bool(array_module(input._data).array_equal(input._data, other._data))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    return bool(array_module(input._data).allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    return _make(array_module(input._data).isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))
