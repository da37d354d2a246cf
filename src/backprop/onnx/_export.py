"""``backprop.onnx.export``: trace a model's forward pass and write it as an ONNX model."""

from __future__ import annotations

import enum
import io
import os
import warnings
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

import numpy

from .._backend import backend_of, move
from .._tensor import Tensor, _make
from ..utils._pytree import tree_map_tensors
from . import _trace
from ._graph import Emitter, needed_records
from ._trace import Tracer, iter_values
from .errors import OnnxExporterError, TracerWarning, UnsupportedOperatorError

if TYPE_CHECKING:  # pragma: no cover
    import onnx

DEFAULT_OPSET = 17
MIN_OPSET = 13


class TrainingMode(enum.IntEnum):
    """torch.onnx.TrainingMode: export in eval mode, in the model's current mode, or in training mode."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


_exporting = [False]


def is_in_onnx_export() -> bool:
    """True while ``export`` runs the model's forward pass."""
    return _exporting[0]


# ---------------------------------------------------------------------------- structures
def _tensors(obj) -> list:
    out = []
    tree_map_tensors(lambda t: out.append(t) or t, obj)
    return out


def _split_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        args = (args,)
    kw = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kw = {**args[-1], **kw}
        args = args[:-1]
    return args, kw


def _default_names(n: int, given, base: str) -> list:
    given = list(given or [])
    if len(given) > n:
        raise ValueError(f"{len(given)} {base} names given for {n} {base}s")
    if n == 1 and not given:
        return [base]
    return given + [f"{base}_{i}" for i in range(len(given), n)]


def _dynamic_spec(dynamic_axes, inputs, outputs) -> dict:
    """``{name: {axis: dim_name}}`` from torch's list-or-dict form."""
    spec = {}
    known = {n: nd for n, nd in list(inputs) + list(outputs)}
    for name, axes in (dynamic_axes or {}).items():
        if name not in known:
            warnings.warn(f"Provided key {name} for dynamic axes is not a valid input/output name", UserWarning, stacklevel=3)
            continue
        ndim = known[name]
        if isinstance(axes, dict):
            items = {int(k): str(v) for k, v in axes.items()}
        else:
            items = {int(k): f"{name}_dynamic_axes_{i + 1}" for i, k in enumerate(axes)}
        fixed = {}
        for k, v in items.items():
            kk = k + ndim if k < 0 else k
            if not 0 <= kk < max(ndim, 1):
                raise ValueError(f"dynamic axis {k} is out of range for '{name}' with {ndim} dims")
            fixed[kk] = v
        spec[name] = fixed
    return spec


# ---------------------------------------------------------------------------- tracing
def _state_tensors(model) -> list:
    """(name, tensor) for every parameter and buffer, first name of shared tensors."""
    items = []
    if hasattr(model, "named_parameters"):
        items += list(model.named_parameters())
        items += [(n, b) for n, b in model.named_buffers() if b is not None]
    return items


def _const_names(model) -> list:
    """Plain Tensor attributes of modules (not parameters or buffers): names for their constants."""
    out = []
    if not hasattr(model, "named_modules"):
        return out
    for path, m in model.named_modules():
        for k, v in vars(m).items():
            if isinstance(v, Tensor) and not k.startswith("__"):
                out.append((f"{path}.{k}" if path else k, v))
    return out


def _run(model, args, kwargs, in_names, fresh) -> Tracer:
    """One traced forward pass on copies of the inputs (``fresh(i, tensor)`` makes each copy)."""
    from ..autograd.grad_mode import enable_grad
    from ..ops.elementwise import Clone

    tracer = Tracer()
    seen = set()
    for name, t in _state_tensors(model):
        if id(t) not in seen:
            seen.add(id(t))
            tracer.add_param(t, name)
    for name, t in _const_names(model):
        if id(t) not in seen:
            tracer.name_constant(t, name)
    counter = iter(range(10**9))

    def prepare(t):
        i = next(counter)
        arr = fresh(i, t)
        leaf = _make(arr)
        if arr.dtype.kind == "f":
            leaf.requires_grad_(True)
            with enable_grad():
                x = Clone.apply(leaf)  # not a leaf: in-place ops in forward stay allowed
        else:
            x = leaf
        tracer.add_input(x, in_names[i])
        return x

    targs = tree_map_tensors(prepare, args)
    tkwargs = tree_map_tensors(prepare, kwargs)
    _exporting[0] = True
    try:
        with enable_grad(), _trace.tracing(tracer, model):
            out = model(*targs, **tkwargs)
    finally:
        _exporting[0] = False
    tracer.outputs = [tracer.value_of(t) for t in _tensors(out)]
    return tracer


def _align(t1: Tracer, t2: Tracer) -> bool:
    """Pair the calls of two traces; each Value of ``t1`` learns its shape (and constant data) in ``t2``."""
    if len(t1.records) != len(t2.records) or len(t1.inputs) != len(t2.inputs) or len(t1.outputs) != len(t2.outputs):
        return False
    pairs = list(zip(t1.inputs, t2.inputs)) + list(zip(t1.outputs, t2.outputs))
    for r1, r2 in zip(t1.records, t2.records):
        if r1.op is not r2.op and r1.op != r2.op:
            return False
        v1 = list(iter_values((r1.args, r1.kwargs))) + [v for v in r1.outputs if v is not None]
        v2 = list(iter_values((r2.args, r2.kwargs))) + [v for v in r2.outputs if v is not None]
        if len(v1) != len(v2) or len(r1.outputs) != len(r2.outputs):
            return False
        pairs += zip(v1, v2)
    for a, b in pairs:
        if a.kind != b.kind or a.const != b.const or len(a.shape) != len(b.shape) or a.dtype != b.dtype:
            return False
    for a, b in pairs:
        a.shape2 = b.shape
        if a.const:
            a.data2 = b.data
    for r1, r2 in zip(t1.records, t2.records):
        r1.twin = r2
    return True


def _second_sizes(inputs, spec, attempt: int) -> dict:
    """New sizes for the dynamic axes: (input index, axis) -> size; one size per dim name."""
    by_key = {}
    for i, (name, t) in enumerate(inputs):
        for axis, dim_name in spec.get(name, {}).items():
            by_key.setdefault(dim_name if not dim_name.startswith(f"{name}_dynamic_axes_") else ("auto", t.shape[axis]), []).append((i, axis, t.shape[axis]))
    sizes = {}
    used = set()
    for n, (_, places) in enumerate(sorted(by_key.items(), key=lambda kv: str(kv[0]))):
        size = places[0][2]
        delta = n + 1
        if attempt == 0:  # multiples: a strided model's sizes stay valid and distinct at every stride
            new = size * (delta + 1)
        elif attempt == 1:
            new = size + delta
        else:
            new = max(size - delta, 2)
        while (size, new) in used or new == size:
            new += 1
        used.add((size, new))
        for i, axis, _ in places:
            sizes[(i, axis)] = new
    return sizes


def _fresh_values(arr, shape, rng):
    """Other values of ``arr``'s kind, range and dtype, in ``shape``, on ``arr``'s device (drawn
    on the host from ``rng``, a NumPy generator, so every device traces the same values)."""
    if arr.dtype == bool:
        values = rng.random(shape) < 0.5
    elif arr.dtype.kind in "iu":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        values = rng.integers(lo, hi + 1, size=shape).astype(arr.dtype)
    elif arr.dtype.kind == "f":
        mean = float(arr.mean()) if arr.size else 0.0
        std = float(arr.std()) if arr.size else 1.0
        values = (rng.standard_normal(shape) * (std or 1.0) + mean).astype(arr.dtype)
    else:
        return arr.copy(order="K")  # on its device, with its memory layout
    return move(values, backend_of(arr).device_of(arr))


# ---------------------------------------------------------------------------- export
def export(
    model: Callable,
    args: tuple | Tensor = (),
    f: str | os.PathLike | IO[bytes] | None = None,
    export_params: bool = True,
    verbose: bool = False,
    training: TrainingMode | bool | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset_version: int | None = None,
    dynamic_axes: dict[str, Sequence[int] | dict[int, str]] | None = None,
    do_constant_folding: bool = True,
    *,
    kwargs: dict | None = None,
    keep_initializers_as_inputs: bool | None = None,
    **unused,
) -> onnx.ModelProto:
    """Export ``model`` (a Module or callable) to ONNX, as ``torch.onnx.export`` does.

    The forward pass on ``args`` (a Tensor, or a tuple whose last element may be a dict of
    keyword arguments) is traced primitive by primitive. Parameters and buffers become
    initializers named as in ``state_dict``; tensors made during forward that do not depend on
    the inputs become constants. ``dynamic_axes`` (``{name: [axes]}`` or ``{name: {axis:
    dim_name}}``) makes those dims symbolic. ``f`` is a path or a binary file object (or None).
    Returns the ``onnx.ModelProto``; raises ``UnsupportedOperatorError`` for an op without an
    ONNX translation.
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backprop.onnx.export needs the 'onnx' package: pip install 'backprop[onnx]'") from exc
    for key in unused:
        if key not in ("operator_export_type", "custom_opsets", "export_modules_as_functions", "dynamo", "strict", "optimize", "report", "verify", "external_data", "fallback", "autograd_inlining"):
            raise TypeError(f"export() got an unexpected keyword argument '{key}'")
    if unused.get("dynamo"):
        warnings.warn("backprop.onnx.export always traces the forward pass; dynamo=True is ignored", UserWarning, stacklevel=2)
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    max_opset = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= max_opset:
        raise ValueError(f"Unsupported ONNX opset version: {opset} (backprop exports opsets {MIN_OPSET} to {max_opset})")

    pos, kw = _split_args(args, kwargs)
    inputs_flat = _tensors((pos, kw))
    in_names = _default_names(len(inputs_flat), input_names, "input")

    is_module = hasattr(model, "train") and hasattr(model, "training")
    was_training = model.training if is_module else False
    saved_flags = []
    saved_buffers = []
    try:
        if is_module:
            mode = TrainingMode.EVAL if training in (None, False) else training
            if mode is True:
                mode = TrainingMode.TRAINING
            if mode == TrainingMode.EVAL:
                model.eval()
            elif mode == TrainingMode.TRAINING:
                model.train()
            for p in model.parameters():
                saved_flags.append((p, p.requires_grad))
                if p.is_floating_point():
                    p.requires_grad_(True)
            saved_buffers = [(b, b._data.copy(order="K")) for _, b in model.named_buffers() if b is not None]
        tracer = _run(model, pos, kw, in_names, lambda i, t: t._data.copy(order="K"))
        out_names = _default_names(len(tracer.outputs), output_names, "output")
        spec = _dynamic_spec(
            dynamic_axes,
            [(n, t.ndim) for n, t in zip(in_names, inputs_flat)],
            [(n, v.ndim) for n, v in zip(out_names, tracer.outputs)],
        )
        _second_trace(model, pos, kw, in_names, inputs_flat, spec, tracer)
    finally:
        for p, flag in saved_flags:
            p.requires_grad_(flag)
        for b, data in saved_buffers:
            b._data[...] = data
        if is_module:
            model.train(was_training)

    proto = _build(tracer, in_names, out_names, spec, opset, do_constant_folding, export_params, keep_initializers_as_inputs)
    onnx.checker.check_model(proto)
    if verbose:
        printer = getattr(onnx, "printer", None)
        print(printer.to_text(proto.graph) if printer is not None else onnx.helper.printable_graph(proto.graph))
    if f is not None:
        if isinstance(f, (str, os.PathLike)):
            onnx.save_model(proto, os.fspath(f))
        elif isinstance(f, io.IOBase) or hasattr(f, "write"):
            f.write(proto.SerializeToString())
        else:
            raise TypeError(f"export(): f must be a path or a binary file object, not {type(f).__name__}")
    return proto


def _second_trace(model, pos, kw, in_names, inputs_flat, spec, tracer: Tracer) -> None:
    """Trace again with other values (and other sizes on the dynamic axes) to learn which dims
    and constants depend on the inputs; without it the graph keeps the example's shapes."""
    rng = numpy.random.default_rng(0)
    dynamic = any(spec.get(n) for n in in_names)
    errors = []
    for attempt in range(3 if dynamic else 1):
        sizes = _second_sizes(list(zip(in_names, inputs_flat)), spec, attempt)

        def fresh(i, t, sizes=sizes):
            shape = tuple(sizes.get((i, a), s) for a, s in enumerate(t._data.shape))
            return _fresh_values(t._data, shape, rng)

        try:
            second = _run(model, pos, kw, in_names, fresh)
        except (UnsupportedOperatorError, OnnxExporterError):
            raise
        except Exception as exc:  # noqa: BLE001 - the model rejected these sizes: try others
            errors.append(exc)
            continue
        if _align(tracer, second):
            return
        warnings.warn(
            "The traced operations differ between two forward passes with different input values"
            + (" or sizes" if dynamic else "")
            + ": the model's control flow depends on its inputs, and the exported graph follows the example inputs.",
            TracerWarning,
            stacklevel=3,
        )
        return
    what = "other sizes on the dynamic axes" if dynamic else "other input values"
    warnings.warn(
        f"Could not run the model with {what} ({errors[-1]!r}); the exported graph is not checked against a second "
        "trace and may only work for the example inputs.",
        TracerWarning,
        stacklevel=3,
    )


def _build(tracer: Tracer, in_names, out_names, spec, opset, fold, export_params, keep_initializers_as_inputs):
    from onnx import helper

    from .ops import converters

    g = Emitter(tracer, opset, fold=fold, export_params=export_params)
    for name in in_names + out_names:
        g.reserve(name)
    for v in tracer.params:  # state_dict names, unless an input or output already has the name
        v.name = g.unique(v.name)
    graph_inputs = []
    for v, name in zip(tracer.inputs, in_names):
        g.set_name(v, name)
        graph_inputs.append(helper.make_tensor_value_info(name, g.onnx_type(v.dtype), _dims(v, spec.get(name, {}))))

    table = converters()
    for rec in needed_records(tracer, tracer.outputs, g):
        conv = table.get(rec.op)
        g.record = rec
        g.scope = "/" + rec.module.replace(".", "/") if rec.module else ""
        if conv is None:
            g.unsupported()
        names = conv(g, rec)
        if isinstance(names, str) or names is None:
            names = [names]
        for v, n in zip(rec.outputs, names):
            if v is not None and n is not None:
                g.set_name(v, n)
    g.record = None
    g.scope = ""

    # Graph outputs: rename the producing node's output, or add an Identity.
    produced = {o: node for node in g.nodes for o in node.output}
    rename = {}
    taken = set(in_names) | {init.name for init in g.initializers} | {p.name for p in g.param_inputs}
    graph_outputs = []
    for v, name in zip(tracer.outputs, out_names):
        src = g.name(v)
        src = rename.get(src, src)
        if src in produced and src not in taken and src not in rename.values():
            rename[src] = name
        else:
            g.nodes.append(helper.make_node("Identity", [src], [name], name=g.unique(f"/Identity_{name}")))
        taken.add(name)
        dims = _dims(v, spec.get(name, {}), tracer.inputs, spec, in_names, prefix=name)
        graph_outputs.append(helper.make_tensor_value_info(name, g.onnx_type(v.dtype), dims))
    if rename:
        for node in g.nodes:
            for i, n in enumerate(node.input):
                if n in rename:
                    node.input[i] = rename[n]
            for i, n in enumerate(node.output):
                if n in rename:
                    node.output[i] = rename[n]

    used = {n for node in g.nodes for n in node.input} | set(out_names)
    g.initializers = [t for t in g.initializers if t.name in used]
    inputs = graph_inputs + g.param_inputs
    if keep_initializers_as_inputs:
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.initializers]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, graph_outputs, initializer=g.initializers)
    opset_ids = [helper.make_opsetid("", opset)]
    from .. import __version__

    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="backprop", producer_version=__version__)
    model.ir_version = helper.find_min_ir_version_for(opset_ids, ignore_unknown=True)  # readable by older runtimes
    return model


def _dims(v, names: dict, inputs=(), spec=None, in_names=(), prefix: str = "dim"):
    """A value's dims for its ValueInfo: symbolic where named (dynamic_axes) or where they vary."""
    dims = []
    for k, (a, b) in enumerate(zip(v.shape, v.dims2)):
        if k in names:
            dims.append(names[k])
        elif a != b:
            dims.append(_input_dim_name(a, b, inputs, spec or {}, in_names) or f"{prefix}_dim_{k}")
        else:
            dims.append(int(a))
    return dims


def _input_dim_name(a, b, inputs, spec, in_names):
    for v, name in zip(inputs, in_names):
        for k, dn in spec.get(name, {}).items():
            if v.shape[k] == a and v.dims2[k] == b:
                return dn
    return None

