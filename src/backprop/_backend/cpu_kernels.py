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
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

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


def _vector_pair(fn):
    """``_serial_and_parallel`` with NumPy's error model (loops with divisions vectorize)."""
    return numba.njit(**_VEC)(fn), numba.njit(parallel=True, **_VEC)(fn)


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
        for i in numba.prange(x.size):
            v = x[i]
            opt, _ = _tanh_parts32(_SQRT_2_OVER_PI_F * (v + _TANH_C_F * v * v * v))
            aux[i] = opt - _F(1)
            out[i] = _F(0.5) * v * opt
    else:
        for i in numba.prange(x.size):
            v = x[i]
            cdf = _phi32(v)
            aux[i] = cdf
            out[i] = v * cdf


def _gelu32_backward_loop(x, aux, g, out, tanh_form):
    if tanh_form:  # 1 + t and 1 - t^2 recomputed from x (accurate where t ~ +-1), not from aux
        for i in numba.prange(x.size):
            v = x[i]
            opt, sech2 = _tanh_parts32(_SQRT_2_OVER_PI_F * (v + _TANH_C_F * v * v * v))
            out[i] = g[i] * (_F(0.5) * opt + _F(0.5) * v * sech2 * _SQRT_2_OVER_PI_F * (_F(1) + _TANH_3C_F * v * v))
    else:
        for i in numba.prange(x.size):
            v = x[i]
            out[i] = g[i] * (aux[i] + v * _INV_SQRT_2PI_F * _exp32_nonpositive(_F(-0.5) * v * v))


def _gelu_forward_loop(x, out, aux, tanh_form):
    if tanh_form:
        for i in numba.prange(x.size):
            v = x[i]
            opt, _ = _tanh_parts64(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            aux[i] = opt - 1.0
            out[i] = 0.5 * v * opt
    else:
        for i in numba.prange(x.size):
            v = x[i]
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            aux[i] = cdf
            out[i] = v * cdf


def _gelu_backward_loop(x, aux, g, out, tanh_form):
    if tanh_form:
        for i in numba.prange(x.size):
            v = x[i]
            opt, sech2 = _tanh_parts64(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            out[i] = g[i] * (0.5 * opt + 0.5 * v * sech2 * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v))
    else:
        for i in numba.prange(x.size):
            v = x[i]
            out[i] = g[i] * (aux[i] + v * _INV_SQRT_2PI * _exp64_nonpositive(-0.5 * v * v))


_GELU_FORWARD = _vector_pair(_gelu_forward_loop)
_GELU_BACKWARD = _vector_pair(_gelu_backward_loop)
_GELU32_FORWARD = _vector_pair(_gelu32_forward_loop)
_GELU32_BACKWARD = _vector_pair(_gelu32_backward_loop)


def gelu_forward(x, approximate: str):
    """``(gelu(x), aux)`` in one pass; ``aux`` is Phi(x) (exact) or tanh(inner) for backward."""
    flat = _flat(x)
    out = numpy.empty_like(flat)
    aux = numpy.empty_like(flat)
    pair = _GELU32_FORWARD if flat.dtype == numpy.float32 else _GELU_FORWARD
    _pick(pair, flat.size)(flat, out, aux, approximate == "tanh")
    return out.reshape(x.shape), aux


def gelu_backward(x, aux, grad, approximate: str):
    """``grad * gelu'(x)`` in one pass, from ``x`` and the forward's ``aux``."""
    x = x._data if hasattr(x, "_data") else x
    flat, g = _flat(x), _flat(grad)
    out = numpy.empty_like(g)
    pair = _GELU32_BACKWARD if flat.dtype == numpy.float32 else _GELU_BACKWARD
    _pick(pair, flat.size)(flat, aux, g, out, approximate == "tanh")
    return out.reshape(grad.shape)


# ---------------------------------------------------------------------------- rows: softmax, layer norm


# ---------------------------------------------------------------------------- batch norm


# ---------------------------------------------------------------------------- optimizer steps


# ---------------------------------------------------------------------------- recurrent cells


# ---------------------------------------------------------------------------- convolution and pooling
