"""``torch.special``: special functions under scipy-style names.

The implementations live in ``backprop.ops.special`` (gamma family, erf's relatives, Bessel
functions, orthogonal polynomials, logit, xlogy, sinc; SciPy computes most of them) and the
other op modules; this namespace only mirrors ``torch.special``'s names.
"""

from __future__ import annotations

from .ops.elementwise import (
    _out,
    erf,
    exp2,
    expm1,
    log1p,
    round,  # noqa: A004 - torch's name
)
from .ops.elementwise import sigmoid as _sigmoid
from .ops.nn_ops import log_softmax as _log_softmax
from .ops.nn_ops import softmax as _softmax
from .ops.reduction import logsumexp as _logsumexp
from .ops.special import (
    airy_ai,
    bessel_j0,
    bessel_j1,
    bessel_y0,
    bessel_y1,
    chebyshev_polynomial_t,
    chebyshev_polynomial_u,
    chebyshev_polynomial_v,
    chebyshev_polynomial_w,
    digamma,
    entr,
    erfc,
    erfcx,
    erfinv,
    hermite_polynomial_h,
    hermite_polynomial_he,
    i0,
    i0e,
    i1,
    i1e,
    laguerre_polynomial_l,
    legendre_polynomial_p,
    lgamma,
    log_ndtr,
    logit,
    modified_bessel_i0,
    modified_bessel_i1,
    modified_bessel_k0,
    modified_bessel_k1,
    ndtr,
    ndtri,
    polygamma,
    scaled_modified_bessel_k0,
    scaled_modified_bessel_k1,
    shifted_chebyshev_polynomial_t,
    shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v,
    shifted_chebyshev_polynomial_w,
    sinc,
    spherical_bessel_j0,
    xlog1py,
    xlogy,
    zeta,
)
from .ops.special import igamma as gammainc
from .ops.special import igammac as gammaincc
from .ops.special import mvlgamma as _mvlgamma

gammaln = lgamma
psi = digamma

__all__ = [
    "airy_ai",
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "chebyshev_polynomial_t",
    "chebyshev_polynomial_u",
    "chebyshev_polynomial_v",
    "chebyshev_polynomial_w",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
    "zeta",
]


def expit(input, *, out=None):
    """The logistic sigmoid 1 / (1 + exp(-x))."""
    return _out(_sigmoid(input), out)


def logsumexp(input, dim, keepdim=False, *, out=None):
    return _out(_logsumexp(input, dim, keepdim), out)


def softmax(input, dim, *, dtype=None):
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    return _log_softmax(input, dim, dtype=dtype)


def multigammaln(input, p: int, *, out=None):
    """The multivariate log-gamma function (``torch.mvlgamma``)."""
    return _mvlgamma(input, p, out=out)
