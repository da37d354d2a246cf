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
