"""Fused CPU kernels, compiled by numba (the optional extra ``backprop[jit]``).

The CPU backend's ``kernels`` (see ``cpu.py``): op code asks for a kernel by name
(``getattr(backend.kernels, "gelu_forward", None)``), exactly as it asks CUDA's
``cuda_kernels.py``, with the same signatures; where numba is missing or ``BACKPROP_JIT=0``,
``kernels`` is None and the ops' NumPy code runs. A kernel replaces several NumPy passes (each
a full read and write of memory, on one core) by one loop over the data, split across the
threads numba runs (``backprop.set_num_threads`` sets their number).

Rules every kernel here follows:
* float32 and float64 only (``supports``); other dtypes take the NumPy path;
* the parallel loop only above ``PARALLEL_MIN`` elements, where starting the threads pays;
* no ``fastmath``: results stay within the oracle tolerances and match the NumPy path;
* ``cache=True``: compiled code is kept on disk (``__pycache__``), so a second process does not
  compile again (the first compile of each kernel and dtype costs a fraction of a second).
"""

from __future__ import annotations

import math

import numba
import numpy

_JIT = {"cache": True, "nogil": True}
PARALLEL_MIN = 1 << 15  # elements: below this the serial loop is faster than waking the threads
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def supports(*arrays) -> bool:
    """Whether the kernels take these arrays: float32/float64 (None entries are ignored)."""
    return all(a is None or a.dtype in _FLOATS for a in arrays)


def set_num_threads(n: int) -> None:
    """The number of threads the parallel kernels use (at most the cores numba was started with)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _serial_and_parallel(fn):
    """The same loop body compiled twice: serial and ``parallel=True`` (``prange`` splits it)."""
    return numba.njit(**_JIT)(fn), numba.njit(parallel=True, **_JIT)(fn)


def _pick(pair, n: int):
    return pair[1] if n >= PARALLEL_MIN else pair[0]


def _flat(x):
    """A contiguous 1-d view (or copy) of ``x``."""
    return numpy.ascontiguousarray(x).reshape(-1)


# ---------------------------------------------------------------------------- GELU
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu_forward_loop(x, out, aux, tanh_form):
    for i in numba.prange(x.size):
        v = x[i]
        if tanh_form:
            t = math.tanh(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            aux[i] = t
            out[i] = 0.5 * v * (1.0 + t)
        else:
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            aux[i] = cdf
            out[i] = v * cdf


def _gelu_backward_loop(x, aux, g, out, tanh_form):
    for i in numba.prange(x.size):
        v = x[i]
        if tanh_form:
            t = aux[i]
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v)
        else:
            d = aux[i] + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v)
        out[i] = g[i] * d


_GELU_FORWARD = _serial_and_parallel(_gelu_forward_loop)
_GELU_BACKWARD = _serial_and_parallel(_gelu_backward_loop)


def gelu_forward(x, approximate: str):
    """``(gelu(x), aux)`` in one pass; ``aux`` is Phi(x) (exact) or tanh(inner) for backward."""
    flat = _flat(x)
    out = numpy.empty_like(flat)
    aux = numpy.empty_like(flat)
    _pick(_GELU_FORWARD, flat.size)(flat, out, aux, approximate == "tanh")
    return out.reshape(x.shape), aux


def gelu_backward(x, aux, grad, approximate: str):
    """``grad * gelu'(x)`` in one pass, from ``x`` and the forward's ``aux``."""
    x = x._data if hasattr(x, "_data") else x
    flat, g = _flat(x), _flat(grad)
    out = numpy.empty_like(g)
    _pick(_GELU_BACKWARD, flat.size)(flat, aux, g, out, approximate == "tanh")
    return out.reshape(grad.shape)


# ---------------------------------------------------------------------------- rows: softmax, layer norm


# ---------------------------------------------------------------------------- batch norm


# ---------------------------------------------------------------------------- optimizer steps


# ---------------------------------------------------------------------------- recurrent cells


# ---------------------------------------------------------------------------- convolution and pooling
# Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (see ops/conv.py ``winograd_conv2d``): a
# 4x4 input tile d gives a 2x2 output tile y = A^T [(G g G^T) * (B^T d B)] A, so the 16 products
# of each tile become 16 GEMMs of (tiles, C) @ (C, O) -- 2.25x fewer multiply-adds than im2col.
# The kernels below do the tile transforms in one pass each over channels-last data.


def _winograd_input_loop(xpad, v, th, tw):
    n_rows = xpad.shape[0] * th
    c = xpad.shape[3]
    for r in numba.prange(n_rows):
        n = r // th
        h0 = 2 * (r % th)
        for j in range(tw):
            t = r * tw + j
            w0 = 2 * j
            for k in range(c):
                d00 = xpad[n, h0, w0, k]
                d01 = xpad[n, h0, w0 + 1, k]
                d02 = xpad[n, h0, w0 + 2, k]
                d03 = xpad[n, h0, w0 + 3, k]
                d10 = xpad[n, h0 + 1, w0, k]
                d11 = xpad[n, h0 + 1, w0 + 1, k]
                d12 = xpad[n, h0 + 1, w0 + 2, k]
                d13 = xpad[n, h0 + 1, w0 + 3, k]
                d20 = xpad[n, h0 + 2, w0, k]
                d21 = xpad[n, h0 + 2, w0 + 1, k]
                d22 = xpad[n, h0 + 2, w0 + 2, k]
                d23 = xpad[n, h0 + 2, w0 + 3, k]
                d30 = xpad[n, h0 + 3, w0, k]
                d31 = xpad[n, h0 + 3, w0 + 1, k]
                d32 = xpad[n, h0 + 3, w0 + 2, k]
                d33 = xpad[n, h0 + 3, w0 + 3, k]
                # rows: B^T d
                a0, a1, a2, a3 = d00 - d20, d01 - d21, d02 - d22, d03 - d23
                b0, b1, b2, b3 = d10 + d20, d11 + d21, d12 + d22, d13 + d23
                c0, c1, c2, c3 = d20 - d10, d21 - d11, d22 - d12, d23 - d13
                e0, e1, e2, e3 = d10 - d30, d11 - d31, d12 - d32, d13 - d33
                # columns: (B^T d) B
                v[0, t, k] = a0 - a2
                v[1, t, k] = a1 + a2
                v[2, t, k] = a2 - a1
                v[3, t, k] = a1 - a3
                v[4, t, k] = b0 - b2
                v[5, t, k] = b1 + b2
                v[6, t, k] = b2 - b1
                v[7, t, k] = b1 - b3
                v[8, t, k] = c0 - c2
                v[9, t, k] = c1 + c2
                v[10, t, k] = c2 - c1
                v[11, t, k] = c1 - c3
                v[12, t, k] = e0 - e2
                v[13, t, k] = e1 + e2
                v[14, t, k] = e2 - e1
                v[15, t, k] = e1 - e3


def _winograd_output_loop(m, y, tw, bias):
    # y: (N*th, 2, 2*tw, O), the output padded to whole tiles
    o = y.shape[3]
    for r in numba.prange(y.shape[0]):
        for j in range(tw):
            t = r * tw + j
            w0 = 2 * j
            for k in range(o):
                # rows: A^T m
                s00 = m[0, t, k] + m[4, t, k] + m[8, t, k]
                s01 = m[1, t, k] + m[5, t, k] + m[9, t, k]
                s02 = m[2, t, k] + m[6, t, k] + m[10, t, k]
                s03 = m[3, t, k] + m[7, t, k] + m[11, t, k]
                s10 = m[4, t, k] - m[8, t, k] - m[12, t, k]
                s11 = m[5, t, k] - m[9, t, k] - m[13, t, k]
                s12 = m[6, t, k] - m[10, t, k] - m[14, t, k]
                s13 = m[7, t, k] - m[11, t, k] - m[15, t, k]
                # columns: (A^T m) A
                y[r, 0, w0, k] = s00 + s01 + s02 + bias[k]
                y[r, 0, w0 + 1, k] = s01 - s02 - s03 + bias[k]
                y[r, 1, w0, k] = s10 + s11 + s12 + bias[k]
                y[r, 1, w0 + 1, k] = s11 - s12 - s13 + bias[k]


def _winograd_output_adjoint_loop(g, m, tw):
    # g: (N*th, 2, 2*tw, O), the output gradient padded to whole tiles; m[.., t, k] = A g_t A^T
    o = g.shape[3]
    for r in numba.prange(g.shape[0]):
        for j in range(tw):
            t = r * tw + j
            w0 = 2 * j
            for k in range(o):
                g00 = g[r, 0, w0, k]
                g01 = g[r, 0, w0 + 1, k]
                g10 = g[r, 1, w0, k]
                g11 = g[r, 1, w0 + 1, k]
                # rows: A g = (g0, g0 + g1, g0 - g1, -g1)
                a0, a1 = g00, g01
                b0, b1 = g00 + g10, g01 + g11
                c0, c1 = g00 - g10, g01 - g11
                d0, d1 = -g10, -g11
                # columns: (A g) A^T
                m[0, t, k] = a0
                m[1, t, k] = a0 + a1
                m[2, t, k] = a0 - a1
                m[3, t, k] = -a1
                m[4, t, k] = b0
                m[5, t, k] = b0 + b1
                m[6, t, k] = b0 - b1
                m[7, t, k] = -b1
                m[8, t, k] = c0
                m[9, t, k] = c0 + c1
                m[10, t, k] = c0 - c1
                m[11, t, k] = -c1
                m[12, t, k] = d0
                m[13, t, k] = d0 + d1
                m[14, t, k] = d0 - d1
                m[15, t, k] = -d1


_WINOGRAD_INPUT = _serial_and_parallel(_winograd_input_loop)
_WINOGRAD_OUTPUT = _serial_and_parallel(_winograd_output_loop)
_WINOGRAD_OUTPUT_ADJOINT = _serial_and_parallel(_winograd_output_adjoint_loop)


def winograd_input(xpad, th: int, tw: int):
    """(N, Hp, Wp, C) zero-padded channels-last input, Hp >= 2*th + 2 and Wp >= 2*tw + 2 ->
    the (16, N*th*tw, C) transformed 4x4 tiles B^T d B, one pass."""
    xpad = numpy.ascontiguousarray(xpad)
    v = numpy.empty((16, xpad.shape[0] * th * tw, xpad.shape[3]), dtype=xpad.dtype)
    _pick(_WINOGRAD_INPUT, v.size)(xpad, v, th, tw)
    return v


def winograd_output(m, n: int, ho: int, wo: int, th: int, tw: int, bias=None):
    """(16, N*th*tw, O) tile products -> the (N, ho, wo, O) channels-last output A^T m A (+ bias), one pass."""
    o = m.shape[2]
    y = numpy.empty((n * th, 2, 2 * tw, o), dtype=m.dtype)
    b = numpy.zeros(o, dtype=m.dtype) if bias is None else numpy.ascontiguousarray(bias, dtype=m.dtype)
    _pick(_WINOGRAD_OUTPUT, m.size)(numpy.ascontiguousarray(m), y, tw, b)
    y = y.reshape(n, 2 * th, 2 * tw, o)
    return y if (2 * th, 2 * tw) == (ho, wo) else y[:, :ho, :wo]


def winograd_output_adjoint(g, th: int, tw: int):
    """(N, 2*th, 2*tw, O) channels-last output gradient (zero-padded to whole tiles) -> the
    (16, N*th*tw, O) gradient of the tile products A g A^T (the adjoint of ``winograd_output``), one pass."""
    g = numpy.ascontiguousarray(g)
    n, o = g.shape[0], g.shape[3]
    m = numpy.empty((16, n * th * tw, o), dtype=g.dtype)
    _pick(_WINOGRAD_OUTPUT_ADJOINT, m.size)(g.reshape(n * th, 2, 2 * tw, o), m, tw)
    return m


# Max pooling with a 2x2 window and stride 2 (see ops/conv.py ``MaxPool2d``): one pass over
# channels-last (N, H, W, C) data (NCHW data as (N*C, H, W, 1)) instead of four strided passes.
# The first maximum wins and NaN propagates (the first NaN is the argmax), as in torch.


def _max_pool2x2_loop(x, out, arg):
    ho, wo, c = out.shape[1], out.shape[2], out.shape[3]
    for r in numba.prange(out.shape[0] * ho):
        n = r // ho
        i = r % ho
        nans = 0
        for j in range(wo):
            for k in range(c):  # branch-free, so this loop vectorizes
                a = x[n, 2 * i, 2 * j, k]
                b = x[n, 2 * i, 2 * j + 1, k]
                d = x[n, 2 * i + 1, 2 * j, k]
                e = x[n, 2 * i + 1, 2 * j + 1, k]
                best = max(max(a, b), max(d, e))
                pos = 3
                pos = 2 if d == best else pos
                pos = 1 if b == best else pos
                pos = 0 if a == best else pos  # the first maximum wins
                out[n, i, j, k] = best
                arg[n, i, j, k] = pos
                nans += (a != a) | (b != b) | (d != d) | (e != e)
        if nans:  # windows holding NaN: the first NaN is the maximum and the argmax
            for j in range(wo):
                for k in range(c):
                    for pos in range(4):
                        v = x[n, 2 * i + pos // 2, 2 * j + pos % 2, k]
                        if v != v:
                            out[n, i, j, k] = v
                            arg[n, i, j, k] = pos
                            break


def _max_pool2x2_backward_loop(g, arg, gx):
    ho, wo, c = g.shape[1], g.shape[2], g.shape[3]
    for r in numba.prange(g.shape[0] * ho):
        n = r // ho
        i = r % ho
        for j in range(wo):
            for k in range(c):
                v = g[n, i, j, k]
                a = arg[n, i, j, k]
                gx[n, 2 * i, 2 * j, k] = v if a == 0 else 0.0
                gx[n, 2 * i, 2 * j + 1, k] = v if a == 1 else 0.0
                gx[n, 2 * i + 1, 2 * j, k] = v if a == 2 else 0.0
                gx[n, 2 * i + 1, 2 * j + 1, k] = v if a == 3 else 0.0


def _max_pool2x2_planes_loop(x, out, arg):
    # NCHW data as (N*C, H, W) planes: the same as _max_pool2x2_loop, vectorized along a row
    ho, wo = out.shape[1], out.shape[2]
    for r in numba.prange(out.shape[0] * ho):
        p = r // ho
        i = r % ho
        nans = 0
        for j in range(wo):
            a = x[p, 2 * i, 2 * j]
            b = x[p, 2 * i, 2 * j + 1]
            d = x[p, 2 * i + 1, 2 * j]
            e = x[p, 2 * i + 1, 2 * j + 1]
            best = max(max(a, b), max(d, e))
            pos = 3
            pos = 2 if d == best else pos
            pos = 1 if b == best else pos
            pos = 0 if a == best else pos
            out[p, i, j] = best
            arg[p, i, j] = pos
            nans += (a != a) | (b != b) | (d != d) | (e != e)
        if nans:
            for j in range(wo):
                for pos in range(4):
                    v = x[p, 2 * i + pos // 2, 2 * j + pos % 2]
                    if v != v:
                        out[p, i, j] = v
                        arg[p, i, j] = pos
                        break


def _max_pool2x2_planes_backward_loop(g, arg, gx):
    ho, wo = g.shape[1], g.shape[2]
    for r in numba.prange(g.shape[0] * ho):
        p = r // ho
        i = r % ho
        for j in range(wo):
            v = g[p, i, j]
            a = arg[p, i, j]
            gx[p, 2 * i, 2 * j] = v if a == 0 else 0.0
            gx[p, 2 * i, 2 * j + 1] = v if a == 1 else 0.0
            gx[p, 2 * i + 1, 2 * j] = v if a == 2 else 0.0
            gx[p, 2 * i + 1, 2 * j + 1] = v if a == 3 else 0.0


_MAX_POOL2X2 = _serial_and_parallel(_max_pool2x2_loop)
_MAX_POOL2X2_PLANES = _serial_and_parallel(_max_pool2x2_planes_loop)
_MAX_POOL2X2_PLANES_BACKWARD = _serial_and_parallel(_max_pool2x2_planes_backward_loop)
_MAX_POOL2X2_BACKWARD = _serial_and_parallel(_max_pool2x2_backward_loop)


def max_pool2x2(x, channels_last: bool):
    """2x2 stride-2 max pooling of (N, H, W, C) channels-last data (``channels_last``) or of
    (P, H, W) planes, C-contiguous -> (maxima, int16 argmax 0-3 in each window, row-major)."""
    x = numpy.ascontiguousarray(x)
    h, w = x.shape[1:3]
    out = numpy.empty((x.shape[0], h // 2, w // 2) + x.shape[3:], dtype=x.dtype)
    arg = numpy.empty(out.shape, dtype=numpy.int16)
    _pick(_MAX_POOL2X2 if channels_last else _MAX_POOL2X2_PLANES, out.size)(x, out, arg)
    return out, arg


def max_pool2x2_backward(g, arg, h: int, w: int, channels_last: bool):
    """The input gradient, (N, h, w, C) or (P, h, w), of ``max_pool2x2``: each output gradient at its window's argmax."""
    g, arg = numpy.ascontiguousarray(g), numpy.ascontiguousarray(arg)
    ho, wo = g.shape[1:3]
    gx = numpy.empty((g.shape[0], h, w) + g.shape[3:], dtype=g.dtype)
    if h > 2 * ho:
        gx[:, 2 * ho :] = 0
    if w > 2 * wo:
        gx[:, :, 2 * wo :] = 0
    _pick(_MAX_POOL2X2_BACKWARD if channels_last else _MAX_POOL2X2_PLANES_BACKWARD, g.size)(g, arg, gx)
    return gx


# col2im of 2-d convolutions on channels-last data (see ops/conv.py ``col2im_nhwc``): one pass
# adding every window row back, instead of kh*kw strided NumPy passes over the whole image.
# (A compiled im2col measured no faster than NumPy's strided copy, so there is none.)


def _col2im_loop(dcols, out, kh, kw, sh, sw, dh, dw, ho, wo):
    # parallel over images: windows of one image overlap, those of different images do not
    c = out.shape[3]
    for n in numba.prange(out.shape[0]):
        for i in range(ho):
            for j in range(wo):
                row = (n * ho + i) * wo + j
                for a in range(kh):
                    y = i * sh + a * dh
                    for b in range(kw):
                        x = j * sw + b * dw
                        base = (a * kw + b) * c
                        for k in range(c):
                            out[n, y, x, k] += dcols[row, base + k]


_COL2IM = _serial_and_parallel(_col2im_loop)


def col2im2d(dcols, padded_shape, kernel, out, stride, dilation):
    """Adjoint of im2col: add the (N*Ho*Wo, kh*kw*C) window rows back into a zero (N, Hp, Wp, C) array."""
    (kh, kw), (ho, wo) = kernel, out
    res = numpy.zeros(padded_shape, dtype=dcols.dtype)
    dcols = numpy.ascontiguousarray(dcols).reshape(res.shape[0] * ho * wo, -1)
    _pick(_COL2IM, dcols.size)(dcols, res, kh, kw, stride[0], stride[1], dilation[0], dilation[1], ho, wo)
    return res
