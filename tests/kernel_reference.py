"""NumPy references of the CUDA backend's fused kernels (``src/backprop/_backend/cuda_kernels.py``).

Same names and signatures, computed plainly in float64. Two uses: the fake CUDA backend
(tests/fake_cuda.py) runs them, so the ops' fused-kernel code paths (saved state, shapes,
dtypes) are exercised on any machine; and on a GPU, tests/test_cuda.py checks each CUDA kernel
against its reference on random inputs.
"""

from __future__ import annotations

import math

import numpy
from scipy.special import erf as _erf

# Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85  # key schedule (Weyl) increments
_LOW32 = numpy.uint64(0xFFFFFFFF)


def philox_block(counter: numpy.ndarray, key: tuple) -> numpy.ndarray:
    """Philox4x32-10 of (n, 4) uint32 ``counter`` words under the 2-word ``key``: (n, 4) uint32."""
    c = [counter[:, j].astype(numpy.uint64) for j in range(4)]
    k0, k1 = numpy.uint64(key[0]), numpy.uint64(key[1])
    m0, m1 = numpy.uint64(PHILOX_M0), numpy.uint64(PHILOX_M1)
    for _ in range(10):
        p0, p1 = m0 * c[0], m1 * c[2]
        c = [(p1 >> numpy.uint64(32)) ^ c[1] ^ k0, p1 & _LOW32, (p0 >> numpy.uint64(32)) ^ c[3] ^ k1, p0 & _LOW32]
        k0 = (k0 + numpy.uint64(PHILOX_W0)) & _LOW32
        k1 = (k1 + numpy.uint64(PHILOX_W1)) & _LOW32
    return numpy.stack(c, axis=1).astype(numpy.uint32)


def philox_uint32(seed: int, offset: int, n: int) -> numpy.ndarray:
    blocks = (n + 3) // 4
    ctr = numpy.uint64(offset) + numpy.arange(blocks, dtype=numpy.uint64)
    counter = numpy.zeros((blocks, 4), dtype=numpy.uint32)
    counter[:, 0] = ctr & _LOW32
    counter[:, 1] = ctr >> numpy.uint64(32)
    return philox_block(counter, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)).reshape(-1)[:n]


def dropout_mask(seed: int, offset: int, shape: tuple, p: float, dtype) -> numpy.ndarray:
    n = math.prod(shape)
    u = (philox_uint32(seed, offset, n) >> 8).astype(numpy.float32) * numpy.float32(2.0**-24)
    dtype = numpy.dtype(dtype)
    scale = dtype.type(1.0 / (1.0 - p)) if p < 1 else dtype.type(0)
    return numpy.where(u >= numpy.float32(p), scale, dtype.type(0)).reshape(shape)


def gelu_forward(x, approximate: str):
    v = x.astype(numpy.float64)
    if approximate == "tanh":
        out = 0.5 * v * (1 + numpy.tanh(0.7978845608028654 * (v + 0.044715 * v**3)))
    else:
        out = 0.5 * v * (1 + _erf(v * 0.7071067811865476))
    return out.astype(x.dtype), None


def gelu_backward(x, aux, grad, approximate: str):
    v = x.astype(numpy.float64)
    if approximate == "tanh":
        t = numpy.tanh(0.7978845608028654 * (v + 0.044715 * v**3))
        d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * 0.7978845608028654 * (1 + 0.134145 * v * v)
    else:
        d = 0.5 * (1 + _erf(v * 0.7071067811865476)) + v * numpy.exp(-0.5 * v * v) * 0.3989422804014327
    return (d * grad).astype(x.dtype)


def softmax_forward(x, dim: int, log: bool, safe: bool = False, causal: bool = False):
    v = x.astype(numpy.float64)
    if causal:
        rows, cols = v.shape[-2:]
        v = numpy.where(numpy.tril(numpy.ones((rows, cols), dtype=bool)), v, -numpy.inf)
    m = v.max(axis=dim, keepdims=True) if v.size else v
    if safe:
        m = numpy.where(numpy.isneginf(m), 0.0, m)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        e = numpy.exp(v - m)
        s = e.sum(axis=dim, keepdims=True)
        if log:
            out = v - m - numpy.log(s)
        else:
            out = e / numpy.where(safe & (s == 0), 1.0, s)
    return out.astype(x.dtype)


def softmax_backward(y, grad, dim: int, log: bool):
    y64, g64 = y.astype(numpy.float64), grad.astype(numpy.float64)
    if log:
        out = g64 - numpy.exp(y64) * g64.sum(axis=dim, keepdims=True)
    else:
        out = y64 * (g64 - (g64 * y64).sum(axis=dim, keepdims=True))
    return out.astype(y.dtype)


def norm_rows_forward(x2d, weight, bias, eps: float, rms: bool):
    v = x2d.astype(numpy.float64)
    mean = numpy.zeros(v.shape[0]) if rms else v.mean(axis=1)
    centered = v - mean[:, None]
    invstd = 1 / numpy.sqrt((centered * centered).mean(axis=1) + eps)
    out = centered * invstd[:, None]
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out.astype(x2d.dtype), mean.astype(x2d.dtype), invstd.astype(x2d.dtype)


def norm_rows_backward(x2d, weight, grad2d, mean, invstd, rms: bool, need_x: bool, need_weight: bool):
    v, g = x2d.astype(numpy.float64), grad2d.astype(numpy.float64)
    inv = invstd.astype(numpy.float64)[:, None]
    xhat = (v - mean.astype(numpy.float64)[:, None]) * inv
    gy = g * weight if weight is not None else g
    cols = v.shape[1]
    s1 = 0 if rms else gy.sum(axis=1, keepdims=True)
    s2 = (gy * xhat).sum(axis=1, keepdims=True)
    gx = (inv * (gy - s1 / cols - xhat * s2 / cols)).astype(x2d.dtype) if need_x else None
    gxhat = (g * xhat).astype(x2d.dtype) if need_weight else None
    return gx, gxhat


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, decoupled, maximize) -> None:
    grad = -g.astype(numpy.float64) if maximize else g.astype(numpy.float64)
    param = p.astype(numpy.float64)
    if weight_decay != 0:
        if decoupled:
            param = param * (1 - lr * weight_decay)
        else:
            grad = grad + weight_decay * param
    mm = m + (1 - beta1) * (grad - m)
    vv = beta2 * v + (1 - beta2) * grad * grad
    p[...] = param - (lr / bias_correction1) * mm / (numpy.sqrt(vv) / bias_correction2_sqrt + eps)
    m[...] = mm
    v[...] = vv


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first) -> None:
    d = -g.astype(numpy.float64) if maximize else g.astype(numpy.float64)
    if weight_decay != 0:
        d = d + weight_decay * p
    if buf is not None:
        b = d if first else momentum * buf + (1 - dampening) * d
        buf[...] = b
        d = d + momentum * b if nesterov else b
    p[...] = p - lr * d
