"""``Function`` (forward and backward side by side) and the nodes of the backward graph.

A call ``MyFn.apply(*args)`` runs ``forward(ctx, *args)`` with graph recording off and, if any
input requires grad, links the outputs to a ``BackwardNode`` -- the ``ctx`` itself, as in
PyTorch. ``backward(ctx, *grad_outputs)`` receives Tensors and is written in differentiable
ops, so ``create_graph=True`` gives gradients of gradients for free.

Every primitive of ``backprop.ops`` is such a Function; so is any op a user adds. For speed
the primitives' ``forward`` may return raw ``xp`` arrays, which ``apply`` wraps. A forward
may save its inputs (Tensors) and its outputs (the arrays or Tensors it returns) with
``ctx.save_for_backward``; anything else it needs it keeps as plain ``ctx`` attributes.
"""

from __future__ import annotations

import traceback

import numpy

from .._backend import _BY_ARRAY_TYPE, is_array
from .._backend.cpu import as_out_of_memory, quiet_numpy, restore_numpy
from .._tensor import Tensor, _make, _RemovableHandle, shape_str
from .grad_mode import _state

_object_new = object.__new__

_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


class _TraceState:
    """Observers of every ``Function.apply`` (used by ``backprop.onnx`` to trace a forward pass).

    Each hook is called as ``hook(function_class, args, kwargs, outputs, ctx)`` after forward.
    """

    hooks: list = []


trace_state = _TraceState()


class _AnomalyState:
    enabled = False
    check_nan = True


anomaly_state = _AnomalyState()


class Node:
    """A node of the backward graph: what ``tensor.grad_fn`` is.

    ``_edges`` holds one ``(node, output_nr)`` edge per argument of the forward op
    (``(None, 0)`` for arguments that need no gradient); ``next_functions`` shows torch's
    view of them: one edge per tensor argument.
    """

    __slots__ = ("_edges", "__weakref__", "__dict__")

    num_outputs = 1
    # Hooks are rare: class-level defaults, stored per node only when registered (and then
    # ``_hooked``, the one flag the engine tests per node).
    _hooked = False
    _pre_hooks = None
    _post_hooks = None
    _tensor_hooks = None
    _retain_hooks = None

    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        meta = getattr(self, "_input_meta", None)
        if meta is None:
            return self._edges
        return tuple(e for e, m in zip(self._edges, meta) if m is not None)

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs)`` runs after this node's backward; may return new grad_inputs."""
        if self._post_hooks is None:
            self._post_hooks = []
            self._hooked = True
        Tensor._grad_writing_hooks_seen = True  # (an AccumulateGrad node's post hook sees the leaf's grad)
        return _RemovableHandle(self._post_hooks, hook)

    def register_prehook(self, hook):
        """``hook(grad_outputs)`` runs before this node's backward; may return new grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = []
            self._hooked = True
        return _RemovableHandle(self._pre_hooks, hook)

    def _add_tensor_hook(self, output_nr: int, hook, retain: bool = False):
        attr = "_retain_hooks" if retain else "_tensor_hooks"
        table = getattr(self, attr)
        if table is None:
            table = {}
            setattr(self, attr, table)
            self._hooked = True
        return _RemovableHandle(table.setdefault(output_nr, []), hook)

    @property
    def metadata(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad(Node):
    """The node of a leaf tensor: adds the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor):
        self.variable = variable
        self._edges = ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def accumulator(leaf: Tensor) -> AccumulateGrad:
    """The (shared) AccumulateGrad node of a leaf; cached weakly so leaf and node form no cycle."""
    ref = leaf._accumulator
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(leaf)
        import weakref

        leaf._accumulator = weakref.ref(node)
    return node


_NO_EDGE = (None, 0)


def edge_of(t: Tensor):
    """The graph edge a tensor contributes as an op input."""
    if t._base is not None and t._requires_grad:
        t.grad_fn  # noqa: B018 - refreshes a view whose base was modified in place
    fn = t._grad_fn
    if fn is not None:
        return (fn, t._output_nr)
    if t._requires_grad:
        ref = t._accumulator  # (accumulator(t), its common case inline)
        node = ref() if ref is not None else None
        return (node if node is not None else accumulator(t), 0)
    return _NO_EDGE


class _SavedOutput:
    """A forward output saved for backward, kept as (array, index) to avoid a node<->tensor cycle."""

    __slots__ = ("data", "output_nr", "version_counter", "version", "requires_grad")


class BackwardNode(Node):
    """The ``ctx`` of a Function call and, when a graph is recorded, its backward node."""

    # (``_to_save`` and ``_array_mode`` are slots, set by ``apply``, so that a primitive's
    # instance ``__dict__`` stays empty and ``_release`` finds nothing to scan.)
    __slots__ = ("_fn", "needs_input_grad", "_saved", "_saved_versions", "_input_meta", "_output_meta", "_to_save", "_array_mode")

    # Set per node only when used (ctx attributes of forward live in the instance __dict__).
    _non_differentiable = None
    _dirty = None
    materialize_grads = True
    _freed = False
    _trace = None

    def name(self) -> str:
        return self._fn._backward_name

    @property
    def num_outputs(self) -> int:
        return len(self._output_meta)

    # -- the ctx API used inside forward/backward
    def save_for_backward(self, *tensors) -> None:
        fn = getattr(self, "_fn", None)  # None: a FunctionCtx made outside apply
        if fn is None or not fn._internal:  # (backprop's own primitives save Tensors and arrays only)
            for i, t in enumerate(tensors):
                if t is not None and not isinstance(t, (Tensor, numpy.generic)) and not is_array(t):
                    raise TypeError(
                        f"save_for_backward can only save variables, but argument {i} is of type {type(t).__name__}"
                    )
        self._to_save = tensors

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *outputs) -> None:
        self._non_differentiable = outputs

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def input_shape(self, index: int) -> tuple:
        """Shape of forward input ``index`` (recorded for every graph node; cheap for backward)."""
        return self._input_meta[index][0]

    @property
    def saved_tensors(self) -> tuple:
        """The values ``save_for_backward`` stored: Tensors, or raw arrays while a primitive's
        backward runs without ``create_graph`` (see ``ops/_backward.py``)."""
        saved = self._saved
        if saved is None:
            if self._freed:
                raise RuntimeError(_FREED_MESSAGE)
            return ()
        out = []
        if self._array_mode:  # (_saved_arrays, inline for the engine's common case)
            for item, version in zip(saved, self._saved_versions):
                if item is None:
                    out.append(None)
                elif type(item) is _SavedOutput:
                    if item.version_counter[0] != item.version:
                        _raise_modified(self, item.data, item.version_counter[0], item.version, item.output_nr)
                    out.append(item.data)
                else:
                    if item._version_counter[0] != version:
                        _raise_modified(self, item._data, item._version_counter[0], version, None)
                    out.append(item._data)
            return tuple(out)
        for item, version in zip(saved, self._saved_versions):
            if item is None:
                out.append(None)
                continue
            if type(item) is _SavedOutput:
                if item.version_counter[0] != item.version:
                    _raise_modified(self, item.data, item.version_counter[0], item.version, item.output_nr)
                t = _make(item.data)
                t._version_counter = item.version_counter
                if item.requires_grad:
                    t._grad_fn = self
                    t._output_nr = item.output_nr
                    t._requires_grad = True
                out.append(t)
            else:
                if item._version_counter[0] != version:
                    _raise_modified(self, item._data, item._version_counter[0], version, None)
                out.append(item)
        return tuple(out)

    @property
    def saved_variables(self) -> tuple:
        return self.saved_tensors

    def _release(self) -> None:
        """Free what forward saved (called after backward unless ``retain_graph``).

        As in torch, only saved tensors are freed: ``save_for_backward``'s, and the arrays a
        primitive keeps as ``ctx`` attributes. Other attributes (a user Function's, or a
        primitive's dims/shapes) stay, so a second backward through a node that saved no
        tensor works.
        """
        if self._saved:
            self._saved = None
            self._freed = True
        attrs = self.__dict__
        if attrs and self._fn._internal:
            held = [k for k, v in attrs.items() if k[0] != "_" and (isinstance(v, Tensor) or type(v) in _BY_ARRAY_TYPE)]
            for k in held:
                del attrs[k]
            if held:
                self._freed = True


def _raise_modified(node, data, current, expected, output_nr) -> None:
    dt = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor"}.get(str(data.dtype), "Tensor")
    name = node.name()  # torch names the op: ReluBackward0 -> Relu, LeakyReluBackward1 -> LeakyRelu1
    name = name[:-9] if name.endswith("Backward0") else name.replace("Backward", "")
    where = f", which is output {output_nr} of {name}," if output_nr is not None else ""
    if anomaly_state.enabled:
        hint = (
            "Hint: the backtrace further above shows the operation that failed to compute its gradient. The "
            "variable in question was changed in there or anywhere later. Good luck!"
        )
    else:
        hint = (
            "Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
            "backprop.autograd.set_detect_anomaly(True, check_nan=False)."
        )
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[backprop.{dt} {shape_str(data.shape)}]{where} is at version {current}; expected version "
        f"{expected} instead. {hint}"
    )


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        internal = cls.__module__.startswith("backprop.")
        cls._internal = internal
        cls._backward_name = f"{name}Backward0" if internal else f"{name}Backward"
        # Primitives' backward formulas also run on raw arrays (ops/_backward.py); user
        # Functions always receive Tensors.
        cls._array_backward = attrs.get("_array_backward", internal)


class Function(metaclass=_FunctionMeta):
    """Base class of differentiable operations (``torch.autograd.Function``).

    Subclass it and define ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` as
    static methods; call it with ``YourFunction.apply(*args)``. ``backward`` returns one
    gradient per ``forward`` argument (``None`` for non-tensors or inputs needing none).

    ``inplace_saves_output = True`` declares that backward needs only the output that
    forward saved, never the input: the op's in-place form ``x.op_()`` then saves ``x``
    itself (no copy; changing ``x`` again before backward raises, as in torch). Without it
    an in-place form keeps a copy of the input it saved (see ``ops.inplace.apply_inplace``).
    """

    inplace_saves_output = False
    _dirty_bumps_version = True  # False only for CopySlices: the in-place op on the view counted already

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):  # torch >= 2.0 style; used when forward has no ctx
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        grad_enabled = _state.enabled
        ctx = _object_new(BackwardNode)
        ctx._fn = cls
        ctx._saved = None
        ctx._to_save = None
        ctx._array_mode = False
        # As in torch, needs_input_grad reflects the inputs' requires_grad even under no_grad.
        # If a graph is recorded, ctx gets each argument's graph edge and (shape, dtype), taken
        # before forward runs, as torch does.
        n = len(args)
        a = args[0] if n else None
        if n == 1 and type(a) is Tensor:  # the common cases, one or two plain Tensors: no loop
            rg = a._requires_grad
            ctx.needs_input_grad = (rg,)
            record = rg and grad_enabled
            if record:
                d = a._data
                ctx._input_meta = ((d.shape, d.dtype),)
                fn = a._grad_fn  # a non-leaf that is no view: its edge inline (else edge_of)
                ctx._edges = ((fn, a._output_nr) if fn is not None and a._base is None else edge_of(a),)
        elif n == 2 and type(a) is Tensor and type(args[1]) is Tensor and type(a._data) is type(args[1]._data):
            b = args[1]
            ra = a._requires_grad
            rb = b._requires_grad
            ctx.needs_input_grad = (ra, rb)
            record = (ra or rb) and grad_enabled
            if record:
                d = a._data
                e = b._data
                ctx._input_meta = ((d.shape, d.dtype), (e.shape, e.dtype))
                fn = a._grad_fn
                fb = b._grad_fn
                ctx._edges = (
                    (fn, a._output_nr) if fn is not None and a._base is None else edge_of(a),
                    (fb, b._output_nr) if fb is not None and b._base is None else edge_of(b),
                )
        else:
            needs = []
            array_type = None
            for a in args:
                if isinstance(a, Tensor):
                    if a.__class__ is not Tensor and a._sparse_layout and not cls._sparse_ok:
                        _refuse_sparse(cls, a)
                    needs.append(a._requires_grad)
                    if array_type is None:
                        array_type = type(a._data)
                    elif type(a._data) is not array_type:
                        array_type = False  # tensors of two backends: see same_device
                else:
                    needs.append(False)
            if array_type is False:
                args = same_device(cls.__name__, args)
            ctx.needs_input_grad = tuple(needs)
            record = grad_enabled and True in needs
            if record:
                _link_inputs(ctx, args)

        _state.enabled = False
        quiet = quiet_numpy()  # inf/nan from finite inputs without NumPy's warnings, as torch (x / 0, exp(1000))
        try:
            if cls._uses_setup_context:
                result = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, result)
            elif kwargs:
                result = cls.forward(ctx, *args, **kwargs)
            else:  # (an empty **kwargs costs a dict per call)
                result = cls.forward(ctx, *args)
        except MemoryError as exc:  # NumPy's: torch's error is a RuntimeError (OutOfMemoryError)
            raise as_out_of_memory(exc) from None
        finally:
            _state.enabled = grad_enabled
            restore_numpy(quiet)

        tr = type(result)
        if (tr in _BY_ARRAY_TYPE or (tr is not Tensor and tr is not tuple and isinstance(result, numpy.generic))) and ctx._dirty is None:
            # The common case: one new array (NumPy returns scalars for 0-d results).
            out = _object_new(Tensor)
            out._data = result if tr in _BY_ARRAY_TYPE else numpy.asarray(result)
            out._requires_grad = False
            out._grad_fn = None
            out._output_nr = 0
            out._grad = None
            out._version_counter = [0]
            if record:  # _link_outputs for this case (inline: one call less per op)
                data = out._data
                ctx._output_meta = ((data.shape, data.dtype),)
                if data.dtype.kind in "fcV" and ctx._non_differentiable is None:  # float, complex, bfloat16
                    out._grad_fn = ctx
                    out._requires_grad = True
                if ctx._to_save:
                    _save_one(ctx, result, out)
                if anomaly_state.enabled:
                    ctx._trace = "".join(traceback.format_stack()[:-2])
            if trace_state.hooks:
                for hook in trace_state.hooks:
                    hook(cls, args, kwargs, (out,), ctx)
            return out

        single = not isinstance(result, tuple)
        raw = (result,) if single else result
        outputs = []
        for r in raw:
            tr = type(r)
            if tr in _BY_ARRAY_TYPE or (tr is not Tensor and isinstance(r, numpy.generic)):
                outputs.append(_make(r))
            elif isinstance(r, Tensor):
                if ctx._dirty is None or not any(r is d for d in ctx._dirty):
                    if any(r is a for a in args):  # forward returned an input: give back an alias
                        alias = _make(r._data)
                        alias._version_counter = r._version_counter
                        r = alias
                outputs.append(r)
            else:
                outputs.append(r)

        if record:
            _link_outputs(ctx, raw, outputs)
        elif ctx._dirty:
            for t in ctx._dirty:
                t._version_counter[0] += 1
        if trace_state.hooks:
            for hook in trace_state.hooks:
                hook(cls, args, kwargs, outputs, ctx)
        return outputs[0] if single else tuple(outputs)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        import inspect

        fwd = cls.__dict__.get("forward")
        params = []
        if fwd is not None:
            try:
                params = list(inspect.signature(fwd).parameters)
            except (TypeError, ValueError):
                params = []
        cls._uses_setup_context = "setup_context" in cls.__dict__ and (not params or params[0] != "ctx")


Function._uses_setup_context = False
# Whether a primitive takes sparse COO tensors (ops/sparse.py); every other one refuses them.
Function._sparse_ok = False


def _refuse_sparse(cls, t: Tensor) -> None:
    from ..ops.sparse import not_implemented  # ops build on this module: imported when first needed

    raise not_implemented(cls.__name__.lower(), t)


def same_device(op: str, args) -> tuple:
    """Arguments of one op on two devices: the tensors among ``args`` brought to the non-CPU
    device of the others by ``join_device`` (other arguments pass through)."""
    target = next(a.device for a in args if isinstance(a, Tensor) and a.device.type != "cpu")
    return tuple(join_device(a, target, op) if isinstance(a, Tensor) else a for a in args)


def join_device(t: Tensor, target, op: str) -> Tensor:
    """``t`` for an op running on ``target``: itself when it is there; a 0-d CPU tensor joins,
    as in torch (a recorded copy, so its gradient comes back to the CPU); anything else raises
    torch's RuntimeError naming both devices and the op."""
    if t.device == target:
        return t
    if t.device.type != "cpu" or t._data.ndim != 0:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{target} and {t.device}! (when checking the arguments of {op})"
        )
    from ..ops.device import to_device  # ops build on this module: imported when first needed

    return to_device(t, target)


def _saved_output(ctx: BackwardNode, out: Tensor, output_nr: int) -> _SavedOutput:
    """The record of output ``output_nr`` saved for backward (its data and version, not the
    Tensor itself, which would make a reference cycle with its own node)."""
    rec = _object_new(_SavedOutput)
    rec.data = out._data
    rec.output_nr = output_nr
    rec.version_counter = out._version_counter
    rec.version = out._version_counter[0]
    rec.requires_grad = out._grad_fn is ctx
    return rec


def _save_one(ctx: BackwardNode, raw, out: Tensor) -> None:
    """What ``ctx.save_for_backward`` named, for an op with the one output ``out`` (``raw``:
    the array forward returned): that output as a ``_SavedOutput``, inputs with their versions."""
    saved = []
    versions = []
    for item in ctx._to_save:
        if item is raw or item is out:
            rec = _saved_output(ctx, out, 0)
            saved.append(rec)
            versions.append(rec.version)
        elif item is None:
            saved.append(None)
            versions.append(0)
        else:
            if not isinstance(item, Tensor):
                item = _make(item)
            saved.append(item)
            versions.append(item._version_counter[0])
    ctx._saved = saved
    ctx._saved_versions = versions
    ctx._to_save = None


def _link_inputs(ctx: BackwardNode, args) -> None:
    """One edge and one (shape, dtype) record per forward argument."""
    edges = []
    in_meta = []
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            in_meta.append((d.shape, d.dtype))
            edges.append(edge_of(a))
        else:
            in_meta.append(None)
            edges.append(_NO_EDGE)
    ctx._edges = tuple(edges)
    ctx._input_meta = tuple(in_meta)


def _link_outputs(ctx: BackwardNode, raw, outputs) -> None:
    """Record the graph behind the inputs' edges: outputs pointing back at ``ctx``, saved values."""
    nondiff = ctx._non_differentiable
    dirty = ctx._dirty
    meta = []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            meta.append(None)
            continue
        meta.append((out._data.shape, out._data.dtype))
        if out._data.dtype.kind not in "fcV" or (nondiff is not None and any(out is n for n in nondiff)):
            continue
        if dirty is not None and any(out is d for d in dirty):
            from ..ops.inplace import check_inplace, rebase_history

            check_inplace(out)

            if ctx._fn._dirty_bumps_version:
                out._version_counter[0] += 1
            rebase_history(out, ctx, i)
        else:
            out._grad_fn = ctx
            out._output_nr = i
            out._requires_grad = True
    ctx._output_meta = tuple(meta)

    to_save = ctx._to_save
    if to_save:
        saved = []
        versions = []
        for item in to_save:
            if item is None:
                saved.append(None)
                versions.append(0)
                continue
            for i, out in enumerate(outputs):
                if item is raw[i] or item is out:
                    rec = _saved_output(ctx, out, i)
                    saved.append(rec)
                    versions.append(rec.version)
                    break
            else:
                if not isinstance(item, Tensor):
                    item = _make(item)
                saved.append(item)
                versions.append(item._version_counter[0])
        ctx._saved = saved
        ctx._saved_versions = versions
        ctx._to_save = None
    if anomaly_state.enabled:
        ctx._trace = "".join(traceback.format_stack()[:-2])


class _DelayedError(Function):
    """Stands in for a gradient that cannot be differentiated again; raises if one tries."""

    @staticmethod
    def forward(ctx, message, result, *grad_outputs):
        ctx.message = message
        return result

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(ctx.message)


def once_differentiable(backward):
    """Mark a backward that is not itself differentiable: it runs under ``no_grad``, and with
    ``create_graph=True`` differentiating its result raises instead of being silently wrong."""
    import functools

    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        create_graph = _state.enabled
        _state.enabled = False
        try:
            result = backward(ctx, *grad_outputs)
        finally:
            _state.enabled = create_graph
        tracked = [g for g in grad_outputs if isinstance(g, Tensor) and g._requires_grad]
        if not create_graph or not tracked:
            return result
        message = f"trying to differentiate twice a function that was marked with @once_differentiable ({ctx.name()})"
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        outs = tuple(_DelayedError.apply(message, o, *tracked) if isinstance(o, Tensor) else o for o in outs)
        return outs[0] if single else outs

    return wrapper


FunctionCtx = BackwardNode
