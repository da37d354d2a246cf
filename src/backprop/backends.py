"""``backprop.backends``: the flags scripts commonly set (``cudnn.deterministic`` ...); no effect."""

from __future__ import annotations

from types import SimpleNamespace

cudnn = SimpleNamespace(benchmark=False, deterministic=False, enabled=True, allow_tf32=False, is_available=lambda: False)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cuda = SimpleNamespace(matmul=SimpleNamespace(allow_tf32=False))
