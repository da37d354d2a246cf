"""``backprop.backends.opt_einsum``: whether the opt_einsum package is there, and its settings.

backprop's ``einsum`` lets NumPy/CuPy choose the contraction order of three or more operands, which
is what opt_einsum's strategies do; ``enabled`` and ``strategy`` are kept as torch's settings.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys


def is_available() -> bool:
    """Whether the ``opt_einsum`` package can be imported."""
    return importlib.util.find_spec("opt_einsum") is not None


def get_opt_einsum():
    """The ``opt_einsum`` module, or None when it is not installed."""
    if not is_available():
        return None
    import opt_einsum

    return opt_einsum


enabled = is_available()
strategy = "auto" if enabled else None

_STRATEGIES = ("auto", "greedy", "optimal")


def set_flags(_enabled=None, _strategy=None) -> tuple:
    module = sys.modules[__name__]
    previous = (module.enabled, module.strategy)
    if _enabled is not None:
        module.enabled = _enabled
    if _strategy is not None:
        if _strategy not in _STRATEGIES:
            raise ValueError(f"opt_einsum.strategy must be one of the following: {_STRATEGIES} but got {_strategy}")
        module.strategy = _strategy
    return previous


@contextlib.contextmanager
def flags(enabled=None, strategy=None):
    previous = set_flags(enabled, strategy)
    try:
        yield
    finally:
        set_flags(*previous)
