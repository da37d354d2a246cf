"""Fused neural-network primitives: softmax and log_softmax.

Fused because the composed version (exp, sum, div) makes three passes and overflows without
the max-shift; these subtract the row max first and keep the backward to one expression
in differentiable ops.
"""

from __future__ import annotations

import warnings

from .._backend import xp
from .._tensor import Tensor
from ..autograd.function import Function
from ._utils import as_float, normalize_dim
from .reduction import sum as sum_


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        x = a._data
        shifted = x - xp.max(x, axis=dim, keepdims=True) if x.size else x
        e = xp.exp(shifted)
        e /= xp.sum(e, axis=dim, keepdims=True)
        ctx.dim = dim
        ctx.save_for_backward(e)
        return e

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - sum_(grad * out, ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, dim):
        x = a._data
        shifted = x - xp.max(x, axis=dim, keepdims=True) if x.size else x
        out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - out.exp() * sum_(grad, ctx.dim, keepdim=True), None


def _softmax_dim(ndim: int, dim, name: str) -> int:
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
        dim = 0 if ndim in (0, 1, 3) else 1
    return normalize_dim(dim, ndim, name)


def _prepare(input: Tensor, dtype) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    return as_float(input)


def softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = _prepare(input, dtype)
    if x._data.ndim == 0:
        return Softmax.apply(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, _softmax_dim(x._data.ndim, dim, "softmax"))


def log_softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    x = _prepare(input, dtype)
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
        bx = x * beta
        ctx.save_for_backward(a)
        ctx.beta = beta
        ctx.threshold = threshold
        return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import sigmoid, where

        (a,) = ctx.saved_tensors
        bx = a * ctx.beta
        return where(bx > ctx.threshold, grad, grad * sigmoid(bx)), None, None


class BinaryCrossEntropy(Function):
    """-w (t log x + (1 - t) log(1 - x)), logs clamped at -100 as torch does (elementwise, unreduced)."""

    @staticmethod
    def forward(ctx, x, t, w):
        xa, ta = x._data, t._data
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(xa), -100)
            log_1mx = xp.maximum(xp.log1p(-xa), -100)
        loss = -(ta * log_x + (1 - ta) * log_1mx)
        if w is not None:
            loss = loss * w._data
        ctx.save_for_backward(x, t, w)
        return loss.astype(xa.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        from .elementwise import clamp

        x, t, w = ctx.saved_tensors
        g = grad * (x - t) / clamp((1 - x) * x, min=1e-12)
        if w is not None:
            g = g * w
        gt = None
        if ctx.needs_input_grad[1]:
            from .elementwise import log

            gt = grad * (log(clamp(1 - x, min=1e-45)) - log(clamp(x, min=1e-45)))
            gt = gt * w if w is not None else gt
        return g, gt, None


class BinaryCrossEntropyWithLogits(Function):
    """Stable BCE on logits: (1 - t) x + (1 + (pw - 1) t) softplus(-x) (elementwise, unreduced)."""

    @staticmethod
    def forward(ctx, x, t, w, pos_weight):
        xa, ta = x._data, t._data
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
        from .elementwise import sigmoid

        x, t, w, pw = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gt = None
        if pw is None:
            if need[0]:
                gx = grad * (sigmoid(x) - t)
        elif need[0]:
            coef = (pw - 1) * t + 1
            gx = grad * ((1 - t) - coef * sigmoid(-x))
        if need[1]:
            if pw is None:
                gt = grad * -x
            else:
                gt = grad * ((pw - 1) * Softplus.apply(-x, 1.0, 20.0) - x)
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
        return EmbeddingBackward.apply(grad, ctx.indices, num, ctx.padding_idx), None, None


class EmbeddingBackward(Function):
    @staticmethod
    def forward(ctx, grad, indices, num_weights, padding_idx):
        ctx.indices = indices
        ctx.padding_idx = padding_idx
        g = grad._data
        dim = g.shape[-1]
        out = xp.zeros((num_weights, dim), dtype=g.dtype)
        xp.add.at(out, indices.reshape(-1), g.reshape(-1, dim))
        if padding_idx is not None:
            out[padding_idx] = 0
        return out

    @staticmethod
    def backward(ctx, gg):
        return Embedding.apply(gg, ctx.indices, None), None, None, None


class ConstantPad(Function):
    """Constant padding with per-side widths ((before, after) per dim); negative widths crop."""

    @staticmethod
    def forward(ctx, a, widths, value):
        arr = a._data
        crop = tuple(slice(-min(b, 0) or None, (arr.shape[i] + min(e, 0)) if e < 0 else None) for i, (b, e) in enumerate(widths))
        arr = arr[crop]
        pos = tuple((max(b, 0), max(e, 0)) for b, e in widths)
        ctx.widths = widths
        ctx.inner = tuple(slice(b, b + s) for (b, _), s in zip(pos, arr.shape))
        return xp.pad(arr, pos, constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        neg = tuple((-b, -e) for b, e in ctx.widths)
        return ConstantPad.apply(grad, neg, 0.0), None, None


_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


class Gelu(Function):
    """GELU, exact (x * Phi(x)) or ``approximate='tanh'``, fused: forward and backward are a
    few array passes over cache-sized chunks. Under ``create_graph`` the backward is built
    from differentiable ops instead, so higher derivatives work."""

    @staticmethod
    def forward(ctx, a, approximate):
        from .elementwise import _erf_array, _erf_table, chunks

        x = a._data
        ctx.approximate = approximate
        ctx.save_for_backward(a)
        flat = x.reshape(-1)
        out = xp.empty_like(flat)
        aux = xp.empty_like(flat)  # Phi(x) (exact) or tanh(inner) (approximation), for backward
        for sl in chunks(flat.size):
            part = flat[sl]
            if approximate == "tanh":
                t = part * part
                t *= 0.044715
                t += 1
                t *= part
                t *= _SQRT_2_OVER_PI
                xp.tanh(t, out=aux[sl])
                res = aux[sl] + 1
            else:
                cdf = _erf_table(part * xp.asarray(_INV_SQRT_2, dtype=part.dtype)) if part.dtype != xp.float64 else _erf_array(part * _INV_SQRT_2)
                cdf += 1
                cdf *= 0.5
                aux[sl] = cdf
                res = cdf
            res *= part
            if approximate == "tanh":
                res *= 0.5
            out[sl] = res
        ctx.aux = aux
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if _grad_enabled():  # create_graph: differentiable formula
            return _gelu_derivative_tensor(a, ctx.approximate) * grad, None
        from .elementwise import chunks

        x, aux, g = a._data.reshape(-1), ctx.aux, grad._data.reshape(-1)
        out = xp.empty_like(x)
        for sl in chunks(x.size):
            part, au = x[sl], aux[sl]
            d = part * part
            if ctx.approximate == "tanh":
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
        return out.reshape(a._data.shape), None


def _grad_enabled() -> bool:
    from ..autograd.grad_mode import _state

    return _state.enabled


def _gelu_derivative_tensor(x, approximate: str):
    from .elementwise import erf, exp, tanh

    if approximate == "tanh":
        t = tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI)
        return (t + 1) * 0.5 + x * (1 - t * t) * ((x * x * (3 * 0.044715) + 1) * (_SQRT_2_OVER_PI * 0.5))
    return (erf(x * _INV_SQRT_2) + 1) * 0.5 + x * exp(x * x * -0.5) * _INV_SQRT_2PI


def gelu(input, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    from ._utils import as_float

    return Gelu.apply(as_float(input), approximate)
