"""``torch.special``: special functions under scipy-style names.

The implementations live in ``backprop.ops.special`` (gamma family, erfinv, logit, xlogy,
sinc) and the other op modules; this namespace only mirrors ``torch.special``'s names.
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
from .ops.special import digamma, erfinv, lgamma, logit, polygamma, sinc, xlogy

gammaln = lgamma
psi = digamma

__all__ = [
    "digamma",
    "erf",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammaln",
    "log1p",
    "log_softmax",
    "logit",
    "logsumexp",
    "polygamma",
    "psi",
    "round",
    "sinc",
    "softmax",
    "xlogy",
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
