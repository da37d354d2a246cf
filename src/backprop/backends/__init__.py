"""``backprop.backends``: torch.backends' submodules and flags (``cudnn``, ``cuda``, ``mps``,
``cpu``, ``mkldnn``, ``openmp``, ``opt_einsum``).

The flags are real settings a script can read back; what each one changes in backprop is
said in its module (``cuda.matmul.allow_tf32`` / ``torch.set_float32_matmul_precision``
select CuPy's float32 matmul compute type on a GPU; the rest describe libraries backprop does
not use, and are kept so scripts that set them run unchanged).
"""

from __future__ import annotations

from . import cpu, cuda, cudnn, mkldnn, mps, openmp, opt_einsum

__all__ = ["cpu", "cuda", "cudnn", "fp32_precision", "mkldnn", "mps", "openmp", "opt_einsum"]

fp32_precision = "none"  # torch's generic float32 precision setting (the backends' own settings decide)
