"""``backprop.transforms`` is ``backprop.vision.transforms.transforms`` (torchvision's layout; moved there
for issue #15). This module replaces itself in ``sys.modules`` by that one, so every old import --
``from backprop.transforms import RandomAffine, affine``, ``backprop.transforms.X``, and monkeypatching
``backprop.transforms._something`` -- reaches the very same module object."""

from __future__ import annotations

import sys

from .vision.transforms import transforms as _transforms

sys.modules[__name__] = _transforms
