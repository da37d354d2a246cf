"""``backprop.distributions``: the core of ``torch.distributions`` -- probability
distributions with torch's shapes, argument validation, differentiable ``log_prob``,
``entropy`` and reparameterized ``rsample``, and ``kl_divergence``. Sampling draws from
backprop's generator (``backprop.manual_seed``), so values differ from torch's."""

from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = [
    "Bernoulli",
    "Categorical",
    "Distribution",
    "Independent",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
