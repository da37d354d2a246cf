"""``torch.signal``: signal-processing helpers (the ``windows`` module)."""

from __future__ import annotations

from . import windows

__all__ = ["windows"]
