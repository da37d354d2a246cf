"""Fused kernels of the CPU backend (NumPy), called through ``backend_of(x).kernels``.

``cuda_kernels.py`` defines the same functions for CUDA arrays.
"""

from __future__ import annotations
