"""Special functions: the gamma family, erf's relatives, Bessel functions, orthogonal
polynomials, the normal distribution's functions, logit, xlogy, sinc.

SciPy is the source of the special functions: ``_sc(arr)`` is ``scipy.special`` for NumPy
arrays and ``cupyx.scipy.special`` for CuPy arrays (``backend_of(arr).scipy``, imported on the
first call of an op that needs it). Ops compute in their input's dtype (float16 in float32,
which SciPy's loops take); integer and bool inputs become the default float dtype first, as in
torch. Gradients are torch's formulas written with these same primitives, so ``create_graph``
works (d/dx lgamma = digamma, d/dx i0 = i1, d/dx erfcx = 2x erfcx - 2/sqrt(pi), ...).

Hand-written kernels stay only where they measured faster than SciPy's: ``polygamma(n, x)``
for n >= 1 here (``_polygamma64``), and the float32 erf/Phi tables on the CPU
(``elementwise._erf_array``, ``nn_ops._phi_table``); ``benchmarks/special_timing.py`` re-measures
them. sinc's derivatives of every order (``_sinc_deriv64``) have no SciPy counterpart. Torch has no derivative for the Bessel functions of the
``special_*`` family (bessel_j0, modified_bessel_i0, ...), the Airy function and the orthogonal
polynomials: their results do not require grad, as in torch.

Values at poles, at +-inf and at NaN follow torch (checked against it in
``tests/test_special_ops.py`` and ``tests/test_special_functions.py``), including torch's
finite ``polygamma(1, x)`` at negative integers (``pi^2 / sin(pi x)^2`` of the rounded ``pi x``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy

from .. import _dtype
from .._autocast import autocast_op
from .._backend import CPU, array_module, backend_of
from .._tensor import Tensor, _make
from ..autograd.function import Function, same_device
from . import _backward as B
from ._utils import as_float, broadcast_error, promote_operands, require_tensor, unbroadcast
from .elementwise import _out

_LOG_PI = math.log(math.pi)
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------- constants
def _bernoulli(count: int) -> list:
    """Exact Bernoulli numbers B_0 .. B_count (B_1 = -1/2), by the standard recurrence."""
    b = [Fraction(1)]
    for m in range(1, count + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return b


_BERN = _bernoulli(24)
_B2J = [_BERN[2 * j] for j in range(1, 13)]  # B_2 .. B_24


def _horner(coeffs, z):
    """sum_i coeffs[i] z^i (coefficients lowest order first)."""
    acc = array_module(z).full_like(z, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * z + c
    return acc


_ZETA_TAIL_CACHE: dict = {}


def _zeta_tail_coeffs(s: int) -> tuple:
    """Euler-Maclaurin coefficients for zeta(s, w): B_2j / (2j)! * s (s+1) ... (s+2j-2)."""
    coeffs = _ZETA_TAIL_CACHE.get(s)
    if coeffs is None:
        out = []
        rising = Fraction(s)  # s (s+1) ... (s + 2j - 2): 2j - 1 factors
        for j in range(1, 13):
            if j > 1:
                rising *= (s + 2 * j - 3) * (s + 2 * j - 2)
            out.append(float(_B2J[j - 1] / math.factorial(2 * j) * rising))
        coeffs = _ZETA_TAIL_CACHE[s] = tuple(out)
    return coeffs


def _hurwitz_zeta(s: int, q):
    """zeta(s, q) = sum_k (q + k)^-s for an integer s >= 2 and q > 0 (float64 array)."""
    xp = array_module(q)
    shift_to = float(10 + s)  # the Euler-Maclaurin tail is converged to ~1e-19 from here
    steps = xp.where(q < shift_to, xp.ceil(shift_to - q), 0.0)
    total = xp.zeros_like(q)
    for k in range(int(shift_to)):
        term = (q + k) ** -s
        total += xp.where(k < steps, term, 0.0)
    w = q + steps
    inv = 1.0 / w
    tail = 1.0 / (s - 1) + 0.5 * inv + _horner((0.0,) + _zeta_tail_coeffs(s), inv * inv)
    return total + w ** (1 - s) * tail


_COT_DERIV_CACHE: dict = {0: (0, 1)}


def _cot_derivative_poly(n: int) -> tuple:
    """Integer coefficients (lowest first) of P_n with d^n/dt^n cot(t) = P_n(cot t).

    P_0 = c and P_{n+1} = -(1 + c^2) P_n'(c), since d/dt cot t = -(1 + cot^2 t).
    """
    m = max(k for k in _COT_DERIV_CACHE if k <= n)
    p = _COT_DERIV_CACHE[m]
    while m < n:
        dp = [i * p[i] for i in range(1, len(p))] or [0]
        out = [0] * (len(dp) + 2)
        for i, c in enumerate(dp):
            out[i] -= c
            out[i + 2] -= c
        m += 1
        p = _COT_DERIV_CACHE[m] = tuple(out)
    return p


# ---------------------------------------------------------------------------- float64 kernels
def _sinpi_reduced(x):
    """(r, sin(pi r)) with r = x - round(x) (exact), so |sin(pi x)| = |sin(pi r)| to full precision."""
    xp = array_module(x)
    r = x - xp.round(x)
    return r, xp.sin(math.pi * r)


def _cotpi(r, s):
    """cot(pi r) for r in [-1/2, 1/2] given s = sin(pi r): cos/sin near 0, and near +-1/2
    (where cot has its zero) tan(pi (1/2 - |r|)), whose argument is exact."""
    xp = array_module(r)
    near_half = xp.abs(r) > 0.25
    return xp.where(near_half, xp.copysign(xp.tan(math.pi * (0.5 - xp.abs(r))), r), xp.cos(math.pi * r) / s)


def _polygamma_positive(n: int, x):
    """polygamma(n, x), n >= 1, x > 0: (-1)^(n+1) n! zeta(n + 1, x)."""
    sign = 1.0 if n % 2 else -1.0
    factorial = float(math.factorial(n)) if n <= 170 else math.inf  # overflows like torch's beyond
    return sign * factorial * _hurwitz_zeta(n + 1, x)


def _polygamma64(n: int, x, dtype):
    """polygamma(n, x) for n >= 1 in float64: the Hurwitz zeta sum above and the reflection
    formula for negative x. Measured on 1M float32 elements (x in [0.1, 20], 2 shared cores):
    92.8 ms here against 220 ms for ``scipy.special.polygamma`` (197 ms for its ``zeta`` alone),
    so this kernel stays; digamma (n = 0) is SciPy's."""
    xp = array_module(x)
    out = xp.full_like(x, numpy.nan)
    pos = (x > 0) & (x < numpy.inf)
    if pos.any():
        out[pos] = _polygamma_positive(n, x[pos])
    neg = (x < 0) & (x != xp.floor(x)) & xp.isfinite(x)
    if neg.any():
        v = x[neg]
        r, s = _sinpi_reduced(v)
        cot = _cotpi(r, s)
        # psi_n(1 - v) + (-1)^(n+1) psi_n(v) = (-1)^n pi d^n/dv^n cot(pi v)
        coeffs = [float(c) if abs(c) < 1e300 else (math.inf if c > 0 else -math.inf) for c in _cot_derivative_poly(n)]
        deriv = math.pi ** (n + 1) * _horner(coeffs, cot)
        out[neg] = -deriv + (-1.0) ** n * _polygamma_positive(n, 1.0 - v)
    poles = (x <= 0) & (x == xp.floor(x))  # 0, -0, negative integers, -inf
    if n == 1:
        # torch's trigamma reflects with sin(pi x) of the rounded product pi * x (in the input's
        # precision): +inf at 0, huge but finite at negative integers, NaN at -inf.
        out[x == numpy.inf] = 0.0
        out[x == 0] = numpy.inf
        ints = poles & (x != 0) & xp.isfinite(x)
        if ints.any():
            v = x[ints]
            work = numpy.float64 if dtype == numpy.float64 else numpy.float32
            s = xp.sin(v.astype(work) * work(math.pi)).astype(numpy.float64)
            out[ints] = math.pi**2 / (s * s) - _polygamma_positive(1, 1.0 - v)
    else:
        out[poles] = numpy.inf if n % 2 else -numpy.inf  # torch: zeta(n + 1, q <= 0 integer) = inf
    return out


def _sinc_deriv64(k: int, x):
    """The k-th derivative of sinc(x) = sin(pi x)/(pi x): pi^k S^(k)(pi x), S(t) = sin(t)/t.

    A Taylor series for |t| < 1 (no cancellation near 0); Leibniz's rule on sin(t) * t^-1 beyond.
    """
    xp = array_module(x)
    t = math.pi * x
    out = xp.empty_like(t)
    small = xp.abs(t) < 1.0
    if small.any():
        ts = t[small]
        acc = xp.zeros_like(ts)
        # S(t) = sum_m (-1)^m t^(2m) / (2m+1)!; differentiate term by term (14 terms: < 1e-25)
        for m in range(14):
            p = 2 * m
            if p < k:
                continue
            coef = (-1) ** m * math.perm(p, k) / math.factorial(p + 1)
            acc += coef * ts ** (p - k)
        out[small] = acc
    large = ~small
    if large.any():
        tl = t[large]
        acc = xp.zeros_like(tl)
        inv = 1.0 / tl
        for j in range(k + 1):
            # C(k, j) sin^(k-j)(t) * d^j/dt^j t^-1 = C(k, j) sin(t + (k-j) pi/2) (-1)^j j! t^(-1-j)
            acc += math.comb(k, j) * xp.sin(tl + (k - j) * (math.pi / 2)) * ((-1) ** j * math.factorial(j)) * inv ** (j + 1)
        out[large] = acc
    return out * math.pi**k


def _in_float64(kernel, arr, *args):
    """Run a float64 kernel on ``arr`` (flattened) and cast the result back to ``arr``'s dtype."""
    backend = backend_of(arr)
    x = backend.xp.asarray(arr, dtype=numpy.float64).reshape(-1)
    with backend.errstate(all="ignore"):
        out = kernel(*args, x) if args else kernel(x)
    return out.reshape(arr.shape).astype(arr.dtype, copy=False)


# ---------------------------------------------------------------------------- primitives
# A backward pass gets arrays (no graph) or Tensors (create_graph): ``backend_of(grad)`` is the
# array's backend, and the CPU's for a Tensor, whose NumPy errstate is what the CPU needs and
# is harmless for a Tensor on another device.
def _sc(arr):
    """``scipy.special`` for ``arr``'s device (``cupyx.scipy.special`` on CUDA)."""
    return backend_of(arr).scipy("special")


def _special_function(backend, name: str):
    """``scipy.special.<name>`` for ``backend``'s arrays. Where ``cupyx.scipy.special`` lacks
    the function (``airy`` and the ``eval_*`` polynomials, as of CuPy 14) SciPy runs on host
    copies and the result is copied back: correct, at the price of a device sync."""
    fn = getattr(backend.scipy("special"), name, None)
    if fn is not None:
        return fn
    host_fn = getattr(CPU.scipy("special"), name)

    def on_host(*arrays):
        index = backend.device_of(arrays[0]).index
        out = host_fn(*[backend.to_host(a) for a in arrays])
        if isinstance(out, tuple):
            return tuple(backend.asarray(o, index=index) for o in out)
        return backend.asarray(out, index=index)

    return on_host


def _scipy(name: str, *arrays, dtype=None):
    """``scipy.special.<name>(*arrays)`` on the arrays' device, cast to ``dtype`` (default: the
    first array's). float16 goes in as float32 (SciPy has no float16 loops); warnings at poles
    and outside the domain are silenced (the inf/NaN are the values, as in torch)."""
    first = arrays[0]
    backend = backend_of(first)
    args = [a.astype(numpy.float32) if a.dtype == numpy.float16 else a for a in arrays]
    with backend.errstate(all="ignore"):
        out = _special_function(backend, name)(*args)
    return backend.xp.asarray(out).astype(dtype or first.dtype, copy=False)


class Lgamma(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        x = a._data
        out = _scipy("gammaln", x)
        return array_module(x).where(x == -numpy.inf, numpy.inf, out).astype(x.dtype, copy=False)  # torch: +inf at -inf

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(Digamma, a)


class Digamma(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _scipy("digamma", a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(Polygamma, a, 1)


class Polygamma(Function):
    @staticmethod
    def forward(ctx, a, n):
        ctx.save_for_backward(a)
        ctx.n = n
        data = a._data
        if n == 0:
            return _scipy("digamma", data)
        return _in_float64(lambda x: _polygamma64(n, x, data.dtype), data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(Polygamma, a, ctx.n + 1), None


class Erfinv(Function):
    @staticmethod
    def forward(ctx, a):
        x = a._data
        out = array_module(x).copysign(_scipy("erfinv", x), x)  # erfinv(-0) = -0, as torch
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * B.exp(out * out) * (0.5 * _SQRT_PI)


class Sinc(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        x = a._data
        backend = backend_of(x)
        xp = backend.xp
        t = xp.asarray(x, dtype=numpy.float64) * math.pi
        out = xp.where(t == 0, 1.0, xp.sin(t) / t)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(SincDerivative, a, 1)


class SincDerivative(Function):
    """The k-th derivative of sinc (its own primitive, so sinc has gradients of every order)."""

    @staticmethod
    def forward(ctx, a, k):
        ctx.save_for_backward(a)
        ctx.k = k
        return _in_float64(_sinc_deriv64, a._data, k)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(SincDerivative, a, ctx.k + 1), None


class Logit(Function):
    @staticmethod
    def forward(ctx, a, eps):
        ctx.save_for_backward(a)
        ctx.eps = eps
        x = a._data
        backend = backend_of(x)
        xp = backend.xp
        if eps is not None:
            lo, hi = x.dtype.type(eps), x.dtype.type(1.0 - eps)
            x = xp.where(x < lo, lo, xp.where(x > hi, hi, x))  # torch's order when eps > 1/2
        z = xp.asarray(x, dtype=numpy.float64)
        out = xp.log(z / (1.0 - z))
        return out.astype(a._data.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        # torch: grad / (x (1 - x)) inside [eps, 1 - eps] (or [0, 1]); outside, 0 with eps, NaN
        # without. At x = NaN with eps, torch's first-order kernel gives NaN but its
        # differentiable (create_graph) formula 0: both are mirrored.
        (a,) = ctx.saved_tensors
        eps = ctx.eps
        lo = 0.0 if eps is None else eps
        slope = grad / (a * (1.0 - a))
        if B.is_array(a):
            lo_v, hi_v = a.dtype.type(lo), a.dtype.type(1.0 - lo)
            if eps is not None:
                return B.where((a < lo_v) | (a > hi_v), 0.0, slope), None
        else:
            lo_v, hi_v = lo, 1.0 - lo
        inside = (a >= lo_v) & (a <= hi_v)
        return B.where(inside, slope, numpy.nan if eps is None else 0.0), None


class XLogY(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        x, y = a._data, b._data
        backend = backend_of(x)
        xp = backend.xp
        if x.dtype.kind == "V":  # bfloat16: torch rounds log(y) to bfloat16, then the product
            return xp.where(xp.isnan(y), x.dtype.type(numpy.nan), xp.where(x == 0, x.dtype.type(0), x * xp.log(y)))
        x64 = xp.asarray(x, dtype=numpy.float64)
        y64 = xp.asarray(y, dtype=numpy.float64)
        out = xp.where(xp.isnan(y64), numpy.nan, xp.where(x64 == 0, 0.0, x64 * xp.log(y64)))
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            # torch: xlogy(grad, y), zeroed where x == 0 and y <= 0
            ga = B.where((a == 0) & (b <= 0), 0.0, B.call(XLogY, grad, b))
            ga = unbroadcast(ga, ctx.input_shape(0))
        if need[1]:
            gb = unbroadcast(grad * a / b, ctx.input_shape(1))
        return ga, gb


# ---------------------------------------------------------------------------- public functions
def _require_tensor(op: str, value, position: int = 1) -> None:
    require_tensor(op, value, "input", position)


def _unary(name: str, fn, doc: str, torch_name: str):
    """The public function of a one-input primitive ``fn``: integer inputs become the default
    float, ``out=`` is honoured, a non-Tensor input is torch's TypeError (naming ``torch_name``)."""

    def op(input: Tensor, *, out=None) -> Tensor:
        require_tensor(torch_name, input)
        return _out(fn.apply(as_float(input)), out, name)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


lgamma = _unary("lgamma", Lgamma, "log|Gamma(x)| elementwise (+inf at non-positive integers); gradient ``digamma(x)``.", "lgamma")


digamma = _unary("digamma", Digamma, "psi(x) = d/dx lgamma(x) (-inf at 0, +inf at -0, NaN at negative integers, as torch).", "digamma")


def polygamma(n: int, input: Tensor, *, out=None) -> Tensor:
    """The n-th derivative of digamma (n >= 0; n = 0 is digamma); gradient ``polygamma(n + 1, x)``."""
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    _require_tensor("polygamma", input, 2)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return _out(Polygamma.apply(as_float(input), int(n)), out, "polygamma")


erfinv = autocast_op("erfinv")(_unary("erfinv", Erfinv, "The inverse of erf on [-1, 1] (+-inf at +-1, NaN outside).", "erfinv"))


def sinc(input: Tensor, *, out=None) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    _require_tensor("sinc", input)
    if input._data.dtype.kind == "c":
        return _out(_complex_sinc(input), out, "sinc")
    return _out(Sinc.apply(as_float(input)), out, "sinc")


def _complex_sinc(z: Tensor) -> Tensor:
    """Complex sinc as a composite of holomorphic primitives; 0 is swapped for 1 inside the quotient
    so the gradient there is torch's 0 (not NaN) at every order."""
    from .elementwise import div, mul, sin, where

    zero = z == 0
    t = mul(where(zero, 1.0, z), math.pi)
    return where(zero, 1.0, div(sin(t), t))


def logit(input: Tensor, eps=None, *, out=None) -> Tensor:
    """log(x / (1 - x)); with ``eps``, x is first clamped to [eps, 1 - eps]."""
    _require_tensor("logit", input)
    if eps is not None:
        if not isinstance(eps, (int, float, numpy.integer, numpy.floating)):
            raise TypeError(f"logit(): argument 'eps' must be float, not {type(eps).__name__}")
        eps = float(eps)
        if eps < 0:  # torch: a negative eps means no clamping
            eps = None
    return _out(Logit.apply(as_float(input), eps), out, "logit")


def xlogy(input, other, *, out=None) -> Tensor:
    """x * log(y), 0 where x == 0 (unless y is NaN); either argument may be a number."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(
            f"xlogy() received an invalid combination of arguments - got ({type(input).__name__}, {type(other).__name__}), "
            "but expected one of: (Tensor input, Tensor other), (Number self, Tensor other), (Tensor input, Number other)"
        )
    a, b = promote_operands(input, other, "xlogy")
    if not _dtype.is_float_array(a._data):  # integer/bool operands: the default float dtype, as torch
        a, b = as_float(a), as_float(b)
    try:
        return _out(XLogY.apply(a, b), out, "xlogy")
    except ValueError:
        raise broadcast_error("xlogy", a, b) from None


# ---------------------------------------------------------------------------- SciPy-backed ops
# Differentiable unary ops: forward is the SciPy function, backward torch's formula in primitives.
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
_TWO_OVER_SQRT_PI = 2.0 / _SQRT_PI


class Erfc(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _scipy("erfc", a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.exp(-(a * a)) * -_TWO_OVER_SQRT_PI


class Erfcx(Function):
    @staticmethod
    def forward(ctx, a):
        out = _scipy("erfcx", a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return grad * (a * out * 2.0 - _TWO_OVER_SQRT_PI)


class I0(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _scipy("i0", a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.call(I1, a)


class I0e(Function):
    @staticmethod
    def forward(ctx, a):
        out = _scipy("i0e", a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return grad * (B.call(I1e, a) - B.sign(a) * out)


class I1(Function):
    @staticmethod
    def forward(ctx, a):
        out = _scipy("i1", a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # i1'(x) = i0(x) - i1(x)/x, 1/2 at 0 (torch's formula)
        a, out = ctx.saved_tensors
        return grad * B.where(a == 0, 0.5, B.call(I0, a) - out / a)


class I1e(Function):
    @staticmethod
    def forward(ctx, a):
        out = _scipy("i1e", a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # i1e'(x) = i0e(x) - i1e(x) (sign(x) + 1/x), 1/2 at 0 (torch's formula)
        a, out = ctx.saved_tensors
        return grad * B.where(a == 0, 0.5, B.call(I0e, a) - out * (B.sign(a) + 1.0 / a))


class Ndtr(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _scipy("ndtr", a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * B.exp(a * a * -0.5) * _INV_SQRT_2PI


class Ndtri(Function):
    inplace_saves_output = True  # ndtri_ saves its output (see Function)

    @staticmethod
    def forward(ctx, a):
        out = _scipy("ndtri", a._data)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * B.exp(out * out * 0.5) * _SQRT_2PI


class LogNdtr(Function):
    @staticmethod
    def forward(ctx, a):
        out = _scipy("log_ndtr", a._data)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # phi(x) / Phi(x) = exp(-(log Phi(x) + x^2 / 2)) / sqrt(2 pi) (torch's formula)
        a, out = ctx.saved_tensors
        return grad * B.exp(-(out + a * a * 0.5)) * _INV_SQRT_2PI


class Entr(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _scipy("entr", a._data)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * -(B.log(a) + 1.0)


class XLog1pY(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        x, y = a._data, b._data
        if x.dtype.kind == "V":  # bfloat16: torch rounds log1p(y) to bfloat16, then the product
            xp = array_module(x)
            out = xp.where(x == 0, x.dtype.type(0), x * xp.log1p(y))
        else:
            out = _scipy("xlog1py", x, y)
        # torch: NaN wherever y is NaN (SciPy gives 0 at x = 0)
        return array_module(x).where(array_module(y).isnan(y), numpy.nan, out).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            ga = B.where((a == 0) & (b <= -1), 0.0, B.call(XLog1pY, grad, b))
            ga = unbroadcast(ga, ctx.input_shape(0))
        if need[1]:
            gb = unbroadcast(grad * a / (b + 1.0), ctx.input_shape(1))
        return ga, gb


class Zeta(Function):
    """The Hurwitz zeta function zeta(x, q); torch differentiates it in q only."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _scipy("zeta", a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        if need[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        gb = grad * -a * B.call(Zeta, B._as_array(a + 1.0), b)
        return None, unbroadcast(gb, ctx.input_shape(1))


class Igamma(Function):
    """The regularized incomplete gamma functions P(a, x) (``upper=False``) and Q(a, x) = 1 - P;
    torch differentiates them in x only."""

    @staticmethod
    def forward(ctx, a, b, upper):
        ctx.save_for_backward(a, b)
        ctx.upper = upper
        return _scipy("gammaincc" if upper else "gammainc", a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        if need[0]:
            raise NotImplementedError(f"the derivative for '{'igammac' if ctx.upper else 'igamma'}: input' is not implemented.")
        # d/dx P(a, x) = x^(a-1) e^-x / Gamma(a)
        density = B.exp((a - 1.0) * B.log(b) - b - B.call(Lgamma, a))
        gb = grad * density if not ctx.upper else -grad * density
        return None, unbroadcast(gb, ctx.input_shape(1)), None


erfc = _unary("erfc", Erfc, "The complementary error function 1 - erf(x), accurate where erf(x) is near 1.", "erfc")


erfcx = _unary("erfcx", Erfcx, "The scaled complementary error function exp(x^2) erfc(x).", "special_erfcx")


i0 = _unary("i0", I0, "The modified Bessel function of the first kind of order 0; gradient ``i1(x)``.", "i0")


i0e = _unary("i0e", I0e, "The exponentially scaled i0: exp(-|x|) i0(x).", "special_i0e")


i1 = _unary("i1", I1, "The modified Bessel function of the first kind of order 1.", "special_i1")


i1e = _unary("i1e", I1e, "The exponentially scaled i1: exp(-|x|) i1(x).", "special_i1e")


ndtr = _unary("ndtr", Ndtr, "The standard normal CDF Phi(x).", "special_ndtr")


ndtri = _unary("ndtri", Ndtri, "The inverse of the standard normal CDF (the normal quantile function).", "special_ndtri")


log_ndtr = _unary("log_ndtr", LogNdtr, "log Phi(x), accurate far into the left tail.", "special_log_ndtr")


entr = _unary("entr", Entr, "Elementwise entropy -x log x (0 at 0, -inf for x < 0).", "special_entr")


def _binary_operands(name: str, input, other, integer_ok: bool = True):
    """Two operands (Tensors or numbers, at least one Tensor) promoted like torch's binary
    float ops: the common dtype, integers/bool to the default float dtype."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got ({type(input).__name__}, {type(other).__name__}), "
            "but expected one of: (Tensor input, Tensor other), (Number self, Tensor other), (Tensor input, Number other)"
        )
    a, b = promote_operands(input, other, name)
    if not _dtype.is_float_array(a._data):
        if not integer_ok:
            kind = {"b": "Bool", "i": "Long", "u": "Byte"}[a._data.dtype.kind]
            if a._data.dtype.kind == "i" and a._data.dtype.itemsize != 8:
                kind = {1: "Char", 2: "Short", 4: "Int"}[a._data.dtype.itemsize]
            raise NotImplementedError(f'"{name}_{a.device.type}" not implemented for \'{kind}\'')
        a, b = as_float(a), as_float(b)
    return a, b


def _binary_apply(name: str, fn, a, b, *extra):
    try:
        return fn.apply(a, b, *extra)
    except ValueError:
        raise broadcast_error(name, a, b) from None


def xlog1py(input, other, *, out=None) -> Tensor:
    """x * log1p(y), 0 where x == 0 (unless y is NaN); either argument may be a number."""
    a, b = _binary_operands("special_xlog1py", input, other)
    return _out(_binary_apply("special_xlog1py", XLog1pY, a, b), out, "xlog1py")


def zeta(input, other, *, out=None) -> Tensor:
    """The Hurwitz zeta function sum_k (q + k)^-x of x = ``input`` and q = ``other``."""
    a, b = _binary_operands("special_zeta", input, other)
    return _out(_binary_apply("special_zeta", Zeta, a, b), out, "zeta")


def igamma(input, other, *, out=None) -> Tensor:
    """The regularized lower incomplete gamma function P(a, x) (a = ``input``, x = ``other``)."""
    _require_tensor("igamma", input)
    if not isinstance(other, Tensor):
        raise TypeError(f"igamma(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    a, b = _binary_operands("igamma", input, other, integer_ok=False)
    return _out(_binary_apply("igamma", Igamma, a, b, False), out, "igamma")


def igammac(input, other, *, out=None) -> Tensor:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    _require_tensor("igammac", input)
    if not isinstance(other, Tensor):
        raise TypeError(f"igammac(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    a, b = _binary_operands("igammac", input, other, integer_ok=False)
    return _out(_binary_apply("igammac", Igamma, a, b, True), out, "igammac")


def mvlgamma(input: Tensor, p: int, *, out=None) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``:
    p (p - 1) / 4 log(pi) + sum_{i < p} lgamma(x - i/2) (a composite of lgamma)."""
    _require_tensor("mvlgamma", input)
    if isinstance(p, bool) or not isinstance(p, (int, numpy.integer)):
        raise TypeError(f"mvlgamma(): argument 'p' (position 2) must be int, not {type(p).__name__}")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = as_float(input)
    total = Lgamma.apply(x)
    for i in range(1, int(p)):
        total = total + Lgamma.apply(x - 0.5 * i)
    return _out(total + p * (p - 1) * 0.25 * _LOG_PI, out, "mvlgamma")


# ---------------------------------------------------------------------------- no-gradient ops
# Torch defines no derivative for these: their results never require grad.
def _no_grad_unary(name: str, compute):
    """A unary op computed by ``compute(x)`` on the (float) array, without a graph."""

    def op(input: Tensor, *, out=None) -> Tensor:
        _require_tensor(name, input)
        x = as_float(input)._data
        with backend_of(x).errstate(all="ignore"):
            result = compute(x)
        return _out(_make(result), out, name)

    op.__name__ = name.removeprefix("special_")
    op.__qualname__ = op.__name__
    op.__doc__ = f"torch.special.{op.__name__} (SciPy's; no gradient, as in torch)."
    return op


def _scipy_fn(scipy_name: str):
    return lambda x: _scipy(scipy_name, x)


def _airy_ai(x):
    backend = backend_of(x)
    src = x.astype(numpy.float32) if x.dtype == numpy.float16 else x
    with backend.errstate(all="ignore"):
        ai = _special_function(backend, "airy")(src)[0]
    return backend.xp.asarray(ai).astype(x.dtype, copy=False)


def _spherical_j0(x):
    """sin(x)/x (1 at 0, 0 at +-inf, as torch)."""
    xp = array_module(x)
    safe = xp.where(x == 0, 1.0, x).astype(x.dtype, copy=False)
    out = xp.where(x == 0, 1.0, xp.sin(safe) / safe)
    return xp.where(xp.isinf(x), 0.0, out).astype(x.dtype, copy=False)


airy_ai = _no_grad_unary("special_airy_ai", _airy_ai)
bessel_j0 = _no_grad_unary("special_bessel_j0", _scipy_fn("j0"))
bessel_j1 = _no_grad_unary("special_bessel_j1", _scipy_fn("j1"))
bessel_y0 = _no_grad_unary("special_bessel_y0", _scipy_fn("y0"))
bessel_y1 = _no_grad_unary("special_bessel_y1", _scipy_fn("y1"))
modified_bessel_i0 = _no_grad_unary("special_modified_bessel_i0", _scipy_fn("i0"))
modified_bessel_i1 = _no_grad_unary("special_modified_bessel_i1", _scipy_fn("i1"))
modified_bessel_k0 = _no_grad_unary("special_modified_bessel_k0", _scipy_fn("k0"))
modified_bessel_k1 = _no_grad_unary("special_modified_bessel_k1", _scipy_fn("k1"))
scaled_modified_bessel_k0 = _no_grad_unary("special_scaled_modified_bessel_k0", _scipy_fn("k0e"))
scaled_modified_bessel_k1 = _no_grad_unary("special_scaled_modified_bessel_k1", _scipy_fn("k1e"))
spherical_bessel_j0 = _no_grad_unary("special_spherical_bessel_j0", _spherical_j0)


def _polynomial(x, n, scipy_name: str, shift: bool = False):
    """The polynomial ``scipy_name`` of degree trunc(n) at x (0 where n < 0, as torch); the
    shifted variants evaluate at 2x - 1."""
    xp = array_module(x)
    degree = xp.trunc(n).astype(numpy.int64) if _dtype.is_float_array(n) else n.astype(numpy.int64)
    t = x * 2.0 - 1.0 if shift else x
    negative = degree < 0
    degree = xp.maximum(degree, 0)
    if scipy_name in ("chebyshev_v", "chebyshev_w"):
        # third and fourth kinds: V_n = U_n - U_{n-1}, W_n = U_n + U_{n-1} (U_{-1} = 0)
        u = _scipy("eval_chebyu", degree, t, dtype=x.dtype)
        below = xp.where(degree > 0, _scipy("eval_chebyu", xp.maximum(degree - 1, 0), t, dtype=x.dtype), 0.0)
        out = u - below if scipy_name == "chebyshev_v" else u + below
    else:
        out = _scipy(scipy_name, degree, t, dtype=x.dtype)
    return xp.where(negative, 0.0, out).astype(x.dtype, copy=False)


def _polynomial_op(name: str, scipy_name: str, shift: bool = False):
    full = f"special_{name}"

    def op(input, n, *, out=None) -> Tensor:
        a, b = _binary_operands(full, input, n)
        try:
            shape = numpy.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise broadcast_error(full, a, b) from None
        if type(a._data) is not type(b._data):
            a, b = same_device(full, (a, b))
        xp = array_module(a._data)
        x, deg = xp.broadcast_to(a._data, shape), xp.broadcast_to(b._data, shape)
        with backend_of(x).errstate(all="ignore"):
            result = _polynomial(x, deg, scipy_name, shift)
        return _out(_make(xp.asarray(result)), out, full)

    op.__name__ = name
    op.__qualname__ = name
    op.__doc__ = f"torch.special.{name}(input, n): degree trunc(n) (0 for n < 0); no gradient, as in torch."
    return op


chebyshev_polynomial_t = _polynomial_op("chebyshev_polynomial_t", "eval_chebyt")
chebyshev_polynomial_u = _polynomial_op("chebyshev_polynomial_u", "eval_chebyu")
chebyshev_polynomial_v = _polynomial_op("chebyshev_polynomial_v", "chebyshev_v")
chebyshev_polynomial_w = _polynomial_op("chebyshev_polynomial_w", "chebyshev_w")
shifted_chebyshev_polynomial_t = _polynomial_op("shifted_chebyshev_polynomial_t", "eval_chebyt", shift=True)
shifted_chebyshev_polynomial_u = _polynomial_op("shifted_chebyshev_polynomial_u", "eval_chebyu", shift=True)
shifted_chebyshev_polynomial_v = _polynomial_op("shifted_chebyshev_polynomial_v", "chebyshev_v", shift=True)
shifted_chebyshev_polynomial_w = _polynomial_op("shifted_chebyshev_polynomial_w", "chebyshev_w", shift=True)
hermite_polynomial_h = _polynomial_op("hermite_polynomial_h", "eval_hermite")
hermite_polynomial_he = _polynomial_op("hermite_polynomial_he", "eval_hermitenorm")
laguerre_polynomial_l = _polynomial_op("laguerre_polynomial_l", "eval_laguerre")
legendre_polynomial_p = _polynomial_op("legendre_polynomial_p", "eval_legendre")
