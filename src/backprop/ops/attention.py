"""Fused scaled dot-product attention: softmax(scale * Q K^T + mask) V in one primitive.

The forward does both batched GEMMs on BLAS, masks and normalizes the scores in place with
the row max subtracted (one buffer of shape (..., L, S), no intermediate graph nodes), and
returns the attention weights as a second output. Because the weights are an output, the
backward (differentiable Tensor ops) can use them and a second backward flows back into
this same node: gradcheck and gradgradcheck hold.

Rows whose every key is masked give zero weights (torch's "safe softmax" of SDPA), so their
output and gradients are 0, not NaN; ``safe=False`` gives plain softmax's NaN instead (what
torch's MultiheadAttention returns with ``need_weights=True``).
"""

from __future__ import annotations

import functools

import numpy

from .._backend import backend_of
from .._tensor import Tensor
from ..autograd.function import Function
from . import _backward as B
from ._utils import in_float32, row_sums, unbroadcast
from .nn_ops import _fused, _softmax_backward


def causal_keep(tgt_len: int, src_len: int):
    """Upper-left aligned causal pattern (L, S): query i sees keys 0..i."""
    return numpy.tril(numpy.ones((tgt_len, src_len), dtype=bool))


@functools.lru_cache(maxsize=32)
def _causal_bias(tgt_len: int, src_len: int, dtype) -> object:
    """The causal pattern as an additive (L, S) NumPy bias, 0 or -inf (read-only, cached):
    adding it is 2x faster than writing -inf through a boolean ``where``. (Devices with a
    softmax kernel mask inside the kernel instead.)"""
    bias = numpy.where(causal_keep(tgt_len, src_len), dtype.type(0), dtype.type(-numpy.inf))
    bias.flags.writeable = False
    return bias


class ScaledDotProductAttention(Function):
    """Outputs ``(out, weights)``; ``mask`` is None, a bool Tensor (True = attend) or a float Tensor (added).

    ``drop`` is None or a Tensor of the kept-and-rescaled dropout pattern (0 or 1/(1-p)),
    multiplied into the weights before ``@ V``; the returned weights are the pre-dropout ones.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, causal, drop, safe):
        backend = backend_of(q._data)
        xp = backend.xp
        s = xp.matmul(q._data, xp.swapaxes(k._data, -1, -2))
        s *= s.dtype.type(scale)
        if mask is not None:
            m = mask._data
            if m.dtype == bool:
                if m.shape != numpy.broadcast_shapes(m.shape, s.shape):
                    s = xp.broadcast_to(s, numpy.broadcast_shapes(m.shape, s.shape)).copy()
                xp.copyto(s, -numpy.inf, where=~m)
            elif m.ndim <= s.ndim and numpy.broadcast_shapes(m.shape, s.shape) == s.shape:
                s += m
            else:
                s = s + m
        kernel = _fused(s, "softmax_forward")
        if kernel is not None:  # one row kernel: causal mask, max-shift, exp, normalization
            s = kernel(s, -1, False, safe, causal)
        else:  # NumPy
            if causal:
                s += _causal_bias(*s.shape[-2:], s.dtype)
            # fmax: same result here (a NaN score makes its row NaN either way), ~25% faster than max.
            row_max = xp.fmax.reduce(s, axis=-1, keepdims=True) if s.size else xp.zeros(s.shape[:-1] + (1,), s.dtype)
            if safe:
                row_max[~xp.isfinite(row_max)] = 0
            s -= row_max
            xp.exp(s, out=s)
            den = row_sums(s)
            if safe:
                den[den == 0] = 1
            s /= den
        weights = s
        ctx.scale = scale
        ctx.mask_shape = mask._data.shape if mask is not None else None
        ctx.save_for_backward(q, k, v, weights, drop)
        ctx.set_materialize_grads(False)
        used = weights * drop._data if drop is not None else weights
        return xp.matmul(used, v._data), weights

    @staticmethod
    def backward(ctx, grad_out, grad_weights):
        q, k, v, weights, drop = ctx.saved_tensors
        need = ctx.needs_input_grad
        scale = ctx.scale
        gq = gk = gv = gmask = None
        gw = grad_weights
        if grad_out is not None:
            if need[2]:
                used = weights * drop if drop is not None else weights
                gv = unbroadcast(B.matrix_transpose(used) @ grad_out, v.shape)
            g_used = grad_out @ B.matrix_transpose(v)
            if drop is not None:
                g_used = g_used * drop
            gw = g_used if gw is None else gw + g_used
        if gw is not None and (need[0] or need[1] or need[3]):
            # Softmax backward: dS = P * (dP - sum(dP * P)); masked entries have P = 0.
            gs = _softmax_backward(weights, gw, -1, False)
            if need[3]:
                gmask = unbroadcast(gs, ctx.mask_shape)
            if need[0]:
                gq = unbroadcast(gs @ k, q.shape) * scale
            if need[1]:
                gk = unbroadcast(B.matrix_transpose(gs) @ q, k.shape) * scale
        return gq, gk, gv, gmask, None, None, None, None


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float, causal: bool = False, drop: Tensor | None = None, safe: bool = True) -> tuple:
    """``(softmax(scale * q @ k^T + mask) @ v, weights)`` through the fused primitive."""
    if q._data.dtype.kind == "V":  # bfloat16: computed in float32 and rounded once, as torch
        return in_float32(ScaledDotProductAttention.apply, q, k, v, mask, scale, causal, drop, safe)
    return ScaledDotProductAttention.apply(q, k, v, mask, scale, causal, drop, safe)
