"""Helpers shared by the distributions (``torch.distributions.utils``)."""

from __future__ import annotations

import functools
from numbers import Number

import backprop as _bp
import backprop.nn.functional as F

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits"]


def broadcast_all(*values):
    """Broadcast tensors and numbers together; numbers become tensors of the first tensor's dtype
    and device (the default float dtype when there are none)."""
    if not all(isinstance(v, (_bp.Tensor, Number)) for v in values):
        raise ValueError(
            "Input arguments must all be instances of numbers.Number, torch.Tensor or objects implementing __torch_function__."
        )
    if not all(isinstance(v, _bp.Tensor) for v in values):
        dtype, device = _bp.get_default_dtype(), None
        for v in values:
            if isinstance(v, _bp.Tensor):
                dtype, device = v.dtype, v.device
                break
        values = [v if isinstance(v, _bp.Tensor) else _bp.tensor(v, dtype=dtype, device=device) for v in values]
    return _bp.broadcast_tensors(*values)


def _sum_rightmost(value, dim: int):
    """Sum out the ``dim`` rightmost dimensions of ``value``."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[: value.dim() - dim]) + (-1,)).sum(-1)


def logits_to_probs(logits, is_binary: bool = False):
    """Sigmoid (binary) or softmax over the last dim."""
    if is_binary:
        return _bp.sigmoid(logits)
    return F.softmax(logits, dim=-1)


def clamp_probs(probs):
    """Clamp into [eps, 1 - eps] so that logs stay finite."""
    eps = _bp.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary: bool = False):
    """Log-odds (binary) or log-probabilities, of clamped probabilities."""
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return _bp.log(ps_clamped) - _bp.log1p(-ps_clamped)
    return _bp.log(ps_clamped)


class lazy_property:  # noqa: N801 - torch's name
    """A property computed once on first access (with grad enabled) and then cached."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with _bp.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
