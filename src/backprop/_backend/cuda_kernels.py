"""Fused kernels of the CUDA backend (CuPy), called through ``backend_of(x).kernels``.

``cpu_kernels.py`` defines the same functions for NumPy arrays.
"""

from __future__ import annotations
