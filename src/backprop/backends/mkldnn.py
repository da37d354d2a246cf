"""``backprop.backends.mkldnn``: oneDNN (MKL-DNN), which backprop does not use (NumPy's BLAS does the work).

``is_available()`` is False; ``enabled`` is a plain setting kept for scripts that set it.
"""

from __future__ import annotations

import contextlib
import sys

enabled = True
deterministic = False


def is_available() -> bool:
    """False: backprop does not use oneDNN."""
    return False


def is_acl_available() -> bool:
    return False


def set_flags(_enabled=None, _deterministic=None) -> tuple:
    module = sys.modules[__name__]
    previous = (module.enabled, module.deterministic)
    if _enabled is not None:
        module.enabled = _enabled
    if _deterministic is not None:
        module.deterministic = _deterministic
    return previous


@contextlib.contextmanager
def flags(enabled=False, deterministic=False):
    previous = set_flags(enabled, deterministic)
    try:
        yield
    finally:
        set_flags(*previous)
