"""CUDA tensors of an ``nccl`` group through NCCL (``cupy.cuda.nccl``), with no host copies.

The group's ranks agree on an NCCL id through the group's MPI communicator (in its queue, so
in order with the other collectives); each rank drives one GPU, the current one or the
tensor's (NCCL cannot put two ranks on one GPU). Collectives are enqueued on the current CUDA
stream, so they are ordered with the kernels around them and the host never waits: the
``Work`` they return is already complete from the stream's point of view.
"""

from __future__ import annotations

import json

import numpy

from .process_group import Work
from .reduce_op import ReduceOp


class _StreamWork(Work):
    """A collective enqueued on the current stream: done as far as later kernels are concerned."""

    def __init__(self, group, name: str) -> None:
        super().__init__(group, name, 0)
        self._done.set()


class NCCLCommunicator:
    def __init__(self, group, device) -> None:
        import cupy
        from cupy.cuda import nccl

        self.cupy, self.nccl, self.group = cupy, nccl, group
        self.index = device.index if device.index is not None else cupy.cuda.runtime.getDevice()
        root_id = json.dumps(list(nccl.get_unique_id())).encode() if group.rank == 0 else None
        work = group.submit("broadcast_object_list", lambda: group.impl.broadcast_bytes(root_id, 0), True, ("object", 1, 0))
        work.wait()
        uid = tuple(json.loads(work._result.decode()))
        with cupy.cuda.Device(self.index):
            self.comm = nccl.NcclCommunicator(group.size, uid, group.rank)
        self._types = {
            numpy.dtype(numpy.float16): nccl.NCCL_FLOAT16,
            numpy.dtype(numpy.float32): nccl.NCCL_FLOAT32,
            numpy.dtype(numpy.float64): nccl.NCCL_FLOAT64,
            numpy.dtype(numpy.int8): nccl.NCCL_INT8,
            numpy.dtype(numpy.uint8): nccl.NCCL_UINT8,
            numpy.dtype(numpy.int32): nccl.NCCL_INT32,
            numpy.dtype(numpy.int64): nccl.NCCL_INT64,
            numpy.dtype(numpy.bool_): nccl.NCCL_UINT8,
        }
        self._ops = {
            ReduceOp.SUM: nccl.NCCL_SUM,
            ReduceOp.PRODUCT: nccl.NCCL_PROD,
            ReduceOp.MIN: nccl.NCCL_MIN,
            ReduceOp.MAX: nccl.NCCL_MAX,
            ReduceOp.AVG: getattr(nccl, "NCCL_AVG", nccl.NCCL_SUM),
        }

    def _op(self, op, dtype):
        if dtype == numpy.bool_:  # bools as uint8: SUM is OR, PRODUCT is AND
            op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.AVG: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
        if op not in self._ops:
            raise ValueError(f"NCCL has no {op.name} reduction")
        return self._ops[op]

    def _contiguous(self, t):
        """The tensor's array if contiguous, else a contiguous copy and the step that writes it back."""
        data = t._data
        if data.flags.c_contiguous:
            return data, None
        buf = self.cupy.ascontiguousarray(data)

        def back():
            t._data[...] = buf

        return buf, back

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def _done(self, name: str, tensors, backs) -> Work:
        for back in backs:
            if back is not None:
                back()
        for t in tensors:
            t._version_counter[0] += 1
        return _StreamWork(self.group, name)

    def all_reduce(self, tensor, op, async_op: bool):
        buf, back = self._contiguous(tensor)
        with self.cupy.cuda.Device(self.index):
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._types[buf.dtype], self._op(op, buf.dtype), self._stream())
            if op is ReduceOp.AVG and not hasattr(self.nccl, "NCCL_AVG"):
                buf /= self.group.size
        work = self._done("all_reduce", [tensor], [back])
        return work if async_op else None

    def broadcast(self, tensor, root: int, async_op: bool):
        buf, back = self._contiguous(tensor)
        with self.cupy.cuda.Device(self.index):
            self.comm.bcast(buf.data.ptr, buf.size, self._types[buf.dtype], root, self._stream())
        work = self._done("broadcast", [tensor], [back])
        return work if async_op else None

    def all_gather_into_tensor(self, output, input, async_op: bool):
        send = self.cupy.ascontiguousarray(input._data)
        recv, back = self._contiguous(output)
        with self.cupy.cuda.Device(self.index):
            self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, self._types[send.dtype], self._stream())
        work = self._done("all_gather_into_tensor", [output], [back])
        return work if async_op else None

    def reduce_scatter_tensor(self, output, input, op, async_op: bool):
        send = self.cupy.ascontiguousarray(input._data)
        recv, back = self._contiguous(output)
        with self.cupy.cuda.Device(self.index):
            self.comm.reduceScatter(send.data.ptr, recv.data.ptr, recv.size, self._types[send.dtype], self._op(op, send.dtype), self._stream())
            if op is ReduceOp.AVG and not hasattr(self.nccl, "NCCL_AVG"):
                recv /= self.group.size
        work = self._done("reduce_scatter_tensor", [output], [back])
        return work if async_op else None
