"""Gradient clipping: ``clip_grad_norm_`` (returns the total norm) and ``clip_grad_value_``."""

from __future__ import annotations

import math

import numpy as np

from ..._tensor import Tensor, _make


def _grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _make(np.zeros((), dtype=np.float32))
    dtype = tensors[0]._data.dtype
    if norm_type == math.inf:
        total = max(float(np.abs(t._data).max(initial=0.0)) for t in tensors)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(t._data.ravel(), t._data.ravel())) for t in tensors))
    else:
        total = sum(float((np.abs(t._data.astype(np.float64)) ** norm_type).sum()) for t in tensors) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped. "
            "To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return _make(np.asarray(total, dtype=dtype))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    grads = _grads(parameters)
    coef = float(max_norm) / (float(total_norm) + 1e-6)
    if coef < 1.0:
        for g in grads:
            g._data *= np.asarray(coef, dtype=g._data.dtype)
            g._version_counter[0] += 1


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients together so their total norm is at most ``max_norm``; returns the norm before clipping."""
    parameters = list(parameters) if not isinstance(parameters, Tensor) else [parameters]
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g._data, -clip_value, clip_value, out=g._data)
        g._version_counter[0] += 1


clip_grad_norm = clip_grad_norm_
