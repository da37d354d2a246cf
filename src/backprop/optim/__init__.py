"""``backprop.optim``: optimization algorithms and learning-rate schedulers, with torch.optim's API.

Every optimizer updates its parameters in place with vectorized ``xp`` calls on the arrays
behind them (no graph is recorded) and follows torch's single-tensor update formulas, so a
model trained here tracks the same model trained with torch to float32 rounding.
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .nadam import NAdam
from .optimizer import Optimizer, register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "lr_scheduler",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "SGD",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
]
