"""``backprop.distributed``: torch.distributed's API on MPI (CPU tensors) and NCCL (CUDA tensors).

Processes are started by MPI: ``python -m backprop.distributed.run --nproc-per-node N script.py``
(torchrun's flags; it calls ``mpiexec`` and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) or ``mpiexec -n N python script.py``.
``init_process_group`` then joins MPI's world: the ``gloo`` and ``mpi`` backends run every
collective through MPI (CUDA tensors staged through host memory); ``nccl`` (the default for a
CUDA-available machine, as in torch) runs CUDA tensors through NCCL (``cupy.cuda.nccl``) and the
rest through MPI. Collectives take torch's arguments and modify their tensors in place;
``async_op=True`` returns a ``Work`` to ``wait()`` on. Objects go between ranks as JSON plus
tensors, never pickled. How failures end a job is in ``process_group.py``.
"""

from __future__ import annotations

from datetime import timedelta

import numpy

from .._backend import backend_of, move
from .._tensor import Tensor
from . import _objects
from .process_group import DEFAULT_TIMEOUT, ProcessGroup, Work, state
from .process_group import destroy as _destroy
from .process_group import init_world as _init_world
from .reduce_op import ReduceOp

__all__ = [
    "Backend",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_gather_single",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "irecv",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "is_gloo_available",
    "isend",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter_single",
    "reduce_scatter_tensor",
    "scatter",
    "send",
]


class Backend:
    """Backend names (``Backend.GLOO``...); ``Backend("gloo")`` gives the lowercase name."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str):
        name = str(name).lower()
        if name not in ("gloo", "nccl", "mpi"):
            raise ValueError(f"Invalid backend: '{name}' (backprop's are gloo and mpi, both on MPI, and nccl)")
        return name


class GroupMember:
    """``GroupMember.WORLD`` (the default group) and ``NON_GROUP_MEMBER`` (``new_group`` for a rank left out)."""

    NON_GROUP_MEMBER = object()

    @property
    def WORLD(self):  # noqa: N802 - torch's name
        return state.world


GroupMember = GroupMember()  # noqa: F811 - an instance, so WORLD reads the current default group
group = GroupMember


# ---------------------------------------------------------------------------- setup
def is_available() -> bool:
    """Whether distributed training can run: mpi4py (and an MPI library) importable."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_mpi_available() -> bool:
    return is_available()


def is_gloo_available() -> bool:
    return is_available()  # the gloo name runs on MPI


def is_nccl_available() -> bool:
    from .. import cuda

    if not cuda.is_available():
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError:
        return False
    return True


def is_initialized() -> bool:
    return state.world is not None


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
    device_id=None,
) -> None:
    """Join the job MPI started (``init_method``/``store`` are accepted and unused: MPI has already
    connected the processes). ``backend``: ``gloo``/``mpi`` (CPU, and CUDA tensors staged through
    the host), ``nccl`` (CUDA tensors through NCCL), None (``nccl`` when CUDA is available, as torch)."""
    if state.world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if backend is None:
        backend = "nccl" if is_nccl_available() else "gloo"
    backend = Backend(backend.split(":")[-1] if ":" in backend else backend)
    if backend == "nccl" and not is_nccl_available():
        raise RuntimeError("ProcessGroupNCCL is only supported with GPUs, no GPUs found (or CuPy without NCCL)")
    _init_world(backend, timeout or DEFAULT_TIMEOUT, world_size, rank)


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    if group is None or group is state.world:
        _destroy()
        return
    group.close()
    state.groups.remove(group)


def _group(group) -> ProcessGroup:
    if state.world is None:
        raise ValueError("Default process group has not been initialized, please make sure to call init_process_group.")
    return state.world if group is None else group


def get_rank(group: ProcessGroup | None = None) -> int:
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group).rank


def get_world_size(group: ProcessGroup | None = None) -> int:
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _group(group).size


def get_backend(group: ProcessGroup | None = None) -> str:
    return _group(group).backend_name


def get_process_group_ranks(group: ProcessGroup) -> list:
    return list(_group(group).ranks)


def get_global_rank(group: ProcessGroup, group_rank: int) -> int:
    return _group(group).ranks[group_rank]


def _group_rank(g: ProcessGroup, global_rank: int, what: str) -> int:
    try:
        return g.ranks.index(global_rank)
    except ValueError:
        raise ValueError(f"{what}: rank {global_rank} is not part of the group (ranks {g.ranks})") from None


def new_group(ranks=None, timeout: timedelta | None = None, backend: str | None = None, pg_options=None, use_local_synchronization: bool = False, group_desc=None):
    """A group of some ranks; every rank of the world must call it (as in torch). Ranks left out
    get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _group(None)
    members = sorted(range(world.size) if ranks is None else {int(r) for r in ranks})
    if any(not 0 <= r < world.size for r in members):
        raise ValueError(f"new_group: ranks {members} are not all in the world of {world.size}")
    me = world.global_rank
    work = world.submit("new_group", lambda: world.impl.split(0 if me in members else None, me), True, check=("object", len(members), -1))
    work.wait()
    comm = work._result
    if me not in members:
        return GroupMember.NON_GROUP_MEMBER
    g = ProcessGroup(comm, members, backend or world.backend_name, timeout or world.timeout)
    state.groups.append(g)
    return g


# ---------------------------------------------------------------------------- tensors <-> buffers
def _dtype_name(t: Tensor) -> str:
    return t._data.dtype.name


def _buffer(t: Tensor, write_back: bool):
    """A contiguous host array for ``t`` and the step that writes it back into ``t`` (if needed):
    CPU tensors in place when contiguous; CUDA tensors staged through host memory."""
    data = t._data
    if type(data) is numpy.ndarray and data.flags.c_contiguous:
        arr = data
        if not write_back:
            return arr, None

        def finish():
            t._version_counter[0] += 1

        return arr, finish
    arr = numpy.ascontiguousarray(backend_of(data).to_host(data))
    if not write_back:
        return arr, None

    def finish_copy():
        t._data[...] = arr if type(t._data) is numpy.ndarray else move(arr, t.device)
        t._version_counter[0] += 1

    return arr, finish_copy


def _check_tensor(t, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}(): expected a Tensor, got {type(t).__name__}")


# ---------------------------------------------------------------------------- collectives
def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` across the group's ranks, in place on every rank."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(tensor, "all_reduce")
    g = _group(group)
    if op is ReduceOp.AVG and tensor._data.dtype.kind != "f":
        raise ValueError("all_reduce: ReduceOp.AVG needs a floating-point tensor")
    nccl = _nccl(g, tensor)
    if nccl is not None:
        return nccl.all_reduce(tensor, op, async_op)
    arr, finish = _buffer(tensor, True)

    def run():
        g.impl.all_reduce(arr, op)
        if op is ReduceOp.AVG:
            arr[...] /= g.size

    return g.submit("all_reduce", run, async_op, (_dtype_name(tensor), arr.size, -1), finish)


def reduce(tensor: Tensor, dst: int = 0, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` across the group onto rank ``dst`` (the others keep theirs)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(tensor, "reduce")
    g = _group(group)
    root = _group_rank(g, dst, "reduce")
    arr, finish = _buffer(tensor, g.rank == root)

    def run():
        g.impl.reduce(arr, op, root)
        if op is ReduceOp.AVG and g.rank == root:
            arr[...] /= g.size

    return g.submit("reduce", run, async_op, (_dtype_name(tensor), arr.size, root), finish)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(tensor, "broadcast")
    g = _group(group)
    root = _group_rank(g, src, "broadcast")
    nccl = _nccl(g, tensor)
    if nccl is not None:
        return nccl.broadcast(tensor, root, async_op)
    arr, finish = _buffer(tensor, g.rank != root)
    return g.submit("broadcast", lambda: g.impl.broadcast(arr, root), async_op, (_dtype_name(tensor), arr.size, root), finish)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """``tensor_list[i]`` gets rank i's ``tensor`` (same shape and dtype everywhere)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(tensor, "all_gather")
    g = _group(group)
    if len(tensor_list) != g.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a group of {g.size}")
    for t in tensor_list:
        if tuple(t.shape) != tuple(tensor.shape) or t.dtype is not tensor.dtype:
            raise ValueError(
                f"all_gather: every output must match the input ({list(tensor.shape)}, {tensor.dtype}); got {list(t.shape)}, {t.dtype}"
            )
    send, _ = _buffer(tensor, False)
    recv = numpy.empty((g.size,) + send.shape, dtype=send.dtype)

    def finish():
        for out, part in zip(tensor_list, recv):
            out._data[...] = part if type(out._data) is numpy.ndarray else move(part, out.device)
            out._version_counter[0] += 1

    return g.submit("all_gather", lambda: g.impl.all_gather(send, recv), async_op, (_dtype_name(tensor), send.size, -1), finish)


def _check_world_sized(op: str, g, whole: tuple, part: tuple) -> None:
    """``whole`` must hold world_size ``part``s of ``part``'s dtype (the tensor collectives' one
    shape rule); torch's RuntimeError otherwise."""
    (whole_name, w), (part_name, p) = whole, part
    if w.numel() != g.size * p.numel() or w.dtype is not p.dtype:
        raise RuntimeError(
            f"{op}: the {whole_name} must hold world_size ({g.size}) {part_name}s of {p.dtype}: "
            f"{whole_name} {list(w.shape)} {w.dtype}, {part_name} {list(p.shape)}"
        )


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None, async_op: bool = False):
    """``output_tensor`` (world_size times the input, concatenated or stacked along dim 0) gets every rank's input."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    g = _group(group)
    _check_world_sized("all_gather_into_tensor", g, ("output", output_tensor), ("input", input_tensor))
    nccl = _nccl(g, input_tensor)
    if nccl is not None:
        return nccl.all_gather_into_tensor(output_tensor, input_tensor, async_op)
    send, _ = _buffer(input_tensor, False)
    recv, finish = _buffer(output_tensor, True)
    return g.submit("all_gather_into_tensor", lambda: g.impl.all_gather(send, recv), async_op, (_dtype_name(input_tensor), send.size, -1), finish)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``input`` (world_size chunks along dim 0) across ranks; rank i keeps chunk i in ``output``."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    g = _group(group)
    _check_world_sized("reduce_scatter_tensor", g, ("input", input), ("output", output))
    nccl = _nccl(g, input)
    if nccl is not None:
        return nccl.reduce_scatter_tensor(output, input, op, async_op)
    send, _ = _buffer(input, False)
    recv, finish = _buffer(output, True)

    def run():
        g.impl.reduce_scatter(send.reshape(-1), recv.reshape(-1), op)
        if op is ReduceOp.AVG:
            recv[...] /= g.size

    return g.submit("reduce_scatter_tensor", run, async_op, (_dtype_name(input), send.size, -1), finish)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group=None, async_op: bool = False):
    """Rank ``dst``'s ``gather_list[i]`` gets rank i's ``tensor``."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    g = _group(group)
    root = _group_rank(g, dst, "gather")
    send, _ = _buffer(tensor, False)
    recv = None
    finish = None
    if g.rank == root:
        if gather_list is None or len(gather_list) != g.size:
            raise ValueError(f"gather: the destination needs a gather_list of {g.size} tensors")
        recv = numpy.empty((g.size,) + send.shape, dtype=send.dtype)

        def finish():
            for out, part in zip(gather_list, recv):
                out._data[...] = part if type(out._data) is numpy.ndarray else move(part, out.device)
                out._version_counter[0] += 1

    elif gather_list:
        raise ValueError("gather: Argument ``gather_list`` must NOT be specified on non-destination ranks.")
    return g.submit("gather", lambda: g.impl.gather(send, recv, root), async_op, (_dtype_name(tensor), send.size, root), finish)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group=None, async_op: bool = False):
    """Rank i's ``tensor`` gets rank ``src``'s ``scatter_list[i]``."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    g = _group(group)
    root = _group_rank(g, src, "scatter")
    recv, finish = _buffer(tensor, True)
    send = None
    if g.rank == root:
        if scatter_list is None or len(scatter_list) != g.size:
            raise ValueError(f"scatter: the source needs a scatter_list of {g.size} tensors")
        send = numpy.stack([_buffer(t, False)[0] for t in scatter_list])
    elif scatter_list:
        raise ValueError("scatter: Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    return g.submit("scatter", lambda: g.impl.scatter(send, recv, root), async_op, (_dtype_name(tensor), recv.size, root), finish)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every rank of the group has reached the barrier."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    g = _group(group)
    return g.submit("barrier", g.impl.barrier, async_op, ("object", 0, -1))


# ---------------------------------------------------------------------------- point to point
# Sends and receives are MPI requests started right away on the caller's thread (not queued
# behind collectives), so two ranks that each isend and then recv do not wait on each other.
def isend(tensor: Tensor, dst: int, group=None, tag: int = 0) -> Work:
    """Start sending ``tensor`` to rank ``dst``; ``wait()`` on the returned handle."""
    g = _group(group)
    arr, _ = _buffer(tensor, False)
    return g.start_p2p("isend", g.impl.isend(arr, _group_rank(g, dst, "isend"), tag))


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> Work:
    """Start receiving into ``tensor`` from rank ``src`` (None: any); ``wait()`` on the handle."""
    g = _group(group)
    arr, finish = _buffer(tensor, True)
    return g.start_p2p("irecv", g.impl.irecv(arr, None if src is None else _group_rank(g, src, "irecv"), tag), finish)


def send(tensor: Tensor, dst: int, group=None, tag: int = 0) -> None:
    """Send ``tensor`` to rank ``dst`` (returns once it is sent)."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> int:
    """Receive into ``tensor`` from rank ``src`` (None: any); returns the sender's rank."""
    work = irecv(tensor, src, group, tag)
    work.wait()
    return _group(group).ranks[work.source]


# ---------------------------------------------------------------------------- objects
def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Rank ``src``'s objects (JSON-able values and tensors) replace ``object_list``'s on every rank."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return
    g = _group(group)
    root = _group_rank(g, src, "broadcast_object_list")
    payload = _objects.encode(list(object_list)) if g.rank == root else None
    data = g.submit("broadcast_object_list", lambda: g.impl.broadcast_bytes(payload, root), True, ("object", len(object_list), root))
    data.wait()
    if g.rank != root:
        object_list[:] = _to_device(_objects.decode(data._result), device)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """``object_list[i]`` gets rank i's ``obj`` (JSON-able values and tensors)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return
    g = _group(group)
    if len(object_list) != g.size:
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} slots for a group of {g.size}")
    payload = _objects.encode(obj)
    work = g.submit("all_gather_object", lambda: g.impl.all_gather_bytes(payload), True, ("object", 0, -1))
    work.wait()
    object_list[:] = [_objects.decode(b) for b in work._result]


def gather_object(obj, object_gather_list: list | None = None, dst: int = 0, group=None) -> None:
    """Rank ``dst``'s ``object_gather_list[i]`` gets rank i's ``obj``."""
    g = _group(group)
    gathered: list = [None] * g.size
    all_gather_object(gathered, obj, group)
    if g.global_rank == dst and object_gather_list is not None:
        object_gather_list[:] = gathered


def _to_device(objects, device):
    if device is None:
        return objects

    def walk(v):
        if isinstance(v, Tensor):
            return v.to(device)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple):
            return tuple(walk(x) for x in v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return walk(objects)


# ---------------------------------------------------------------------------- CUDA tensors
def _nccl(g: ProcessGroup, tensor: Tensor):
    """The group's NCCL communicator for a CUDA tensor under the nccl backend (None otherwise)."""
    if g.backend_name != "nccl" or type(tensor._data) is numpy.ndarray:
        return None
    if g.cuda is None:
        from ._nccl import NCCLCommunicator

        g.cuda = NCCLCommunicator(g, tensor.device)
    return g.cuda


# torch 2.13's names for the two (the older ones are deprecated there)
all_gather_single = all_gather_into_tensor
reduce_scatter_single = reduce_scatter_tensor
