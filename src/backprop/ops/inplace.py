"""In-place operations and their autograd bookkeeping.

An in-place op writes into the tensor's existing array (so views and ``from_numpy`` arrays
see the change), bumps the version counter it shares with its views (so backward refuses
saved values that changed) and, when a graph is recorded, makes the op the tensor's new
``grad_fn`` ("rebasing its history").

If the tensor is a view, its base changed too: the base's history becomes
``CopySlices(old base, new view values)`` -- the base's gradient with the view's region
cut out, plus the view's gradient in that region -- and other views of the base re-derive
their ``grad_fn`` lazily from the base when next used (``regenerate_view``).
"""

from __future__ import annotations

import warnings

import numpy

from .._backend import array_module, backend_of, is_array, move
from .._tensor import Tensor, _make, _refresh_view_grad_fn
from ..autograd.function import Function, _SavedOutput
from ..autograd.grad_mode import _state
from . import _backward as B
from ._utils import fitting_scalar, scalar_operand
from .device import to_device


def check_inplace(t: Tensor) -> None:
    """torch's refusals: a leaf (or a view of a leaf) that requires grad cannot change in place."""
    if not _state.enabled:
        return
    base = t._base
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    if t._requires_grad and t._grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    if base is not None and base._requires_grad and not t._requires_grad:
        _refresh_view_grad_fn(t)  # a view whose base changed in place since is re-derived (and requires grad)
        if not t._requires_grad:
            raise RuntimeError(
                "A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given "
                "that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by "
                "moving both the view and the inplace either both inside the no_grad block (if you don't want the "
                "inplace to be tracked) or both outside (if you want the inplace to be tracked)."
            )


def write(t: Tensor, values, op: str = "in-place operation") -> None:
    """Copy ``values`` (a number, or an array of any device) into ``t``'s array (broadcasting)
    and bump its version."""
    data = t._data
    tv = type(values)
    if tv is int or tv is float:  # a number: torch's range check (int8 fill_(300) raises)
        values = fitting_scalar(values, data.dtype, half=True)
    elif tv is not type(data) and is_array(values):  # another device's array: copied across
        values = move(values, t.device)
    try:
        data[...] = values
    except ValueError as exc:
        if not backend_of(data).is_writeable(data):
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor refers to a single "
                "memory location. Please clone() the tensor before performing the operation."
            ) from None
        raise RuntimeError(f"{op}: {exc}") from None
    t._version_counter[0] += 1


def write_out(result, out, op: str, inputs: tuple = (), exact_dtype: bool = False):
    """The ``out=`` argument of every op, as torch handles it: ``result`` written into ``out``
    (resized to the result's shape, with torch's warning when it held elements), after torch's
    checks: no autograd through ``out=``, a result dtype ``out`` can hold (``exact_dtype``: the
    same dtype, as indexing ops demand), and -- for ops that read ``inputs`` while writing -- no
    memory shared with them. Tuple results (``qr``, ``kthvalue``...) go into a tuple ``out``."""
    if out is None:
        return result
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{op}(): argument 'out' must be a tuple of {len(result)} Tensors")
        written = [write_out(r, o, op, inputs, exact_dtype) for r, o in zip(result, out)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if _state.enabled and (result._requires_grad or out._requires_grad):
        raise RuntimeError(
            f"{op}(): functions with out=... arguments don't support automatic differentiation, but one of the "
            "arguments requires grad."
        )
    if any(stride == 0 and size > 1 for stride, size in zip(out._data.strides, out._data.shape)):
        raise RuntimeError(
            f"{op}(): unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation."
        )
    if exact_dtype and out.dtype is not result.dtype:
        raise RuntimeError(f"{op}(): Expected out tensor to have dtype {result.dtype}, but got {out.dtype} instead")
    _check_castable(result.dtype, out, op)
    resizing = out._data.shape != result._data.shape
    for t in inputs:
        if not isinstance(t, Tensor) or type(t._data) is not type(out._data):
            continue
        if array_module(out._data).may_share_memory(t._data, out._data):
            raise RuntimeError(
                "unsupported operation: some elements of the input tensor and the written-to tensor refer to a single "
                "memory location. Please clone() the tensor before performing the operation."
            )
    if resizing:
        if out._data.size:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape {list(out._data.shape)}, which "
                f"does not match the required output shape {list(result._data.shape)}. This behavior is deprecated.",
                UserWarning,
                stacklevel=3,
            )
        out._data = array_module(out._data).empty(result._data.shape, dtype=out._data.dtype)
    write(out, result._data.astype(out._data.dtype, copy=False), op)
    return out


def _check_castable(result_dtype, t: Tensor, op: str) -> None:
    target = t.dtype
    if result_dtype._kind > target._kind:
        raise RuntimeError(f"{op}: result type {_torch_type_name(result_dtype)} can't be cast to the desired output type {_torch_type_name(target)}")


def _torch_type_name(d) -> str:
    from .elementwise import _TORCH_TYPE_NAMES

    return _TORCH_TYPE_NAMES[d.name]


def apply_inplace(self: Tensor, op, *args, _name: str = "", _copy_input: bool = False, **kwargs) -> Tensor:
    """``self.op_(*args)``: compute ``op(self, *args)`` and write it into ``self``.

    The in-place rule, as torch's: what the op's backward needs decides what it costs.
    A Function declaring ``inplace_saves_output`` (relu, sigmoid, tanh, exp, sqrt..., and
    leaky_relu/elu in place) keeps nothing extra: its saved output becomes ``self`` itself, so
    modifying ``self`` again before backward raises "modified by an inplace operation". A
    Function that saved its *input* gets a copy of ``self``'s old value (torch's
    ``original_self``). ``_copy_input`` does the same for a composite ``op`` (silu, mish,
    hardswish...) whose inner ops save the input: it runs on a copy of ``self`` that shares
    its history.
    """
    check_inplace(self)
    recording = _state.enabled and (
        self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)
    )
    result = op(_stand_in(self) if recording and _copy_input else self, *args, **kwargs)
    _check_castable(result.dtype, self, _name or getattr(op, "__name__", "in-place op"))
    node = result._grad_fn if recording else None
    if node is not None and node._saved:
        _snapshot_saved_self(node, self)
    write(self, result._data, _name)
    if node is not None:
        rebase_history(self, node, result._output_nr)
        if node._saved and node._fn.inplace_saves_output:
            _saved_output_is_self(node, result, self)
    return self


def _stand_in(self: Tensor) -> Tensor:
    """A copy of ``self``'s value with ``self``'s place in the graph (gradients flow to its history)."""
    snap = _make(self._data.copy())
    if self._requires_grad:
        snap._grad_fn = self.grad_fn
        snap._output_nr = self._output_nr
        snap._requires_grad = True
    return snap


def _snapshot_saved_self(node, self: Tensor) -> None:
    """The op saved ``self``, which is about to be overwritten: keep a copy of its old value."""
    for i, item in enumerate(node._saved):
        if item is self:
            node._saved[i] = _stand_in(self)
            node._saved_versions[i] = 0


def _saved_output_is_self(node, result: Tensor, self: Tensor) -> None:
    """The op saved its output, now written into ``self``: save ``self`` (at its new version)
    instead, so the separate result array is freed and later in-place changes are caught."""
    data = self._data
    for item in node._saved:
        if type(item) is _SavedOutput and item.data is result._data and item.data.dtype == data.dtype and item.data.shape == data.shape:
            item.data = data
            item.version_counter = self._version_counter
            item.version = self._version_counter[0]


def rebase_history(t: Tensor, node, output_nr: int) -> None:
    """``t`` was just changed in place by ``node``: make ``node`` its history."""
    base = t._base
    if base is None:
        t._grad_fn = node
        t._output_nr = output_nr
        t._requires_grad = True
    else:
        new_values = _make(t._data)
        new_values._grad_fn = node
        new_values._output_nr = output_nr
        new_values._requires_grad = True
        CopySlices.apply(base, new_values, t._view_fn)
        regenerate_view(t)
    if t._retains_grad:  # retain_grad follows the tensor to its new history, as in torch
        handle = t._retain_handle
        handle.remove()
        t._retain_handle = t._grad_fn._add_tensor_hook(t._output_nr, handle._hook, retain=True)


def regenerate_view(view: Tensor) -> None:
    """Point a view's grad_fn at its base's current history."""
    base = view._base
    out = AsView.apply(base, view._view_fn)
    view._grad_fn = out._grad_fn
    view._output_nr = 0
    view._requires_grad = out._requires_grad
    view._view_version = base._version_counter[0]


def _region(arr, view_fn):
    region = view_fn(arr)
    if not array_module(arr).shares_memory(region, arr):
        raise RuntimeError("in-place operation on this view is not supported: its region cannot be located in its base")
    return region


class AsView(Function):
    """base -> one of its views, for a view whose base was modified in place."""

    @staticmethod
    def forward(ctx, base, view_fn):
        ctx.view_fn = view_fn
        return view_fn(base._data)

    @staticmethod
    def backward(ctx, grad):
        return B.call(ViewScatter, grad, ctx.input_shape(0), ctx.view_fn), None


class ViewScatter(Function):
    """Zeros shaped like the base, with the view's region set to ``grad``."""

    @staticmethod
    def forward(ctx, grad, shape, view_fn):
        ctx.view_fn = view_fn
        out = array_module(grad._data).zeros(shape, dtype=grad._data.dtype)
        _region(out, view_fn)[...] = grad._data
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(AsView, grad, ctx.view_fn), None, None


class ZeroRegion(Function):
    """A copy of ``grad`` with the view's region zeroed (what flows to the overwritten base)."""

    @staticmethod
    def forward(ctx, grad, view_fn):
        ctx.view_fn = view_fn
        out = array_module(grad._data).array(grad._data, copy=True, order="C")
        _region(out, view_fn)[...] = 0
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(ZeroRegion, grad, ctx.view_fn), None


class CopySlices(Function):
    """The base's new history after one of its views was modified in place (the version the
    base shares with the view was bumped once, by that in-place op, as in torch)."""

    _dirty_bumps_version = False

    @staticmethod
    def forward(ctx, base, new_view_values, view_fn):
        ctx.view_fn = view_fn
        ctx.mark_dirty(base)
        return base

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        return (
            B.call(ZeroRegion, grad, ctx.view_fn) if need[0] else None,
            B.call(AsView, grad, ctx.view_fn) if need[1] else None,
            None,
        )


CopySlices._backward_name = "torch::autograd::CopySlices"  # torch's name for this node


# ---------------------------------------------------------------------------- simple in-place ops
def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast, cast to ``self``'s dtype, from any device) into ``self``;
    differentiable w.r.t. ``src``."""
    if not isinstance(src, Tensor):
        src = _make(src if is_array(src) else numpy.asarray(src))
    check_inplace(self)
    if type(src._data) is not type(self._data):  # across devices, as torch (the gradient goes back)
        src = to_device(src, self.device)
    if _state.enabled and (self._requires_grad or src._requires_grad):
        return CopyInto.apply(self, src)
    try:
        write(self, src._data, "copy_")
    except RuntimeError:
        raise RuntimeError(
            f"copy_(): the size of the source ({list(src._data.shape)}) must be broadcastable to the destination ({list(self._data.shape)})"
        ) from None
    return self


class CopyInto(Function):
    @staticmethod
    def forward(ctx, dst, src):
        try:
            dst._data[...] = src._data
        except ValueError:
            raise RuntimeError(
                f"copy_(): the size of the source ({list(src._data.shape)}) must be broadcastable to the destination ({list(dst._data.shape)})"
            ) from None
        ctx.mark_dirty(dst)
        return dst

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        g_src = None
        if need[1]:
            g_src = B.cast(B.unbroadcast(grad, ctx.input_shape(1)), ctx._input_meta[1][1])
        return (grad * 0 if need[0] else None), g_src


def fill_(self: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value._data.ndim} dimensions.")
        from .creation_ops import full_like_tensor

        return copy_(self, full_like_tensor(self, value))
    check_inplace(self)
    if _state.enabled and self._requires_grad:
        return CopyInto.apply(self, scalar_operand(value, self._data.dtype, self))
    write(self, value, "fill_")
    return self


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0)
