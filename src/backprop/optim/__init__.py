"""``backprop.optim``: optimization algorithms and learning-rate schedulers, with torch.optim's API.

Every optimizer updates its parameters in place with vectorized ``xp`` calls on the arrays
behind them (no graph is recorded) and follows torch's single-tensor update formulas, so a
model trained here tracks the same model trained with torch to float32 rounding.
"""

from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer, register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "ASGD",
    "LBFGS",
    "lr_scheduler",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGD",
    "swa_utils",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
]
