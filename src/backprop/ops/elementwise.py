"""Elementwise primitives: arithmetic, unary math, activations' building blocks, comparisons.

Binary ops broadcast like torch and promote dtypes with ``promote_operands``; their
backward undoes broadcasting with the one ``unbroadcast`` helper (for add, sub and mul the
engine calls it: their formulas return broadcast-shaped gradients). Unary float ops take
integer inputs by casting them to the default float dtype first (``exp(int_tensor)`` is
float32, as in torch).
"""

from __future__ import annotations

import math

import numpy

from .. import _dtype
from .._autocast import autocast_call, autocast_op, autocast_policies
from .._autocast import state as _autocast_state
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make
from ..autograd.function import Function, same_device
from . import _backward as B
from ._utils import (
    as_float,
    broadcast_error,
    cast_to,
    fitting_scalar,
    in_float32,
    number_operand,
    promote_operands,
    require_tensor,
    to_tensor_operand,
    unbroadcast,
)
from .inplace import write_out


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


# The gradients of add, sub and mul come back in the broadcast shape: the engine sums every
# gradient to its input's shape (``unbroadcast``, in ``autograd/engine.py``), so these most
# frequent backward formulas make no shape calls of their own.
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a._data + b._data

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (grad if need[0] else None, grad if need[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a._data - b._data

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (grad if need[0] else None, -grad if need[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # each operand is saved only for the other's gradient, as torch: x * c with a constant c
        # keeps no reference to x, so x may change in place afterwards
        need = ctx.needs_input_grad
        ctx.save_for_backward(a if need[1] else None, b if need[0] else None)
        return a._data * b._data

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (grad * b if need[0] else None, grad * a if need[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)  # the dividend only for the divisor's gradient
        return a._data / b._data

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad / b, ctx.input_shape(0)) if need[0] else None,
            unbroadcast(-grad * ((a / b) / b), ctx.input_shape(1)) if need[1] else None,
        )


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a._data.dtype.kind == "i":
            out = _int_pow(a._data, b._data)
        else:
            out = a._data**b._data
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)  # the output only for the exponent's gradient
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            # d/da a^b = b * a^(b-1); zero where b == 0 (torch: 0^0 has zero gradient).
            ga = grad * B.where(b == 0, 0.0, b * a ** (b - 1))
            ga = unbroadcast(ga, ctx.input_shape(0))
        if need[1]:
            # d/db a^b = a^b * B.log(a); defined as 0 where a == 0 and b >= 0.
            gb = grad * B.where((a == 0) & (b >= 0), 0.0, out * B.log(a))
            gb = unbroadcast(gb, b.shape)
        return ga, gb


def _int_pow(a, b):
    """Integer powers as torch: a negative exponent gives 1 for base 1, +-1 for base -1 (by
    parity) and 0 otherwise (NumPy raises instead)."""
    xp = array_module(a)
    neg = b < 0
    out = a ** xp.where(neg, 0, b)
    if xp is numpy and not neg.any():
        return out
    at_neg = xp.where(a == 1, 1, xp.where(a == -1, xp.where(b % 2 == 0, 1, -1), 0))
    return xp.where(neg, at_neg, out).astype(out.dtype, copy=False)


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
        if a._data.dtype.kind == "c":
            return _complex_logaddexp(a._data, b._data)
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


B.holomorphic(LogAddExp)  # complex logaddexp (torch has no complex logaddexp2)


def _complex_logaddexp(x, y):
    """log(exp(x) + exp(y)) for complex arrays: the operand with the larger real part (``hi``) is
    factored out, log1p(exp(lo - hi)) + hi; NaN if either is NaN; both real parts -inf give
    ``lo``, both +inf the direct log(exp(lo) + exp(hi)) (log1p's form would be NaN there)."""
    backend = backend_of(x)
    xp = backend.xp
    x, y = xp.broadcast_arrays(x, y)
    swap = x.real > y.real
    lo, hi = xp.where(swap, y, x), xp.where(swap, x, y)
    with backend.errstate(all="ignore"):
        out = xp.log1p(xp.exp(lo - hi)) + hi
        same_inf = xp.isinf(lo.real) & (lo.real == hi.real)
        direct = xp.log(xp.exp(lo) + xp.exp(hi))
    out = xp.where(same_inf, xp.where(lo.real < 0, lo, direct), out)
    nan = xp.isnan(x) | xp.isnan(y)
    return xp.where(nan, xp.asarray(complex("nan+nanj"), dtype=out.dtype), out).astype(x.dtype, copy=False)


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


def check_integer_divisor(divisor, kernel: str) -> None:
    """torch's errors for an integer division (``//``, ``%``, ``fmod``, ``div`` with a rounding
    mode): by zero (floats give inf/nan, integers raise; one ``all`` over the divisor, where the
    backend checks values: on a GPU it would wait for the device, and torch's CUDA kernels do not
    check either), and of bools (no kernel; ``kernel`` is torch's CPU kernel's name)."""
    kind = divisor.dtype.kind
    if kind == "b":
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if kind in "iu" and backend_of(divisor).checks_values and not divisor.all():
        raise RuntimeError("ZeroDivisionError")


class Fmod(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        check_integer_divisor(b._data, "fmod_cpu")
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


def _floor_quotient(a, b):
    """floor(a / b) for remainder's gradient; bfloat16 as torch's div(rounding_mode='floor'),
    whose quotient is not rounded to bfloat16 before the floor."""
    if B.is_raw(a) and a.dtype.kind == "V" or isinstance(a, Tensor) and a._data.dtype.kind == "V":
        return B.call(RoundedDiv, a, b, "floor")
    return B.floor(a / b)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        xp = array_module(a._data)
        check_integer_divisor(b._data, "remainder_cpu")
        ctx.save_for_backward(a, b)
        return xp.remainder(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, a.shape) if need[0] else None,
            unbroadcast(-grad * _floor_quotient(a, b), b.shape) if need[1] else None,
        )


def add(input, other, *, alpha=1, out=None) -> Tensor:
    if alpha != 1:
        other = mul(other, alpha)
    return _out(_binary(Add, input, other, "add"), out, "add")


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
    return _out(_binary(Sub, input, other, "sub"), out, "sub")


def rsub(input, other, *, alpha=1) -> Tensor:
    require_tensor("rsub", input)
    return sub(other, input, alpha=alpha)


_BF16_CHECK = (float, int)  # a Python number beside a tensor: maybe a bfloat16 tensor with a number


def _bf16_scalar_operand(input, other) -> bool:
    """Whether a binary op is a bfloat16 tensor with a Python number: torch then uses the number
    in float32 (not rounded to bfloat16) and rounds the result once."""
    if type(other) is float or type(other) is int:
        return type(input) is Tensor and input._data.dtype.kind == "V"
    if type(input) is float or type(input) is int:
        return type(other) is Tensor and other._data.dtype.kind == "V"
    return False


def mul(input, other, *, out=None) -> Tensor:
    if type(input) in _BF16_CHECK or type(other) in _BF16_CHECK:  # tensor-with-tensor calls: two type tests
        if _bf16_scalar_operand(input, other):
            return _out(in_float32(mul, input, other), out, "mul")
    return _out(_binary(Mul, input, other, "mul"), out, "mul")


def div(input, other, *, rounding_mode=None, out=None) -> Tensor:
    if rounding_mode is None:
        if (type(input) in _BF16_CHECK or type(other) in _BF16_CHECK) and _bf16_scalar_operand(input, other):
            if type(input) is Tensor:  # bfloat16 / number: in float32, rounded once, as torch
                return _out(in_float32(div, input, other), out, "div")
            return _out(mul(reciprocal(other), input), out, "div")  # number / bfloat16: torch's reciprocal * number
        a, b = promote_operands(input, other, "div")
        kind = a._data.dtype.kind
        if kind != "f" and kind != "c" and kind != "V":  # true division of integers gives the default float
            a, b = cast_to(a, _dtype._default_float), cast_to(b, _dtype._default_float)
        try:
            return _out((Div if kind != "c" else Div._complex).apply(a, b), out, "div")
        except ValueError:
            raise broadcast_error("div", a, b) from None
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    a, b = _operands(input, other, "div")
    try:
        return _out(RoundedDiv.apply(a, b, rounding_mode), out, "div")
    except ValueError:
        raise broadcast_error("div", a, b) from None


def _floor_divide_bfloat16(xp, a, b):
    """Floor division of bfloat16 arrays as torch's kernel does it: (a - fmod(a, b)) / b, one less
    where the remainder's sign differs from b's, then floored, each step rounded to bfloat16
    (NumPy's floor_divide on ml_dtypes' bfloat16 differs from torch in ~0.1% of cases)."""
    with numpy.errstate(divide="ignore", invalid="ignore"):
        mod = xp.fmod(a, b)
        div = (a - mod) / b
        div = xp.where((mod != 0) & ((b < 0) != (mod < 0)), div - a.dtype.type(1), div)
        floor = xp.floor(div)
        floor = xp.where(div - floor > a.dtype.type(0.5), floor + a.dtype.type(1), floor)
        floor = xp.where(div == 0, xp.copysign(xp.zeros_like(div), a / b), floor)
        return xp.where(b == 0, a / b, floor)


class RoundedDiv(Function):
    """``div`` with ``rounding_mode`` 'trunc' or 'floor': piecewise constant, so (as in torch)
    differentiable with a zero gradient for both operands."""

    @staticmethod
    def forward(ctx, a, b, mode):
        xp = array_module(a._data)
        check_integer_divisor(b._data, "div_trunc_cpu" if mode == "trunc" else "div_floor_cpu")
        if mode == "trunc":
            q = xp.trunc(a._data / b._data) if _dtype.is_float_array(a._data) else _int_div(a._data, b._data, trunc=True)
        elif a._data.dtype.kind == "V":
            q = _floor_divide_bfloat16(xp, a._data, b._data)
        else:
            q = xp.floor_divide(a._data, b._data)
        return q.astype(a._data.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad * 0, ctx.input_shape(0)) if need[0] else None,
            unbroadcast(grad * 0, ctx.input_shape(1)) if need[1] else None,
            None,
        )


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


@autocast_op("pow")
def pow(input, exponent) -> Tensor:  # noqa: A001 - torch's name
    if not isinstance(exponent, Tensor):
        require_tensor("pow", input)
    if not isinstance(input, Tensor):
        if isinstance(exponent, Tensor) and exponent._data.dtype.kind == "V" and isinstance(input, (int, float)):
            return in_float32(pow, input, exponent)  # bfloat16: number ** x in float32 (its log too), rounded once
        # scalar ** tensor: the base takes the exponent tensor's kind
        exponent_t = exponent
        base_dtype = _dtype.result_type(input, exponent_t)
        return _binary(Pow, cast_to(input, base_dtype), exponent_t, "pow")
    if isinstance(exponent, (int, float)) and input._data.dtype.kind in "iub" and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary(Pow, input, exponent, "pow")


def float_power(input, exponent) -> Tensor:
    if not isinstance(exponent, Tensor):
        require_tensor("float_power", input)
    # float64, or complex128 when either operand is complex (torch's rule)
    complex_operand = any(isinstance(v, complex) or (isinstance(v, Tensor) and v._data.dtype.kind == "c") for v in (input, exponent))
    wide = _dtype.complex128 if complex_operand else _dtype.float64
    a = cast_to(input, wide) if isinstance(input, Tensor) else input
    b = cast_to(exponent, wide) if isinstance(exponent, Tensor) else exponent
    return pow(a, b)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    require_tensor("maximum", input)
    require_tensor("maximum", other, "other", 2)
    return _binary(Maximum, input, other, "maximum")


def minimum(input: Tensor, other: Tensor) -> Tensor:
    require_tensor("minimum", input)
    require_tensor("minimum", other, "other", 2)
    return _binary(Minimum, input, other, "minimum")


def fmax(input, other):
    """Like ``maximum`` but a NaN loses to a number; ties send the gradient to ``input`` (torch)."""
    require_tensor("fmax", input)
    require_tensor("fmax", other, "other", 2)
    a, b = promote_operands(input, other, "fmax")
    return where((a >= b) | isnan(b), a, b)


def fmin(input, other):
    """Like ``minimum`` but a NaN loses to a number; ties send the gradient to ``input`` (torch)."""
    require_tensor("fmin", input)
    require_tensor("fmin", other, "other", 2)
    a, b = promote_operands(input, other, "fmin")
    return where((a <= b) | isnan(b), a, b)


def logaddexp(input, other) -> Tensor:
    """log(exp(input) + exp(other)), without overflow."""
    require_tensor("logaddexp", input)
    require_tensor("logaddexp", other, "other", 2)
    a, b = promote_operands(input, other, "logaddexp")
    if a._data.dtype.kind == "c":
        return LogAddExp._complex.apply(a, b, None)
    return LogAddExp.apply(as_float(a), as_float(b), None)


def logaddexp2(input, other) -> Tensor:
    """log2(2**input + 2**other), without overflow."""
    require_tensor("logaddexp2", input)
    require_tensor("logaddexp2", other, "other", 2)
    a, b = promote_operands(input, other, "logaddexp2")
    if a._data.dtype.kind == "c":
        raise NotImplementedError(f"\"logaddexp2_{a.device.type}\" not implemented for '{_TORCH_TYPE_NAMES[a._data.dtype.name]}'")
    return LogAddExp.apply(as_float(a), as_float(b), 2)


def hypot(input, other) -> Tensor:
    """sqrt(input**2 + other**2), without overflow."""
    require_tensor("hypot", input)
    require_tensor("hypot", other, "other", 2)
    a, b = promote_operands(input, other, "hypot")
    return Hypot.apply(as_float(a), as_float(b))


def deg2rad(input: Tensor) -> Tensor:
    return mul(as_float(input), math.pi / 180)


def rad2deg(input: Tensor) -> Tensor:
    return mul(as_float(input), 180 / math.pi)


@autocast_op("atan2")
def atan2(input, other) -> Tensor:
    require_tensor("atan2", input)
    require_tensor("atan2", other, "other", 2)
    a, b = promote_operands(input, other, "atan2")
    return Atan2.apply(as_float(a), as_float(b))


arctan2 = atan2


def fmod(input, other) -> Tensor:
    require_tensor("fmod", input)
    return _binary(Fmod, input, other, "fmod")


def remainder(input, other) -> Tensor:
    return _binary(Remainder, input, other, "remainder")


def _operands(input, other, name: str):
    """``promote_operands`` for ops outside ``Function.apply``: a 0-d CPU tensor joins the
    other operand's device, as in torch (anything else on two devices raises)."""
    a, b = promote_operands(input, other, name)
    if type(a._data) is not type(b._data):
        a, b = same_device(name, (a, b))
    return a, b


def _out(result: Tensor, out, op: str = "out"):
    return result if out is None else write_out(result, out, op)


# ---------------------------------------------------------------------------- unary
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a._data

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    inplace_saves_output = True  # x.exp_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.exp2_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.expm1_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.sqrt_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.rsqrt_() saves x itself (see Function)

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        if a._data.dtype.kind == "V":  # bfloat16: in float32, rounded once, as torch (saved rounded, as torch)
            out = (1 / xp.sqrt(a._data.astype(numpy.float32))).astype(a._data.dtype)
        else:
            out = 1 / xp.sqrt(a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * out * out * -0.5


class Reciprocal(Function):
    inplace_saves_output = True  # x.reciprocal_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.tan_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.tanh_() saves x itself (see Function)

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
    inplace_saves_output = True  # x.sigmoid_() saves x itself (see Function)

    @staticmethod
    def forward(ctx, a):
        x = a._data
        if x.dtype.kind == "V":  # bfloat16: in float32, rounded once, as torch (saved rounded, as torch)
            x = x.astype(numpy.float32)
        # SciPy's expit (cupyx's on CUDA): one pass, no overflow for large |x|; half the time of exp+where
        out = backend_of(x).scipy("special").expit(x).astype(a._data.dtype, copy=False)
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
    inplace_saves_output = True  # x.relu_() saves x itself (see Function)

    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        out = xp.maximum(a._data, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if B.is_array(grad):  # a fused kernel where the device has one (the CPU's JIT kernels)
            kernel = backend_of(grad).kernel("relu_backward", grad, out)
            if kernel is not None:
                gx = kernel(out, grad)
                if gx is not None:
                    return gx
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
    name = fn.__name__.lower()
    policies = autocast_policies(name)

    def op(input: Tensor, *, out=None) -> Tensor:
        if policies and _autocast_state.active:  # (autocast_op's wrapper, inline: one call less per op)
            return autocast_call(op, policies, (input,), {} if out is None else {"out": out})
        if type(input) is not Tensor and not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        kind = input._data.dtype.kind
        if kind == "c":
            result = B.complex_fn(fn, name).apply(input)
        else:
            result = fn.apply(input if kind == "f" or kind == "V" else as_float(input))
        return result if out is None else write_out(result, out, name)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (differentiable; see ``{fn.__name__}`` for its gradient)."
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


# ---------------------------------------------------------------------------- more math (inverse hyperbolics, copysign, ldexp, frexp, ...)
class Asinh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a._data).arcsinh(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.rsqrt(a * a + 1)


class Acosh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a._data).arccosh(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        # 1/sqrt(a - 1)/sqrt(a + 1), not 1/sqrt(a^2 - 1): equal for real a > 1, and the right
        # branch of acosh's derivative for complex a (torch's formula)
        return grad * B.rsqrt(a - 1) * B.rsqrt(a + 1)


class Atanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a._data).arctanh(a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 - a * a)


B.holomorphic(Asinh)  # complex inputs: torch's grad * conj(f'(z)), see _backward.holomorphic
B.holomorphic(Acosh)
B.holomorphic(Atanh)
asinh = arcsinh = _unary(Asinh)
acosh = arccosh = _unary(Acosh)
atanh = arctanh = _unary(Atanh)


class Copysign(Function):
    """|a| with the sign of b. d/da is out / a (0 where a == 0, as torch); b gets a zero gradient."""

    @staticmethod
    def forward(ctx, a, b):
        out = array_module(a._data).copysign(a._data, b._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = unbroadcast(grad * B.where(a == 0, 0.0, out / B.where(a == 0, 1.0, a)), a.shape) if need[0] else None
        gb = unbroadcast(grad * 0, ctx.input_shape(1)) if need[1] else None
        return ga, gb


def copysign(input: Tensor, other) -> Tensor:
    """``input``'s magnitudes with ``other``'s signs (integers give the default float dtype)."""
    require_tensor("copysign", input)
    a, b = promote_operands(input, other, "copysign")
    try:
        return Copysign.apply(as_float(a), as_float(b))
    except ValueError:
        raise broadcast_error("copysign", a, b) from None


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2**other`` (a float result; differentiable in both, as the product it is)."""
    require_tensor("ldexp", input)
    require_tensor("ldexp", other, "other", 2)
    return mul(input, pow(2.0, other))


class Frexp(Function):
    """(mantissa, exponent int32) with ``input = mantissa * 2**exponent``: d mantissa / d input
    is 2**-exponent; the exponent is not differentiable."""

    @staticmethod
    def forward(ctx, a):
        mantissa, exponent = array_module(a._data).frexp(a._data)
        exponent = exponent.astype(numpy.int32, copy=False)
        ctx.save_for_backward(_make((-exponent).astype(a._data.dtype)))
        return mantissa, exponent

    @staticmethod
    def backward(ctx, grad, grad_exponent):
        (neg_exponent,) = ctx.saved_tensors
        return grad * B.exp2(neg_exponent)


def frexp(input: Tensor):
    """(mantissa, exponent): ``input = mantissa * 2**exponent``, |mantissa| in [0.5, 1), exponent int32."""
    from .. import return_types

    if not _dtype.is_float_array(input._data):
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    return return_types.frexp(*Frexp.apply(input))


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
    if input._data.dtype == bool:  # as pow(input, 2): bool promotes with the int exponent
        input = cast_to(input, _dtype.int64)
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
    require_tensor("clamp", input)
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    lo, hi = min, max
    target = _dtype.result_type(input, lo, hi)  # torch promotes with the bounds (bool.clamp(min=1) is int64)
    input = cast_to(input, target)
    if target._kind == 1 or target.itemsize == 2:  # number bounds must fit an integer or half dtype, as torch checks
        lo = fitting_scalar(lo, target.np, half=True) if type(lo) in (int, float) else lo
        hi = fitting_scalar(hi, target.np, half=True) if type(hi) in (int, float) else hi
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo = cast_to(lo, target) if lo is not None else None
        hi = cast_to(hi, target) if hi is not None else None
    return _out(Clamp.apply(input, lo, hi), out, "clamp")


clip = clamp


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    require_tensor("clamp_min", input)
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    require_tensor("clamp_max", input)
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
    # numbers must fit the result's dtype (torch checks here; arithmetic wraps instead)
    a = number_operand(fitting_scalar(input, target.np), target, condition) if isinstance(input, (bool, int, float)) else cast_to(input, target)
    b = number_operand(fitting_scalar(other, target.np), target, condition) if isinstance(other, (bool, int, float)) else cast_to(other, target)
    try:
        return Where.apply(condition, a, b)
    except ValueError:
        raise broadcast_error("where", condition, a, b) from None


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    return add(input, mul(sub(end, input), weight))


def _scaled_bfloat16(x, value):
    """``x * value`` for bfloat16 with the number in float32, rounded once (torch's Tensor * Scalar)."""
    if B.is_raw(x):
        return (x.astype(numpy.float32) * numpy.float32(value)).astype(x.dtype)
    return x * value


class _AddcBfloat16(Function):
    """addcmul/addcdiv of bfloat16 tensors as torch computes them: the forward in one float32
    pass rounded once; the gradients by torch's formulas, each product rounded to bfloat16:
    addcmul t1: g * (t2 * v); addcdiv t1: g * (v / t2), t2: -g * (t1 * v / (t2 * t2))."""

    @staticmethod
    def forward(ctx, input, t1, t2, value, divide):
        f32 = numpy.float32
        a, b = t1._data.astype(f32), t2._data.astype(f32)
        prod = a / b if divide else a * b
        out = input._data.astype(f32) + f32(value) * prod
        ctx.value, ctx.divide = value, divide
        ctx.save_for_backward(t1, t2)
        return out.astype(input._data.dtype)

    @staticmethod
    def backward(ctx, grad):
        t1, t2 = ctx.saved_tensors
        need = ctx.needs_input_grad
        v = ctx.value
        g0 = unbroadcast(grad, ctx.input_shape(0)) if need[0] else None
        g1 = g2 = None
        if ctx.divide:
            if need[1]:
                inv = (t2 * 0 + v) / t2 if not B.is_raw(t2) else t2.dtype.type(v) / t2
                g1 = unbroadcast(grad * inv, ctx.input_shape(1))
            if need[2]:
                g2 = unbroadcast(-grad * (_scaled_bfloat16(t1, v) / (t2 * t2)), ctx.input_shape(2))
        else:
            if need[1]:
                g1 = unbroadcast(grad * _scaled_bfloat16(t2, v), ctx.input_shape(1))
            if need[2]:
                g2 = unbroadcast(grad * _scaled_bfloat16(t1, v), ctx.input_shape(2))
        return g0, g1, g2, None, None


def _addc(input, tensor1, tensor2, value, divide: bool, op: str):
    if (
        isinstance(value, (int, float))
        and all(isinstance(t, Tensor) and t._data.dtype.kind == "V" for t in (input, tensor1, tensor2))
        and type(input._data) is type(tensor1._data) is type(tensor2._data)
    ):
        try:
            return _AddcBfloat16.apply(input, tensor1, tensor2, value, divide)
        except ValueError:
            raise broadcast_error(op, input, tensor1, tensor2) from None
    return in_float32(addcdiv if divide else addcmul, input, tensor1, tensor2, value=value)


@autocast_op("addcmul")
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    if input._data.dtype.kind == "V":  # bfloat16: one float32 pass rounded once, as torch
        return _addc(input, tensor1, tensor2, value, False, "addcmul")
    return add(input, mul(mul(tensor1, tensor2), value))


@autocast_op("addcdiv")
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    if input._data.dtype.kind == "V":  # bfloat16: one float32 pass rounded once, as torch
        return _addc(input, tensor1, tensor2, value, True, "addcdiv")
    return add(input, mul(div(tensor1, tensor2), value))


# ---------------------------------------------------------------------------- erf
def _erf_array(x):
    """erf of an array in its dtype. SciPy's (``cupyx.scipy.special.erf`` on CUDA: one kernel),
    except float32/float16 on the CPU, which interpolate in a table (max error 3e-8, a quarter
    of float32's epsilon): measured on 1M float32 elements (2 shared cores), 3.6 ms for the
    table against 15.0 ms for ``scipy.special.erf``; GELU's exact form (the MLP/Transformer
    benchmarks) uses the same kind of table for Phi (3.2 ms against 20.0 ms for ``ndtr``).
    float64 is SciPy's everywhere (14.9 ms, where Cody's rational approximations written with
    NumPy took 41.2 ms)."""
    backend = backend_of(x)
    if x.dtype != numpy.float64 and backend.type == "cpu":
        return _erf_table(x.astype(numpy.float32, copy=False)).astype(x.dtype, copy=False)
    src = x.astype(numpy.float32) if x.dtype == numpy.float16 else x
    with backend.errstate(all="ignore"):
        return backend.scipy("special").erf(src).astype(x.dtype, copy=False)


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
    """erf at 8192 knots over [0, 4) (SciPy's float64 erf, on the host): values and slopes in float32."""
    grid = numpy.arange(_ERF_N + 1, dtype=numpy.float64) / _ERF_STEPS_PER_UNIT
    knots = backend_of(grid).scipy("special").erf(grid)
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


# ---------------------------------------------------------------------------- no-grad ops
def _comparison(name: str, ufunc: str, tensor_other: bool = False):
    """A bool-valued elementwise op; ``tensor_other``: ``other`` must be a Tensor too (logical ops)."""

    def op(input, other, *, out=None) -> Tensor:
        require_tensor(name, input)
        if tensor_other:
            require_tensor(name, other, "other", 2)
        a, b = _operands(input, other, name)
        try:
            return _out(_make(getattr(array_module(a._data), ufunc)(a._data, b._data)), out, name)
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
logical_and = _comparison("logical_and", "logical_and", tensor_other=True)
logical_or = _comparison("logical_or", "logical_or", tensor_other=True)
logical_xor = _comparison("logical_xor", "logical_xor", tensor_other=True)


_TORCH_TYPE_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
    "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
    "complex64": "ComplexFloat", "complex128": "ComplexDouble", "bfloat16": "BFloat16",
}  # fmt: skip


def _bitwise(name: str, ufunc: str):
    def op(input, other) -> Tensor:
        a, b = _operands(input, other, name)
        if _dtype.is_float_array(a._data):
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


def _not_implemented(name: str, t: Tensor) -> NotImplementedError:
    return NotImplementedError(f'"{name}_{t.device.type}" not implemented for \'{_TORCH_TYPE_NAMES[t.dtype.name]}\'')


def _integer_binary(name: str, kernel_name: str, kernel, other_may_be_number: bool = False):
    """A binary op of integer tensors (not differentiable): floats raise torch's
    NotImplementedError naming ``kernel_name``; bool raises too unless promoted by a number."""

    def op(input: Tensor, other) -> Tensor:
        if not other_may_be_number:
            require_tensor(name, input)
            require_tensor(name, other, "other", 2)
        a, b = _operands(input, other, name)
        if a._data.dtype.kind not in "iu":
            raise _not_implemented(kernel_name, a)
        try:
            return _make(kernel(array_module(a._data), a._data, b._data))
        except ValueError:
            raise broadcast_error(name, a, b) from None

    op.__name__ = name
    return op


def _shift_left(xp, a, s):
    # torch: a shift by a negative count or by the width or more gives 0
    bits = a.dtype.itemsize * 8
    inside = (s >= 0) & (s < bits)
    shifted = xp.left_shift(a, xp.where(inside, s, 0).astype(a.dtype, copy=False))
    return xp.where(inside, shifted, 0).astype(a.dtype, copy=False)


def _shift_right(xp, a, s):
    # torch: out-of-range counts fill with the sign bit (-1 for negative values, else 0)
    bits = a.dtype.itemsize * 8
    inside = (s >= 0) & (s < bits)
    shifted = xp.right_shift(a, xp.where(inside, s, 0).astype(a.dtype, copy=False))
    return xp.where(inside, shifted, xp.where(a < 0, -1, 0)).astype(a.dtype, copy=False)


gcd = _integer_binary("gcd", "gcd", lambda xp, a, b: xp.gcd(a, b))
lcm = _integer_binary("lcm", "lcm", lambda xp, a, b: xp.lcm(a, b))
bitwise_left_shift = _integer_binary("bitwise_left_shift", "lshift", _shift_left, other_may_be_number=True)
bitwise_right_shift = _integer_binary("bitwise_right_shift", "rshift", _shift_right, other_may_be_number=True)


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable float after ``input`` towards ``other`` (not differentiable)."""
    require_tensor("nextafter", input)
    require_tensor("nextafter", other, "other", 2)
    a, b = _operands(input, other, "nextafter")
    if not _dtype.is_float_array(a._data):
        raise _not_implemented("nextafter", a)
    try:
        return NextAfter.apply(a, b)
    except ValueError:
        raise broadcast_error("nextafter", a, b) from None


class NextAfter(Function):
    """nextafter moves ``input`` by one ulp: torch passes the gradient to ``input`` unchanged
    and gives ``other`` a zero gradient."""

    @staticmethod
    def forward(ctx, a, b):
        return array_module(a._data).nextafter(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            unbroadcast(grad, ctx.input_shape(0)) if need[0] else None,
            unbroadcast(grad * 0, ctx.input_shape(1)) if need[1] else None,
        )


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """The step function: 0 where input < 0, ``values`` where input == 0, 1 where input > 0."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    a, v = _operands(input, values, "heaviside")
    xp = array_module(a._data)
    try:
        out = xp.where(a._data == 0, v._data, (a._data > 0).astype(a._data.dtype))
    except ValueError:
        raise broadcast_error("heaviside", a, v) from None
    return _make(out.astype(a._data.dtype, copy=False))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each element of ``elements`` occurs in ``test_elements`` (either may be a number)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin() received an invalid combination of arguments - got (Number, Number)")
    a, b = _operands(elements, test_elements, "isin")
    xp = array_module(a._data)
    return _make(xp.isin(a._data, b._data.reshape(-1), assume_unique=assume_unique, invert=invert))


def isreal(input: Tensor) -> Tensor:
    """Whether each element is real: True everywhere for real dtypes; for complex ones, where
    the imaginary part is zero."""
    arr = input._data
    xp = array_module(arr)
    if arr.dtype.kind == "c":
        return _make(xp.imag(arr) == 0)
    return _make(xp.ones(arr.shape, dtype=bool))


def positive(input: Tensor) -> Tensor:
    """``+input``: the input itself (bool tensors raise, as in torch)."""
    if input._data.dtype == bool:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def fill(input: Tensor, value) -> Tensor:
    """A tensor like ``input`` filled with ``value`` (a number or a 0-d tensor, whose gradient is
    the sum of the output's; ``input`` gets a zero gradient), as ``input.clone().fill_(value)``."""
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value._data.ndim} dimensions.")
    return Fill.apply(input, value)


class Fill(Function):
    @staticmethod
    def forward(ctx, a, value):
        xp = array_module(a._data)
        v = value._data if isinstance(value, Tensor) else value
        out = xp.empty(a._data.shape, dtype=a._data.dtype)
        out[...] = v
        return out

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        g_value = None
        if need[1]:  # every output element is the value: its gradient is their sum (0-d, its dtype)
            total = B.sum(grad, tuple(range(len(ctx.input_shape(0)))), keepdim=True).reshape(())
            g_value = B.cast(total, ctx._input_meta[1][1])
        return (grad * 0 if need[0] else None), g_value


def bitwise_not(input: Tensor) -> Tensor:
    if _dtype.is_float_array(input._data):
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


class NanToNum(Function):
    """NaN and infinities replaced by numbers; the gradient flows where the input was finite."""

    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        ctx.save_for_backward(a)
        return array_module(a._data).nan_to_num(a._data, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return B.where(B.isfinite(a), grad, 0.0), None, None, None


def nan_to_num(input: Tensor, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    if not _dtype.is_float_array(input._data):
        return input.clone()
    return NanToNum.apply(input, nan, posinf, neginf)


sgn = sign


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and elements."""
    return input._data.shape == other._data.shape and bool(array_module(input._data).array_equal(input._data, other._data))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    return bool(array_module(input._data).allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    return _make(array_module(input._data).isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))
