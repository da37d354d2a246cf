"""``backprop.amp``: automatic mixed precision (torch.amp).

``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`` runs the ops on
torch's autocast lists in lower precision (float16 on CUDA, bfloat16 on CPU) or float32;
``GradScaler`` scales the loss so float16 gradients do not underflow. See the README's
"Mixed precision" section.
"""

from __future__ import annotations

from . import autocast_mode, grad_scaler
from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from .grad_scaler import GradScaler

__all__ = [
    "GradScaler",
    "autocast",
    "autocast_mode",
    "custom_bwd",
    "custom_fwd",
    "grad_scaler",
    "is_autocast_available",
]
