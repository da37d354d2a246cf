"""``backprop.autograd``: the backward engine and its public API (torch.autograd's names)."""

from __future__ import annotations

import numpy

from .._backend import array_module, backend_of
from .._tensor import Tensor, _make, shape_str
from . import engine
from .anomaly_mode import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .function import (
    AccumulateGrad,
    BackwardNode,
    Function,
    FunctionCtx,
    Node,
    accumulator,
    edge_of,
    once_differentiable,
)
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "Function",
    "FunctionCtx",
    "Node",
    "backward",
    "grad",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_grad_enabled",
    "gradcheck",
    "gradgradcheck",
    "detect_anomaly",
    "set_detect_anomaly",
    "once_differentiable",
    "Variable",
    "AccumulateGrad",
    "BackwardNode",
    "GradcheckError",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "is_inference_mode_enabled",
]


def _tensors(x, what: str) -> tuple:
    if isinstance(x, Tensor):
        return (x,)
    if x is None:
        return ()
    out = tuple(x)
    for t in out:
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{what} must be Tensors, got {type(t).__name__}")
    return out


def _make_root_grads(outputs: tuple, grad_outputs, api: str) -> list:
    if grad_outputs is None and len(outputs) == 1:  # loss.backward(): a one-element real output, gradient one
        out = outputs[0]
        d = out._data
        if out._requires_grad and d.size == 1 and d.dtype.kind in "fV":
            one = array_module(d).array(1, dtype=d.dtype)  # (numpy.ones costs ~0.7 us more a call)
            return [_make(one if d.ndim == 0 else one.reshape(d.shape))]
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{api}: got {len(grad_outputs)} gradients for {len(outputs)} outputs")
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.dtype.kind not in "fV":
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {out.dtype}")
            g = _make(array_module(out._data).ones(out._data.shape, dtype=out._data.dtype))
        else:
            if not isinstance(g, Tensor):
                g = _make(backend_of(out._data).asarray(g, dtype=out._data.dtype))
            elif type(g._data) is not type(out._data):
                raise RuntimeError(
                    f"invalid gradient at index {i} - expected device {out.device} but got {g.device}"
                )
            if g._data.shape != out._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {shape_str(g._data.shape)} and "
                    f"output[{i}] has a shape of {shape_str(out._data.shape)}."
                )
            if g._data.dtype != out._data.dtype:
                g = _make(g._data.astype(out._data.dtype))
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, grad_variables=None, inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves of their graph."""
    outputs = (tensors,) if type(tensors) is Tensor else _tensors(tensors, "tensors")
    if grad_tensors is None:
        grad_tensors = grad_variables
    grads = _make_root_grads(outputs, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    roots = [edge_of(outputs[0])] if len(outputs) == 1 else [edge_of(t) for t in outputs]
    if inputs is None:
        engine.execute(roots, grads, retain_graph, create_graph)
        return
    inputs = _tensors(inputs, "inputs")
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    # Only the given tensors receive .grad: capture their gradients, then accumulate.
    captured = engine.execute(roots, grads, retain_graph, create_graph, capture=[edge_of(t) for t in inputs], accumulate=False)
    run = engine._Run(create_graph, retain_graph)
    run.handed_out.update({id(g._data): g._data for g in grads})  # never store the caller's gradient itself
    for t, g in zip(inputs, captured):
        if g is None:
            continue
        if t._grad_fn is None:
            leaf_hooks, t._hooks = t._hooks, None  # hooks already ran when the gradient was captured
            try:
                run.accumulate(t, g, accumulator(t))
            finally:
                t._hooks = leaf_hooks
        else:  # a non-leaf: its tensor hooks ran in the engine; store a copy it owns, like a leaf's
            run.accumulate(t, g)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused=None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) (weighted by ``grad_outputs``) without touching ``.grad``."""
    outs = _tensors(outputs, "outputs")
    ins = _tensors(inputs, "inputs")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: allow_unused=False.")
    for t in ins:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _make_root_grads(outs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    capture = [edge_of(t) for t in ins]
    sparse_extra = _sparse_capture(ins, capture) if any(t._sparse_layout for t in ins) else None
    captured = engine.execute([edge_of(t) for t in outs], grads, retain_graph, create_graph, capture=capture, accumulate=False)
    if sparse_extra:
        captured = _sparse_results(ins, captured, sparse_extra)
    result = []
    for t, g in zip(ins, captured):
        if g is None:
            if materialize_grads:
                g = _make(array_module(t._data).zeros(t._data.shape, dtype=t._data.dtype))
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    return tuple(result)


def _sparse_capture(ins, capture: list) -> dict:
    """Sparse COO inputs (ops/sparse.py): also capture the edges their dense (torch.mm)
    gradients arrive on; ``{input index: their positions in capture}``."""
    from ..ops.sparse import grad_capture_edges

    extra = {}
    for i, t in enumerate(ins):
        if t._sparse_layout:
            edges = grad_capture_edges(t)
            extra[i] = list(range(len(capture), len(capture) + len(edges)))
            capture.extend(edges)
    return extra


def _sparse_results(ins, captured: list, extra: dict) -> list:
    """Each sparse input's gradient as torch gives it (sparse, or dense once torch.mm contributed)."""
    from ..ops.sparse import grad_result

    out = list(captured[: len(ins)])
    for i, positions in extra.items():
        out[i] = grad_result(ins[i], captured[i], [captured[p] for p in positions])
    return out


def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802 - torch's legacy name
    """Legacy ``torch.autograd.Variable``: returns the tensor, marked ``requires_grad``."""
    t = data if isinstance(data, Tensor) else _make(numpy.asarray(data))
    if requires_grad:
        t.requires_grad_(True)
    return t
