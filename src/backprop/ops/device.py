"""Moving tensors between devices, as a recorded op: the gradient travels back to the source."""

from __future__ import annotations

from .._backend import backend_for, is_array, move
from .._device import CPU, device
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
    """``tensor`` copied to ``target`` (differentiable); ``tensor`` itself when it is already there.
    As in torch, ``cuda`` without an index means the current CUDA device."""
    if target.type == "cpu":
        target = CPU
    elif target.index is None:
        target = device(target.type, backend_for(target).current_device())
    if tensor.device == target:
        return tensor
    return ToDevice.apply(tensor, target)
