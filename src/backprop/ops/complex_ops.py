"""Complex-number ops: real/imag parts, conjugation, angle, polar form, real<->complex views.

Gradients follow torch's convention: for a real loss ``L`` of a complex ``z = x + iy`` the
gradient is ``dL/dx + i dL/dy`` (the conjugate Wirtinger derivative, times two), so a
holomorphic ``f`` propagates ``grad * conj(f'(z))`` and a real input takes the real part of
what reaches it. backprop has no lazy conjugate/negative bits: ``conj`` materializes (like
``conj_physical``), so ``is_conj``/``is_neg`` are always False and ``resolve_*`` return their
input.
"""

from __future__ import annotations

import warnings

import numpy

from .. import _dtype
from .._autocast import autocast_op
from .._backend import array_module
from .._tensor import Tensor, _make
from ..autograd.function import Function
from . import _backward as B
from ._utils import broadcast_error, require_tensor, unbroadcast
from .inplace import write_out


def _type_name(t: Tensor) -> str:
    from .elementwise import _TORCH_TYPE_NAMES

    return _TORCH_TYPE_NAMES.get(t.dtype.name, t.dtype.name)


def _require_tensor(op: str, x, arg: str = "input") -> None:
    require_tensor(op, x, arg)


# ---------------------------------------------------------------------------- primitives
class ConjPhysical(Function):
    @staticmethod
    def forward(ctx, a):
        return array_module(a._data).conj(a._data)

    @staticmethod
    def backward(ctx, grad):
        return B.conj(grad)


class Real(Function):
    @staticmethod
    def forward(ctx, a):
        return a._data.real

    @staticmethod
    def backward(ctx, grad):
        return B.cast(grad, ctx._input_meta[0][1])  # real grad -> complex, imaginary part zero


class Imag(Function):
    @staticmethod
    def forward(ctx, a):
        return a._data.imag

    @staticmethod
    def backward(ctx, grad):
        return B.cast(grad, ctx._input_meta[0][1]) * 1j  # L depends on y: dL/dz-bar is i dL/dy


class Complex(Function):
    @staticmethod
    def forward(ctx, re, im):
        return _pack(*array_module(re._data).broadcast_arrays(re._data, im._data))

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            unbroadcast(B.real(grad), ctx.input_shape(0)) if need[0] else None,
            unbroadcast(imag(grad) if isinstance(grad, Tensor) else grad.imag, ctx.input_shape(1)) if need[1] else None,
        )


def _abs(x):
    if isinstance(x, Tensor):
        from .elementwise import abs as tensor_abs

        return tensor_abs(x)
    return array_module(x).abs(x)


class Polar(Function):
    """``abs * e^(i angle)``; torch's gradient treats ``abs`` as a magnitude: d/d(abs) is the
    phase ``sgn(result)`` (which flips sign where ``abs`` is negative), d/d(angle) is ``i result``."""

    @staticmethod
    def forward(ctx, r, theta):
        xp = array_module(r._data)
        out = Complex.forward(None, _make(r._data * xp.cos(theta._data)), _make(r._data * xp.sin(theta._data)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gt = None
        if not isinstance(grad, Tensor):  # arrays: NumPy's 0-d arithmetic gives scalars, kept as arrays
            xp = array_module(out)
            g = xp.conj(grad)
            mag = xp.abs(out)
            if need[0]:
                ga = unbroadcast(xp.asarray(xp.real(g * xp.where(mag == 0, 0, out / xp.where(mag == 0, 1, mag)))), ctx.input_shape(0))
            if need[1]:
                gt = unbroadcast(xp.asarray(xp.real(g * out * 1j)), ctx.input_shape(1))
            return ga, gt
        g = B.conj(grad)
        if need[0]:
            mag = _abs(out)
            sgn = B.where(mag == 0, 0.0, out / B.cast(mag, ctx._output_meta[0][1]))
            ga = unbroadcast(B.real(g * sgn), ctx.input_shape(0))
        if need[1]:
            gt = unbroadcast(B.real(g * out * 1j), ctx.input_shape(1))
        return ga, gt


class AbsComplex(Function):
    """|z| of a complex tensor (a real result); its gradient is ``grad * z / |z|`` (0 at 0)."""

    @staticmethod
    def forward(ctx, a):
        out = array_module(a._data).abs(a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        if not isinstance(grad, Tensor):  # arrays (kept arrays where NumPy's 0-d arithmetic gives scalars)
            xp = array_module(a)
            return xp.asarray(xp.where(out == 0, 0, grad * a / xp.where(out == 0, 1, out))).astype(a.dtype, copy=False)
        return B.where(out == 0, 0.0, B.cast(grad, ctx._input_meta[0][1]) * a / B.cast(out, ctx._input_meta[0][1]))


class Angle(Function):
    """The argument of a complex number (0 or pi for reals); torch's gradient ``grad * i z / |z|^2``
    for complex inputs, zero for real ones."""

    @staticmethod
    def forward(ctx, a):
        arr = a._data
        xp = array_module(arr)
        ctx.save_for_backward(a)
        if arr.dtype.kind == "c":
            return xp.angle(arr)
        return xp.where(arr < 0, numpy.pi, xp.where(xp.isnan(arr), arr, 0)).astype(arr.dtype)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if (a.dtype if not isinstance(a, Tensor) else a._data.dtype).kind != "c":
            return grad * 0
        cdt = ctx._input_meta[0][1]
        if not isinstance(grad, Tensor):
            xp = array_module(a)
            mag2 = (a * a.conj()).real
            return xp.asarray(xp.where(mag2 == 0, 0, grad * a / xp.where(mag2 == 0, 1, mag2) * 1j)).astype(cdt, copy=False)
        mag2 = B.real(a * B.conj(a))
        return B.where(mag2 == 0, 0.0, B.cast(grad, cdt) * a / B.cast(mag2, cdt) * 1j)


class ViewAsReal(Function):
    @staticmethod
    def forward(ctx, a):
        arr = a._data
        xp = array_module(arr)
        real_dtype = arr.real.dtype
        if arr.ndim and arr.strides[-1] == arr.itemsize or arr.ndim == 0:
            try:  # a view sharing storage, like torch's
                return arr.reshape(arr.shape + (1,)).view(real_dtype)
            except (ValueError, TypeError):
                pass
        return xp.stack([arr.real, arr.imag], axis=-1)

    @staticmethod
    def backward(ctx, grad):
        return view_as_complex(grad) if isinstance(grad, Tensor) else _as_complex_array(grad)


def _pack(re, im):
    """The complex array ``re + i im`` (same shapes and real dtype), exact for infinities too:
    the parts side by side in a contiguous (..., 2) array, viewed as complex."""
    xp = array_module(re)
    pairs = xp.stack([re, im], axis=-1)
    return pairs.view(numpy.result_type(re.dtype, numpy.complex64))[..., 0]


def _as_complex_array(arr):
    return _pack(arr[..., 0], arr[..., 1])


class ViewAsComplex(Function):
    @staticmethod
    def forward(ctx, a):
        arr = a._data
        if arr.flags.c_contiguous:
            try:
                return arr.view(numpy.result_type(arr.dtype, numpy.complex64)).reshape(arr.shape[:-1])
            except (ValueError, TypeError):
                pass
        return _as_complex_array(arr)

    @staticmethod
    def backward(ctx, grad):
        return view_as_real(grad) if isinstance(grad, Tensor) else ViewAsReal.forward(None, _make(grad))


# ---------------------------------------------------------------------------- public ops
def conj_physical(input: Tensor) -> Tensor:
    """The complex conjugate, materialized; a real tensor's is a copy of itself."""
    _require_tensor("conj_physical", input)
    if input._data.dtype.kind != "c":
        from .elementwise import clone

        return clone(input)
    return ConjPhysical.apply(input)


def conj(input: Tensor) -> Tensor:
    """The complex conjugate (torch's is a lazy view; here a copy); a real tensor is returned as is."""
    _require_tensor("conj", input)
    if input._data.dtype.kind != "c":
        return input
    return ConjPhysical.apply(input)


def resolve_conj(input: Tensor) -> Tensor:
    """Materialize a lazy conjugation: backprop's conj is never lazy, so ``input`` itself."""
    _require_tensor("resolve_conj", input)
    return input


def resolve_neg(input: Tensor) -> Tensor:
    """Materialize a lazy negation: backprop has none, so ``input`` itself."""
    _require_tensor("resolve_neg", input)
    return input


def is_conj(input: Tensor) -> bool:
    return False


def is_neg(input: Tensor) -> bool:
    return False


def real(input: Tensor) -> Tensor:
    """The real part (a real tensor is returned as is)."""
    _require_tensor("real", input)
    if input._data.dtype.kind != "c":
        return input
    return Real.apply(input)


def imag(input: Tensor) -> Tensor:
    """The imaginary part of a complex tensor."""
    _require_tensor("imag", input)
    if input._data.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return Imag.apply(input)


def angle(input: Tensor) -> Tensor:
    """The elementwise argument (radians); integers give the default float dtype."""
    _require_tensor("angle", input)
    if input._data.dtype.kind in "iub":
        input = _make(input._data.astype(_dtype._default_float.np))
    return Angle.apply(input)


def abs_complex(input: Tensor) -> Tensor:
    return AbsComplex.apply(input)


def sgn(input: Tensor) -> Tensor:
    """``z / |z|`` (0 at 0) for complex tensors; ``sign`` for real ones."""
    from .elementwise import sign, where

    _require_tensor("sgn", input)
    if input._data.dtype.kind != "c":
        return sign(input)
    mag = abs_complex(input)
    zero = mag == 0
    safe = where(zero, 1.0, mag)  # no 0/0 in the gradient of the branch where() drops
    return where(zero, 0.0, input / safe)


def _check_parts(op: str, a: Tensor, b: Tensor) -> None:
    for name, t in (("abs" if op == "polar" else "real", a), ("angle" if op == "polar" else "imag", b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if a._data.dtype.kind not in "fV" or b._data.dtype.kind not in "fV":
        raise RuntimeError(
            f"Expected both inputs to be Half, Float or Double tensors but got {_type_name(a)} and {_type_name(b)}"
        )
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"Expected object of scalar type {_type_name(a)} but got scalar type {_type_name(b)} for second argument"
        )
    if a._data.dtype.kind == "V" or a._data.dtype == numpy.float16:
        raise RuntimeError(f"{op}(): {a.dtype} has no complex counterpart in NumPy (complex32 is not supported)")


def _into(result: Tensor, out: Tensor | None) -> Tensor:
    if out is None:
        return result
    if out._data.dtype != result._data.dtype:
        raise RuntimeError(
            f"Expected object of scalar type {_type_name(result)} but got scalar type {_type_name(out)} for argument 'out'"
        )
    return write_out(result, out, "complex")


def complex(real: Tensor, imag: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A001 - torch's name
    """The complex tensor ``real + i imag`` (float32 -> complex64, float64 -> complex128), broadcast."""
    _check_parts("complex", real, imag)
    try:
        return _into(Complex.apply(real, imag), out)
    except ValueError:
        raise broadcast_error("complex", real, imag) from None


@autocast_op("polar")
def polar(abs: Tensor, angle: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002 - torch's names
    """``abs * (cos(angle) + i sin(angle))``."""
    _check_parts("polar", abs, angle)
    try:
        return _into(Polar.apply(abs, angle), out)
    except ValueError:
        raise broadcast_error("polar", abs, angle) from None


def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor as a real one with a last dimension of 2 (real, imaginary)."""
    _require_tensor("view_as_real", input)
    if input._data.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return ViewAsReal.apply(input)


@autocast_op("view_as_complex")
def view_as_complex(input: Tensor) -> Tensor:
    """A real tensor whose last dimension is 2 (real, imaginary) as a complex one."""
    _require_tensor("view_as_complex", input)
    arr = input._data
    if arr.dtype not in (numpy.float32, numpy.float64):
        raise RuntimeError(
            f"view_as_complex is only supported for float and double tensors, but got a tensor of scalar type: {input.dtype}"
        )
    if arr.ndim == 0 or arr.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    item = arr.itemsize
    if arr.strides[-1] != item:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any((s // item) % 2 for s, n in zip(arr.strides[:-1], arr.shape[:-1]) if n > 1):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    return ViewAsComplex.apply(input)


def to_real_warning() -> None:
    warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=3)
