"""``DataParallel``: torch's single-process multi-GPU wrapper, here a passthrough on one device.

Without CUDA it calls the module as it is (as torch does without GPUs). With CUDA it runs the
module on ``device_ids[0]`` (inputs are moved there); backprop does not replicate a module over
several GPUs of one process, so further ``device_ids`` are ignored (with a warning): use
DistributedDataParallel, one process per GPU, as torch recommends.
"""

from __future__ import annotations

import warnings
from itertools import chain

from ... import cuda
from ..._device import device
from ..modules.module import Module
from .distributed import _device_index, _to_device

__all__ = ["DataParallel", "data_parallel"]


class DataParallel(Module):
    """torch.nn.DataParallel on one device: ``.module`` is the wrapped module, state_dict keys
    start with ``module.``, forward passes ``*inputs, **kwargs`` through."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0) -> None:
        super().__init__()
        if not cuda.is_available():
            self.module = module
            self.device_ids = []
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        if not device_ids:
            raise RuntimeError("no available devices were found")
        if output_device is None:
            output_device = device_ids[0]
        self.dim = dim
        self.module = module
        self.device_ids = [_device_index(x) for x in device_ids]
        self.output_device = _device_index(output_device)
        self.src_device_obj = device("cuda", self.device_ids[0])
        if len(self.device_ids) > 1:
            warnings.warn(
                f"backprop's DataParallel runs the module on cuda:{self.device_ids[0]} only (device_ids "
                f"{self.device_ids}); use DistributedDataParallel with one process per GPU",
                stacklevel=2,
            )
        self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for t in chain(self.module.parameters(), self.module.buffers()):
            if t.device != self.src_device_obj:
                raise RuntimeError(
                    f"module must have its parameters and buffers on device {self.src_device_obj} (device_ids[0]) "
                    f"but found one of them on device: {t.device}"
                )
        out = self.module(*_to_device(inputs, self.src_device_obj), **_to_device(kwargs, self.src_device_obj))
        if self.output_device != self.device_ids[0]:
            out = _to_device(out, device("cuda", self.output_device))
        return out


def data_parallel(module: Module, inputs, device_ids=None, output_device=None, dim: int = 0, module_kwargs=None):
    """The functional form of DataParallel: ``module(*inputs, **module_kwargs)`` on ``device_ids[0]``."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **(module_kwargs or {}))
