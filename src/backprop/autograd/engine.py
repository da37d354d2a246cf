"""The backward engine: runs the chain rule from output gradients back through the graph.

1. Order: an iterative depth-first search from the roots gives a reverse post-order of the
   graph, i.e. every node comes before the nodes that feed it (no recursion, so graphs of
   any depth work).
2. Run: walking that order, each node pops its summed incoming gradients, applies its
   tensor hooks, calls its ``backward`` and adds the results into the buffers of the nodes
   behind it. A gradient is freed as soon as its node has consumed it.
3. Leaves: ``AccumulateGrad`` adds into ``leaf.grad``; gradients accumulate across backward
   calls until the user zeroes them (``optimizer.zero_grad()``/``tensor.grad = None``). The
   addition holds ``grad_accumulation_lock``, so backward calls from several threads into one
   shared leaf lose nothing (as torch's per-variable lock).
4. Unless ``retain_graph``, each node releases its saved tensors right after its backward,
   so a second backward through a node that saved something raises ``RuntimeError``.

Without ``create_graph`` gradients travel as raw arrays (NumPy or CuPy) and the primitives' backward
formulas run on arrays (see ``ops/_backward.py``): no Tensor or graph bookkeeping per step.
User Functions and hooks still see Tensors. With ``create_graph`` everything is a Tensor and
every backward step is itself recorded.
"""

from __future__ import annotations

import threading

import numpy

from .._autocast import state as _autocast_state
from .._backend import _BY_ARRAY_TYPE, array_module, backend_of
from .._backend.cpu import as_out_of_memory, quiet_numpy, restore_numpy
from .._tensor import Tensor, _make, grad_accumulation_lock, shape_str
from .function import _FREED_MESSAGE, AccumulateGrad, anomaly_state
from .grad_mode import _state


class _EngineState(threading.local):
    """Per thread, one entry per running (possibly nested) backward pass: whether it is a plain
    ``.backward()`` accumulating into every leaf (what reentrant checkpointing requires)."""

    def __init__(self) -> None:
        self.accumulating_all: list[bool] = []


engine_state = _EngineState()


def topological_order(roots) -> list:
    """Nodes reachable from ``roots`` with every node before all nodes it sends gradients to."""
    order = []
    visited = set()
    mark = visited.add
    finish = order.append
    for root in roots:
        if root is None or root in visited:
            continue
        mark(root)
        stack = [(root, iter(root._edges))]
        push = stack.append
        while stack:
            node, children = stack[-1]
            for child, _ in children:
                if child is not None and child not in visited:
                    mark(child)
                    if not child._edges:  # a leaf's node: done at once (as if pushed and popped)
                        finish(child)
                        continue
                    push((child, iter(child._edges)))
                    break
            else:
                stack.pop()
                finish(node)
    order.reverse()
    return order


class _Run:
    """State of one backward pass."""

    __slots__ = ("create_graph", "keep_graph", "handed_out", "fanned_out", "lent")

    def __init__(self, create_graph: bool, keep_graph: bool):
        self.create_graph = create_graph
        self.keep_graph = keep_graph
        # Arrays already stored in some leaf's .grad this pass: a second leaf receiving the
        # same array (e.g. both inputs of an add) must copy it, or in-place updates of one
        # .grad would change the other.
        self.handed_out: dict[int, object] = {}
        # Ids of arrays one backward sent to several inputs (an add's gradient goes to both):
        # a leaf whose post-accumulate hooks may write into its .grad gets a copy of such an
        # array, as the other input may not have consumed it yet. An id reused later only
        # costs a needless copy. Watched only once such hooks exist (Tensor._grad_writing_hooks_seen).
        self.fanned_out: set[int] = set()
        # Ids of arrays this pass stored as a leaf's new .grad without copying (see _LENT).
        self.lent: list[int] = []

    def accumulate(self, leaf: Tensor, grad, node: AccumulateGrad | None = None) -> None:
        if leaf._hooks or (node is not None and node._pre_hooks):
            grad = _as_tensor(grad)
            if leaf._hooks:
                grad = _apply_hooks(leaf._hooks, grad)
            if node is not None and node._pre_hooks:
                for hook in list(node._pre_hooks):
                    new = hook((grad,))
                    if new is not None:
                        grad = new[0]
        with grad_accumulation_lock:  # read-modify-write of .grad: one thread at a time
            self._add_into(leaf, grad, node)
        if leaf._post_accumulate_hooks:
            for hook in list(leaf._post_accumulate_hooks):
                if hook(leaf) is not None:
                    raise RuntimeError("Tensor post accumulate grad hooks should return None.")
        if node is not None and node._post_hooks:  # torch calls them with ((), (grad,))
            for hook in list(node._post_hooks):
                hook((), (_as_tensor(grad),))


    def _add_into(self, leaf: Tensor, grad, node: AccumulateGrad | None) -> None:
        old = leaf._grad
        if self.create_graph:
            # A differentiable copy, as torch makes: leaves given the same gradient must not share one .grad.
            leaf._grad = grad.clone() if old is None else old + grad
            return
        arr = grad._data if isinstance(grad, Tensor) else grad
        dtype = leaf._data.dtype
        if arr.dtype is not dtype and arr.dtype != dtype:
            arr = arr.astype(dtype)
        if old is None:
            hooked = leaf._post_accumulate_hooks or (node is not None and node._post_hooks)
            if (
                arr.base is not None
                or id(arr) in self.handed_out
                or (hooked and id(arr) in self.fanned_out)
                or not (arr.flags.writeable if type(arr) is numpy.ndarray else backend_of(arr).is_writeable(arr))
            ):
                arr = arr.copy()
            self.handed_out[id(arr)] = arr
            leaf._grad = _make(arr)
            _LENT[id(arr)] = self
            self.lent.append(id(arr))
        elif _LENT and _LENT.get(id(old._data), self) is not self:
            # .grad is still an array of a backward running in another thread (which may yet read
            # it for another input): add out of place rather than change it under that pass.
            leaf._grad = _make(old._data + arr)
        elif old._data.shape == arr.shape and backend_of(arr).is_writeable(old._data):
            # In place, as torch does (also into a .grad that a create_graph backward left with a grad_fn).
            array_module(arr).add(old._data, arr, out=old._data, casting="unsafe")
            old._version_counter[0] += 1
        else:
            leaf._grad = _make(old._data + arr)


# A leaf's first gradient of a pass is stored as .grad without a copy, but the same array may
# still be on its way to other inputs of that pass (an add sends one array to both). Until the
# pass ends, a backward in another thread must not add into it in place: {id(array): _Run}.
_LENT: dict[int, _Run] = {}


def _call_backward(node, grads: list, create_graph: bool) -> tuple:
    """Run ``node``'s backward on the gradients of its outputs; returns one value per input.

    Values are arrays without ``create_graph`` (Tensors with it). Primitives get them as they
    are; user Functions always get Tensors.
    """
    if node._freed:
        raise RuntimeError(_FREED_MESSAGE)
    fn = node._fn
    array_mode = not create_graph and fn._array_backward
    if array_mode and not anomaly_state.enabled and (grads[0] is not None if len(grads) == 1 else all(g is not None for g in grads)):
        return _call_array_backward(node, fn, grads)
    meta = node._output_meta
    for i, g in enumerate(grads):
        if g is None:
            if node.materialize_grads and meta[i] is not None:
                shape, dtype = meta[i]
                xp = array_module(_some_array(grads))  # the missing output's device: that of the others
                z = xp.zeros(shape, dtype=dtype if dtype.kind in "fcV" else numpy.float32)
                grads[i] = z if array_mode else _make(z)
        elif array_mode:
            if type(g) not in _BY_ARRAY_TYPE:
                grads[i] = g._data if isinstance(g, Tensor) else numpy.asarray(g)
        elif type(g) in _BY_ARRAY_TYPE:
            grads[i] = _make(g)
    node._array_mode = array_mode
    try:
        result = fn.backward(node, *grads)
    except Exception as exc:
        if anomaly_state.enabled and getattr(node, "_trace", None):
            try:
                annotated = type(exc)(f"{exc}\n\nThe forward call that created {node.name()} was:\n{node._trace}")
            except Exception:  # an exception type that cannot be rebuilt from a message: keep it as it is
                raise exc from None
            raise annotated from exc
        raise
    finally:
        node._array_mode = False
    if not isinstance(result, tuple):
        result = (result,)
    n_inputs = len(node._edges)
    if len(result) != n_inputs:
        if len(result) > n_inputs and all(r is None for r in result[n_inputs:]):
            result = result[:n_inputs]
        else:
            raise RuntimeError(
                f"function {node.name()} returned an incorrect number of gradients (expected {n_inputs}, got {len(result)})"
            )
    checked = []
    for i, g in enumerate(result):
        if g is None or node._edges[i][0] is None:
            checked.append(None)
            continue
        tg = type(g)
        if tg not in _BY_ARRAY_TYPE and not isinstance(g, Tensor):
            if isinstance(g, numpy.generic):
                g = numpy.asarray(g)
            else:
                raise TypeError(f"function {node.name()} returned a gradient of type {tg.__name__} at index {i}; expected a Tensor or None")
        if create_graph:
            g = _as_tensor(g)
        elif type(g) not in _BY_ARRAY_TYPE:
            g = g._data
        shape, dtype = node._input_meta[i]
        if g.shape != shape:
            g = _sum_to_or_raise(node, i, g, shape)
        if (g._data.dtype if isinstance(g, Tensor) else g.dtype) != dtype:
            g = _real_if_needed(g, dtype)
            g = g.to(_dtype_of(dtype)) if isinstance(g, Tensor) else g.astype(dtype)
        if anomaly_state.enabled and anomaly_state.check_nan:
            _check_finite(node, i, g)
        checked.append(g)
    return tuple(checked)


_plain_call_backward = _call_backward  # (the profiler wraps _call_backward; the engine notices)


def _call_array_backward(node, fn, grads: list) -> tuple:
    """The common case of ``_call_backward``: a primitive, no create_graph, every output's
    gradient present, no anomaly mode."""
    for i, g in enumerate(grads):
        if type(g) not in _BY_ARRAY_TYPE:
            grads[i] = g._data if isinstance(g, Tensor) else numpy.asarray(g)
    node._array_mode = True
    try:
        result = fn.backward(node, *grads)
    finally:
        node._array_mode = False
    return _array_grads(node, result)


def _array_grads(node, result) -> tuple:
    """What a primitive's array backward returned, checked: one array (or None) per input,
    summed to the input's shape and cast to its dtype."""
    edges = node._edges
    if type(result) is not tuple:
        if len(edges) == 1:  # one input, one gradient (unary ops): no loop
            g = result
            if g is None or edges[0][0] is None:
                return (None,)
            if type(g) not in _BY_ARRAY_TYPE:
                g = g._data if isinstance(g, Tensor) else numpy.asarray(g)
            shape, dtype = node._input_meta[0]
            if g.shape != shape:
                g = _sum_to_or_raise(node, 0, g, shape)
            gd = g.dtype
            if gd is not dtype and gd != dtype:
                g = _real_if_needed(g, dtype).astype(dtype)
            return (g,)
        result = (result,)
    if len(result) != len(edges):
        if len(result) > len(edges) and all(r is None for r in result[len(edges) :]):
            result = result[: len(edges)]
        else:
            raise RuntimeError(
                f"function {node.name()} returned an incorrect number of gradients (expected {len(edges)}, got {len(result)})"
            )
    checked = []
    for g, edge, meta in zip(result, edges, node._input_meta):
        if g is None or edge[0] is None:
            checked.append(None)
            continue
        if type(g) not in _BY_ARRAY_TYPE:
            g = g._data if isinstance(g, Tensor) else numpy.asarray(g)
        shape, dtype = meta
        if g.shape != shape:
            g = _sum_to_or_raise(node, len(checked), g, shape)
        gd = g.dtype
        if gd is not dtype and gd != dtype:
            g = _real_if_needed(g, dtype).astype(dtype)
        checked.append(g)
    return tuple(checked)


def _real_if_needed(g, dtype):
    """The gradient of a real input is the real part of a complex one (torch's convention)."""
    if dtype.kind != "c" and (g._data.dtype if isinstance(g, Tensor) else g.dtype).kind == "c":
        return g.real
    return g


def _as_tensor(g):
    return _make(g) if type(g) in _BY_ARRAY_TYPE else g


def _some_array(grads):
    """One of a node's incoming gradients, as an array (they all live on the node's device)."""
    g = next((g for g in grads if g is not None), None)
    return g._data if isinstance(g, Tensor) else g  # None (all missing): array_module gives NumPy


def _as_value(g, create_graph: bool):
    """A gradient in the engine's representation: a Tensor with create_graph, else an array."""
    if create_graph:
        return _as_tensor(g)
    return g._data if isinstance(g, Tensor) else g


def _check_finite(node, index: int, grad) -> None:
    """Anomaly mode: name the backward that produced NaN or inf (and where its forward ran)."""
    arr = grad._data if isinstance(grad, Tensor) else grad
    xp = array_module(arr)
    if arr.dtype.kind not in "fc" or xp.isfinite(arr).all():
        return
    kind = "nan" if xp.isnan(arr).any() else "inf"
    trace = getattr(node, "_trace", None)
    where = f"\n\nThe forward call that created {node.name()} was:\n{trace}" if trace else ""
    raise RuntimeError(f"Function '{node.name()}' returned {kind} values in its {index}th output.{where}")


def _dtype_of(np_dtype):
    from .._dtype import from_numpy_dtype

    return from_numpy_dtype(np_dtype)


def _sum_to_or_raise(node, index: int, grad, shape):
    from ..ops._utils import is_expandable_to, unbroadcast

    if is_expandable_to(shape, tuple(grad.shape)):
        return unbroadcast(grad, shape)
    raise RuntimeError(
        f"Function {node.name()} returned an invalid gradient at index {index} - got {shape_str(grad.shape)} "
        f"but expected shape compatible with {shape_str(shape)}"
    )


def _add_grad(a, b, create_graph: bool):
    """Sum two gradient contributions (arrays without create_graph, Tensors with it)."""
    if a is None:
        return b
    if create_graph:
        return _as_tensor(a) + _as_tensor(b)
    out = a + b
    return out if type(out) in _BY_ARRAY_TYPE else numpy.asarray(out)  # NumPy gives scalars for 0-d sums


def _apply_hooks(hooks, grad):
    for hook in list(hooks):
        new = hook(grad)
        if new is not None:
            if not isinstance(new, Tensor):
                raise TypeError(f"hook '{_hook_name(hook)}' returned {type(new).__name__}; expected a Tensor or None")
            if new._data.shape != grad._data.shape:
                raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
            if new._data.dtype != grad._data.dtype:
                raise RuntimeError(
                    f"hook '{_hook_name(hook)}' has changed the type of value (was {grad.dtype} got {new.dtype})"
                )
            grad = new
    return grad


def _hook_name(hook) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def execute(
    roots: list,
    root_grads: list,
    keep_graph: bool,
    create_graph: bool,
    capture: list | None = None,
    accumulate: bool = True,
    only_leaves: set | None = None,
) -> list | None:
    """Run one backward pass (``_execute``) without NumPy's floating-point warnings: a gradient
    of inf/nan (1/x at 0) comes silently, as in torch."""
    quiet = quiet_numpy()
    try:
        return _execute(roots, root_grads, keep_graph, create_graph, capture, accumulate, only_leaves)
    except MemoryError as exc:  # NumPy's: torch's error is a RuntimeError (OutOfMemoryError)
        raise as_out_of_memory(exc) from None
    finally:
        restore_numpy(quiet)


def _execute(
    roots: list,
    root_grads: list,
    keep_graph: bool,
    create_graph: bool,
    capture: list | None = None,
    accumulate: bool = True,
    only_leaves: set | None = None,
) -> list | None:
    """Run one backward pass.

    roots / root_grads: ``(node, output_nr)`` edges and the gradients flowing into them.
    capture: edges whose total incoming gradient is returned (``autograd.grad``); nodes that
    lead to none of them are not run.
    accumulate: whether AccumulateGrad nodes write into ``.grad``; ``only_leaves`` restricts
    which leaves do (``backward(inputs=...)``).
    """
    order = topological_order([roots[0][0]] if len(roots) == 1 else [node for node, _ in roots])
    buffers: dict = {}
    for (node, nr), g in zip(roots, root_grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node.num_outputs
        buf[nr] = _add_grad(buf[nr], _as_value(g, create_graph), create_graph)

    captured = None
    needed = None
    capture_at: dict = {}
    if capture is not None:
        captured = [None] * len(capture)
        for slot, (node, nr) in enumerate(capture):
            if node is not None:
                capture_at.setdefault(node, []).append((nr, slot))
        needed = set()
        for node in reversed(order):
            for child, _ in node._edges:
                if child is not None and (child in needed or child in capture_at):
                    needed.add(node)
                    break

    run = _Run(create_graph, keep_graph)
    watch_fanout = Tensor._grad_writing_hooks_seen and not create_graph
    if root_grads and type(root_grads[0]) is Tensor and len(root_grads) == 1:
        run.handed_out[id(root_grads[0]._data)] = root_grads[0]._data
    else:
        run.handed_out.update({id(g._data): g._data for g in root_grads if isinstance(g, Tensor)})
    # The common step (a primitive, no create_graph, no anomaly mode, every output's gradient
    # present, the profiler not wrapping _call_backward) runs the array backward inline.
    arrays_ok = not create_graph and not anomaly_state.enabled and _call_backward is _plain_call_backward
    pop = buffers.pop
    get = buffers.get
    prev_mode = _state.enabled
    _state.enabled = create_graph
    # Backward ops run in the dtypes forward chose; autocast does not recast them.
    prev_autocast = _autocast_state.active
    _autocast_state.active = False
    accumulating_all = engine_state.accumulating_all
    accumulating_all.append(capture is None and accumulate and only_leaves is None)
    try:
        for node in order:
            buf = pop(node, None)
            if buf is None:
                continue
            hooked = node._hooked
            if hooked and node._tensor_hooks:
                for nr, hooks in node._tensor_hooks.items():
                    if buf[nr] is not None:
                        buf[nr] = _as_value(_apply_hooks(hooks, _as_tensor(buf[nr])), create_graph)
            if hooked and node._retain_hooks:
                for nr, hooks in node._retain_hooks.items():
                    if buf[nr] is not None:
                        _apply_hooks(hooks, _as_tensor(buf[nr]))
            if capture_at and node in capture_at:
                for nr, slot in capture_at[node]:
                    g = buf[nr]
                    if g is not None:
                        g = _as_tensor(g)
                        if type(node) is AccumulateGrad and node.variable._hooks:
                            g = _apply_hooks(node.variable._hooks, g)
                    captured[slot] = g
            if type(node) is AccumulateGrad:
                if accumulate and buf[0] is not None and (only_leaves is None or id(node.variable) in only_leaves):
                    run.accumulate(node.variable, buf[0], node)
                continue
            if needed is not None and node not in needed:
                continue
            if hooked and node._pre_hooks:
                for hook in list(node._pre_hooks):
                    new = hook(tuple(_as_tensor(g) if g is not None else None for g in buf))
                    if new is not None:
                        buf = [_as_value(g, create_graph) if g is not None else None for g in new]
            fn = node._fn
            if (
                arrays_ok
                and fn._array_backward
                and not node._freed
                and (buf[0] is not None if len(buf) == 1 else all(g is not None for g in buf))
            ):
                # _call_array_backward, inline (the buffers hold arrays here: no conversion)
                node._array_mode = True
                try:
                    result = fn.backward(node, *buf)
                finally:
                    node._array_mode = False
                grad_inputs = _array_grads(node, result)
            else:
                grad_inputs = _call_backward(node, buf, create_graph)
            if hooked and node._post_hooks:
                as_tensors = lambda gs: tuple(_as_tensor(g) if g is not None else None for g in gs)  # noqa: E731
                for hook in list(node._post_hooks):
                    new = hook(as_tensors(grad_inputs), as_tensors(buf))
                    if new is not None:
                        grad_inputs = tuple(_as_value(g, create_graph) if g is not None else None for g in new)
            del buf
            if not keep_graph:
                node._release()
            if watch_fanout and len(grad_inputs) > 1:
                seen = set()
                for g in grad_inputs:
                    if g is not None:
                        (run.fanned_out if id(g) in seen else seen).add(id(g))
            for (child, nr), g in zip(node._edges, grad_inputs):
                if child is None or g is None:
                    continue
                cbuf = get(child)
                if cbuf is None:
                    if type(child) is AccumulateGrad:
                        buffers[child] = [g]
                    else:
                        cbuf = buffers[child] = [None] * len(child._output_meta)
                        cbuf[nr] = g
                elif cbuf[nr] is None:
                    cbuf[nr] = g
                else:
                    cbuf[nr] = _add_grad(cbuf[nr], g, create_graph)
    finally:
        _state.enabled = prev_mode
        _autocast_state.active = prev_autocast
        accumulating_all.pop()
        if run.lent:
            with grad_accumulation_lock:
                for key in run.lent:
                    if _LENT.get(key) is run:
                        del _LENT[key]
    return captured

