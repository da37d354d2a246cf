"""``torch.utils.tensorboard``: ``SummaryWriter`` writing TensorBoard event files.

The files are written by tensorboardX (``pip install 'backprop[tensorboard]'``); this wrapper
turns backprop Tensors into NumPy arrays and Python numbers on the way in, and builds
``add_graph``'s graph from a traced forward pass (ops grouped by module, with shapes).
Methods not listed here are passed through to tensorboardX with the same conversion.
"""

from __future__ import annotations

import os
import time

from .._backend import backend_of, is_array
from .._tensor import Tensor

__all__ = ["SummaryWriter"]


def _convert(value):
    """backprop Tensors (also inside lists, tuples and dicts) -> NumPy arrays (host copies of
    CUDA tensors) / Python numbers."""
    if isinstance(value, Tensor):
        data = value._data
        return data.item() if data.ndim == 0 else backend_of(data).to_host(data)
    if is_array(value):  # a NumPy or CuPy array
        return backend_of(value).to_host(value)
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return type(value)(_convert(v) for v in value)
    return value


def _scalar(value) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"scalar value must be a one-element tensor, got shape {tuple(value.shape)}")
        return float(value.item())
    return value


class SummaryWriter:
    """Write scalars, histograms, images, text and graphs for TensorBoard (torch's API).

    ``log_dir`` defaults to ``runs/<date>_<host><comment>`` like torch's. Accepts backprop
    Tensors anywhere torch's accepts torch tensors. Needs tensorboardX.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, comment: str = "", purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "") -> None:
        try:
            from tensorboardX import SummaryWriter as _Writer
        except ImportError:
            raise ImportError("SummaryWriter needs tensorboardX: pip install 'backprop[tensorboard]'") from None
        if log_dir is None:
            import socket
            from datetime import datetime

            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self._writer = _Writer(logdir=self.log_dir, purge_step=purge_step, max_queue=max_queue, flush_secs=flush_secs, filename_suffix=filename_suffix)

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value, global_step: int | None = None, walltime: float | None = None, new_style: bool = False, double_precision: bool = False) -> None:
        """Log one number (a Python number or a one-element Tensor) under ``tag``."""
        self._writer.add_scalar(tag, _scalar(scalar_value), global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step: int | None = None, walltime: float | None = None) -> None:
        """Log several numbers in one chart (each written to its own sub-run, as torch does)."""
        self._writer.add_scalars(main_tag, {k: _scalar(v) for k, v in tag_scalar_dict.items()}, global_step, walltime)

    def add_histogram(self, tag: str, values, global_step: int | None = None, bins="tensorflow", walltime: float | None = None, max_bins=None) -> None:
        """Log the distribution of ``values`` (e.g. a layer's weights or gradients)."""
        self._writer.add_histogram(tag, _convert(values), global_step, bins, walltime, max_bins)

    def add_image(self, tag: str, img_tensor, global_step: int | None = None, walltime: float | None = None, dataformats: str = "CHW") -> None:
        """Log an image: floats in [0, 1] or uint8, laid out as ``dataformats``."""
        self._writer.add_image(tag, _convert(img_tensor), global_step, walltime, dataformats)

    def add_images(self, tag: str, img_tensor, global_step: int | None = None, walltime: float | None = None, dataformats: str = "NCHW") -> None:
        self._writer.add_images(tag, _convert(img_tensor), global_step, walltime, dataformats)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None, walltime: float | None = None) -> None:
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_figure(self, tag: str, figure, global_step: int | None = None, close: bool = True, walltime: float | None = None) -> None:
        self._writer.add_figure(tag, figure, global_step, close, walltime)

    def add_hparams(self, hparam_dict: dict, metric_dict: dict, hparam_domain_discrete=None, run_name: str | None = None, global_step: int | None = None) -> None:
        self._writer.add_hparams(_convert(hparam_dict), {k: _scalar(v) for k, v in metric_dict.items()}, hparam_domain_discrete, run_name, global_step)

    def add_graph(self, model, input_to_model=None, verbose: bool = False, use_strict_trace: bool = True, walltime: float | None = None) -> None:
        """Trace ``model(*input_to_model)`` and log its op graph (shown in TensorBoard's Graphs tab)."""
        from tensorboardX.proto import event_pb2

        graph = _trace_graph(model, input_to_model)
        if verbose:
            print(graph)
        event = event_pb2.Event(graph_def=graph.SerializeToString())
        event.wall_time = time.time() if walltime is None else walltime
        self._writer._get_file_writer().add_event(event)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __getattr__(self, name: str):
        # Anything else tensorboardX offers (add_pr_curve, add_embedding, add_mesh, ...).
        attr = getattr(self.__dict__["_writer"] if "_writer" in self.__dict__ else None, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            return attr(*[_convert(a) for a in args], **{k: _convert(v) for k, v in kwargs.items()})

        return call

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _trace_graph(model, inputs):
    """A TensorBoard GraphDef of one forward pass: inputs, parameters and ops, scoped by module."""
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.versions_pb2 import VersionDef

    from ..autograd.function import trace_state
    from ..autograd.grad_mode import no_grad
    from ..nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    if inputs is None:
        inputs = ()
    elif not isinstance(inputs, (list, tuple)):
        inputs = (inputs,)
    root = type(model).__name__
    scopes: dict[str, str] = {"": root}  # module name -> "Net/Sequential[features]/Conv2d[0]"
    module_scope: dict[int, str] = {}
    for mname, m in model.named_modules():
        if mname:
            parent, _, last = mname.rpartition(".")
            scopes[mname] = f"{scopes.get(parent, root)}/{type(m).__name__}[{last}]"
        module_scope[id(m)] = scopes[mname]
    param_names = {}
    for pname, p in model.named_parameters():
        owner, _, attr_name = pname.rpartition(".")
        param_names[id(p)] = f"{scopes.get(owner, root)}/{attr_name}"
    buffer_names = {}
    for bname, b in model.named_buffers():
        owner, _, attr_name = bname.rpartition(".")
        buffer_names[id(b)] = f"{scopes.get(owner, root)}/{attr_name}"
    nodes: list = []
    produced: dict[int, str] = {}  # id(tensor) -> node name
    keep: list = []  # tensors seen, kept alive so ids stay unique
    scope = [root]
    counter = [0]

    def shape_attr(tensors) -> dict:
        shapes = [TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(s)) for s in t.shape]) for t in tensors if isinstance(t, Tensor)]
        return {"_output_shapes": AttrValue(list=AttrValue.ListValue(shape=shapes))}

    def source(t: Tensor) -> str:
        name = produced.get(id(t))
        if name is None:
            pname = param_names.get(id(t))
            if pname is not None:
                name, op = pname, "Parameter"
            elif id(t) in buffer_names:
                name, op = buffer_names[id(t)], "Buffer"
            else:
                counter[0] += 1
                name = f"{scope[-1]}/constant_{counter[0]}"
                op = "Constant"
            attr = shape_attr([t])
            attr["attr"] = AttrValue(s=f"shape {list(t.shape)}, {t.dtype}".encode())
            nodes.append(NodeDef(name=name, op=op, input=[], attr=attr))
            produced[id(t)] = name
            keep.append(t)
        return name

    for i, t in enumerate(inputs):
        if isinstance(t, Tensor):
            name = f"input/input_{i}"
            nodes.append(NodeDef(name=name, op="IO Node", input=[], attr=shape_attr([t])))
            produced[id(t)] = name
            keep.append(t)

    def on_op(cls, args, kwargs, outputs, ctx) -> None:
        counter[0] += 1
        op = cls.__name__.lstrip("_")
        name = f"{scope[-1]}/{op}_{counter[0]}"
        srcs = [source(a) for a in args if isinstance(a, Tensor)]
        outs = [o for o in outputs if isinstance(o, Tensor)]
        attr = shape_attr(outs)
        extras = [f"{k}={v!r}" for k, v in kwargs.items() if not isinstance(v, Tensor)]
        extras += [repr(a) for a in args if isinstance(a, (int, float, bool, str, tuple)) and not isinstance(a, Tensor)]
        attr["attr"] = AttrValue(s=", ".join(extras)[:200].encode())
        nodes.append(NodeDef(name=name, op=op, input=srcs, attr=attr))
        for o in outs:
            produced[id(o)] = name
            keep.append(o)

    def pre(module, args) -> None:
        if module is not model:
            scope.append(module_scope.get(id(module)) or f"{scope[-1]}/{type(module).__name__}")

    def post(module, args, output) -> None:
        if module is not model and len(scope) > 1:
            scope.pop()

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    trace_state.hooks.append(on_op)
    try:
        with no_grad():
            output = model(*inputs)
    finally:
        trace_state.hooks.remove(on_op)
        for h in handles:
            h.remove()
    outs = output if isinstance(output, (list, tuple)) else (output,)
    for i, t in enumerate(outs):
        if isinstance(t, Tensor):
            nodes.append(NodeDef(name=f"output/output_{i}", op="IO Node", input=[source(t)], attr=shape_attr([t])))
    return GraphDef(node=nodes, versions=VersionDef(producer=22))
