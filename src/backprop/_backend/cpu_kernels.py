"""Fused CPU kernels, compiled by numba (the optional extra ``backprop[jit]``).

The CPU backend's ``kernels`` (see ``cpu.py``): op code asks for a kernel by name
(``getattr(backend.kernels, "gelu_forward", None)``), exactly as it asks CUDA's
``cuda_kernels.py``, with the same signatures; where numba is missing or ``BACKPROP_JIT=0``,
``kernels`` is None and the ops' NumPy code runs. A kernel replaces several NumPy passes (each
a full read and write of memory, on one core) by one loop over the data, split across the
threads numba runs (``backprop.set_num_threads`` sets their number).

Rules every kernel here follows:
* float32 and float64 only (``supports``); other dtypes take the NumPy path;
* the parallel loop only above ``PARALLEL_MIN`` elements, where starting the threads pays (GELU,
  rows, batch norm and the optimizer steps run serial: see ``_vectorized``);
* no ``fastmath``: results stay within the oracle tolerances and match the NumPy path;
* ``cache=True``: compiled code is kept on disk (``__pycache__``), so a second process does not
  compile again. Measured on the shared 2 cores: compiling every GELU/row/batch-norm/ReLU/optimizer
  kernel a small model uses took ~25 s per dtype on an empty cache; a second process loaded them
  from the cache in ~1.3 s (float32) plus ~0.2 s (float64).
"""

from __future__ import annotations

import math
import os
import types as types_module

import numba
import numpy
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

# numba's OpenMP threads (its default threading layer) spin after each parallel loop, waiting for
# more work, as do OpenBLAS's after each GEMM: on a 2-core machine the two pools then take turns
# burning the cores the other needs (a Winograd convolution, alternating compiled passes and GEMMs,
# measured 9.4 ms against 1.6 ms with sleeping threads on the ResNet's first layer). Threads that
# sleep when idle, unless the user chose otherwise; read when numba first starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

_JIT = {"cache": True, "nogil": True}
PARALLEL_MIN = 1 << 15  # elements: below this the serial loop is faster than waking the threads
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def supports(*arrays) -> bool:
    """Whether the kernels take these arrays: float32/float64 (None entries are ignored)."""
    return all(a is None or a.dtype in _FLOATS for a in arrays)


def set_num_threads(n: int) -> None:
    """The number of threads the parallel kernels use (at most the cores numba was started with)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _renamed(fn, suffix: str):
    """A copy of function ``fn`` under another qualified name. numba's disk cache files a
    function's compiled code under its name and line, whatever the compile flags, so the serial
    and the ``parallel=True`` compilation of one function would load each other's code."""
    copy = types_module.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    return copy


def _serial_and_parallel(fn, **options):
    """The same loop body compiled twice: serial and ``parallel=True`` (``prange`` splits it)."""
    options = {**_JIT, **options}
    return numba.njit(**options)(fn), numba.njit(parallel=True, **options)(_renamed(fn, "_parallel"))


def _pick(pair, n: int):
    return pair[1] if n >= PARALLEL_MIN else pair[0]


def _flat(x):
    """A contiguous 1-d view (or copy) of ``x``."""
    return numpy.ascontiguousarray(x).reshape(-1)


# ---------------------------------------------------------------------------- GELU
# Loops vectorize only without library calls (numba's math.erf/exp/tanh are scalar calls, 5-20 ns
# per element): exp is a polynomial here (both dtypes), float32's Phi a rational fit; float64's
# exact form keeps math.erf (full double accuracy). Measured on 12x64x512 float32 (the gpt
# workload's shape, 2 shared cores), against the NumPy path: exact 0.2-0.35x forward, 0.37x
# backward; tanh 0.5x forward, 0.6x backward.
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_F = numpy.float32
# NumPy's error model: float division by zero gives inf/nan instead of raising, which leaves no
# branch in the loop, so it vectorizes (Python's model raises ZeroDivisionError).
_VEC = {**_JIT, "error_model": "numpy"}


def _vectorized(fn):
    """``fn`` compiled serial with NumPy's error model (loops with divisions vectorize).

    Serial on purpose: on the 2-core machine the benchmarks run on, BLAS's threads already use
    both cores, and the parallel loops' worker threads (spinning between regions) fought them:
    the gpt training step took 4.5x torch's time with parallel GELU/row kernels above
    ``PARALLEL_MIN``, and a parallel GELU/LayerNorm/Adam pass itself measured 2-40x slower than
    the serial one while the machine was shared."""
    return numba.njit(**_VEC)(fn)


@intrinsic
def _f32_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the (int32-truncated) integer ``bits``."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(context.cast(builder, args[0], sig.args[0], types.int32), ir.FloatType())

    return types.float32(bits), codegen


_LOG2E_F, _LN2_HI_F, _LN2_LO_F = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_E2, _E3, _E4, _E5, _E6, _E7 = (_F(1.0 / math.factorial(k)) for k in range(2, 8))
_EXP_MIN_F = _F(-87.0)


@numba.njit(**_VEC)
def _exp32_nonpositive(x):
    """exp(x) of a float32 x <= 0 within 2 ulp (0 below -87, where exp is subnormal): 2**n times
    a degree-7 Taylor polynomial on |r| <= ln2/2, with no library call, so loops vectorize."""
    n = numpy.floor(x * _LOG2E_F + _F(0.5))
    r = x - n * _LN2_HI_F - n * _LN2_LO_F
    p = (((((_E7 * r + _E6) * r + _E5) * r + _E4) * r + _E3) * r + _E2) * r * r + r + _F(1)
    return _F(0) if x < _EXP_MIN_F else p * _f32_from_bits((numpy.int32(n) + 127) << 23)


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose bit pattern is the integer ``bits``."""

    def codegen(context, builder, sig, args):
        return builder.bitcast(context.cast(builder, args[0], sig.args[0], types.int64), ir.DoubleType())

    return types.float64(bits), codegen


_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm: n * _LN2_HI is exact
_D2, _D3, _D4, _D5, _D6, _D7, _D8, _D9, _D10, _D11, _D12, _D13 = (1.0 / math.factorial(k) for k in range(2, 14))


@numba.njit(**_VEC)
def _exp64_nonpositive(x):
    """exp(x) of a float64 x <= 0 within 2 ulp (0 below -708, where exp is subnormal), as
    ``_exp32_nonpositive`` with a degree-13 polynomial."""
    n = numpy.floor(x * 1.4426950408889634 + 0.5)
    r = x - n * _LN2_HI - n * _LN2_LO
    p = (((((((((((_D13 * r + _D12) * r + _D11) * r + _D10) * r + _D9) * r + _D8) * r + _D7) * r + _D6) * r + _D5) * r + _D4) * r + _D3) * r + _D2) * r * r + r + 1.0
    return 0.0 if x < -708.0 else p * _f64_from_bits((numpy.int64(n) + 1023) << 52)


@numba.njit(**_VEC)
def _tanh_parts64(u):
    """``(1 + tanh(u), 1 - tanh(u)^2)`` of a float64, as ``_tanh_parts32``."""
    e = _exp64_nonpositive(-2.0 * abs(u))
    s = 2.0 / (1.0 + e)
    return (s * e if u < 0.0 else s), s * s * e


# erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0: relative error < 1.2e-7 for every z
# (Numerical Recipes' Chebyshev fit), so Phi keeps its relative accuracy in the negative tail.
_ERFC = tuple(_F(c) for c in (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9 = _ERFC
_INV_SQRT_2_F, _INV_SQRT_2PI_F, _SQRT_2_OVER_PI_F = _F(_INV_SQRT_2), _F(_INV_SQRT_2PI), _F(_SQRT_2_OVER_PI)
_TANH_C_F, _TANH_3C_F = _F(0.044715), _F(3 * 0.044715)


@numba.njit(**_VEC)
def _phi32(v):
    """The standard normal CDF of a float32 (absolute error < 2.1e-7, relative < 1e-5 for v < 0)."""
    z = abs(v) * _INV_SQRT_2_F
    t = _F(1) / (_F(1) + _F(0.5) * z)
    p = ((((((((_C0 * t + _C1) * t + _C2) * t + _C3) * t + _C4) * t + _C5) * t + _C6) * t + _C7) * t + _C8) * t + _C9
    half_erfc = _F(0.5) * t * _exp32_nonpositive(p - z * z)
    return half_erfc if v < _F(0) else _F(1) - half_erfc


@numba.njit(**_VEC)
def _tanh_parts32(u):
    """``(1 + tanh(u), 1 - tanh(u)^2)`` of a float32 from e = exp(-2|u|), without the
    cancellation of forming them from tanh(u) near +-1 (GELU's tails)."""
    e = _exp32_nonpositive(_F(-2) * abs(u))
    s = _F(2) / (_F(1) + e)
    return (s * e if u < _F(0) else s), s * s * e


def _gelu32_forward_loop(x, out, aux, tanh_form):
    if tanh_form:
        for i in range(x.size):
            v = x[i]
            opt, _ = _tanh_parts32(_SQRT_2_OVER_PI_F * (v + _TANH_C_F * v * v * v))
            aux[i] = opt - _F(1)
            out[i] = _F(0.5) * v * opt
    else:
        for i in range(x.size):
            v = x[i]
            cdf = _phi32(v)
            aux[i] = cdf
            out[i] = v * cdf


def _gelu32_backward_loop(x, aux, g, out, tanh_form):
    if tanh_form:  # 1 + t and 1 - t^2 recomputed from x (accurate where t ~ +-1), not from aux
        for i in range(x.size):
            v = x[i]
            opt, sech2 = _tanh_parts32(_SQRT_2_OVER_PI_F * (v + _TANH_C_F * v * v * v))
            out[i] = g[i] * (_F(0.5) * opt + _F(0.5) * v * sech2 * _SQRT_2_OVER_PI_F * (_F(1) + _TANH_3C_F * v * v))
    else:
        for i in range(x.size):
            v = x[i]
            out[i] = g[i] * (aux[i] + v * _INV_SQRT_2PI_F * _exp32_nonpositive(_F(-0.5) * v * v))


def _gelu_forward_loop(x, out, aux, tanh_form):
    if tanh_form:
        for i in range(x.size):
            v = x[i]
            opt, _ = _tanh_parts64(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            aux[i] = opt - 1.0
            out[i] = 0.5 * v * opt
    else:
        for i in range(x.size):
            v = x[i]
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            aux[i] = cdf
            out[i] = v * cdf


def _gelu_backward_loop(x, aux, g, out, tanh_form):
    if tanh_form:
        for i in range(x.size):
            v = x[i]
            opt, sech2 = _tanh_parts64(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            out[i] = g[i] * (0.5 * opt + 0.5 * v * sech2 * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v))
    else:
        for i in range(x.size):
            v = x[i]
            out[i] = g[i] * (aux[i] + v * _INV_SQRT_2PI * _exp64_nonpositive(-0.5 * v * v))


_GELU_FORWARD = _vectorized(_gelu_forward_loop)
_GELU_BACKWARD = _vectorized(_gelu_backward_loop)
_GELU32_FORWARD = _vectorized(_gelu32_forward_loop)
_GELU32_BACKWARD = _vectorized(_gelu32_backward_loop)


def gelu_forward(x, approximate: str):
    """``(gelu(x), aux)`` in one pass; ``aux`` is Phi(x) (exact) or tanh(inner) for backward."""
    flat = _flat(x)
    out = numpy.empty_like(flat)
    aux = numpy.empty_like(flat)
    kernel = _GELU32_FORWARD if flat.dtype == numpy.float32 else _GELU_FORWARD
    kernel(flat, out, aux, approximate == "tanh")
    return out.reshape(x.shape), aux


def gelu_backward(x, aux, grad, approximate: str):
    """``grad * gelu'(x)`` in one pass, from ``x`` and the forward's ``aux``."""
    x = x._data if hasattr(x, "_data") else x
    flat, g = _flat(x), _flat(grad)
    out = numpy.empty_like(g)
    kernel = _GELU32_BACKWARD if flat.dtype == numpy.float32 else _GELU_BACKWARD
    kernel(flat, aux, g, out, approximate == "tanh")
    return out.reshape(grad.shape)


# ---------------------------------------------------------------------------- rows: softmax, layer norm
# One row at a time (rows of a C-contiguous (rows, cols) array). Row sums
# accumulate in float64 in functions compiled with only ``reassoc`` (the summation order of
# partial sums, as NumPy's pairwise sum also reorders), so they vectorize; nothing else in a
# row kernel gets fast-math flags. Maxima use 8 independent running maxima (vectorizable, exact).
# Measured against the NumPy path (float32, 2 shared cores): softmax of (12, 4, 64, 64) 0.18x
# forward, 0.45x backward; log_softmax (768, 65) forward+backward 0.7x; LayerNorm (768, 128)
# forward 0.42x.
_SUM = {**_VEC, "fastmath": {"reassoc"}}


def _expneg(x):  # pragma: no cover - compiled through the overload below
    raise NotImplementedError


@overload(_expneg, jit_options=_VEC)
def _expneg_impl(x):
    """exp of a value <= 0 (a max-shifted score) in its own dtype, with no library call."""
    if x == types.float32:
        return lambda x: _exp32_nonpositive(x)
    return lambda x: _exp64_nonpositive(x)


@numba.njit(**_VEC)
def _row_max(a, n):
    """The largest of ``a[:n]`` (n >= 1); NaNs are skipped (they reach the result through the sum)."""
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = a[0]
    j = 0
    while j + 8 <= n:
        v0, v1, v2, v3, v4, v5, v6, v7 = a[j], a[j + 1], a[j + 2], a[j + 3], a[j + 4], a[j + 5], a[j + 6], a[j + 7]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        m4 = v4 if v4 > m4 else m4
        m5 = v5 if v5 > m5 else m5
        m6 = v6 if v6 > m6 else m6
        m7 = v7 if v7 > m7 else m7
        j += 8
    for k in range(j, n):
        m0 = a[k] if a[k] > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0


@numba.njit(**_SUM)
def _row_sum(a, n):
    s = 0.0
    for j in range(n):
        s += a[j]
    return s


@numba.njit(**_SUM)
def _row_dot(a, b, n):
    s = 0.0
    for j in range(n):
        s += numpy.float64(a[j]) * b[j]
    return s


@numba.njit(**_SUM)
def _row_dot_centered(a, x, mean, n):
    """sum(a * (x - mean)) over the first n entries."""
    s = 0.0
    for j in range(n):
        s += numpy.float64(a[j]) * (x[j] - mean)
    return s


@numba.njit(**_SUM)
def _row_centered_sumsq(a, mean, n):
    s = 0.0
    for j in range(n):
        d = a[j] - mean
        s += d * d
    return s


def _softmax_rows_loop(x, out, log, safe, causal_rows):
    rows, cols = x.shape
    for r in range(rows):
        xr, yr = x[r], out[r]
        limit = cols if causal_rows == 0 else min(r % causal_rows + 1, cols)
        m = _row_max(xr, limit)
        if safe and m == -numpy.inf:
            m = xr.dtype.type(0)
        for j in range(limit):
            yr[j] = _expneg(xr[j] - m)
        s = _row_sum(yr, limit)
        if log:
            log_s = xr.dtype.type(math.log(s))
            for j in range(limit):
                yr[j] = (xr[j] - m) - log_s
        else:
            inv = xr.dtype.type(0.0 if safe and s == 0.0 else 1.0 / s)
            for j in range(limit):
                yr[j] *= inv
        masked = xr.dtype.type(-numpy.inf if log else 0.0)
        for j in range(limit, cols):
            yr[j] = masked


def _softmax_rows_backward_loop(y, g, out, log):
    rows, cols = y.shape
    for r in range(rows):
        yr, gr, o = y[r], g[r], out[r]
        if log:
            s = yr.dtype.type(_row_sum(gr, cols))
            for j in range(cols):
                o[j] = gr[j] - _expneg(yr[j]) * s
        else:
            s = yr.dtype.type(_row_dot(gr, yr, cols))
            for j in range(cols):
                o[j] = yr[j] * (gr[j] - s)


def _norm_rows_loop(x, w, b, out, mean_out, invstd_out, eps, rms):
    rows, cols = x.shape
    for r in range(rows):
        xr, yr = x[r], out[r]
        mean = 0.0 if rms else _row_sum(xr, cols) / cols
        invstd = 1.0 / math.sqrt(_row_centered_sumsq(xr, mean, cols) / cols + eps)
        m, inv = xr.dtype.type(mean), xr.dtype.type(invstd)
        if w is not None and b is not None:
            for j in range(cols):
                yr[j] = (xr[j] - m) * inv * w[j] + b[j]
        elif w is not None:
            for j in range(cols):
                yr[j] = (xr[j] - m) * inv * w[j]
        elif b is not None:
            for j in range(cols):
                yr[j] = (xr[j] - m) * inv + b[j]
        else:
            for j in range(cols):
                yr[j] = (xr[j] - m) * inv
        mean_out[r], invstd_out[r] = m, inv


def _norm_rows_backward_loop(x, w, g, mean, invstd, gx, gxhat, rms, need_x, need_weight):
    rows, cols = x.shape
    for r in range(rows):
        xr, gr = x[r], g[r]
        m, inv = mean[r], invstd[r]
        if need_weight:
            o = gxhat[r]
            for j in range(cols):
                o[j] = gr[j] * ((xr[j] - m) * inv)
        if need_x:
            o = gx[r]
            for j in range(cols):  # gy = g * w into gx first: the row sums read it
                o[j] = gr[j] * w[j] if w is not None else gr[j]
            s1 = 0.0 if rms else _row_sum(o, cols)
            s2 = _row_dot_centered(o, xr, m, cols) * inv
            c1, c2 = xr.dtype.type(s1 / cols), xr.dtype.type(s2 / cols)
            for j in range(cols):
                o[j] = inv * (o[j] - c1 - ((xr[j] - m) * inv) * c2)


_SOFTMAX_ROWS = _vectorized(_softmax_rows_loop)
_SOFTMAX_ROWS_BACKWARD = _vectorized(_softmax_rows_backward_loop)
_NORM_ROWS = _vectorized(_norm_rows_loop)
_NORM_ROWS_BACKWARD = _vectorized(_norm_rows_backward_loop)


def _last_axis_rows(x, dim: int):
    """``x`` with ``dim`` moved last, as a C-contiguous (rows, cols) array, and whether it moved."""
    moved = dim not in (-1, x.ndim - 1) and x.ndim > 1
    work = numpy.ascontiguousarray(numpy.moveaxis(x, dim, -1) if moved else x)
    cols = work.shape[-1] if work.ndim else 1
    return work.reshape(work.size // cols if cols else 0, cols), work.shape, moved


def softmax_forward(x, dim: int, log: bool, safe: bool = False, causal: bool = False):
    """softmax (``log``: log_softmax) along ``dim``, one row per loop iteration. ``causal``: the
    last two axes are (queries, keys) and key j > query i is masked (upper-left aligned);
    ``safe``: a fully masked row gives zeros instead of NaN (attention)."""
    rows, shape, moved = _last_axis_rows(x, dim)
    out = numpy.empty_like(rows)
    if rows.size:
        causal_rows = shape[-2] if causal else 0
        _SOFTMAX_ROWS(rows, out, log, safe, causal_rows)
    out = out.reshape(shape)
    return numpy.moveaxis(out, -1, dim) if moved else out


def softmax_backward(y, grad, dim: int, log: bool):
    """The gradient of ``softmax_forward`` from its output ``y``: softmax ``y (g - sum(g y))``,
    log_softmax ``g - exp(y) sum(g)`` per row."""
    yw, shape, moved = _last_axis_rows(y, dim)
    gw, _, _ = _last_axis_rows(grad, dim)
    out = numpy.empty_like(yw)
    if yw.size:
        _SOFTMAX_ROWS_BACKWARD(yw, gw, out, log)
    out = out.reshape(shape)
    return numpy.moveaxis(out, -1, dim) if moved else out


def norm_rows_forward(x2d, weight, bias, eps: float, rms: bool):
    """LayerNorm (``rms``: RMSNorm) of each row of a (rows, cols) array, with the optional
    (cols,) ``weight``/``bias``: ``(out, mean, invstd)`` (mean and 1/std per row)."""
    x2d = numpy.ascontiguousarray(x2d)
    rows, cols = x2d.shape
    out = numpy.empty_like(x2d)
    mean = numpy.zeros(rows, dtype=x2d.dtype)
    invstd = numpy.zeros(rows, dtype=x2d.dtype)
    if rows and cols:
        w = numpy.ascontiguousarray(weight, dtype=x2d.dtype) if weight is not None else None
        b = numpy.ascontiguousarray(bias, dtype=x2d.dtype) if bias is not None else None
        _NORM_ROWS(x2d, w, b, out, mean, invstd, float(eps), rms)
    return out, mean, invstd


def norm_rows_backward(x2d, weight, grad2d, mean, invstd, rms: bool, need_x: bool, need_weight: bool):
    """Gradients of ``norm_rows_forward``: ``(gx or None, g * xhat or None)`` (the weight's and
    the bias's gradients are the column sums of ``g * xhat`` and of ``g``)."""
    x2d = numpy.ascontiguousarray(x2d)
    grad2d = numpy.ascontiguousarray(grad2d, dtype=x2d.dtype)
    gx = numpy.empty_like(x2d) if need_x else None
    gxhat = numpy.empty_like(x2d) if need_weight else None
    if x2d.size and (need_x or need_weight):
        w = numpy.ascontiguousarray(weight, dtype=x2d.dtype) if weight is not None else None
        dummy = x2d[:0]
        _NORM_ROWS_BACKWARD(
            x2d, w, grad2d, mean, invstd, gx if need_x else dummy, gxhat if need_weight else dummy, rms, need_x, need_weight
        )
    return gx, gxhat


# ---------------------------------------------------------------------------- batch norm
# Channels-last (rows, C) arrays, as the convolutions produce them (NCHW-shaped views of NHWC
# memory) and as BatchNorm1d gets them: the inner loop runs along the channels, with per-channel
# float64 sums, so it vectorizes without reassociation. Serial (memory-bound, as the optimizer
# steps). Forward reads x three times and writes once; backward recomputes xhat from x.


def _bn_stats_loop(x, mean, var):
    rows, c = x.shape
    acc = numpy.zeros(c)
    for r in range(rows):
        for j in range(c):
            acc[j] += x[r, j]
    for j in range(c):
        mean[j] = acc[j] / rows
        acc[j] = 0.0
    for r in range(rows):
        for j in range(c):
            d = x[r, j] - mean[j]
            acc[j] += d * d
    for j in range(c):
        var[j] = acc[j] / rows


def _bn_apply_loop(x, scale, shift, mean, out):
    rows, c = x.shape
    for r in range(rows):
        for j in range(c):
            out[r, j] = (x[r, j] - mean[j]) * scale[j] + shift[j]


def _bn_backward_loop(x, g, mean, invstd, scale, training, need_x, gx, sum_g, sum_gxhat):
    rows, c = x.shape
    for r in range(rows):
        for j in range(c):
            gv = g[r, j]
            sum_g[j] += gv
            sum_gxhat[j] += gv * ((x[r, j] - mean[j]) * invstd[j])
    if need_x:
        t = x.dtype.type
        k1 = numpy.empty(c, x.dtype)
        k2 = numpy.empty(c, x.dtype)
        for j in range(c):
            k1[j] = t(sum_g[j] / rows) if training else t(0.0)
            k2[j] = t(sum_gxhat[j] / rows) if training else t(0.0)
        for r in range(rows):
            for j in range(c):
                xhat = (x[r, j] - mean[j]) * invstd[j]
                gx[r, j] = scale[j] * (g[r, j] - k1[j] - xhat * k2[j])


_BN_STATS = numba.njit(**_VEC)(_bn_stats_loop)
_BN_APPLY = numba.njit(**_VEC)(_bn_apply_loop)
_BN_BACKWARD = numba.njit(**_VEC)(_bn_backward_loop)


def batch_norm_forward(x2d, weight, bias, mean, var, training: bool, eps: float):
    """Batch normalization of a C-contiguous (rows, C) array: batch statistics when ``training``
    (``mean``/``var`` ignored), else the given ones. Returns ``(out, mean, var, invstd)``, the
    statistics as (C,) arrays in ``x2d``'s dtype (``var`` biased)."""
    c = x2d.shape[1]
    dtype = x2d.dtype
    if training:
        stats_mean, stats_var = numpy.empty(c), numpy.empty(c)
        _BN_STATS(x2d, stats_mean, stats_var)
        mean, var = stats_mean.astype(dtype), stats_var.astype(dtype)
    else:
        mean, var = numpy.asarray(mean, dtype=dtype), numpy.asarray(var, dtype=dtype)
    invstd = (1.0 / numpy.sqrt(var + eps)).astype(dtype, copy=False)
    scale = invstd * weight if weight is not None else invstd
    shift = numpy.asarray(bias, dtype=dtype) if bias is not None else numpy.zeros(c, dtype)
    out = numpy.empty_like(x2d)
    _BN_APPLY(x2d, numpy.ascontiguousarray(scale, dtype=dtype), numpy.ascontiguousarray(shift), mean, out)
    return out, mean, var, invstd


def batch_norm_backward(x2d, grad2d, mean, invstd, weight, training: bool, need_x: bool):
    """Gradients of ``batch_norm_forward`` for a (rows, C) ``grad2d``: ``(gx or None,
    sum(g * xhat), sum(g))``, the per-channel sums being the weight's and the bias's gradients."""
    c = x2d.shape[1]
    dtype = x2d.dtype
    grad2d = numpy.ascontiguousarray(grad2d, dtype=dtype)
    scale = numpy.ascontiguousarray(invstd * weight if weight is not None else invstd, dtype=dtype)
    gx = numpy.empty_like(x2d) if need_x else x2d[:0]
    sum_g, sum_gxhat = numpy.zeros(c), numpy.zeros(c)
    _BN_BACKWARD(x2d, grad2d, mean, invstd, scale, training, need_x, gx, sum_g, sum_gxhat)
    return (gx if need_x else None), sum_gxhat.astype(dtype), sum_g.astype(dtype)


def _relu_backward_loop(y, g, out):
    for i in range(y.size):
        out[i] = g[i] * (g.dtype.type(1.0) if y[i] > 0 else g.dtype.type(0.0))


_RELU_BACKWARD = numba.njit(**_VEC)(_relu_backward_loop)


def _dense_order(a):
    """The axis order in which ``a``'s memory is C-contiguous (a permutation of its axes), or None."""
    order = tuple(sorted(range(a.ndim), key=lambda i: -a.strides[i]))
    return order if a.transpose(order).flags.c_contiguous else None


def relu_backward(y, grad):
    """``grad * (y > 0)`` (ReLU's backward from its output ``y``) in one pass, for ``y`` and
    ``grad`` laid out alike in memory (C order or one permutation of it, e.g. channels-last);
    None for other layouts (the caller's array code serves). Measured on a channels-last
    (32, 16, 32, 32) float32 gradient (2 shared cores): 0.66x NumPy's ``grad * (y > 0)``."""
    order = _dense_order(grad)
    if order is None or y.shape != grad.shape or y.dtype != grad.dtype or _dense_order(y) != order:
        return None
    out = numpy.empty(tuple(grad.shape[i] for i in order), grad.dtype)
    _RELU_BACKWARD(y.transpose(order).reshape(-1), grad.transpose(order).reshape(-1), out.reshape(-1))
    return out.transpose(numpy.argsort(order))


# ---------------------------------------------------------------------------- optimizer steps
# One pass over the parameter and its state per step, in the parameter's dtype (as CUDA's), for
# contiguous arrays (others are updated through contiguous copies). Serial loops only: the update
# is memory-bound and runs once per parameter; on the 2 shared cores the parallel loop lost (AdamW
# step of the gpt workload's 54 parameters: NumPy path 8.5 ms, serial kernel 4.0 ms, parallel
# 22.9 ms; SGD-momentum step of mlp: 0.49, 0.15, 0.35 ms).


def _adam_loop(p_nd, g_nd, m_nd, v_nd, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, decay_mode, maximize):
    # decay_mode 0: no weight decay, 1: decoupled (AdamW: p *= 1 - lr wd), 2: wd * p into the gradient
    p, g, m, v = p_nd.reshape(-1), g_nd.reshape(-1), m_nd.reshape(-1), v_nd.reshape(-1)
    t = p.dtype.type
    step_size, b1, b2, c1, c2 = t(lr / bias_correction1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(bias_correction2_sqrt)
    e, wd, decay = t(eps), t(weight_decay), t(1.0 - lr * weight_decay)
    for i in range(p.size):
        grad = -g[i] if maximize else g[i]
        param = p[i]
        if decay_mode == 1:
            param *= decay
        elif decay_mode == 2:
            grad += wd * param
        mm = m[i] + b1 * (grad - m[i])
        vv = b2 * v[i] + c1 * grad * grad
        p[i] = param - step_size * mm / (math.sqrt(vv) / c2 + e)
        m[i] = mm
        v[i] = vv


def _sgd_momentum_loop(p_nd, g_nd, buf_nd, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    p, g, buf = p_nd.reshape(-1), g_nd.reshape(-1), buf_nd.reshape(-1)
    t = p.dtype.type
    rate, mom, keep, wd = t(lr), t(momentum), t(1.0 - dampening), t(weight_decay)
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        if weight_decay != 0:
            d += wd * p[i]
        b = d if first else mom * buf[i] + keep * d
        buf[i] = b
        p[i] -= rate * (d + mom * b if nesterov else b)


def _sgd_loop(p_nd, g_nd, lr, weight_decay, maximize):
    p, g = p_nd.reshape(-1), g_nd.reshape(-1)
    t = p.dtype.type
    rate, wd = t(lr), t(weight_decay)
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        if weight_decay != 0:
            d += wd * p[i]
        p[i] -= rate * d


_ADAM = numba.njit(**_VEC)(_adam_loop)
_SGD_MOMENTUM = numba.njit(**_VEC)(_sgd_momentum_loop)
_SGD = numba.njit(**_VEC)(_sgd_loop)


def _in_place(kernel, arrays, *scalars) -> None:
    """``kernel(*arrays, *scalars)``, which updates the arrays in place except the gradient (the
    second, only read); arrays that are not C-contiguous go through contiguous copies, and the
    updated ones are written back after (a read-only or broadcast gradient is never written)."""
    if all(a.flags.c_contiguous for a in arrays):
        kernel(*arrays, *scalars)
        return
    work = [numpy.ascontiguousarray(a) for a in arrays]
    kernel(*work, *scalars)
    for i, (a, w) in enumerate(zip(arrays, work)):
        if i != 1 and w is not a:
            a[...] = w


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, decoupled, maximize) -> None:
    """One Adam/AdamW update of parameter ``p`` with moments ``m``, ``v``, in place, in one pass."""
    decay_mode = 0 if weight_decay == 0 else 1 if decoupled else 2
    scalars = (float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), float(bias_correction1), float(bias_correction2_sqrt))
    _in_place(_ADAM, (p, g, m, v), *scalars, decay_mode, bool(maximize))


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first) -> None:
    """One SGD update (momentum buffer ``buf``, None without momentum), in place, in one pass."""
    if buf is None:
        _in_place(_SGD, (p, g), float(lr), float(weight_decay), bool(maximize))
    else:
        scalars = (float(lr), float(momentum), float(dampening), float(weight_decay))
        _in_place(_SGD_MOMENTUM, (p, g, buf), *scalars, bool(nesterov), bool(maximize), bool(first))


# ---------------------------------------------------------------------------- recurrent cells
# One call per time step of a fused LSTM or GRU layer (``ops/rnn_ops.py``), beside the step's
# GEMM: the gate nonlinearities, state update and everything backward needs, in a few flat loops
# over the step's gate block instead of a dozen NumPy calls, compiled with ``_VEC``. Each loop touches few arrays (LLVM
# vectorizes a loop only while its runtime overlap checks stay few) and ``error_model="numpy"``
# drops the ZeroDivisionError branch that would keep the divisions scalar. Serial only: a
# parallel variant was not tried (a step's block is 32K entries in the LSTM benchmark, and
# per-step thread wake-ups could not be timed on the shared 2-core machine).

# tanh as Eigen's float rational approximation (odd 13th / even 6th degree, clamped): numba has no
# vectorized libm tanh, and a scalar ``math.tanh`` per entry is ~10x slower than NumPy's SIMD one.
# Evaluated in float32 its error is under 8 float32 ulps (4e-7 absolute) on all of float32:
# float32 only, float64 takes NumPy's tanh (``tests/test_rnn_fast_paths.py`` checks the bound).
_TA = tuple(
    _F(v)
    for v in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_TB = tuple(_F(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))
_TA1, _TA3, _TA5, _TA7, _TA9, _TA11, _TA13 = _TA
_TB0, _TB2, _TB4, _TB6 = _TB
_TCLAMP = _F(7.90531110763549805)
_HALF = _F(0.5)


@numba.njit(inline="always", **_VEC)
def _tanh32(x):
    x = x if x < _TCLAMP else _TCLAMP
    x = x if x > -_TCLAMP else -_TCLAMP
    x2 = x * x
    p = x2 * _TA13 + _TA11
    p = x2 * p + _TA9
    p = x2 * p + _TA7
    p = x2 * p + _TA5
    p = x2 * p + _TA3
    p = x2 * p + _TA1
    q = x2 * _TB6 + _TB4
    q = x2 * q + _TB2
    q = x2 * q + _TB0
    return x * p / q


@numba.njit(**_VEC)
def tanh_f32(x, out):
    """``out[:] = tanh(x)`` of 1-d float32 arrays by the kernels' approximation (for tests)."""
    for k in range(x.size):
        out[k] = _tanh32(x[k])


@numba.njit(**_VEC)
def _lstm_forward_span(ri, rf, ro, rg, gi, gf, go, gg, co, cn, tc, hb, m):
    # Loops of few arrays each: LLVM vectorizes a loop only while the runtime checks that its
    # arrays do not overlap stay few.
    for b in range(m):
        gi[b] = _HALF * _tanh32(_HALF * ri[b]) + _HALF  # sigmoid
    for b in range(m):
        gf[b] = _HALF * _tanh32(_HALF * rf[b]) + _HALF  # sigmoid
    for b in range(m):
        go[b] = _HALF * _tanh32(_HALF * ro[b]) + _HALF  # sigmoid
    for b in range(m):
        gg[b] = _tanh32(rg[b])
    for b in range(m):
        cn[b] = gf[b] * co[b] + gi[b] * gg[b]
    for b in range(m):
        tc[b] = _tanh32(cn[b])
    for b in range(m):
        hb[b] = go[b] * tc[b]


@numba.njit(**_VEC)
def lstm_cell_forward(rec, proj, t, bias, c_old, c_new, gates, tanh_c, hbuf, h_new, n):
    """One LSTM step, float32, on torch's weights as they are (gate rows i, f, g, o).

    rec (4H, B): ``W_hh h`` (the pre-activations are summed into it); proj (4H, T, B): ``W_ih x``
    of every step (step ``t`` is read); bias (4H,) ``b_ih + b_hh``; c_old, c_new (H, B); out:
    gates (4H, B) the activations in the order i, f, o, g (as the NumPy path saves them for
    backward); tanh_c (H, B); hbuf (H, B) work; h_new (B, H) the new hidden state,
    batch-major. Only the first ``n`` columns (the active sequences) are read and written; with
    all active, each gate block is one flat loop.
    """
    nh, nb = c_old.shape
    for k in range(4 * nh):  # indexed, not sliced: a slice costs a reference count per row
        bk = bias[k]
        for b in range(n):
            rec[k, b] += proj[k, t, b] + bk
    if n == nb:
        m = nh * nb
        r, g = rec.reshape(-1), gates.reshape(-1)
        _lstm_forward_span(
            r[:m],
            r[m : 2 * m],
            r[3 * m :],
            r[2 * m : 3 * m],
            g[:m],
            g[m : 2 * m],
            g[2 * m : 3 * m],
            g[3 * m :],
            c_old.reshape(-1),
            c_new.reshape(-1),
            tanh_c.reshape(-1),
            hbuf.reshape(-1),
            m,
        )
    else:
        for j in range(nh):
            _lstm_forward_span(
                rec[j],
                rec[nh + j],
                rec[3 * nh + j],
                rec[2 * nh + j],
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                gates[3 * nh + j],
                c_old[j],
                c_new[j],
                tanh_c[j],
                hbuf[j],
                n,
            )
    for b in range(n):
        for j in range(nh):
            h_new[b, j] = hbuf[j, b]


@numba.njit(**_VEC)
def _lstm_backward_span(gi, gf, go, gg, tc, cp, dh, dc, zi, zf, zg, zo, m, carry_dc):
    for b in range(m):  # dc += dh o (1 - tanh(c)^2)
        dc[b] += dh[b] * go[b] * (1 - tc[b] * tc[b])
    for b in range(m):
        zi[b] = dc[b] * gg[b] * gi[b] * (1 - gi[b])
    for b in range(m):
        zf[b] = dc[b] * cp[b] * gf[b] * (1 - gf[b])
    for b in range(m):
        zg[b] = dc[b] * gi[b] * (1 - gg[b] * gg[b])
    for b in range(m):
        zo[b] = dh[b] * tc[b] * go[b] * (1 - go[b])
    if carry_dc:
        for b in range(m):
            dc[b] *= gf[b]


@numba.njit(**_VEC)
def lstm_cell_backward(gates, tanh_c, c_prev, dh, dc, gout, dz, dz_all, t, n, carry_dc):
    """One LSTM step of backward (float32 or float64; no transcendental functions).

    gates (4H, B): the step's i, f, o, g; tanh_c, c_prev (H, B); dh, dc (H, B) C-contiguous: the
    gradients flowing into the step's h and c, updated in place (dh += gout^T first, over all
    columns; dc becomes dc_prev = dc f where ``carry_dc``); gout (B, H) the output's gradient at
    the step, or a (0, 0) array for none. Out: dz (4H, B) the pre-activation gradients in torch's
    gate order i, f, g, o, and the same in ``dz_all[:, t]`` ((4H, T, B)). First ``n`` columns only.
    """
    nh, nb = dh.shape
    if gout.shape[0] > 0:
        for b in range(nb):
            gr = gout[b]
            for j in range(nh):
                dh[j, b] += gr[j]
    if n == nb:
        m = nh * nb
        g, z = gates.reshape(-1), dz.reshape(-1)
        _lstm_backward_span(
            g[:m],
            g[m : 2 * m],
            g[2 * m : 3 * m],
            g[3 * m :],
            tanh_c.reshape(-1),
            c_prev.reshape(-1),
            dh.reshape(-1),
            dc.reshape(-1),
            z[:m],
            z[m : 2 * m],
            z[2 * m : 3 * m],
            z[3 * m :],
            m,
            carry_dc,
        )
    else:
        for j in range(nh):
            _lstm_backward_span(
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                gates[3 * nh + j],
                tanh_c[j],
                c_prev[j],
                dh[j],
                dc[j],
                dz[j],
                dz[nh + j],
                dz[2 * nh + j],
                dz[3 * nh + j],
                n,
                carry_dc,
            )
    for k in range(4 * nh):
        zk, ak = dz[k], dz_all[k, t]
        for b in range(n):
            ak[b] = zk[b]


@numba.njit(**_VEC)
def _gru_forward_span(gr, gz, gn, rr, rz, rn, hb, m):
    for b in range(m):
        gr[b] = _HALF * _tanh32(gr[b] + rr[b]) + _HALF
    for b in range(m):
        gz[b] = _HALF * _tanh32(gz[b] + rz[b]) + _HALF
    for b in range(m):
        gn[b] = _tanh32(gn[b] + gr[b] * rn[b])
    for b in range(m):  # h' = n + z (h - n)
        hb[b] = gn[b] + gz[b] * (hb[b] - gn[b])


@numba.njit(**_VEC)
def gru_cell_forward(rec, proj, t, bias, b_hn, gates, h_old, hbuf, h_new, n):
    """One GRU step, float32, with the r and z rows' weights (and their biases) halved.

    rec (3H, B): ``W_hh h``, its n rows get ``b_hn`` added in place (backward reads them);
    proj (3H, T, B): ``W_ih x`` of every step (step ``t`` is read); bias (3H,): the input bias
    (with b_hh's r, z parts folded in); b_hn (H,); out: gates (3H, B) the activations r, z, n;
    h_old, h_new (B, H) the states, batch-major; hbuf (H, B) work. First ``n`` columns only.
    """
    nh, nb = hbuf.shape
    for k in range(2 * nh, 3 * nh):
        bk = b_hn[k - 2 * nh]
        for b in range(n):
            rec[k, b] += bk
    for k in range(3 * nh):
        bk = bias[k]
        for b in range(n):
            gates[k, b] = proj[k, t, b] + bk
    for b in range(n):
        for j in range(nh):
            hbuf[j, b] = h_old[b, j]
    if n == nb:
        m = nh * nb
        g, r = gates.reshape(-1), rec.reshape(-1)
        _gru_forward_span(g[:m], g[m : 2 * m], g[2 * m :], r[:m], r[m : 2 * m], r[2 * m :], hbuf.reshape(-1), m)
    else:
        for j in range(nh):
            _gru_forward_span(
                gates[j], gates[nh + j], gates[2 * nh + j], rec[j], rec[nh + j], rec[2 * nh + j], hbuf[j], n
            )
    for b in range(n):
        for j in range(nh):
            h_new[b, j] = hbuf[j, b]


@numba.njit(**_VEC)
def _gru_backward_span(gr, gz, gn, ghn, dh, hp, dgr, dgz, dgn, dxn, m):
    for b in range(m):  # d(W_in x + b_in) = dh (1 - z)(1 - n^2)
        dxn[b] = dh[b] * (1 - gz[b]) * (1 - gn[b] * gn[b])
    for b in range(m):  # d(W_hn h + b_hn) = that r
        dgn[b] = dxn[b] * gr[b]
    for b in range(m):
        dgz[b] = dh[b] * (hp[b] - gn[b]) * gz[b] * (1 - gz[b])
    for b in range(m):
        dgr[b] = dgn[b] * ghn[b] * (1 - gr[b])
    for b in range(m):  # the part of dh_prev that skips the GEMM: dh z (into hp, read above)
        hp[b] = dh[b] * gz[b]


@numba.njit(**_VEC)
def gru_cell_backward(gates, ghn, h_prev, dh, gout, dg, carry, dxn, dgh_all, dgx_all, t, n):
    """One GRU step of backward (float32 or float64; no transcendental functions).

    gates (3H, B): the step's r, z, n; ghn (H, B): its ``W_hn h + b_hn``; h_prev (B, H): the state
    it started from; dh (H, B) C-contiguous: the gradient into the step's h (dh += gout^T first,
    over all columns); gout (B, H) or a (0, 0) array for none. Out: dg (3H, B) the gradients of
    ``W_hh h + b_hh`` (r, z, n), carry (H, B) = dh z (dh_prev = carry + W_hh^T dg), dxn (H, B) the
    gradient of ``W_in x + b_in``; ``dgh_all[:, t]`` = dg and ``dgx_all[:, t]`` = (dg's r, z; dxn)
    ((3H, T, B)). First ``n`` columns only.
    """
    nh, nb = dh.shape
    if gout.shape[0] > 0:
        for b in range(nb):
            gr = gout[b]
            for j in range(nh):
                dh[j, b] += gr[j]
    for b in range(n):
        hp = h_prev[b]
        for j in range(nh):
            carry[j, b] = hp[j]
    if n == nb:
        m = nh * nb
        g, d = gates.reshape(-1), dg.reshape(-1)
        _gru_backward_span(
            g[:m],
            g[m : 2 * m],
            g[2 * m :],
            ghn.reshape(-1),
            dh.reshape(-1),
            carry.reshape(-1),
            d[:m],
            d[m : 2 * m],
            d[2 * m :],
            dxn.reshape(-1),
            m,
        )
    else:
        for j in range(nh):
            _gru_backward_span(
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                ghn[j],
                dh[j],
                carry[j],
                dg[j],
                dg[nh + j],
                dg[2 * nh + j],
                dxn[j],
                n,
            )
    for k in range(3 * nh):
        zk, ak, xk = dg[k], dgh_all[k, t], dgx_all[k, t]
        for b in range(n):
            ak[b] = zk[b]
        if k < 2 * nh:
            for b in range(n):
                xk[b] = zk[b]
        else:
            xn = dxn[k - 2 * nh]
            for b in range(n):
                xk[b] = xn[b]


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
