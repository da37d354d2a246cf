"""Gradient clipping: ``clip_grad_norm_`` (returns the total norm) and ``clip_grad_value_``.

The total norm is computed where the gradients live: one norm per gradient, stacked and
reduced on the device of the first one (as torch), so no value crosses to the host. On the
CPU the clip coefficient is read as a Python number (free there) and gradients are only
scaled when it is below 1 or NaN (a NaN norm makes every gradient NaN, as in torch); on a
GPU they are always multiplied by ``min(coef, 1)`` on the device, as torch's
``clip_grad_norm_`` does, instead of waiting for the norm on the host.
"""

from __future__ import annotations

import math

import numpy as np

from ..._backend import array_module, move
from ..._tensor import Tensor, _make


def _grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(xp, a, norm_type: float):
    """The ``norm_type``-norm of array ``a`` raised to ``norm_type`` (its max for inf), a 0-d
    array (NumPy may return a scalar)."""
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), dtype=a.dtype)
    if norm_type == 2.0:
        flat = a.ravel()
        return xp.vdot(flat, flat)
    return (xp.abs(a.astype(np.float64)) ** norm_type).sum()


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated), a 0-d tensor on
    the first tensor's device."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _make(np.zeros((), dtype=np.float32))
    first = tensors[0]._data
    xp = array_module(first)
    device = tensors[0].device
    host = type(first) is np.ndarray
    arrays, elsewhere = [], []
    for t in tensors:
        a = t._data
        (arrays if type(a) is type(first) and (host or t.device == device) else elsewhere).append(a)
    parts = [_norm(xp, a, norm_type) for a in arrays]
    for a in elsewhere:  # gradients on other devices: their norms join the first device's
        other = array_module(a)
        parts.append(move(other.asarray(_norm(other, a, norm_type)), device))
    # NumPy's norms are scalars: one array from them directly (stacking scalars is ~50x slower);
    # device norms are 0-d arrays: one stack on the device.
    stacked = (np.array(parts) if xp is np else xp.stack(parts)).astype(np.float64)
    if norm_type == math.inf:
        total = stacked.max()
    elif norm_type == 2.0:
        total = xp.sqrt(stacked.sum())
    else:
        total = stacked.sum() ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):  # a host check, only when asked for
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped. "
            "To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return _make(xp.asarray(total, dtype=first.dtype))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    grads = _grads(parameters)
    norm = total_norm._data
    if type(norm) is np.ndarray:  # host memory: decide on the host, skip the multiply when not clipping
        coef = float(max_norm) / (float(norm) + 1e-6)
        if not coef >= 1.0:  # a NaN norm too: torch multiplies by clamp(nan, max=1) = nan
            for g in grads:
                g._data *= g._data.dtype.type(coef)  # a NumPy scalar: also a valid operand of a device array
                g._version_counter[0] += 1
        return
    xp = array_module(norm)
    coef = xp.minimum(float(max_norm) / (norm.astype(np.float64) + 1e-6), 1.0)  # on the device: no host sync
    cast = {}  # (dtype, device) -> the coefficient there: one cast or copy per GPU and dtype
    for g in grads:
        key = (g._data.dtype, g.device)
        c = cast.get(key)
        if c is None:
            c = cast[key] = move(coef, g.device, g._data.dtype)  # the array itself when already there
        g._data *= c
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
        array_module(g._data).clip(g._data, -clip_value, clip_value, out=g._data)
        g._version_counter[0] += 1


clip_grad_norm = clip_grad_norm_
