"""``backprop.backends.cpu``: the SIMD level of the host (what NumPy dispatches to)."""

from __future__ import annotations

import numpy


def get_cpu_capability() -> str:
    """``"AVX512"``, ``"AVX2"`` or ``"DEFAULT"`` (torch's names), from NumPy's CPU feature detection."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        features = getattr(numpy.core._multiarray_umath, "__cpu_features__", {})
    if features.get("AVX512F") and features.get("AVX512BW") and features.get("AVX512VL"):
        return "AVX512"
    if features.get("AVX2"):
        return "AVX2"
    return "DEFAULT"
