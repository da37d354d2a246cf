"""Datasets (torchvision.datasets' API): ``MNIST``, ``FashionMNIST``, scikit-learn's ``Digits``,
character-level ``TinyShakespeare``/``load_text``, and the text datasets ``SST2`` (GLUE sentiment) and
``Multi30k`` (German-English translation) from ``backprop.text.datasets``.

The image datasets live in ``backprop.vision.datasets`` (torchvision's layout); their old module paths
``backprop.datasets.mnist`` / ``.digits`` / ``._vision`` are aliases of the new modules (the same
objects in ``sys.modules``, so imports and monkeypatching keep working)."""

from __future__ import annotations

import sys

from ..text.datasets import SST2, Multi30k
from ..vision.datasets import _vision, digits, mnist
from ..vision.datasets.digits import Digits
from ..vision.datasets.mnist import MNIST, DatasetNotFoundError, FashionMNIST, read_idx
from .text import TinyShakespeare, load_text

for _module in (_vision, digits, mnist):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
del _module

__all__ = [
    "MNIST",
    "SST2",
    "DatasetNotFoundError",
    "Digits",
    "FashionMNIST",
    "Multi30k",
    "TinyShakespeare",
    "load_text",
    "read_idx",
]
