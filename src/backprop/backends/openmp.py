"""``backprop.backends.openmp``: backprop has no OpenMP code of its own (threads are NumPy's BLAS's)."""

from __future__ import annotations


def is_available() -> bool:
    """False: backprop is not built with OpenMP (``backprop.set_num_threads`` sets the BLAS threads)."""
    return False
