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
