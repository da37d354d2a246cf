"""``DistributedDataParallel``: torch's data-parallel training on ``backprop.distributed``.

Every process runs the same model on its part of each batch; DDP keeps the replicas equal:

* construction broadcasts rank 0's parameters and buffers (one broadcast per run of tensors of
  one dtype and device, flattened, up to 250 MiB: torch's ``_broadcast_coalesced``);
* gradients are averaged in buckets. Parameters are grouped as torch's
  ``compute_bucket_assignment_by_size`` groups them: in registration order, one open bucket per
  dtype and device, closed once it holds ``bucket_cap_mb`` (the first one 1 MiB when the cap is
  the default), then reversed, so the first bucket holds the last registered parameters, whose
  gradients come first. A post-accumulate-grad hook on each parameter copies its gradient,
  divided by the world size, into its bucket; the moment a bucket is full its all-reduce is
  launched (``async_op=True``: it runs on the group's communication thread while backward
  goes on), buckets strictly in order so that every rank issues the same collectives. When the
  last parameter's gradient arrives, every bucket is waited for and written back into ``.grad``;
* ``find_unused_parameters=True``: after forward the autograd graph is walked from the outputs;
  parameters it does not reach count as ready (zero gradient) at the first hook of backward. The
  outputs also pass through ``_DDPSink`` (as in torch), whose backward runs first and sees which
  outputs got a gradient: parameters reached only from the others count as unused too. A
  parameter unused on every rank keeps its ``.grad`` untouched (one all-reduce of the
  per-parameter "used" flags). Without the flag, a parameter that got no gradient leaves the
  reduction unfinished and the next forward raises torch's "Expected to have finished
  reduction..." error;
* ``no_sync()``: no communication, gradients accumulate locally; the next synchronized backward
  reduces the accumulated sums;
* ``broadcast_buffers`` (torch 2.13: ``forward_sync_buffers``): rank 0's buffers are broadcast
  at the start of every forward that follows a synchronized one.

Not implemented (they raise): communication hooks (``register_comm_hook``), ``join()`` for
uneven inputs, ``delay_all_reduce_named_params``, ``mixed_precision``. ``static_graph=True``
works, as the unused-parameter search of the first iteration reused afterwards; bucket order is
not rebuilt from the observed gradient order after the first iteration (torch's rebuild).
"""

from __future__ import annotations

import os
import warnings
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import fields, is_dataclass

import numpy

from ... import cuda
from ... import distributed as dist
from ..._backend import backend_of
from ..._device import device
from ..._tensor import Tensor, _make
from ...autograd.function import AccumulateGrad, Function
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...utils._pytree import tree_map_tensors
from ..modules.module import Module
from ..parameter import UninitializedParameter

__all__ = ["DistributedDataParallel"]

_MB = 1024 * 1024
_DEFAULT_BUCKET_CAP_MB = 25
_DEFAULT_FIRST_BUCKET_BYTES = 1 * _MB  # torch.distributed._DEFAULT_FIRST_BUCKET_BYTES
_BROADCAST_BUCKET_BYTES = 250 * _MB


# ---------------------------------------------------------------------------- helpers
def _find_tensors(obj) -> list:
    """The tensors in a forward's output (tensors, lists, tuples, dicts, dataclasses), as torch's."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for x in obj for t in _find_tensors(x)]
    if isinstance(obj, dict):
        return [t for x in obj.values() for t in _find_tensors(x)]
    if is_dataclass(obj) and not isinstance(obj, type):
        return [t for f in fields(obj) for t in _find_tensors(getattr(obj, f.name))]
    return []


def _to_device(obj, device):
    """``obj`` with every tensor moved to ``device`` (torch's ``_to_kwargs`` for one device)."""
    return tree_map_tensors(lambda t: t.to(device), obj)


def _device_index(d) -> int:
    """The CUDA device index of an int, a device or a string such as ``"cuda:1"``."""
    if isinstance(d, int):
        return d
    dev = d if isinstance(d, device) else device(d)
    if dev.index is not None:
        return dev.index
    return cuda.current_device()


def _device_key(a) -> str:
    return str(backend_of(a).device_of(a))


def _flatten(arrays):
    """One new 1-D array holding ``arrays`` (all of one dtype and device) one after another."""
    first = arrays[0]
    backend = backend_of(first)
    with backend.use(backend.device_of(first).index):
        return backend.xp.concatenate([a.reshape(-1) for a in arrays])


def _broadcast_coalesced(group, tensors: list, bucket_bytes: int, src: int) -> None:
    """Copy the group rank ``src``'s ``tensors`` into every rank's, in place: tensors of one dtype
    and device are flattened into one buffer (up to ``bucket_bytes`` each) and broadcast together."""
    if dist.get_world_size(group) == 1 or not tensors:
        return
    root = dist.get_global_rank(group, src) if group is not None else src
    receiving = dist.get_rank(group) != src
    open_chunks: dict = {}
    chunks: list = []
    for t in tensors:
        a = t._data
        key = (a.dtype.str, _device_key(a))
        chunk = open_chunks.setdefault(key, [[], 0])
        chunk[0].append(t)
        chunk[1] += a.nbytes
        if chunk[1] >= bucket_bytes:
            chunks.append(chunk[0])
            del open_chunks[key]
    chunks += [c[0] for c in open_chunks.values()]
    for chunk in chunks:
        flat = _flatten([t._data for t in chunk])
        dist.broadcast(_make(flat), src=root, group=group)
        if receiving:
            offset = 0
            for t in chunk:
                n = t._data.size
                t._data[...] = flat[offset : offset + n].reshape(t._data.shape)
                offset += n


def _bucket_assignment(params: list, limits: list) -> list:
    """torch's ``compute_bucket_assignment_by_size``: parameter indices grouped per dtype and
    device in registration order, a bucket closed once it holds at least its limit (the limits
    used in turn, the last one repeating), buckets sorted by their first index, then reversed."""
    open_buckets: dict = {}
    limit_at: dict = {}
    result = []
    for i, p in enumerate(params):
        a = p._data
        key = (a.dtype.str, _device_key(a))
        bucket = open_buckets.setdefault(key, [[], 0])
        bucket[0].append(i)
        bucket[1] += a.nbytes
        li = limit_at.setdefault(key, 0)
        if bucket[1] >= limits[li]:
            result.append(bucket[0])
            open_buckets[key] = [[], 0]
            limit_at[key] = min(li + 1, len(limits) - 1)
    result += [b[0] for b in open_buckets.values() if b[0]]
    result.sort(key=min)
    result.reverse()
    return result


def _reached_leaves(roots: list) -> set:
    """ids of the leaf tensors (AccumulateGrad nodes' variables) the graph from ``roots`` reaches."""
    reached = set()
    seen = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            reached.add(id(node.variable))
            continue
        for child, _ in node._edges:
            if child is not None and id(child) not in seen:
                stack.append(child)
    return reached


class _DDPSink(Function):
    """Passes forward's outputs through (as aliases) so that backward tells DDP which of them got a
    gradient (torch's ``_DDPSink``, with ``find_unused_parameters``): the parameters behind the
    others are then reduced as unused instead of leaving the reduction unfinished."""

    @staticmethod
    def forward(ctx, reducer_ref, iteration, *inputs):
        ctx.set_materialize_grads(False)
        ctx.reducer_ref, ctx.iteration = reducer_ref, iteration
        return inputs

    @staticmethod
    def backward(ctx, *grads):
        reducer = ctx.reducer_ref()
        if reducer is not None:
            reducer.sink_backward(ctx.iteration, ctx._edges[2:], grads)
        return (None, None, *grads)


class _Bucket:
    """Parameters whose gradients are all-reduced together, in one flat buffer."""

    __slots__ = ("index", "members", "buffer", "tensor", "views", "pending", "work")

    def __init__(self, index: int, members: list, params: list) -> None:
        self.index, self.members = index, members
        first = params[members[0]]._data
        backend = backend_of(first)
        with backend.use(backend.device_of(first).index):
            self.buffer = backend.xp.zeros(sum(params[i]._data.size for i in members), dtype=first.dtype)
        self.tensor = _make(self.buffer)
        self.views = []
        offset = 0
        for i in members:
            a = params[i]._data
            self.views.append(self.buffer[offset : offset + a.size].reshape(a.shape))
            offset += a.size
        self.pending = len(members)
        self.work = None


def _autograd_hook(reducer_ref, index: int, param) -> None:
    reducer = reducer_ref()
    if reducer is not None:
        reducer.autograd_hook(index)


class _Reducer:
    """The gradient side of DDP: buckets, the per-parameter hooks and one iteration's state."""

    def __init__(self, params: list, names: list, group, limits: list, find_unused: bool, gradient_as_bucket_view: bool) -> None:
        self.params, self.names, self.group = params, names, group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.find_unused = find_unused
        self.static_graph = False
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.buckets = [_Bucket(b, members, params) for b, members in enumerate(_bucket_assignment(params, limits))]
        self.locate = {}
        for bucket in self.buckets:
            for pos, i in enumerate(bucket.members):
                self.locate[i] = (bucket, pos)
        n = len(params)
        self.ready = [False] * n
        self.num_ready = 0
        self.next_bucket = 0
        self.expect_hooks = False  # set by a forward that will be followed by a synchronized backward
        self.require_finalize = False  # some parameter is ready, the reduction is not finished
        self.unused: list = []
        self.static_unused: list | None = None
        self.has_marked_unused = False
        self.local_used = numpy.zeros(n, dtype=numpy.int32)
        self.num_iterations = 0
        # (bucket index, parameters ready at its launch) per launch, this iteration
        self.launch_log: list = []
        ref = weakref.ref(self)
        self.handles = [p.register_post_accumulate_grad_hook(_hook_partial(ref, i)) for i, p in enumerate(params)]

    def remove_hooks(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def __del__(self) -> None:
        try:
            self.remove_hooks()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -------------------------------------------------------------- per iteration
    def ensure_prior_reduction_finished(self) -> None:
        if not self.require_finalize:
            return
        missing = [i for i, r in enumerate(self.ready) if not r]
        if self.find_unused:
            first = (
                "This error indicates that your module has parameters that were not used in producing loss. "
                "Since `find_unused_parameters=True` is enabled, this likely  means that not all `forward` "
                "outputs participate in computing loss. You can fix this by making sure all `forward` function "
                "outputs participate in calculating loss. \n"
            )
        else:
            first = (
                "This error indicates that your module has parameters that were not used in producing loss. "
                "You can enable unused parameter detection by passing the keyword argument "
                "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`, and by \n"
                "making sure all `forward` function outputs participate in calculating loss. \n"
            )
        msg = (
            "Expected to have finished reduction in the prior iteration before starting a new one. "
            + first
            + "If you already have done the above, then the distributed data parallel module wasn't able to locate "
            "the output tensors in the return value of your module's `forward` function. Please include the loss "
            "function and the structure of the return value of `forward` of your module when reporting this issue "
            "(e.g. list, dict, iterable).\n"
            f"Parameter indices which did not receive grad for rank {self.rank}: {' '.join(map(str, missing))}"
        )
        if os.environ.get("TORCH_DISTRIBUTED_DEBUG", "OFF").upper() in ("INFO", "DETAIL"):
            msg += f"\nParameters which did not receive grad for rank {self.rank}: {', '.join(self.names[i] for i in missing)}"
        else:
            msg += (
                "\n In addition, you can set the environment variable TORCH_DISTRIBUTED_DEBUG to either INFO or "
                "DETAIL to print out information about which particular parameters did not receive gradient on "
                "this rank as part of this error"
            )
        raise RuntimeError(msg)

    def prepare_for_backward(self, outputs: list) -> None:
        self.ensure_prior_reduction_finished()
        self.num_iterations += 1
        self.expect_hooks = True
        self.ready = [False] * len(self.params)
        self.num_ready = 0
        self.next_bucket = 0
        for bucket in self.buckets:
            bucket.pending = len(bucket.members)
        self.has_marked_unused = False
        self.launch_log = []
        if self.find_unused:
            if self.static_graph and self.static_unused is not None:
                self.unused = self.static_unused
            else:
                self.unused = self.search_unused_parameters(outputs)
                if self.static_graph:
                    self.static_unused = self.unused

    def search_unused_parameters(self, outputs: list) -> list:
        """Indices of the parameters the autograd graph of ``outputs`` does not reach."""
        roots = []
        reached = set()
        for t in outputs:
            if t.requires_grad:
                fn = t.grad_fn
                if fn is None:
                    reached.add(id(t))  # a parameter returned as it is
                else:
                    roots.append(fn)
        reached |= _reached_leaves(roots)
        return [i for i, p in enumerate(self.params) if id(p) not in reached]

    def sink_backward(self, iteration: int, edges: tuple, grads: tuple) -> None:
        """Backward has reached the outputs of forward (``_DDPSink``): parameters that only feed
        outputs which got no gradient will get none either; they are ready, as unused ones."""
        if not self.expect_hooks or iteration != self.num_iterations:
            return
        self._mark_unused_once()
        reached = _reached_leaves([node for (node, _), g in zip(edges, grads) if g is not None and node is not None])
        for i, p in enumerate(self.params):
            if not self.ready[i] and id(p) not in reached:
                self.mark_ready(i)
                if not self.expect_hooks:  # that was the last one: the reduction is finished
                    return

    def _mark_unused_once(self) -> None:
        if not self.has_marked_unused:
            self.has_marked_unused = True
            for i in self.unused:
                self.mark_ready(i)

    # -------------------------------------------------------------- during backward
    def autograd_hook(self, index: int) -> None:
        if self.find_unused:
            self.local_used[index] = 1  # also under no_sync: used in any micro-batch counts
        if not self.expect_hooks:
            return
        if self.find_unused:
            self._mark_unused_once()
        self.mark_ready(index)

    def mark_ready(self, index: int) -> None:
        if self.ready[index]:
            raise RuntimeError(
                "Expected to mark a variable ready only once. This error is caused by one of the following reasons: "
                "1) Use of a module parameter outside the `forward` function. Please make sure model parameters are "
                "not shared across multiple concurrent forward-backward passes. or try to use _set_static_graph() as "
                "a workaround if this module graph does not change during training loop.2) Reused parameters in "
                "multiple reentrant backward passes. For example, if you use multiple `checkpoint` functions to wrap "
                "the same part of your model, it would result in the same set of parameters been used by different "
                "reentrant backward passes multiple times, and hence marking a variable ready multiple times. DDP "
                "does not support such use cases in default. You can try to use _set_static_graph() as a workaround "
                "if your module graph does not change over iterations.\n"
                f"Parameter at index {index} with name {self.names[index]} has been marked as ready twice. This means "
                "that multiple autograd engine  hooks have fired for this particular parameter during this iteration."
            )
        self.ready[index] = True
        self.num_ready += 1
        self.require_finalize = True
        bucket, pos = self.locate[index]
        self._copy_into_bucket(index, bucket, pos)
        bucket.pending -= 1
        if bucket.pending == 0:
            buckets = self.buckets
            while self.next_bucket < len(buckets) and buckets[self.next_bucket].pending == 0:
                self._launch(buckets[self.next_bucket])
                self.next_bucket += 1
            if self.next_bucket == len(buckets):
                self._finalize()

    def _copy_into_bucket(self, index: int, bucket: _Bucket, pos: int) -> None:
        """The gradient, divided by the world size, into its place in the bucket (as torch's
        ``mark_variable_ready_dense``: a gradient that already is the bucket view is divided in place)."""
        param = self.params[index]
        view = bucket.views[pos]
        grad = param._grad
        xp = backend_of(view).xp
        if grad is None:
            view.fill(0)
        elif grad._data is view:
            if self.world_size > 1:
                view *= 1.0 / self.world_size
        else:
            xp.multiply(grad._data, 1.0 / self.world_size, out=view)
            if self.gradient_as_bucket_view:
                param._grad = _make(view)

    def _launch(self, bucket: _Bucket) -> None:
        self.launch_log.append((bucket.index, self.num_ready))
        bucket.work = dist.all_reduce(bucket.tensor, group=self.group, async_op=True)

    def _finalize(self) -> None:
        """Every bucket is launched: wait for them and write the averages back into ``.grad``."""
        used = None
        used_work = None
        if self.find_unused:
            used = _make(self.local_used.copy())
            used_work = dist.all_reduce(used, group=self.group, async_op=True)
        for bucket in self.buckets:
            bucket.work.wait()
            bucket.work = None
        globally_used = None
        if used_work is not None:
            used_work.wait()
            globally_used = used._data
            self.local_used[:] = 0
        for bucket in self.buckets:
            for pos, i in enumerate(bucket.members):
                if globally_used is not None and globally_used[i] == 0:
                    continue  # unused on every rank: .grad stays as it is (None), as in torch
                self._write_back(self.params[i], bucket.views[pos])
        self.expect_hooks = False
        self.require_finalize = False

    def _write_back(self, param, view) -> None:
        grad = param._grad
        if self.gradient_as_bucket_view:
            if grad is None or grad._data is not view:
                param._grad = _make(view)
            return
        if grad is None:
            param._grad = _make(view.copy())
        else:  # into the .grad array itself, as torch does (the engine gives a hooked leaf a .grad of its own)
            backend_of(view).xp.copyto(grad._data, view)
            grad._version_counter[0] += 1


def _hook_partial(ref, index: int):
    def hook(param):
        _autograd_hook(ref, index, param)

    return hook


# ---------------------------------------------------------------------------- the module
class DistributedDataParallel(Module):
    """Data parallelism over the processes of a group (torch.nn.parallel.DistributedDataParallel).

    Wrap the model after ``init_process_group`` (and after moving it to its device); each
    process then calls it on its own part of the batch, and after ``backward()`` every
    process holds the gradients averaged over all of them. See the module docstring for how.
    """

    def __init__(
        self,
        module: Module,
        device_ids=None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool | None = None,
        init_sync: bool = True,
        process_group=None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        delay_all_reduce_named_params=None,
        param_to_hook_all_reduce=None,
        mixed_precision=None,
        device_mesh=None,
        skip_all_reduce_unused_params: bool = False,
        bucket_cap_mb_list: list | None = None,
        batched_grad_copy: bool = False,
        forward_sync_buffers: bool | None = None,
    ) -> None:
        super().__init__()
        if (delay_all_reduce_named_params is not None) != (param_to_hook_all_reduce is not None):
            raise ValueError("delay_all_reduce_named_params and param_to_hook_all_reduce need to be set at the same time.")
        if delay_all_reduce_named_params is not None:
            raise NotImplementedError("DistributedDataParallel: delay_all_reduce_named_params is not supported by backprop")
        if mixed_precision is not None:
            raise NotImplementedError("DistributedDataParallel: mixed_precision is not supported by backprop (use autocast)")
        if process_group is not None and device_mesh is not None:
            raise RuntimeError("Cannot specify both process_group and device_mesh arguments.")
        if device_mesh is not None:
            if getattr(device_mesh, "ndim", 1) != 1:
                raise RuntimeError(f"Only 1D device mesh is supported, but got {device_mesh}.")
            process_group = device_mesh.get_group(mesh_dim=0)
        dist.get_world_size(process_group)  # raises torch's ValueError without init_process_group
        self.process_group = process_group if process_group is not None else dist.group.WORLD

        ignore = getattr(module, "_ddp_params_and_buffers_to_ignore", None)
        self.parameters_to_ignore = set(ignore) if ignore is not None else set()
        self._module_parameters = [p for n, p in module.named_parameters() if n not in self.parameters_to_ignore]
        if not any(p.requires_grad for p in self._module_parameters):
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient.")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        self.is_multi_device_module = len({str(p.device) for p in self._module_parameters}) > 1
        device_types = {p.device.type for p in self._module_parameters}
        if len(device_types) != 1:
            raise ValueError(
                "DistributedDataParallel's input module must be on the same type of devices, but input module "
                f"parameters locate in {device_types}."
            )
        self.device_type = next(iter(device_types))
        if device_ids is None or len(device_ids) == 0 or self.device_type == "cpu" or self.is_multi_device_module:
            if device_ids or output_device:
                devices = {str(p.device) for p in self._module_parameters}
                raise ValueError(
                    "DistributedDataParallel device_ids and output_device arguments only work with "
                    "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                    f"{device_ids}, output_device {output_device}, and module parameters {devices}."
                )
            self.device_ids = None
            self.output_device = None
        else:
            self.device_ids = [_device_index(x) for x in device_ids]
            self.output_device = _device_index(output_device if output_device is not None else device_ids[0])

        self.static_graph = False
        self.dim = dim
        self.module = module
        self.device = self._module_parameters[0].device
        if forward_sync_buffers is not None:
            self.forward_sync_buffers = forward_sync_buffers
            init_sync_buffers = True
        else:
            self.forward_sync_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
            init_sync_buffers = self.forward_sync_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.skip_all_reduce_unused_params = skip_all_reduce_unused_params  # accepted; unused flags are all-reduced anyway
        self.batched_grad_copy = batched_grad_copy
        self.mixed_precision = None
        if check_reduction:
            warnings.warn(
                "The `check_reduction` argument in `DistributedDataParallel` module is deprecated. Please avoid using it.",
                FutureWarning,
                stacklevel=2,
            )
        for param in self._module_parameters:
            if isinstance(param, UninitializedParameter):
                raise RuntimeError(
                    "Modules with uninitialized parameters can't be used with `DistributedDataParallel`. "
                    "Run a dummy forward pass to correctly initialize the modules"
                )
        self.broadcast_bucket_size = _BROADCAST_BUCKET_BYTES
        if bucket_cap_mb_list:
            limits = [int(mb * _MB) for mb in bucket_cap_mb_list]
            self.bucket_bytes_cap = max(limits)
        else:
            self.bucket_bytes_cap = int((_DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * _MB)
            first = _DEFAULT_FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
            limits = [first, self.bucket_bytes_cap] if first < self.bucket_bytes_cap else [self.bucket_bytes_cap]
        self.bucket_bytes_cap_default = bucket_cap_mb is None and not bucket_cap_mb_list

        parameters, names = self._build_params_for_reducer()
        if init_sync:
            self._verify_param_shape_across_processes(parameters)
            states = [p for n, p in module.named_parameters() if n not in self.parameters_to_ignore]
            if init_sync_buffers:
                states += [b for n, b in module.named_buffers() if n not in self.parameters_to_ignore]
            with no_grad():
                _broadcast_coalesced(self.process_group, states, self.broadcast_bucket_size, 0)
        self.reducer = _Reducer(parameters, names, self.process_group, limits, find_unused_parameters, gradient_as_bucket_view)
        if static_graph:
            self._set_static_graph()

    # -------------------------------------------------------------- construction helpers
    @property
    def broadcast_buffers(self) -> bool:
        return self.forward_sync_buffers

    @broadcast_buffers.setter
    def broadcast_buffers(self, value: bool) -> None:
        self.forward_sync_buffers = value

    def _build_params_for_reducer(self):
        """The parameters DDP reduces: requiring grad, not ignored, each once, in registration order."""
        params, names, memo = [], [], set()
        for module_name, sub in self.module.named_modules():
            for param_name, param in sub.named_parameters(recurse=False):
                fqn = f"{module_name}.{param_name}" if module_name else param_name
                if not param.requires_grad or fqn in self.parameters_to_ignore or id(param) in memo:
                    continue
                memo.add(id(param))
                params.append(param)
                names.append(fqn)
        self._assign_modules_buffers()
        return params, names

    def _assign_modules_buffers(self) -> None:
        """The buffers to broadcast, looked up again each time (a module may reassign them)."""
        named = [(n, b) for n, b in self.module.named_buffers() if n not in self.parameters_to_ignore]
        self.modules_buffers = [b for _, b in named]
        self.named_module_buffers = dict(named)

    def _verify_param_shape_across_processes(self, params: list) -> None:
        """Every rank must wrap the same model: compare parameter counts and shapes (one all-gather)."""
        world = dist.get_world_size(self.process_group)
        if world == 1:
            return
        shapes = [tuple(p.shape) for p in params]
        mine = numpy.array([len(params), sum(p.numel() for p in params), hash(tuple(shapes)) & 0x7FFFFFFFFFFF], dtype=numpy.int64)
        everyone = _make(numpy.zeros(world * 3, dtype=numpy.int64))
        dist.all_gather_into_tensor(everyone, _make(mine), group=self.process_group)
        table = everyone._data.reshape(world, 3)
        for r in range(world):
            if (table[r] != mine).any():
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {dist.get_rank(self.process_group)} has "
                    f"{len(params)} params ({int(mine[1])} elements), while rank {r} has {int(table[r, 0])} params "
                    f"({int(table[r, 1])} elements){' of other shapes' if table[r, 0] == mine[0] and table[r, 1] == mine[1] else ''}."
                )

    def _set_static_graph(self) -> None:
        """The graph is the same every iteration: the unused parameters found in the first one are reused."""
        if self.static_graph:
            warnings.warn("You've set static_graph to be True, no need to set it again.", stacklevel=2)
            return
        self.static_graph = True
        self.reducer.static_graph = True
        self.reducer.find_unused = True

    def _remove_autograd_hooks(self) -> None:
        self.reducer.remove_hooks()

    def _check_reducer_finalized(self) -> None:
        self.reducer.ensure_prior_reduction_finished()

    @staticmethod
    def _set_params_and_buffers_to_ignore_for_model(module: Module, params_and_buffers_to_ignore) -> None:
        """Names (``layer.weight``) of parameters and buffers DDP must neither broadcast nor reduce."""
        module._ddp_params_and_buffers_to_ignore = params_and_buffers_to_ignore
        for name, param in module.named_parameters():
            if name in params_and_buffers_to_ignore:
                param._ddp_ignored = True
        for name, buffer in module.named_buffers():
            if name in params_and_buffers_to_ignore:
                buffer._ddp_ignored = True

    # -------------------------------------------------------------- training
    @contextmanager
    def no_sync(self):
        """Within this context gradients accumulate locally, without communication; the first
        synchronized forward-backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def will_sync_module_buffers(self) -> bool:
        return self.require_forward_param_sync and self.forward_sync_buffers and len(self.modules_buffers) > 0

    def _sync_buffers(self) -> None:
        """Rank 0's buffers to every rank (without bumping their version counters, as torch)."""
        with no_grad():
            self._assign_modules_buffers()
            _broadcast_coalesced(self.process_group, self.modules_buffers, self.broadcast_bucket_size, 0)

    def _pre_forward(self, *inputs, **kwargs):
        if is_grad_enabled():
            self.reducer.ensure_prior_reduction_finished()
        if self.will_sync_module_buffers():
            self._sync_buffers()
        if self.device_ids:
            target = device(self.device_type, self.device_ids[0])
            return _to_device(inputs, target), _to_device(kwargs, target)
        return inputs, kwargs

    def _post_forward(self, output):
        if is_grad_enabled() and self.require_backward_grad_sync:
            self.require_forward_param_sync = True
            find = self.reducer.find_unused and not (self.static_graph and self.reducer.static_unused is not None)
            self.reducer.prepare_for_backward(_find_tensors(output) if find else [])
            if find:
                output = self._sink(output)
        else:
            self.require_forward_param_sync = False
        return output

    def _sink(self, output):
        """The outputs that require grad, through one ``_DDPSink`` (the others as they are)."""
        tracked = [t for t in _find_tensors(output) if t.requires_grad]
        if not tracked:
            return output
        passed = _DDPSink.apply(weakref.ref(self.reducer), self.reducer.num_iterations, *tracked)
        if isinstance(passed, Tensor):
            passed = (passed,)
        by_id = {id(t): p for t, p in zip(tracked, passed)}
        return tree_map_tensors(lambda t: by_id.get(id(t), t), output)

    def forward(self, *inputs, **kwargs):
        inputs, kwargs = self._pre_forward(*inputs, **kwargs)
        output = self.module(*inputs, **kwargs)
        return self._post_forward(output)

    def train(self, mode: bool = True):
        super().train(mode)
        return self

    # -------------------------------------------------------------- not supported
    def register_comm_hook(self, state, hook) -> None:
        raise NotImplementedError(
            "DistributedDataParallel.register_comm_hook: communication hooks need Work.get_future(), which "
            "backprop.distributed does not have; gradients are averaged with all_reduce"
        )

    def join(self, divide_by_initial_world_size: bool = True, enable: bool = True, throw_on_early_termination: bool = False):
        if not enable:
            return nullcontext()
        raise NotImplementedError(
            "DistributedDataParallel.join (uneven inputs) is not supported by backprop: give every rank the same "
            "number of batches (DistributedSampler pads the dataset to do so)"
        )

    def _get_ddp_logging_data(self) -> dict:
        return {
            "world_size": self.reducer.world_size,
            "rank": self.reducer.rank,
            "num_buckets": len(self.reducer.buckets),
            "bucket_sizes": [int(b.buffer.nbytes) for b in self.reducer.buckets],
            "bucket_cap_bytes": self.bucket_bytes_cap,
            "find_unused_parameters": self.find_unused_parameters,
            "gradient_as_bucket_view": self.gradient_as_bucket_view,
            "static_graph": self.static_graph,
            "num_iterations": self.reducer.num_iterations,
            "broadcast_buffers": self.forward_sync_buffers,
        }

    def __getstate__(self):
        raise RuntimeError("backprop: DistributedDataParallel cannot be pickled; save ddp.module (or its state_dict)")
