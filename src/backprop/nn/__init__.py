"""``backprop.nn``: layers, losses, initializers and utilities with torch.nn's names."""

from . import functional, init, parallel, utils
from .modules import *  # noqa: F403 - the flat torch.nn namespace
from .modules import __all__ as _modules_all
from .parallel import DataParallel
from .parameter import Buffer, Parameter, UninitializedParameter

__all__ = ["functional", "init", "utils", "parallel", "DataParallel", "Parameter", "Buffer", "UninitializedParameter", *_modules_all]
