"""torch.utils: ``data`` (datasets, samplers, DataLoader) and ``checkpoint`` (activation recomputation)."""

from __future__ import annotations

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
