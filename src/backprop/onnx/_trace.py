"""Tracing a forward pass into records of primitive calls (the first half of ``onnx.export``).

Every ``Function.apply`` reports to ``trace_state.hooks``; the ``Tracer`` turns each call into
a ``Record`` whose Tensor (and raw array) arguments are replaced by ``Value``s: graph inputs,
parameters, constants (snapshots of tensors that do not depend on the inputs) or outputs of
earlier records. A few ops compute their result without a ``Function`` (comparisons, logical
ops, ``detach``, ``zeros_like``, the write of an in-place op, ...); while tracing they are
wrapped so that they are recorded too (``patched_ops``). A few composites that ONNX has one
operator for (``interpolate``: ``Resize``) are recorded as one call over their primitives, whose
records then go unused (``Tracer.composite``).

Identity matters: a Tensor maps to the Value it holds now. In-place ops re-map it; a tensor
whose data changed behind the tracer's back (version counter moved) raises instead of being
silently exported with stale contents.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys

import numpy

from .._backend import backend_of, is_array
from .._tensor import Tensor
from ..autograd.function import trace_state
from ..autograd.grad_mode import no_grad
from .errors import OnnxExporterError

INPUT, PARAM, CONST, NODE = "input", "param", "const", "node"

_active: list = []  # the tracers currently recording (innermost last)


def is_tracing() -> bool:
    return bool(_active)


class Value:
    """One tensor of the traced graph.

    ``shape``/``dtype`` are from the example inputs; ``shape2`` is the shape seen by the second
    trace (run with other sizes on the dynamic axes), so the dims that differ are dynamic.
    ``const`` values do not depend on graph inputs or parameters: ``data`` (and ``data2`` from
    the second trace) hold their contents.
    """

    __slots__ = ("index", "kind", "shape", "dtype", "data", "data2", "shape2", "name", "producer", "const")

    def __init__(self, index: int, kind: str, arr, const: bool, data=None, name: str | None = None):
        self.index = index
        self.kind = kind
        self.shape = tuple(arr.shape)
        self.dtype = arr.dtype
        self.const = const
        self.data = data
        self.data2 = None
        self.shape2 = None
        self.name = name
        self.producer = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dims2(self) -> tuple:
        return self.shape2 if self.shape2 is not None else self.shape

    def __repr__(self) -> str:
        return f"Value({self.index}, {self.kind}, {self.shape}, {self.dtype})"


class Record:
    """One primitive (or wrapped untraced op) call: ``op`` is the Function class or an op name."""

    __slots__ = ("index", "op", "args", "kwargs", "outputs", "ctx", "module", "module_type", "meta", "twin")

    def __init__(self, index, op, args, kwargs, outputs, ctx, module, module_type, meta=None):
        self.index = index
        self.op = op
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.ctx = ctx
        self.module = module
        self.module_type = module_type
        self.meta = meta
        self.twin = None  # the same call in the second trace

    @property
    def op_name(self) -> str:
        return self.op if isinstance(self.op, str) else self.op.__name__

    def __repr__(self) -> str:
        return f"Record({self.index}, {self.op_name}, module={self.module!r})"


def iter_values(obj):
    """The Values inside nested tuples/lists/dicts, in order."""
    if isinstance(obj, Value):
        yield obj
    elif type(obj) in (tuple, list):
        for o in obj:
            yield from iter_values(o)
    elif type(obj) is dict:
        for o in obj.values():
            yield from iter_values(o)


def _snapshot(arr):
    """A host (NumPy) copy of ``arr``: a constant's contents, as the ONNX file will hold them."""
    if type(arr) is numpy.ndarray:
        return numpy.array(arr, copy=True)
    return backend_of(arr).to_host(arr)


def _address(arr) -> int:
    """The address of ``arr``'s first element (in host or device memory)."""
    return arr.ctypes.data if type(arr) is numpy.ndarray else arr.data.ptr


class Tracer:
    """Records the primitive calls of one forward pass."""

    def __init__(self):
        self.values: list[Value] = []
        self.records: list[Record] = []
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.params: list[Value] = []
        self.module_stack: list = []
        self._by_tensor: dict = {}  # id(tensor) -> (value, tensor, counter, version, array)
        self._by_array: dict = {}  # id(array) -> (value, array, counter, version)
        self._consts: dict = {}  # (id(array), version) -> value
        self._names: dict = {}  # id(tensor) -> a readable name for constants
        self._by_memory: dict = {}  # (data address, nbytes, dtype) -> id(array), C-contiguous arrays
        self._tolerate: set = set()  # ids of tensors an op just modified in place (versions moved legitimately)
        self._keep: list = []  # keeps every seen object alive so ids are not reused

    # ------------------------------------------------------------------ values
    def _new_value(self, kind: str, arr, const: bool, data=None, name=None) -> Value:
        v = Value(len(self.values), kind, arr, const, data, name)
        self.values.append(v)
        return v

    def _register(self, t: Tensor, v: Value) -> None:
        counter = t._version_counter
        arr = t._data
        self._by_tensor[id(t)] = (v, t, counter, counter[0], arr)
        self._by_array[id(arr)] = (v, arr, counter, counter[0])
        if arr.flags.c_contiguous and arr.size:
            self._by_memory[(_address(arr), arr.nbytes, arr.dtype.str)] = id(arr)
        self._keep.append(t)

    def add_param(self, t: Tensor, name: str) -> Value:
        v = self._new_value(PARAM, t._data, False, data=t._data, name=name)
        v.shape2 = v.shape
        self._register(t, v)
        self.params.append(v)
        return v

    def add_input(self, t: Tensor, name: str) -> Value:
        v = self._new_value(INPUT, t._data, False, name=name)
        self._register(t, v)
        self.inputs.append(v)
        return v

    def name_constant(self, t: Tensor, name: str) -> None:
        self._names[id(t)] = name
        self._keep.append(t)

    def _where(self) -> str:
        return f" (detected in module '{self.module_stack[-1][0]}')" if self.module_stack else ""

    def find(self, t: Tensor) -> Value | None:
        """The Value a traced tensor holds now; None for constants; raises for stale tensors."""
        e = self._by_tensor.get(id(t))
        if e is not None and e[1] is t and t._data is e[4] and t._version_counter is e[2]:
            if e[2][0] == e[3] or id(t) in self._tolerate:
                return e[0]
        found = self.find_array(t._data)
        if found is not None:
            return found
        if e is not None and e[1] is t:
            self._stale(e[0])
        return None

    def find_array(self, arr) -> Value | None:
        e = self._by_array.get(id(arr))
        if e is None or e[1] is not arr:
            return self._reshaped(arr)
        if e[2][0] != e[3]:
            self._stale(e[0])
        return e[0]

    def _reshaped(self, arr) -> Value | None:
        """An array that is a reshaped view of a traced array (``index._data.reshape(-1)``)."""
        if not arr.flags.c_contiguous or not arr.size:
            return None
        hit = self._by_memory.get((_address(arr), arr.nbytes, arr.dtype.str))
        if hit is None:
            return None
        e = self._by_array.get(hit)
        if e is None or not e[1].flags.c_contiguous:
            return None
        src = self.find_array(e[1])
        rec = self._add_record("reshape_array", (e[1],), {}, (), None)
        v = self._new_value(NODE, arr, src.const, data=_snapshot(arr) if src.const else None)
        v.producer = (rec, 0)
        rec.outputs.append(v)
        self._by_array[id(arr)] = (v, arr, e[2], e[2][0])
        self._keep.append(arr)
        return v

    def _stale(self, v: Value):
        raise OnnxExporterError(
            f"a traced tensor (shape {list(v.shape)}) was modified in place by an operation the ONNX exporter cannot "
            f"see{self._where()}; write the update out of place (e.g. 'x = x + y' instead of 'x += y' on integer tensors)"
        )

    def const_of(self, t: Tensor) -> Value:
        arr = t._data
        key = (id(arr), t._version_counter[0])
        v = self._consts.get(key)
        if v is None:
            v = self._new_value(CONST, arr, True, data=_snapshot(arr), name=self._names.get(id(t)))
            self._consts[key] = v
            self._keep.append(t)
        return v

    def const_array(self, arr) -> Value:
        key = (id(arr), None)
        v = self._consts.get(key)
        if v is None:
            v = self._new_value(CONST, arr, True, data=_snapshot(arr))
            self._consts[key] = v
            self._keep.append(arr)
        return v

    def value_of(self, t: Tensor) -> Value:
        return self.find(t) or self.const_of(t)

    def convert(self, obj):
        """``obj`` with every Tensor/array replaced by its Value (tuples, lists, dicts recursed)."""
        if isinstance(obj, Tensor):
            return self.value_of(obj)
        if is_array(obj):
            return self.find_array(obj) or self.const_array(obj)
        if type(obj) in (tuple, list):
            return type(obj)(self.convert(o) for o in obj)
        if type(obj) is dict:
            return {k: self.convert(o) for k, o in obj.items()}
        return obj

    def _any_traced(self, obj) -> bool:
        if isinstance(obj, Tensor):
            return self.find(obj) is not None
        if is_array(obj):
            return self.find_array(obj) is not None
        if type(obj) in (tuple, list):
            return any(self._any_traced(o) for o in obj)
        if type(obj) is dict:
            return any(self._any_traced(o) for o in obj.values())
        return False

    # ------------------------------------------------------------------ records
    def _module(self):
        return self.module_stack[-1] if self.module_stack else ("", None)

    def _add_record(self, op, args, kwargs, outputs, ctx, meta=None) -> Record:
        prev = self._tolerate
        self._tolerate = {id(o) for o in outputs if isinstance(o, Tensor)}
        try:
            vargs = self.convert(args)
            vkwargs = self.convert(kwargs) if kwargs else {}
        finally:
            self._tolerate = prev
        const = all(v.const for v in iter_values((vargs, vkwargs)))
        module, module_type = self._module()
        rec = Record(len(self.records), op, vargs, vkwargs, [], None, module, module_type, meta)
        rec.ctx = ctx
        for i, o in enumerate(outputs):
            if isinstance(o, Tensor):
                v = self._new_value(NODE, o._data, const, data=_snapshot(o._data) if const else None)
                v.producer = (rec, i)
                self._register(o, v)
                rec.outputs.append(v)
            else:
                rec.outputs.append(None)
        self.records.append(rec)
        self._keep.append(ctx)
        return rec

    def hook(self, fn, args, kwargs, outputs, ctx) -> None:
        """``trace_state`` hook: record one ``Function.apply``."""
        self._add_record(fn, args, kwargs, outputs, ctx)

    def untraced(self, op: str, args: tuple, kwargs: dict, out, meta=None) -> None:
        """Record an op that computed ``out`` without a Function (only when it depends on traced values)."""
        outs = out if isinstance(out, tuple) else (out,)
        if not any(isinstance(o, Tensor) for o in outs):
            return
        if all(not isinstance(o, Tensor) or self.find(o) is not None for o in outs):
            return  # computed by traced primitives already
        if not self._any_traced((args, kwargs)):
            return  # a constant: captured when it is used
        self._add_record(op, args, kwargs, outs, None, meta)

    def composite(self, op: str, input, out, meta: dict) -> None:
        """Record ``out = op(input, **meta)`` as one call (its primitives' records stay, unused),
        when the exporter has a single ONNX operator for it with these arguments."""
        from .ops import composite_supported

        if not isinstance(input, Tensor) or not isinstance(out, Tensor) or self.find(input) is None:
            return
        if not composite_supported(op, tuple(input._data.shape), input._data.dtype, meta):
            return  # exported through its primitives
        self._add_record(op, (input,), {}, (out,), None, meta)

    def after_write(self, t: Tensor, values) -> None:
        """``inplace.write(t, values)`` copied ``values`` into ``t``: ``t`` now holds their Value."""
        src = None
        if isinstance(values, Tensor):
            src = self.find(values)
        elif is_array(values):
            src = self.find_array(values)
        if src is None:
            e = self._by_tensor.get(id(t))
            if e is not None and e[1] is t:
                # A traced tensor overwritten with constants: it holds a constant now.
                v = self._new_value(CONST, t._data, True, data=_snapshot(t._data), name=None)
                self._register(t, v)
            return
        if src.shape == tuple(t._data.shape) and src.dtype == t._data.dtype:
            self._register(t, src)
            return
        self._add_record("write", (values,), {}, (t,), None, meta={"shape": tuple(t._data.shape), "dtype": t._data.dtype})

    def restamp(self, t: Tensor, first_value: int) -> None:
        """After an in-place op: accept the version bumps it made to ``t`` (registered during it)."""
        e = self._by_tensor.get(id(t))
        if e is None or e[1] is not t or e[0].index < first_value or e[4] is not t._data:
            return
        self._register(t, e[0])


# ---------------------------------------------------------------------------- untraced ops
def _result_dtype(a, b):
    from .. import _dtype

    return _dtype.result_type(a, b).np


_BINARY_META = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"}
_BOUND_META = {"div", "argmax", "argmin", "sort", "argsort", "topk", "one_hot", "full_like"}  # meta: the bound arguments


def _untraced_table():
    from .. import _creation
    from ..nn import functional
    from ..ops import _utils
    from ..ops import elementwise as ew
    from ..ops import indexing as ix
    from ..ops import reduction as red

    table = [(ew, name, name) for name in sorted(_BINARY_META)]
    table += [(ew, name, name) for name in ("logical_not", "bitwise_not", "isnan", "isinf", "isfinite", "div")]
    table += [(red, "argmax", "argmax"), (red, "argmin", "argmin")]
    table += [(ix, name, name) for name in ("sort", "argsort", "topk")]
    table += [(functional, "one_hot", "one_hot")]
    table += [(_utils, "as_float", "as_float"), (_utils, "cast_to", "cast_to")]
    table += [(_creation, name, name) for name in ("zeros_like", "ones_like", "full_like", "empty_like")]
    table += [(Tensor, "detach", "detach")]
    return table


def _wrap(orig, op: str):
    signature = inspect.signature(orig) if op in _BOUND_META else None

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        out = orig(*args, **kwargs)
        if _active:
            meta = None
            if op in _BINARY_META:
                other = args[1] if len(args) > 1 else kwargs.get("other")
                try:
                    meta = _result_dtype(args[0], other)
                except Exception:  # noqa: BLE001 - the op itself succeeded; meta is a hint
                    meta = None
            elif signature is not None:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                meta = dict(bound.arguments)
            _active[-1].untraced(op, args, kwargs, out, meta)
        return out

    wrapper._onnx_original = orig
    return wrapper


def _composite_table():
    from ..nn import functional

    return [(functional, "interpolate", "interpolate")]


def _wrap_composite(orig, op: str):
    signature = inspect.signature(orig)

    @functools.wraps(orig)
    def wrapper(*args, **kwargs):
        out = orig(*args, **kwargs)
        if _active:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            meta = dict(bound.arguments)
            _active[-1].composite(op, meta.pop("input"), out, meta)
        return out

    wrapper._onnx_original = orig
    return wrapper


def _wrap_write(orig):
    @functools.wraps(orig)
    def write(t, values, *args, **kwargs):
        orig(t, values, *args, **kwargs)
        if _active:
            _active[-1].after_write(t, values)

    return write


def _wrap_apply_inplace(orig):
    @functools.wraps(orig)
    def apply_inplace(self, op, *args, **kwargs):
        first = len(_active[-1].values) if _active else 0
        if _active and kwargs.get("_copy_input"):
            # in-place silu/mish/hardswish compute from a copy of the input when autograd records; the
            # copy would be an untraced constant, and an export needs no gradients: run it unrecorded
            with no_grad():
                out = orig(self, op, *args, **kwargs)
        else:
            out = orig(self, op, *args, **kwargs)
        if _active:
            _active[-1].restamp(self, first)
        return out

    return apply_inplace


@contextlib.contextmanager
def patched_ops():
    """Wrap the ops that bypass ``Function.apply`` wherever backprop refers to them."""
    from ..ops import inplace

    replacements = {}
    for owner, attr, op in _untraced_table():
        orig = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        replacements[id(orig)] = (orig, _wrap(orig, op))
    for owner, attr, op in _composite_table():
        orig = getattr(owner, attr)
        replacements[id(orig)] = (orig, _wrap_composite(orig, op))
    for attr, wrap in (("write", _wrap_write), ("apply_inplace", _wrap_apply_inplace)):
        orig = getattr(inplace, attr)
        replacements[id(orig)] = (orig, wrap(orig))
    patched = []
    owners = [m for name, m in list(sys.modules.items()) if m is not None and (name == "backprop" or name.startswith("backprop."))]
    owners.append(Tensor)
    for owner in owners:
        namespace = owner.__dict__ if isinstance(owner, type) else vars(owner)
        for attr, obj in list(namespace.items()):
            hit = replacements.get(id(obj))
            if hit is not None and hit[0] is obj:
                setattr(owner, attr, hit[1])
                patched.append((owner, attr, obj))
    try:
        yield
    finally:
        for owner, attr, obj in reversed(patched):
            setattr(owner, attr, obj)


@contextlib.contextmanager
def tracing(tracer: Tracer, model=None):
    """Install ``tracer`` (Function hook, untraced-op wrappers, module-path hooks)."""
    from ..nn.modules import module as module_mod

    handles = []
    if model is not None and hasattr(model, "named_modules"):
        names = {id(m): (name, type(m).__name__) for name, m in model.named_modules()}

        def pre(mod, args):
            tracer.module_stack.append(names.get(id(mod), (type(mod).__name__, type(mod).__name__)))

        def post(mod, args, output):
            if tracer.module_stack:
                tracer.module_stack.pop()

        handles = [module_mod.register_module_forward_pre_hook(pre), module_mod.register_module_forward_hook(post)]
    hooks = trace_state.hooks
    hook = tracer.hook
    _active.append(tracer)
    hooks.append(hook)
    try:
        with patched_ops():
            yield tracer
    finally:
        for i in range(len(hooks) - 1, -1, -1):
            if hooks[i] is hook:
                del hooks[i]
                break
        _active.remove(tracer)
        for h in handles:
            h.remove()
