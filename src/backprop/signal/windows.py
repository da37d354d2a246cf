"""``torch.signal.windows``: window functions for spectral analysis (scipy.signal's definitions),
and torch's older ``hann_window``/``hamming_window``/``blackman_window``/``bartlett_window``/
``kaiser_window`` (exported at the top level).

A window is a creation op: it is computed once in float64 on the host (``n = 0 .. M - 1``) and
cast to the requested dtype on the requested device. ``sym=True`` gives the symmetric window
(denominator ``M - 1``); ``sym=False`` the periodic one, the first ``M`` points of the
symmetric window of length ``M + 1``, which is what a DFT of length ``M`` wants. The older
``*_window(window_length, periodic=True)`` functions are the same windows with
``sym = not periodic``.
"""

# ruff: noqa: N803, N806 - M (window length) and N (its denominator) are torch's and scipy's names

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy

from .. import _dtype
from .._backend import backend_of
from .._creation import _finish
from .._tensor import Tensor

__all__ = [
    "bartlett",
    "blackman",
    "cosine",
    "exponential",
    "gaussian",
    "general_cosine",
    "general_hamming",
    "hamming",
    "hann",
    "kaiser",
    "nuttall",
]


# ---------------------------------------------------------------------------- checks
def _check(name: str, M, dtype, layout) -> _dtype.dtype:
    """torch's argument checks (ValueError), returning the dtype to build."""
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not None and str(layout) not in ("torch.strided", "strided"):
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    dt = _dtype._default_float if dtype is None else _dtype.to_dtype(dtype)
    if dt not in (_dtype.float32, _dtype.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dt}")
    return dt


def _finish_window(values, M: int, dt, device, requires_grad: bool) -> Tensor:
    arr = numpy.ones(M) if M == 1 else numpy.asarray(values, dtype=numpy.float64).reshape(M)
    return _finish(arr.astype(dt.np), requires_grad, device)


def _positions(M: int, sym: bool):
    """(n, N): sample indices 0 .. M - 1 and the window's period-defining denominator."""
    return numpy.arange(M, dtype=numpy.float64), (M - 1 if sym else M)


# ---------------------------------------------------------------------------- torch.signal.windows
def general_cosine(M, *, a: Iterable, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """sum_k (-1)^k a_k cos(2 pi k n / N): hann, hamming, blackman and nuttall are instances."""
    if not isinstance(a, (list, tuple)):
        raise TypeError("Coefficients must be a list/tuple")
    if not a:
        raise ValueError("Coefficients cannot be empty")
    dt = _check("general_cosine", M, dtype, layout)
    n, N = _positions(M, sym)
    values = numpy.zeros(M)
    if M > 1:
        for k, coef in enumerate(a):
            values += (-1) ** k * float(coef) * numpy.cos(2.0 * math.pi * k * n / N)
    return _finish_window(values, M, dt, device, requires_grad)


def general_hamming(M, *, alpha: float = 0.54, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """alpha - (1 - alpha) cos(2 pi n / N)."""
    return general_cosine(M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def hann(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Hann window 0.5 - 0.5 cos(2 pi n / N)."""
    return general_hamming(M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def hamming(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Hamming window 0.54 - 0.46 cos(2 pi n / N)."""
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def blackman(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Blackman window 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)."""
    return general_cosine(M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def nuttall(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """Nuttall's minimum 4-term Blackman-Harris window."""
    return general_cosine(M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def bartlett(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The triangular Bartlett window 1 - |2n/N - 1| (zero at both ends when symmetric)."""
    dt = _check("bartlett", M, dtype, layout)
    n, N = _positions(M, sym)
    return _finish_window(1.0 - numpy.abs(2.0 * n / max(N, 1) - 1.0), M, dt, device, requires_grad)


def cosine(M: int, *, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The cosine (sine) window sin(pi (n + 1/2) / (N + 1))."""
    dt = _check("cosine", M, dtype, layout)
    n, N = _positions(M, sym)
    return _finish_window(numpy.sin(math.pi * (n + 0.5) / (N + 1)), M, dt, device, requires_grad)


def exponential(M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True, dtype=None, layout=None, device=None,
                requires_grad: bool = False) -> Tensor:
    """exp(-|n - center| / tau); ``center`` defaults to the middle (and must be None when symmetric)."""
    dt = _check("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    n, N = _positions(M, sym)
    c = N / 2.0 if center is None else float(center)
    return _finish_window(numpy.exp(-numpy.abs(n - c) / tau), M, dt, device, requires_grad)


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """exp(-((n - N/2) / std)^2 / 2)."""
    dt = _check("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    n, N = _positions(M, sym)
    return _finish_window(numpy.exp(-0.5 * ((n - N / 2.0) / std) ** 2), M, dt, device, requires_grad)


def _kaiser_values(M: int, beta: float, sym: bool):
    n, N = _positions(M, sym)
    if M <= 1:
        return numpy.ones(M)
    half = N / 2.0
    arg = beta * numpy.sqrt(numpy.clip(1.0 - ((n - half) / half) ** 2, 0.0, None))
    i0 = backend_of(arg).scipy("special").i0  # SciPy's i0 on the host (a creation op)
    return i0(arg) / i0(numpy.float64(beta))


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Kaiser window i0(beta sqrt(1 - ((n - N/2) / (N/2))^2)) / i0(beta)."""
    dt = _check("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    return _finish_window(_kaiser_values(M, float(beta), sym), M, dt, device, requires_grad)


# ---------------------------------------------------------------------------- torch.*_window
def _check_window(name: str, window_length, dtype) -> _dtype.dtype:
    if isinstance(window_length, bool) or not isinstance(window_length, (int, numpy.integer)):
        raise TypeError(f"{name}(): argument 'window_length' (position 1) must be int, not {type(window_length).__name__}")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
    dt = _dtype._default_float if dtype is None else _dtype.to_dtype(dtype)
    if not dt.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dt}")
    return dt


def _cosine_window(name: str, window_length, periodic: bool, coeffs, dtype, device, requires_grad) -> Tensor:
    dt = _check_window(name, window_length, dtype)
    M = int(window_length)
    n, N = _positions(M, not periodic)
    values = numpy.zeros(M)
    if M > 1:
        for k, coef in enumerate(coeffs):
            values += (-1) ** k * coef * numpy.cos(2.0 * math.pi * k * n / N)
    return _finish_window(values, M, dt, device, requires_grad)


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Hann window (periodic by default, for spectral analysis with ``stft``)."""
    return _cosine_window("hann_window", window_length, periodic, (0.5, 0.5), dtype, device, requires_grad)


def _overload_error(name: str, given: str, overloads: str) -> TypeError:
    return TypeError(f"{name}() received an invalid combination of arguments - got ({given}), but expected one of:\n{overloads}")


def hamming_window(window_length: int, periodic: bool | None = None, alpha: float | None = None, beta: float | None = None, *, dtype=None,
                   layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """alpha - beta cos(2 pi n / N) (periodic by default; alpha = 0.54, beta = 0.46). As in torch,
    each parameter needs the ones before it: (length), (length, periodic), (..., alpha), (..., beta)."""
    if (periodic is None and alpha is not None) or (alpha is None and beta is not None):
        raise _overload_error("hamming_window", "int, ...", " * (int window_length, bool periodic, float alpha, float beta, *, ...)")
    alpha = 0.54 if alpha is None else alpha
    beta = 0.46 if beta is None else beta
    periodic = True if periodic is None else periodic
    return _cosine_window("hamming_window", window_length, periodic, (float(alpha), float(beta)), dtype, device, requires_grad)


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Blackman window (periodic by default)."""
    return _cosine_window("blackman_window", window_length, periodic, (0.42, 0.5, 0.08), dtype, device, requires_grad)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """The triangular Bartlett window (periodic by default)."""
    dt = _check_window("bartlett_window", window_length, dtype)
    M = int(window_length)
    n, N = _positions(M, not periodic)
    return _finish_window(1.0 - numpy.abs(2.0 * n / max(N, 1) - 1.0), M, dt, device, requires_grad)


def kaiser_window(window_length: int, periodic: bool | None = None, beta: float | None = None, *, dtype=None, layout=None, device=None,
                  requires_grad: bool = False) -> Tensor:
    """The Kaiser window with shape parameter ``beta`` (periodic by default; beta = 12). As in
    torch, ``beta`` needs ``periodic`` before it."""
    if periodic is None and beta is not None:
        raise _overload_error("kaiser_window", "int, beta=float", " * (int window_length, bool periodic, float beta, *, ...)")
    periodic = True if periodic is None else periodic
    beta = 12.0 if beta is None else beta
    dt = _check_window("kaiser_window", window_length, dtype)
    return _finish_window(_kaiser_values(int(window_length), float(beta), not periodic), int(window_length), dt, device, requires_grad)
