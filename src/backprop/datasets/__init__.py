"""Datasets (torchvision.datasets' API): ``MNIST``, ``FashionMNIST``, scikit-learn's ``Digits`` and
character-level ``TinyShakespeare``/``load_text``."""

from __future__ import annotations

from .digits import Digits
from .mnist import MNIST, DatasetNotFoundError, FashionMNIST, read_idx
from .text import TinyShakespeare, load_text

__all__ = ["MNIST", "DatasetNotFoundError", "Digits", "FashionMNIST", "TinyShakespeare", "load_text", "read_idx"]
