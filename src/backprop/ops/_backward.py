"""Helpers for backward formulas, which run on two kinds of values.

Without ``create_graph`` (the common case) the engine hands a primitive's ``backward`` raw
``xp`` arrays, and ``ctx.saved_tensors`` returns arrays too: the formula then costs what its
NumPy calls cost, with no Tensor or graph bookkeeping. With ``create_graph=True`` the same
formula receives Tensors, and every step is recorded, giving gradients of gradients.

Operators (``+ - * / ** @``, comparisons, ``&``/``|``, indexing, ``.reshape``) already work
on both kinds. Everything else a formula needs is here: each function dispatches on whether
its argument is an array (no graph) or a Tensor (graph). ``call(Fn, ...)`` runs another
primitive: its forward kernel directly on arrays, or ``Fn.apply`` on Tensors.
"""

from __future__ import annotations

from .._backend import ndarray, xp
from .._tensor import Tensor, _make


def is_array(x) -> bool:
    return type(x) is ndarray


def _tensor_or_array(x, like_array: bool):
    if like_array:
        return x._data if isinstance(x, Tensor) else x
    return _make(x) if type(x) is ndarray else x


# ---------------------------------------------------------------------------- math
def _unary(array_fn, tensor_fn_name: str, module: str = "elementwise"):
    def fn(x):
        if type(x) is ndarray:
            return array_fn(x)
        from importlib import import_module

        return getattr(import_module(f"backprop.ops.{module}"), tensor_fn_name)(x)

    fn.__name__ = tensor_fn_name
    return fn


def _rsqrt(a):
    return 1 / xp.sqrt(a)


def _sigmoid(a):
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _erf(a):
    from .elementwise import _erf_array

    return _erf_array(a)


exp = _unary(xp.exp, "exp")
log = _unary(xp.log, "log")
sin = _unary(xp.sin, "sin")
cos = _unary(xp.cos, "cos")
sinh = _unary(xp.sinh, "sinh")
cosh = _unary(xp.cosh, "cosh")
tanh = _unary(xp.tanh, "tanh")
sqrt = _unary(xp.sqrt, "sqrt")
rsqrt = _unary(_rsqrt, "rsqrt")
sign = _unary(xp.sign, "sign")
trunc = _unary(xp.trunc, "trunc")
floor = _unary(xp.floor, "floor")
sigmoid = _unary(_sigmoid, "sigmoid")
erf = _unary(_erf, "erf")


def where(cond, a, b):
    """``a`` where ``cond`` else ``b``; ``cond`` may be an array or a bool Tensor."""
    arrays = any(type(v) is ndarray for v in (a, b)) and not any(isinstance(v, Tensor) for v in (a, b))
    if arrays:
        c = cond._data if isinstance(cond, Tensor) else cond
        out = xp.where(c, a, b)
        dtype = next(v.dtype for v in (a, b) if type(v) is ndarray)
        return out.astype(dtype, copy=False)
    from .elementwise import where as tensor_where

    return tensor_where(_tensor_or_array(cond, False), _tensor_or_array(a, False), _tensor_or_array(b, False))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    if type(x) is ndarray:
        return xp.clip(x, min, max)
    from .elementwise import clamp as tensor_clamp

    return tensor_clamp(x, min, max)


def cast(x, np_dtype):
    """``x`` in NumPy dtype ``np_dtype`` (differentiable for Tensors)."""
    if type(x) is ndarray:
        return x.astype(np_dtype, copy=False)
    if x._data.dtype == np_dtype:
        return x
    from .. import _dtype
    from .elementwise import to_dtype

    return to_dtype(x, _dtype.from_numpy_dtype(np_dtype))


# ---------------------------------------------------------------------------- shapes
def expand(x, shape):
    if type(x) is ndarray:
        return xp.broadcast_to(x, shape)
    from .movement import expand as tensor_expand

    return tensor_expand(x, shape)


def permute(x, dims):
    if type(x) is ndarray:
        return x.transpose(dims)
    from .movement import permute as tensor_permute

    return tensor_permute(x, dims)


def matrix_transpose(x):
    """Swap the last two dims (``.mT``)."""
    if type(x) is ndarray:
        return xp.swapaxes(x, -1, -2)
    return x.mT


def unsqueeze(x, dim: int):
    if type(x) is ndarray:
        return xp.expand_dims(x, dim)
    from .movement import unsqueeze as tensor_unsqueeze

    return tensor_unsqueeze(x, dim)


def sum(x, dims, keepdim: bool = False):  # noqa: A001 - mirrors the op
    if type(x) is ndarray:
        return xp.sum(x, axis=dims, keepdims=keepdim)
    from .reduction import sum as tensor_sum

    return tensor_sum(x, dims, keepdim)


def cat(parts, dim: int):
    if all(type(p) is ndarray for p in parts):
        return xp.concatenate(parts, axis=dim)
    from .movement import cat as tensor_cat

    return tensor_cat([_tensor_or_array(p, False) for p in parts], dim)


def flip(x, dims):
    if type(x) is ndarray:
        return xp.flip(x, dims).copy()
    from .movement import flip as tensor_flip

    return tensor_flip(x, dims)


def cumsum(x, dim: int):
    if type(x) is ndarray:
        return xp.cumsum(x, axis=dim)
    from .reduction import cumsum as tensor_cumsum

    return tensor_cumsum(x, dim)


def zeros(shape, like):
    """Zeros of ``shape`` with ``like``'s dtype and kind (array or Tensor)."""
    if type(like) is ndarray:
        return xp.zeros(shape, dtype=like.dtype)
    return _make(xp.zeros(shape, dtype=like._data.dtype))


def constant(array, like):
    """A NumPy array as a value of ``like``'s kind (a constant Tensor in graph mode)."""
    return array if type(like) is ndarray else _make(array)


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``: the gradient of broadcasting an input of ``shape``."""
    from ._utils import unbroadcast as tensor_unbroadcast

    return tensor_unbroadcast(grad, shape)


# ---------------------------------------------------------------------------- other primitives
class _ScratchCtx:
    """A throwaway ctx for running a primitive's forward kernel on arrays (no graph)."""

    needs_input_grad = ()

    def save_for_backward(self, *tensors) -> None:
        pass

    def mark_dirty(self, *tensors) -> None:
        pass

    def mark_non_differentiable(self, *outputs) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def call(fn, *args):
    """Run primitive ``fn``: its forward kernel when ``args`` hold arrays (no graph), else ``fn.apply``.

    Floating-point arrays are the primitive's tensor inputs (gradients); integer arrays are
    parameters such as gather/scatter indices and are passed through as they are.
    """
    if any(type(a) is ndarray and a.dtype.kind == "f" for a in args):
        wrapped = [_make(a) if type(a) is ndarray and a.dtype.kind == "f" else a for a in args]
        out = fn.forward(_ScratchCtx(), *wrapped)
        if isinstance(out, tuple):
            return tuple(o._data if isinstance(o, Tensor) else xp.asarray(o) if isinstance(o, xp.generic) else o for o in out)
        if isinstance(out, Tensor):
            return out._data
        return xp.asarray(out) if isinstance(out, xp.generic) else out
    return fn.apply(*args)
