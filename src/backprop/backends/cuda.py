"""``backprop.backends.cuda``: CUDA matmul precision and the attention-kernel switches.

``matmul.allow_tf32`` and ``backprop.set_float32_matmul_precision`` are one setting, as in
torch: ``"highest"`` (allow_tf32 False, the default) keeps float32 matmuls in full float32;
``"high"`` (allow_tf32 True) lets them use TensorFloat-32; ``"medium"`` lets them use
bfloat16 internally. On a GPU it selects CuPy's compute type for float32 matmuls
(``COMPUTE_TYPE_DEFAULT`` / ``_TF32`` / ``_BF16``; CuPy itself falls back to the default
below compute capability 8.0); on the CPU it has no effect. The scaled-dot-product-attention
switches (``enable_flash_sdp``...) are recorded settings: backprop has one attention
implementation, the math one, used whatever they say.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings

import numpy

__all__ = [
    "cudnn_sdp_enabled",
    "enable_cudnn_sdp",
    "enable_flash_sdp",
    "enable_math_sdp",
    "enable_mem_efficient_sdp",
    "flash_sdp_enabled",
    "get_float32_matmul_precision",
    "is_built",
    "math_sdp_enabled",
    "matmul",
    "mem_efficient_sdp_enabled",
    "sdp_kernel",
    "set_float32_matmul_precision",
]

_PRECISIONS = ("highest", "high", "medium")
_precision = "highest"


def is_built() -> bool:
    """Whether backprop can run on CUDA here: CuPy is installed (a GPU may still be absent)."""
    return importlib.util.find_spec("cupy") is not None


def get_float32_matmul_precision() -> str:
    """``"highest"``, ``"high"`` or ``"medium"`` (see the module docstring)."""
    return _precision


def set_float32_matmul_precision(precision: str) -> None:
    """Set the internal precision of float32 matmuls; an unknown name warns and changes nothing, as torch."""
    global _precision
    if precision not in _PRECISIONS:
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current setFloat32MatmulPrecision call has no effect.",
            stacklevel=2,
        )
        return
    _precision = precision
    apply_matmul_precision()


def apply_matmul_precision(xp=None) -> None:
    """Give CuPy (when the CUDA backend is loaded, or ``xp`` is CuPy) the compute type of the current precision."""
    if xp is None:
        from .._backend import loaded_backend

        backend = loaded_backend("cuda")
        if backend is None or type(backend).__module__ != "backprop._backend.cuda":
            return  # no GPU in use (or a stand-in backend): nothing to configure
        xp = backend.xp
    linalg = importlib.import_module(f"{xp.__name__}._core._routines_linalg")
    names = {
        "highest": ("COMPUTE_TYPE_DEFAULT", 1),
        "high": ("COMPUTE_TYPE_TF32", 7),
        "medium": ("COMPUTE_TYPE_BF16", 6),
    }
    name, fallback = names[_precision]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CuPy warns and keeps the default below compute capability 8.0
        linalg.set_compute_type(numpy.float32, getattr(linalg, name, fallback))


class _Matmul:
    """``backends.cuda.matmul``: ``allow_tf32`` mirrors the float32 matmul precision;
    ``fp32_precision`` is torch's newer spelling (``"ieee"``: highest, ``"tf32"``: high,
    ``"none"``: whatever the legacy settings say)."""

    __slots__ = ()
    allow_bf16_reduced_precision_reduction = True
    allow_fp16_reduced_precision_reduction = True
    _fp32_precision = "none"

    @property
    def allow_tf32(self) -> bool:
        return _precision != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        set_float32_matmul_precision("high" if value else "highest")

    @property
    def fp32_precision(self) -> str:
        return _Matmul._fp32_precision

    @fp32_precision.setter
    def fp32_precision(self, value: str) -> None:
        if value not in ("ieee", "tf32", "none", "bf16"):
            raise RuntimeError(f"Unknown precision: {value}")
        if value == "bf16":
            raise RuntimeError("backend 'cuda' does not support precision 'bf16'")
        _Matmul._fp32_precision = value
        if value != "none":
            set_float32_matmul_precision("high" if value == "tf32" else "highest")

    def __setattr__(self, name: str, value) -> None:
        if name in ("allow_bf16_reduced_precision_reduction", "allow_fp16_reduced_precision_reduction"):
            setattr(type(self), name, bool(value))
        elif name in ("allow_tf32", "fp32_precision"):
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(f"Unknown attribute {name}")

    def __getattr__(self, name: str):
        raise AttributeError(f"Unknown attribute {name}")


matmul = _Matmul()

_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def math_sdp_enabled() -> bool:
    return _sdp["math"]


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    return _sdp["cudnn"]


def enable_cudnn_sdp(enabled: bool) -> None:
    _sdp["cudnn"] = bool(enabled)


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True, enable_math: bool = True, enable_mem_efficient: bool = True, enable_cudnn: bool = True
):
    """Deprecated in torch (FutureWarning): these switches inside the block, the previous ones after."""
    warnings.warn(
        "`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be removed. "
        "Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated signature.",
        FutureWarning,
        stacklevel=3,
    )
    previous = dict(_sdp)
    _sdp.update(
        flash=bool(enable_flash),
        math=bool(enable_math),
        mem_efficient=bool(enable_mem_efficient),
        cudnn=bool(enable_cudnn),
    )
    try:
        yield
    finally:
        _sdp.update(previous)
