"""Fused neural-network primitives: softmax, GELU, LayerNorm, BatchNorm, ...

Fused because the composed versions make many passes (and softmax overflows without the
max-shift). Each is written once for any array module; where a device has a faster kernel
(``backend_of(x).kernels``: CUDA's are in ``_backend/cuda_kernels.py``), the op calls it by name
instead (``_fused``). Backward formulas follow the one-formula rule of ``_backward.py``: either one
expression in ``B`` helpers serving arrays and Tensors alike (softmax), or, for the fused
closed forms (GELU, LayerNorm, BatchNorm), an array formula for ``.backward()`` plus
``B.composite_vjp`` of the op's decomposition into primitives under ``create_graph``.
"""

from __future__ import annotations

import math
import warnings

import numpy

from .._autocast import autocast_op
from .._backend import array_module, backend_of
from .._tensor import Tensor
from ..autograd.function import Function
from . import _backward as B
from . import elementwise as ew
from . import reduction as red
from ._utils import as_float, normalize_dim, ones_vector, row_sums


def _fused(array, name: str):
    """The fused kernel ``name`` of ``array``'s device, or None: then the array code here serves."""
    return backend_of(array).kernel(name, array)


def _softmax_forward(x, dim: int, log: bool):
    """softmax (``log``: log_softmax) of array ``x`` along ``dim``, max-shifted; one row kernel on CUDA."""
    if x.dtype.kind == "V":  # bfloat16: computed in float32 and rounded once, as torch
        return _softmax_forward(x.astype(numpy.float32), dim, log).astype(x.dtype)
    kernel = _fused(x, "softmax_forward")
    if kernel is not None:
        return kernel(x, dim, log)
    xp = array_module(x)
    shifted = x - xp.max(x, axis=dim, keepdims=True) if x.size else x
    if log:
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
    e = xp.exp(shifted)
    e /= xp.sum(e, axis=dim, keepdims=True)
    return e


def _softmax_backward(out, grad, dim: int, log: bool):
    """The gradient from the forward's output: softmax ``out * (g - sum(g out))``, log_softmax
    ``g - exp(out) sum(g)`` (one formula for arrays and Tensors; a row kernel on CUDA arrays)."""
    if B.is_array(grad):
        if grad.dtype.kind == "V":  # bfloat16: computed in float32 and rounded once, as torch
            f32 = numpy.float32
            return _softmax_backward(out.astype(f32), grad.astype(f32), dim, log).astype(grad.dtype)
        kernel = _fused(grad, "softmax_backward")
        if kernel is not None:
            return kernel(out, grad, dim, log)
        if not log and dim in (-1, grad.ndim - 1):  # sum(g out) as one einsum pass over the rows
            gx = grad - array_module(grad).einsum("...i,...i->...", grad, out)[..., None]
            gx *= out
            return gx
    if log:
        return grad - B.exp(out) * B.sum(grad, dim, keepdim=True)
    return out * (grad - B.sum(grad * out, dim, keepdim=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        out = _softmax_forward(a._data, dim, False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _softmax_backward(out, grad, ctx.dim, False), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        out = _softmax_forward(a._data, dim, True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return _softmax_backward(out, grad, ctx.dim, True), None


def _softmax_dim(ndim: int, dim, name: str) -> int:
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
        dim = 0 if ndim in (0, 1, 3) else 1
    return normalize_dim(dim, ndim, name)


def _prepare(input: Tensor, dtype, op: str = "softmax", dim=None) -> Tensor:
    """``input`` in ``dtype`` when given; an integer or bool input without one has no kernel in
    torch (NotImplementedError naming the kernel: the last dim's or the general one)."""
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind in "biu":
        from .elementwise import _TORCH_TYPE_NAMES

        ndim = input._data.ndim
        last = dim is None or ndim == 0 or normalize_dim(dim, ndim, op) == ndim - 1
        kernel = f"{op}_lastdim_kernel_impl" if last else f"{op}_kernel_impl"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_TORCH_TYPE_NAMES[input._data.dtype.name]}'")
    return as_float(input)


@autocast_op("softmax")
def softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = _prepare(input, dtype, "softmax", dim)
    if x._data.ndim == 0:
        return Softmax.apply(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, _softmax_dim(x._data.ndim, dim, "softmax"))


@autocast_op("log_softmax")
def log_softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = _prepare(input, dtype, "log_softmax", dim)
    if x._data.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), 0).reshape(())
    return LogSoftmax.apply(x, _softmax_dim(x._data.ndim, dim, "log_softmax"))


# ---------------------------------------------------------------------------- fused with exact gradients
# These are primitives rather than compositions because the composed forms either overflow
# (exp of large logits) or get the gradient wrong at a kink (|x| and max(x, 0) at 0).


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, linear above ``threshold``; gradient sigmoid(beta x)."""

    @staticmethod
    def forward(ctx, a, beta, threshold):
        x = a._data
        xp = array_module(x)
        bx = x * beta
        ctx.save_for_backward(a)
        ctx.beta = beta
        ctx.threshold = threshold
        return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        bx = a * ctx.beta
        return B.where(bx > ctx.threshold, grad, grad * B.sigmoid(bx)), None, None


_NEGATIVE_SLOPE_INPLACE = (
    "In-place {op} backward calculation is triggered with a negative slope which is not supported. This is caused "
    "by calling in-place forward function with a negative slope, please call out-of-place version instead."
)


def _opmath(dtype):
    """The dtype torch's CPU kernels compute a half/bfloat16 activation in: float32 (rounded once)."""
    return numpy.float32 if dtype.kind == "V" or dtype == numpy.float16 else None


def _as_opmath(x):
    """The array ``x`` as its activation computes on it: float32 for half/bfloat16, else itself."""
    return x if _opmath(x.dtype) is None else x.astype(numpy.float32)


def _in_opmath(fn, grad, saved):
    """A backward formula ``fn(grad, saved)`` for half/bfloat16 values in float32, rounded once."""
    dtype = saved.dtype if B.is_raw(saved) else saved._data.dtype
    if _opmath(dtype) is None:
        return fn(grad, saved)
    return B.cast(fn(B.cast(grad, numpy.float32), B.cast(saved, numpy.float32)), dtype)


class LeakyRelu(Function):
    """x where x > 0, else ``slope * x``.

    Out of place the gradient is computed from the input (saved); in place (``result=True``,
    see ``ops.inplace.apply_inplace``) from the output, which then is the modified tensor itself:
    the sign of x is the sign of the output when ``slope >= 0``. A negative slope in place raises
    at backward, as torch does.
    """

    inplace_saves_output = True  # with result=True (see Function)

    @staticmethod
    def forward(ctx, a, slope, result=False):
        x = a._data
        xf = _as_opmath(x)
        out = array_module(x).where(xf > 0, xf, xf * slope).astype(x.dtype, copy=False)
        ctx.slope = slope
        ctx.result = result
        ctx.save_for_backward(out if result else a)
        return out

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        if ctx.result and ctx.slope < 0:
            raise RuntimeError(_NEGATIVE_SLOPE_INPLACE.format(op="leakyReLu"))
        slope = ctx.slope
        return _in_opmath(lambda g, s: B.where(s > 0, g, g * slope), grad, saved), None, None


class Elu(Function):
    """``scale * x`` where x > 0, else ``alpha * scale * (exp(input_scale * x) - 1)``: elu, celu
    (``input_scale = 1 / alpha``) and selu (fixed alpha and scale).

    As ``LeakyRelu``: in place (``result=True``) the gradient comes from the output,
    ``input_scale * (out + alpha * scale)`` for x <= 0, valid for ``alpha >= 0``.
    """

    inplace_saves_output = True  # with result=True (see Function)

    @staticmethod
    def forward(ctx, a, alpha, scale, input_scale, result=False):
        x = a._data
        xp = array_module(x)
        xf = _as_opmath(x)
        neg = xp.expm1(xp.minimum(xf, 0) * input_scale) * (alpha * scale)  # exp of x <= 0 only: finite
        out = xp.where(xf > 0, xf * scale, neg).astype(x.dtype, copy=False)
        ctx.coefs = (alpha, scale, input_scale)
        ctx.result = result
        ctx.save_for_backward(out if result else a)
        return out

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        alpha, scale, input_scale = ctx.coefs
        if ctx.result and alpha < 0:
            raise RuntimeError(_NEGATIVE_SLOPE_INPLACE.format(op="elu"))
        result = ctx.result

        def formula(g, s):
            if result:  # s is the output
                neg = g * ((s + alpha * scale) * input_scale)
            else:
                neg = g * (B.exp(B.clamp(s, max=0.0) * input_scale) * (alpha * scale * input_scale))
            return B.where(s > 0, g * scale, neg)

        return _in_opmath(formula, grad, saved), None, None, None, None


class Hardswish(Function):
    """``x * clamp(x + 3, 0, 6) / 6``; gradient 0 for x <= -3, ``x / 3 + 1/2`` below 3, 1 from 3
    (torch's choice at the two kinks). Saves its input: in place it keeps a copy of it."""

    @staticmethod
    def forward(ctx, a):
        x = a._data
        xf = _as_opmath(x)
        ctx.save_for_backward(a)
        return (xf * array_module(x).clip(xf + 3.0, 0.0, 6.0) / 6.0).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        return _in_opmath(lambda g, s: B.where(s <= -3.0, 0.0, B.where(s < 3.0, g * (s / 3.0 + 0.5), g)), grad, saved)


# torch's hardsigmoid backward multiplies by a float32 1/6, also for float64
_SIXTH_F32 = float(numpy.float32(1.0 / 6.0))


class Hardsigmoid(Function):
    """``clamp(x + 3, 0, 6) / 6``; gradient 1/6 strictly between -3 and 3 (torch's choice at the kinks)."""

    @staticmethod
    def forward(ctx, a):
        x = a._data
        xf = _as_opmath(x)
        ctx.save_for_backward(a)
        return (array_module(x).clip(xf + 3.0, 0.0, 6.0) / 6.0).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        return _in_opmath(lambda g, s: B.where((s > -3.0) & (s < 3.0), g * _SIXTH_F32, 0.0), grad, saved)


class BinaryCrossEntropy(Function):
    """-w (t log x + (1 - t) log(1 - x)), logs clamped at -100 as torch does (elementwise, unreduced)."""

    @staticmethod
    def forward(ctx, x, t, w):
        xa, ta = x._data, t._data
        backend = backend_of(xa)
        xp = backend.xp
        log_x = xp.maximum(xp.log(xa), -100)
        log_1mx = xp.maximum(xp.log1p(-xa), -100)
        loss = -(ta * log_x + (1 - ta) * log_1mx)
        if w is not None:
            loss = loss * w._data
        ctx.save_for_backward(x, t, w)
        return loss.astype(xa.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, t, w = ctx.saved_tensors
        g = grad * (x - t) / B.clamp((1 - x) * x, min=1e-12)
        if w is not None:
            g = g * w
        gt = None
        if ctx.needs_input_grad[1]:
            gt = grad * (B.log(B.clamp(1 - x, min=1e-45)) - B.log(B.clamp(x, min=1e-45)))
            gt = gt * w if w is not None else gt
        return g, gt, None


class BinaryCrossEntropyWithLogits(Function):
    """Stable BCE on logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x) (elementwise, unreduced)."""

    @staticmethod
    def forward(ctx, x, t, w, pos_weight):
        xa, ta = x._data, t._data
        xp = array_module(xa)
        softplus_neg = xp.logaddexp(0, -xa)
        if pos_weight is not None:
            coef = 1 + (pos_weight._data - 1) * ta
            loss = (1 - ta) * xa + coef * softplus_neg
        else:
            loss = (1 - ta) * xa + softplus_neg
        if w is not None:
            loss = loss * w._data
        ctx.save_for_backward(x, t, w, pos_weight)
        return loss.astype(xa.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, t, w, pw = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gt = None
        if pw is None:
            if need[0]:
                gx = grad * (B.sigmoid(x) - t)
        elif need[0]:
            coef = (pw - 1) * t + 1
            gx = grad * ((1 - t) - coef * B.sigmoid(-x))
        if need[1]:
            if pw is None:
                gt = grad * -x
            else:
                gt = grad * ((pw - 1) * B.call(Softplus, -x, 1.0, 20.0) - x)
        if w is not None:
            gx = gx * w if gx is not None else None
            gt = gt * w if gt is not None else None
        return gx, gt, None, None


class Embedding(Function):
    """Rows of ``weight`` picked by integer ``indices``; the gradient adds back into those rows."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.indices = indices
        ctx.padding_idx = padding_idx
        return weight._data[indices]

    @staticmethod
    def backward(ctx, grad):
        num = ctx.input_shape(0)[0]
        return B.call(EmbeddingBackward, grad, ctx.indices, num, ctx.padding_idx), None, None


_ONE_HOT_MAX = 2**22  # elements of the one-hot matrix EmbeddingBackward may build (16 MiB float32)


class EmbeddingBackward(Function):
    @staticmethod
    def forward(ctx, grad, indices, num_weights, padding_idx):
        ctx.indices = indices
        ctx.padding_idx = padding_idx
        g = grad._data
        xp = array_module(g)
        dim = g.shape[-1]
        flat = indices.reshape(-1)
        rows = g.reshape(-1, dim)
        if num_weights * flat.size <= _ONE_HOT_MAX:
            # Small vocabularies: one-hot (V, N) @ (N, D) is one GEMM, 4-8x faster than add.at.
            one_hot = xp.zeros((num_weights, flat.size), dtype=g.dtype)
            one_hot[flat, xp.arange(flat.size)] = 1
            out = one_hot @ rows
        else:
            out = xp.zeros((num_weights, dim), dtype=g.dtype)
            backend_of(out).ufunc_at("add", out, flat, rows)
        if padding_idx is not None:
            out[padding_idx] = 0
        return out

    @staticmethod
    def backward(ctx, gg):
        return B.call(Embedding, gg, ctx.indices, None), None, None, None


class ConstantPad(Function):
    """Constant padding with per-side widths ((before, after) per dim); negative widths crop."""

    @staticmethod
    def forward(ctx, a, widths, value):
        arr = a._data
        crop = tuple(
            slice(-min(b, 0) or None, (arr.shape[i] + min(e, 0)) if e < 0 else None) for i, (b, e) in enumerate(widths)
        )
        arr = arr[crop]
        pos = tuple((max(b, 0), max(e, 0)) for b, e in widths)
        ctx.widths = widths
        ctx.inner = tuple(slice(b, b + s) for (b, _), s in zip(pos, arr.shape))
        return array_module(arr).pad(arr, pos, constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        neg = tuple((-b, -e) for b, e in ctx.widths)
        return B.call(ConstantPad, grad, neg, 0.0), None, None


_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


_PHI_LO, _PHI_STEPS_PER_UNIT, _PHI_N = -5.75, 2048, 23552  # grid over [-5.75, 5.75): Phi saturates beyond
def _phi_knots() -> tuple:
    """Phi at the grid's knots (SciPy's float64 ndtr, on the host): values and slopes in float32."""
    grid = _PHI_LO + numpy.arange(_PHI_N + 1) / _PHI_STEPS_PER_UNIT
    knots = backend_of(grid).scipy("special").ndtr(grid)
    return knots[:-1].astype(numpy.float32), numpy.diff(knots).astype(numpy.float32)


def _phi_table(x, out):
    """The standard normal CDF Phi(x) of a float32 chunk, by linear interpolation in a table
    built once with SciPy's float64 ndtr (max error ~4e-7), written into ``out``. Measured on
    1M float32 elements (2 shared cores): 3.2 ms against 20.0 ms for ``scipy.special.ndtr``,
    so exact GELU keeps the table."""
    backend = backend_of(x)
    xp = backend.xp
    with backend.errstate(invalid="ignore"):
        pos = x - numpy.float32(_PHI_LO)
        pos *= numpy.float32(_PHI_STEPS_PER_UNIT)
        xp.clip(pos, 0, numpy.float32(_PHI_N - 0.001), out=pos)
    return ew.interpolate(*ew.device_table("phi", _phi_knots, x), pos, out=out)


class Gelu(Function):
    """GELU, exact (x * Phi(x)) or ``approximate='tanh'``, fused: forward and backward are a
    few array passes over cache-sized chunks (one kernel each on CUDA). Under ``create_graph``
    the backward differentiates the composition ``_gelu_composite`` instead."""

    @staticmethod
    def forward(ctx, a, approximate):
        x = a._data
        ctx.approximate = approximate
        ctx.save_for_backward(a)
        kernel = _fused(x, "gelu_forward")
        out, ctx.aux = kernel(x, approximate) if kernel is not None else _gelu_forward(x, approximate)
        return out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if not B.is_array(grad):  # create_graph: the derivative of the composition
            return B.composite_vjp(_gelu_composite, (a, ctx.approximate), grad, ctx.needs_input_grad)
        kernel = _fused(grad, "gelu_backward")
        if kernel is not None:
            return kernel(a, ctx.aux, grad, ctx.approximate), None
        return _gelu_backward(a, ctx.aux, grad, ctx.approximate), None


def _gelu_composite(x, approximate: str):
    """GELU written with primitives (what ``Gelu`` computes, for ``composite_vjp``)."""
    if approximate == "tanh":
        return x * 0.5 * (ew.tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI) + 1)
    return x * 0.5 * (ew.erf(x * _INV_SQRT_2) + 1)


def _gelu_forward(x, approximate: str):
    """GELU of array ``x`` and the value backward needs: Phi(x) (exact) or tanh(inner)."""
    backend = backend_of(x)
    xp = backend.xp
    flat = x.reshape(-1)
    out = xp.empty_like(flat)
    aux = xp.empty_like(flat)  # Phi(x) (exact) or tanh(inner) (approximation), for backward
    for sl in ew.passes(backend, flat.size):
        part = flat[sl]
        if approximate == "tanh":
            t = part * part
            t *= 0.044715
            t += 1
            t *= part
            t *= _SQRT_2_OVER_PI
            xp.tanh(t, out=aux[sl])
            res = aux[sl] + 1
        elif part.dtype == numpy.float32:
            xp.multiply(_phi_table(part, out=aux[sl]), part, out=out[sl])
            continue
        else:
            cdf = ew._erf_array(part * xp.asarray(_INV_SQRT_2, dtype=part.dtype))
            cdf += 1
            cdf *= 0.5
            aux[sl] = cdf
            res = cdf
        res *= part
        if approximate == "tanh":
            res *= 0.5
        out[sl] = res
    return out.reshape(x.shape), aux


def _gelu_backward(a, aux, grad, approximate: str):
    """The gradient of ``_gelu_forward``: ``grad * GELU'(a)``, from ``a`` and its ``aux``."""
    backend = backend_of(grad)
    xp = backend.xp
    x, g = a.reshape(-1), grad.reshape(-1)
    out = xp.empty_like(x)
    for sl in ew.passes(backend, x.size):
        part, au = x[sl], aux[sl]
        d = part * part
        if approximate == "tanh":
            # d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)
            d *= 3 * 0.044715
            d += 1
            d *= _SQRT_2_OVER_PI * 0.5
            d *= part
            d *= 1 - au * au
            d += 0.5 * (1 + au)
        else:
            # d/dx x Phi(x) = Phi(x) + x phi(x)
            d *= -0.5
            xp.exp(d, out=d)
            d *= _INV_SQRT_2PI
            d *= part
            d += au
        xp.multiply(d, g[sl], out=out[sl])
    return out.reshape(a.shape)


def gelu(input, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    from ._utils import as_float

    return Gelu.apply(as_float(input), approximate)


# ---------------------------------------------------------------------------- normalization
_WIDE_COLUMNS = 1024  # a row width at which NumPy's inner loops reach memory speed


class _ChannelLayout:
    """How per-channel work walks an (N, C, ...) array.

    NumPy's inner loop runs along the last memory axis. With channels-last memory (what our
    convolutions produce) or 2-D input that axis is C, often only 16-64 wide, so column sums and
    broadcasts crawl. Folding k rows into one gives a (rows/k, k*C) matrix whose loops run k*C
    wide, with per-channel vectors tiled k times: 2-8x faster. Other layouts use the array
    itself with vectors shaped (1, C, 1, ...).
    """

    __slots__ = ("c", "k", "channels_last_shape", "ndim", "xp")

    def __init__(self, a) -> None:
        self.ndim, self.c = a.ndim, a.shape[1]
        self.xp = xp = array_module(a)
        moved = xp.moveaxis(a, 1, -1)
        if a.ndim == 2 or moved.flags.c_contiguous:
            self.channels_last_shape = moved.shape
            rows = a.size // max(self.c, 1)
            self.k = math.gcd(rows, max(1, _WIDE_COLUMNS // max(self.c, 1)))
        else:
            self.channels_last_shape = None
            self.k = 0

    def view(self, a):
        """``a`` (same shape as the input) as the work array; copies only a differently laid out ``a``."""
        if self.channels_last_shape is None:
            return a
        xp = self.xp
        moved = xp.moveaxis(a, 1, -1)
        if not moved.flags.c_contiguous:
            moved = xp.ascontiguousarray(moved)
        return moved.reshape(-1, self.k * self.c)

    def vec(self, v):
        """A (C,) vector that broadcasts against work arrays."""
        if self.channels_last_shape is None:
            return v.reshape((1, -1) + (1,) * (self.ndim - 2))
        return self.xp.tile(v, self.k) if self.k > 1 else v

    def sum(self, work, other=None):
        """Per-channel sum of a work array (or of ``work * other``), as a (C,) array."""
        if self.channels_last_shape is None:
            n = work.shape[0]
            if other is None:
                return work.reshape(n, self.c, -1).sum(axis=(0, 2))
            return self.xp.einsum("ncl,ncl->c", work.reshape(n, self.c, -1), other.reshape(n, self.c, -1))
        partial = work.sum(axis=0) if other is None else self.xp.einsum("ij,ij->j", work, other)
        return partial.reshape(self.k, self.c).sum(axis=0) if self.k > 1 else partial

    def restore(self, work):
        """A work array back in the input's shape (a view)."""
        if self.channels_last_shape is None:
            return work
        return self.xp.moveaxis(work.reshape(self.channels_last_shape), -1, 1)


def _channels_last_rows(a):
    """An (N, C, ...) array as the C-contiguous (rows, C) array of its channels-last memory (a
    view where the memory is channels-last, else a copy)."""
    xp = array_module(a)
    return xp.ascontiguousarray(xp.moveaxis(a, 1, -1)).reshape(-1, a.shape[1])


class BatchNorm(Function):
    """Batch normalization in a few array passes: batch statistics when ``training``, else the
    given running statistics. Backward is the closed form; under ``create_graph`` it
    differentiates the composition ``_batch_norm_composite`` instead."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean_or_running, var_or_running, training, eps, stats_dtype=None):
        a = x._data
        layout = _ChannelLayout(a)
        xp = layout.xp
        kernel = _fused(a, "batch_norm_forward") if layout.channels_last_shape is not None and stats_dtype is None else None
        ctx.training, ctx.eps, ctx.layout = training, eps, layout
        ctx.save_for_backward(
            x, weight, bias, mean_or_running if not training else None, var_or_running if not training else None
        )
        if kernel is not None:  # channels-last memory: fused passes; backward recomputes xhat
            w, b = (None if t is None else t._data for t in (weight, bias))
            running = (None, None) if training else (mean_or_running._data, var_or_running._data)
            out, mean, var, invstd = kernel(_channels_last_rows(a), w, b, *running, training, eps)
            ctx.xhat, ctx.mean, ctx.invstd = None, mean, invstd
            ctx.backward_kernel = backend_of(a).kernels.batch_norm_backward
            ctx.mark_non_differentiable(mean, var)
            return layout.restore(out), mean, var
        work = layout.view(a)
        count = a.size // max(layout.c, 1)
        if training:
            mean = layout.sum(work) / count
            centered = work - layout.vec(mean.astype(a.dtype, copy=False))
            var = layout.sum(centered, centered) / count
            if stats_dtype is not None:  # bfloat16 input: torch keeps its statistics in bfloat16
                mean_r = mean.astype(stats_dtype).astype(a.dtype)
                centered = work - layout.vec(mean_r)
        else:
            mean, var = mean_or_running._data, var_or_running._data
            centered = work - layout.vec(mean)
        invstd = (1.0 / xp.sqrt(var + eps)).astype(a.dtype, copy=False)
        if stats_dtype is not None and training:
            invstd = invstd.astype(stats_dtype).astype(a.dtype)
        xhat = centered
        xhat *= layout.vec(invstd)
        if weight is not None:
            out = xhat * layout.vec(weight._data)
        else:
            out = xhat.copy()
        if bias is not None:
            out += layout.vec(bias._data)
        ctx.count, ctx.xhat, ctx.invstd = count, xhat, invstd
        # The batch statistics come out too (not differentiable): the caller updates running stats.
        mean, var = xp.asarray(mean), xp.asarray(var)
        ctx.mark_non_differentiable(mean, var)
        return layout.restore(out), mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean=None, _grad_var=None):
        x, weight, bias, rmean, rvar = ctx.saved_tensors
        need = ctx.needs_input_grad
        if not B.is_array(grad):  # create_graph: the derivative of the composition
            inputs = (x, weight, bias, rmean, rvar, ctx.training, ctx.eps)
            return tuple(B.composite_vjp(_batch_norm_composite, inputs, grad, need[:7])) + (None,)
        xhat, invstd, layout = ctx.xhat, ctx.invstd, ctx.layout
        if xhat is None:  # the forward ran the fused kernel
            gx, gw, gb = ctx.backward_kernel(_channels_last_rows(x), _channels_last_rows(grad), ctx.mean, invstd, weight, ctx.training, need[0])
            gx = layout.restore(gx) if gx is not None else None
            return gx, gw if need[1] else None, gb if need[2] else None, None, None, None, None, None
        g = layout.view(grad)
        training = ctx.training
        gb = layout.sum(g) if need[2] or (need[0] and training) else None
        gw = layout.sum(g, xhat) if need[1] or (need[0] and training) else None
        gx = None
        if need[0]:
            scale = invstd if weight is None else invstd * weight
            if training:
                # d/dx of (x - mean) * invstd: (scale / M) * (M g - sum g - xhat sum(g xhat))
                gx = g - layout.vec(gb / ctx.count)
                gx -= xhat * layout.vec(gw / ctx.count)
                gx *= layout.vec(scale)
            else:
                gx = g * layout.vec(scale)
            gx = layout.restore(gx)
        return gx, gw if need[1] else None, gb if need[2] else None, None, None, None, None, None


def _batch_norm_composite(x, weight, bias, running_mean, running_var, training: bool, eps: float):
    """Batch normalization written with primitives (what ``BatchNorm`` computes, for
    ``composite_vjp``): batch statistics when training, else the running ones."""
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        centered = x - red.mean(x, dims, keepdim=True)
        invstd = ew.rsqrt(red.mean(centered * centered, dims, keepdim=True) + eps)
    else:
        centered = x - running_mean.reshape(shape)
        invstd = ew.rsqrt(running_var.reshape(shape) + eps)
    out = centered * invstd
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


class LayerNorm(Function):
    """Layer normalization over the trailing ``n_dims`` dims (``rms``: RMSNorm, no centering)
    in a few array passes, or one row kernel on CUDA; closed-form backward. Under
    ``create_graph`` the backward differentiates the composition ``_layer_norm_composite``."""

    @staticmethod
    def forward(ctx, x, weight, bias, n_dims, eps, rms=False):
        a = x._data
        rows = a.reshape(-1, math.prod(a.shape[a.ndim - n_dims :]) if n_dims else 1)
        w = weight._data.reshape(-1) if weight is not None else None
        b = bias._data.reshape(-1) if bias is not None else None
        ctx.n_dims, ctx.eps, ctx.rms = n_dims, eps, rms
        ctx.save_for_backward(x, weight, bias)
        kernel = _fused(a, "norm_rows_forward")
        if kernel is not None:  # the kernel keeps (mean, invstd) per row; backward recomputes xhat
            out, ctx.mean, ctx.invstd = kernel(rows, w, b, eps, rms)
            return out.reshape(a.shape)
        xp = array_module(a)
        centered = rows if rms else rows - row_sums(rows) / rows.shape[1]
        var = xp.einsum("ij,ij->i", centered, centered)[:, None] / rows.shape[1]
        invstd = (1.0 / xp.sqrt(var + eps)).astype(a.dtype, copy=False)
        if rms:
            xhat = centered * invstd
        else:
            xhat = centered
            xhat *= invstd
        out = xhat.reshape(a.shape)
        out = out * weight._data if weight is not None else out.copy()
        if bias is not None:
            out += bias._data
        ctx.xhat, ctx.invstd = xhat, invstd
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.saved_tensors
        need = ctx.needs_input_grad
        if not B.is_array(grad):  # create_graph: the derivative of the composition
            inputs = (x, weight, bias, ctx.n_dims, ctx.eps, ctx.rms)
            return B.composite_vjp(_layer_norm_composite, inputs, grad, need)
        width = math.prod(x.shape[x.ndim - ctx.n_dims :]) if ctx.n_dims else 1
        g = grad.reshape(-1, width)
        trailing = grad.shape[grad.ndim - ctx.n_dims :]
        need_w = weight is not None and need[1]
        gb = (ones_vector(g.shape[0], g) @ g).reshape(trailing) if bias is not None and need[2] else None
        kernel = _fused(grad, "norm_rows_backward")
        if kernel is not None:
            w = weight.reshape(-1) if weight is not None else None
            gx, gxhat = kernel(x.reshape(-1, width), w, g, ctx.mean, ctx.invstd, ctx.rms, need[0], need_w)
            gw = (ones_vector(g.shape[0], gxhat) @ gxhat).reshape(trailing) if need_w else None
            return (gx.reshape(grad.shape) if need[0] else None), gw, gb, None, None, None
        xp = array_module(grad)
        xhat, invstd = ctx.xhat, ctx.invstd
        gw = xp.einsum("ij,ij->j", g, xhat).reshape(trailing) if need_w else None
        gx = None
        if need[0]:
            gy = g * weight.reshape(-1) if weight is not None else g
            # (invstd / W) * (W gy - sum(gy) - xhat * sum(gy xhat)) per row (RMSNorm: no sum(gy) term)
            gx = gy - row_sums(gy) / width if not ctx.rms else (gy.copy() if gy is g else gy)
            gx -= xhat * (xp.einsum("ij,ij->i", gy, xhat)[:, None] / width)
            gx *= invstd
            gx = gx.reshape(grad.shape)
        return gx, gw, gb, None, None, None


def _layer_norm_composite(x, weight, bias, n_dims: int, eps: float, rms: bool = False):
    """LayerNorm (``rms``: RMSNorm) written with primitives (what ``LayerNorm`` computes, for
    ``composite_vjp``)."""
    dims = tuple(range(x.ndim - n_dims, x.ndim))
    centered = x if rms else x - red.mean(x, dims, keepdim=True)
    out = centered * ew.rsqrt(red.mean(centered * centered, dims, keepdim=True) + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


class Linear(Function):
    """``x @ W.T + b`` as one GEMM with the bias added in place; backward is two GEMMs and a
    column sum (rows = every leading dim of ``x`` flattened)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        a, w = x._data, weight._data
        rows = a.reshape(-1, a.shape[-1])
        out = rows @ w.T
        if bias is not None:
            out += bias._data
        ctx.save_for_backward(x, weight)
        return out.reshape(a.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        g = grad.reshape(-1, grad.shape[-1])
        gx = (g @ w).reshape(x.shape) if need[0] else None
        gw = B.matrix_transpose(g) @ x.reshape(-1, x.shape[-1]) if need[1] else None
        gb = B.sum(g, 0) if len(need) > 2 and need[2] else None
        return gx, gw, gb
