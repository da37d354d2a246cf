"""backprop.text's model files executed by torch: the oracle of the text model tests (see benchmarks/torch_twin.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.torch_twin import torch_module  # noqa: E402

__all__ = ["torch_module"]
