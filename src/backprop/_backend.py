"""The array-module seam.

Every op reaches array math through ``xp`` imported from here, never by importing NumPy
itself. Today ``xp`` is NumPy; a GPU backend (CuPy shares NumPy's API) plugs in here by
choosing the module per device, without touching op code.
"""

from __future__ import annotations

import numpy

xp = numpy
ndarray = numpy.ndarray


def as_array(value, dtype=None):
    """Return ``value`` as an ``xp`` array (no copy when it already is one of ``dtype``)."""
    return xp.asarray(value, dtype=dtype)


def set_num_threads(n: int) -> None:
    """Set the BLAS thread count (threadpoolctl if installed; otherwise a no-op).

    NumPy's BLAS reads ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` at import; changing it
    afterwards needs threadpoolctl, an optional extra.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        return
    threadpool_limits(limits=int(n))
