"""Moving tensors between devices, as a recorded op: the gradient travels back to the source."""

from __future__ import annotations

from .._backend import is_array, move
from .._device import device
from .._tensor import Tensor
from ..autograd.function import Function


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, target):
        ctx.source = a.device
        return move(a._data, target)

    @staticmethod
    def backward(ctx, grad):
        # The gradient goes back to the source device (a recorded copy under create_graph).
        return (move(grad, ctx.source) if is_array(grad) else ToDevice.apply(grad, ctx.source)), None


def to_device(tensor: Tensor, target: device) -> Tensor:
    """``tensor`` copied to ``target`` (differentiable); ``tensor`` itself when it is already there."""
    if tensor.device == target or (target.index is None and tensor.device.type == target.type):
        return tensor
    return ToDevice.apply(tensor, target)
