"""Process groups: a communicator, the thread that runs its collectives, and their ``Work`` handles.

Every collective of a group, synchronous or not, is queued to the group's one communication
thread and runs there in submission order: the ranks then issue their MPI calls in the same
order whatever the main thread does, ``async_op=True`` overlaps communication with computation
(MPI and NumPy release the GIL), and a synchronous call is an asynchronous one waited for.

Bounded failures: ``Work.wait`` gives up after the group's timeout with an error naming the rank
and the collective; before each collective the ranks compare what they are about to do (one
small allgather of the op, dtype, element count and root) and raise, naming every rank's call,
when they differ; an uncaught exception on any rank prints that rank's traceback and aborts the
whole MPI job (``MPI_Abort``), so no rank waits forever for a rank that is gone.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
from datetime import timedelta

import numpy

from ._mpi import MPIBackend, load_mpi

DEFAULT_TIMEOUT = timedelta(minutes=30)  # torch's default for CPU backends

# Collective codes for the call check (what each rank is about to run).
_CODES = {
    name: i
    for i, name in enumerate(
        (
            "all_reduce",
            "reduce",
            "broadcast",
            "all_gather",
            "all_gather_into_tensor",
            "reduce_scatter_tensor",
            "gather",
            "scatter",
            "barrier",
            "broadcast_object_list",
            "all_gather_object",
            "new_group",
            "reduce_scatter",
            "all_to_all",
        )
    )
}
_NAMES = {v: k for k, v in _CODES.items()}
# Element types the pre-collective check names (any other is compared as "another dtype").
_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "object", "another dtype"]


class Work:
    """The handle of a collective (torch's ``Work``): ``wait()``, ``is_completed()``."""

    def __init__(self, group: ProcessGroup, name: str, seq: int) -> None:
        self.group, self.name, self.seq = group, name, seq
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._result = None
        self._finish = None  # runs on the caller's thread after completion (copies back to the tensors)

    source = -1  # a receive's sender (group rank)

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Block until the collective has finished; raise its error, or after the timeout."""
        limit = (timeout or self.group.timeout).total_seconds()
        if not self._wait_done(limit):
            raise RuntimeError(
                f"[rank {self.group.global_rank}] {self.name} (collective #{self.seq} of its group) timed out after "
                f"{limit:g} s: another rank may have failed, or the ranks called different collectives"
            )
        if self._error is not None:
            raise RuntimeError(f"[rank {self.group.global_rank}] {self.name} failed: {self._error}") from self._error
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def _wait_done(self, limit: float) -> bool:
        return self._done.wait(limit)

    def is_completed(self) -> bool:
        return self._done.is_set()

    def is_success(self) -> bool:
        return self._done.is_set() and self._error is None

    def exception(self):
        return self._error

    def result(self):
        self.wait()
        return self._result

    def synchronize(self) -> None:
        self.wait()


class _P2PWork(Work):
    """A send or receive: an MPI request, polled (the caller's thread waits, with the timeout)."""

    def __init__(self, group, name: str, request, finish=None) -> None:
        super().__init__(group, name, 0)
        self._request, self._finish = request, finish
        self._status = group.impl.MPI.Status()

    def _wait_done(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        pause = 1e-5
        while not self._done.is_set():
            if self._request.Test(self._status):
                self.source = self._status.Get_source()
                self._done.set()
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)
        return True

    def is_completed(self) -> bool:
        return self._done.is_set() or self._wait_done(0.0)


class ProcessGroup:
    """A set of ranks with its communicator (``impl``: MPI or NCCL) and communication thread."""

    def __init__(self, comm, ranks: list, backend: str, timeout: timedelta) -> None:
        self.comm = comm
        self.impl = MPIBackend(comm)
        self.ranks = list(ranks)  # global ranks, by group rank
        self.rank = comm.rank
        self.size = comm.size
        self.global_rank = ranks[comm.rank]
        self.backend_name = backend
        self.timeout = timeout
        self.check_calls = os.environ.get("BACKPROP_DISTRIBUTED_CHECKS", "1") != "0"
        self.cuda = None  # the NCCL communicator, made on first CUDA collective (nccl backend)
        self._seq = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=f"backprop-dist-{id(self):x}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, fn = item
            try:
                work._result = fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the waiting rank
                work._error = exc
            work._done.set()

    def submit(self, name: str, fn, async_op: bool, check: tuple | None = None, finish=None):
        """Queue ``fn`` (run on the communication thread); wait for it unless ``async_op``.
        ``check``: (dtype name, element count, root) compared across ranks first."""
        self._seq += 1
        work = Work(self, name, self._seq)
        work._finish = finish
        if check is not None and self.check_calls and self.size > 1:
            inner = fn

            def fn():
                self._check(name, *check)
                return inner()

        self._queue.put((work, fn))
        if async_op:
            return work
        work.wait()
        return None

    def start_p2p(self, name: str, request, finish=None) -> Work:
        return _P2PWork(self, name, request, finish)

    def _check(self, name: str, dtype: str, count: int, root: int) -> None:
        code = _DTYPES.index(dtype) if dtype in _DTYPES else len(_DTYPES) - 1
        mine = numpy.array([_CODES[name], code, count, root], dtype=numpy.int64)
        calls = self.impl.all_gather_ints(mine)
        if not (calls == mine).all():
            described = "; ".join(
                f"rank {self.ranks[r]}: {_NAMES.get(int(c[0]), '?')}({_DTYPES[int(c[1])]}, {int(c[2])} elements"
                + (f", root {int(c[3])}" if c[3] >= 0 else "")
                + ")"
                for r, c in enumerate(calls)
            )
            raise RuntimeError(f"the ranks called different collectives: {described}")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


class _State:
    """The default group and the groups made by ``new_group``."""

    def __init__(self) -> None:
        self.world: ProcessGroup | None = None
        self.groups: list = []
        self.backend: str | None = None


state = _State()


def _excepthook(kind, value, tb) -> None:
    """An uncaught exception on one rank: print it with the rank, then end the whole job."""
    rank = state.world.global_rank if state.world is not None else "?"
    text = "".join(traceback.format_exception(kind, value, tb))
    sys.stderr.write("".join(f"[rank {rank}] {line}\n" for line in text.rstrip("\n").split("\n")))
    sys.stderr.flush()
    world = state.world
    if world is not None and world.size > 1 and kind is not KeyboardInterrupt:
        sys.stderr.write(f"[rank {rank}] aborting the job (MPI_Abort): a rank raised\n")
        sys.stderr.flush()
        load_mpi().COMM_WORLD.Abort(1)


def _thread_excepthook(args) -> None:
    _excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def init_world(backend: str, timeout: timedelta, world_size: int, rank: int) -> ProcessGroup:
    comm = load_mpi().COMM_WORLD
    expected = int(os.environ.get("WORLD_SIZE", world_size if world_size > 0 else comm.size))
    if world_size > 0 and world_size != comm.size or expected != comm.size:
        raise RuntimeError(
            f"init_process_group: world_size {expected} was asked for, but MPI started {comm.size} process(es): "
            "launch with `python -m backprop.distributed.run --nproc-per-node N script.py` or `mpiexec -n N python script.py`"
        )
    wanted_rank = int(os.environ.get("RANK", rank if rank >= 0 else comm.rank))
    if wanted_rank != comm.rank:
        raise RuntimeError(f"init_process_group: rank {wanted_rank} was asked for, but MPI gave this process rank {comm.rank}")
    world = ProcessGroup(comm, list(range(comm.size)), backend, timeout)
    state.world, state.backend = world, backend
    if comm.size > 1:
        sys.excepthook = _excepthook
        threading.excepthook = _thread_excepthook
    return world


def destroy() -> None:
    for group in state.groups:
        group.close()
        if group.comm != load_mpi().COMM_WORLD:
            group.comm.Free()
    if state.world is not None:
        state.world.close()
    state.world, state.groups, state.backend = None, [], None
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
