"""Helpers for backward formulas, which run on two kinds of values.

Without ``create_graph`` (the common case) the engine hands a primitive's ``backward`` raw
arrays (NumPy or CuPy), and ``ctx.saved_tensors`` returns arrays too: the formula then costs what its
NumPy calls cost, with no Tensor or graph bookkeeping. With ``create_graph=True`` the same
formula receives Tensors, and every step is recorded, giving gradients of gradients.

Operators (``+ - * / ** @``, comparisons, ``&``/``|``, indexing, ``.reshape``) already work
on both kinds. Everything else a formula needs is here: each function dispatches on whether
its argument is an array (no graph) or a Tensor (graph). ``call(Fn, ...)`` runs another
primitive: its forward kernel directly on arrays, or ``Fn.apply`` on Tensors.
"""

from __future__ import annotations

import numpy

from .._backend import array_module, is_array
from .._tensor import Tensor, _make
from ..autograd import grad as autograd_grad
from ..autograd.function import Function


def is_raw(x) -> bool:
    """Whether ``x`` is a raw value of the no-graph path: an array of some backend, or the NumPy
    scalar that NumPy's arithmetic returns for 0-d arrays (which then flows on as a 0-d array)."""
    return is_array(x) or isinstance(x, numpy.generic)


def _tensor_or_array(x, like_array: bool):
    if like_array:
        return x._data if isinstance(x, Tensor) else x
    return _make(x) if is_raw(x) else x


# ---------------------------------------------------------------------------- math
def _unary(array_fn, tensor_fn_name: str, module: str = "elementwise"):
    """A function of arrays (``array_fn(xp, a)``) or of Tensors (the op ``tensor_fn_name``)."""

    def fn(x):
        if is_raw(x):
            return array_fn(array_module(x), x)
        from importlib import import_module

        return getattr(import_module(f"backprop.ops.{module}"), tensor_fn_name)(x)

    fn.__name__ = tensor_fn_name
    return fn


def _ufunc(name: str):
    """The array function ``xp.<name>`` of whichever backend the array belongs to."""
    return lambda xp, a: getattr(xp, name)(a)


def _rsqrt(xp, a):
    return 1 / xp.sqrt(a)


def _sigmoid(xp, a):
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _erf(xp, a):
    from .elementwise import _erf_array

    return _erf_array(a)


exp = _unary(_ufunc("exp"), "exp")
exp2 = _unary(_ufunc("exp2"), "exp2")
log = _unary(_ufunc("log"), "log")
sin = _unary(_ufunc("sin"), "sin")
cos = _unary(_ufunc("cos"), "cos")
sinh = _unary(_ufunc("sinh"), "sinh")
cosh = _unary(_ufunc("cosh"), "cosh")
tanh = _unary(_ufunc("tanh"), "tanh")
sqrt = _unary(_ufunc("sqrt"), "sqrt")
rsqrt = _unary(_rsqrt, "rsqrt")
sign = _unary(_ufunc("sign"), "sign")
trunc = _unary(_ufunc("trunc"), "trunc")
floor = _unary(_ufunc("floor"), "floor")
sigmoid = _unary(_sigmoid, "sigmoid")
erf = _unary(_erf, "erf")


def where(cond, a, b):
    """``a`` where ``cond`` else ``b``; ``cond`` may be an array or a bool Tensor."""
    arrays = any(is_raw(v) for v in (a, b)) and not any(isinstance(v, Tensor) for v in (a, b))
    if arrays:
        c = cond._data if isinstance(cond, Tensor) else cond
        like = next(v for v in (a, b) if is_raw(v))
        out = array_module(like).where(c, a, b)
        return out.astype(like.dtype, copy=False)
    from .elementwise import where as tensor_where

    return tensor_where(_tensor_or_array(cond, False), _tensor_or_array(a, False), _tensor_or_array(b, False))


def isfinite(x):
    """A bool mask of the finite elements (not differentiable: a constant in graph mode)."""
    if is_raw(x):
        return array_module(x).isfinite(x)
    return _make(array_module(x._data).isfinite(x._data))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    if is_raw(x):
        return array_module(x).clip(x, min, max)
    from .elementwise import clamp as tensor_clamp

    return tensor_clamp(x, min, max)


def cast(x, np_dtype):
    """``x`` in NumPy dtype ``np_dtype`` (differentiable for Tensors); complex to real keeps
    the real part (the gradient of a real tensor cast to complex)."""
    if is_raw(x):
        if x.dtype.kind == "c" and numpy.dtype(np_dtype).kind != "c":
            x = x.real
        return x.astype(np_dtype, copy=False)
    if x._data.dtype == np_dtype:
        return x
    from .. import _dtype
    from .elementwise import to_dtype

    if x._data.dtype.kind == "c" and numpy.dtype(np_dtype).kind != "c":
        x = real(x)
    return to_dtype(x, _dtype.from_numpy_dtype(np_dtype))


def conj(x):
    """The complex conjugate; real values are returned as they are (no copy, no graph node)."""
    if not isinstance(x, Tensor):  # an array (or the NumPy scalar of 0-d arithmetic: made a 0-d array)
        if x.dtype.kind != "c":
            return numpy.asarray(x) if isinstance(x, numpy.generic) else x
        out = x.conj()
        return numpy.asarray(out) if isinstance(out, numpy.generic) else out
    if x._data.dtype.kind != "c":
        return x
    from .complex_ops import conj_physical

    return conj_physical(x)


def real(x):
    """The real part of a complex value (real values as they are)."""
    if not isinstance(x, Tensor):
        return x.real if x.dtype.kind == "c" else x
    if x._data.dtype.kind != "c":
        return x
    from .complex_ops import real as tensor_real

    return tensor_real(x)


# ---------------------------------------------------------------------------- complex variants of primitives
def holomorphic(fn):
    """Give primitive ``fn`` a complex variant (``fn._complex``), used for complex inputs.

    ``fn``'s backward is written as ``grad * f'(z)`` (sums and products of such terms). For a
    holomorphic ``f`` torch's convention wants ``grad * conj(f'(z))`` =
    ``conj(conj(grad) * f'(z))``: the variant runs the same formula between two conjugations,
    so there is still one gradient formula per op, and real dtypes never see the variant.
    """

    def backward(ctx, *grads):
        out = fn.backward(ctx, *[conj(g) if g is not None else None for g in grads])
        if type(out) is not tuple:
            return conj(out)
        return tuple(conj(g) if g is not None else None for g in out)

    fn._complex = type(fn.__name__, (fn,), {"__module__": fn.__module__, "__qualname__": fn.__qualname__,
                                            "_array_backward": fn._array_backward, "backward": staticmethod(backward)})
    return fn


def complex_fn(fn, op: str):
    """``fn``'s complex variant; torch's error for ops that have none."""
    variant = fn.__dict__.get("_complex")
    if variant is None:
        raise RuntimeError(f"{op}(): not implemented for complex tensors")
    return variant


# ---------------------------------------------------------------------------- shapes
def expand(x, shape):
    if is_raw(x):
        return array_module(x).broadcast_to(x, shape)
    from .movement import expand as tensor_expand

    return tensor_expand(x, shape)


def permute(x, dims):
    if is_raw(x):
        return x.transpose(dims)
    from .movement import permute as tensor_permute

    return tensor_permute(x, dims)


def matrix_transpose(x):
    """Swap the last two dims (``.mT``)."""
    if is_raw(x):
        return array_module(x).swapaxes(x, -1, -2)
    return x.mT


def unsqueeze(x, dim: int):
    if is_raw(x):
        return array_module(x).expand_dims(x, dim)
    from .movement import unsqueeze as tensor_unsqueeze

    return tensor_unsqueeze(x, dim)


def sum(x, dims, keepdim: bool = False):  # noqa: A001 - mirrors the op
    if is_raw(x):
        return array_module(x).sum(x, axis=dims, keepdims=keepdim)
    from .reduction import sum as tensor_sum

    return tensor_sum(x, dims, keepdim)


def cat(parts, dim: int):
    if all(is_raw(p) for p in parts):
        return array_module(parts[0]).concatenate(parts, axis=dim)
    from .movement import cat as tensor_cat

    return tensor_cat([_tensor_or_array(p, False) for p in parts], dim)


def flip(x, dims):
    if is_raw(x):
        return array_module(x).flip(x, dims).copy()
    from .movement import flip as tensor_flip

    return tensor_flip(x, dims)


def cumsum(x, dim: int):
    if is_raw(x):
        return array_module(x).cumsum(x, axis=dim)
    from .reduction import cumsum as tensor_cumsum

    return tensor_cumsum(x, dim)


def zeros(shape, like):
    """Zeros of ``shape`` with ``like``'s dtype, device and kind (array or Tensor)."""
    if is_raw(like):
        return array_module(like).zeros(shape, dtype=like.dtype)
    return _make(array_module(like._data).zeros(shape, dtype=like._data.dtype))


def constant(array, like):
    """An array (of ``like``'s device) as a value of ``like``'s kind (a constant Tensor in graph mode)."""
    return array if is_raw(like) else _make(array)


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

    Floating-point (and complex) arrays are the primitive's tensor inputs (gradients); integer arrays are
    parameters such as gather/scatter indices and are passed through as they are.
    """
    if any(is_raw(a) and a.dtype.kind in "fcV" for a in args):  # float, complex, bfloat16
        wrapped = [_make(a) if is_raw(a) and a.dtype.kind in "fcV" else a for a in args]
        out = fn.forward(_ScratchCtx(), *wrapped)
        if isinstance(out, tuple):
            return tuple(o._data if isinstance(o, Tensor) else _as_array(o) for o in out)
        if isinstance(out, Tensor):
            return out._data
        return _as_array(out)
    variant = fn.__dict__.get("_complex")  # complex tensors take the primitive's complex variant (holomorphic)
    if variant is not None and any(isinstance(a, Tensor) and a._data.dtype.kind == "c" for a in args):
        fn = variant
    return fn.apply(*args)


def _as_array(value):
    """NumPy returns scalars for 0-d results: make them 0-d arrays (other values pass through)."""
    if isinstance(value, numpy.generic):
        return numpy.asarray(value)
    return value


# ---------------------------------------------------------------------------- fused ops under create_graph
class _Stand(Function):
    """An identity node standing for one input of a decomposition (see ``composite_vjp``)."""

    @staticmethod
    def forward(ctx, a):
        return a._data

    @staticmethod
    def backward(ctx, grad):
        return grad


def composite_vjp(decomposition, inputs: tuple, grads, needs: tuple) -> tuple:
    """The ``create_graph`` backward of a fused primitive, derived from its decomposition.

    A fused op (GELU, LayerNorm, BatchNorm...) has one hand-written gradient formula: its array
    backward, fast, for plain ``.backward()``. Under ``create_graph`` it calls this instead:
    autograd differentiates ``decomposition(*inputs)`` -- the same function written with
    primitives -- so the recorded gradient comes from the primitives' own formulas, never from a
    second hand-written copy that could drift. Each input that needs a gradient is replaced by a
    fresh identity node whose incoming gradient is captured, i.e. the partial derivative with
    respect to that input alone. Returns one gradient (or None) per input.
    """
    stands = tuple(
        _Stand.apply(x) if need and isinstance(x, Tensor) else (x.detach() if isinstance(x, Tensor) else x)
        for x, need in zip(inputs, needs)
    )
    outputs = decomposition(*stands)
    if isinstance(outputs, Tensor):
        outputs, grads = (outputs,), (grads,)
    pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
    wanted = [s for s, need in zip(stands, needs) if need and isinstance(s, Tensor)]
    got = iter(
        autograd_grad([o for o, _ in pairs], wanted, [g for _, g in pairs], create_graph=True, allow_unused=True)
        if pairs and wanted
        else [None] * len(wanted)
    )
    return tuple(next(got) if need and isinstance(x, Tensor) else None for x, need in zip(inputs, needs))
