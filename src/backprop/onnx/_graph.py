"""Building the ONNX graph from a trace (the second half of ``onnx.export``).

The ``Emitter`` turns the records the outputs depend on into ONNX nodes, in trace order. It
gives each Value an ONNX name: graph inputs, parameters (initializers named by the
state_dict), constants (initializers, or ``ConstantOfShape``/``Range`` when their shape follows
a dynamic axis) and node outputs. Dims that differ between the two traces are dynamic: shapes
that carry them (reshape targets, expand sizes, slice bounds) are computed in the graph from
``Shape`` of a tensor that has the same dim.

Everything here works on the host: constants are host snapshots (``_trace._snapshot``),
parameters are copied to the host when they are written as initializers, and the arrays built
here (index constants, fills) are NumPy arrays, as the ONNX file stores them.
"""

from __future__ import annotations

import numpy

from .._backend import backend_of
from ._trace import CONST, NODE, PARAM, Record, Tracer, Value, iter_values
from .errors import UnsupportedOperatorError

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def same_data(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(numpy.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


class Emitter:
    """Collects nodes and initializers; converters (``ops.py``) call its helpers."""

    def __init__(self, tracer: Tracer, opset: int, fold: bool = True, export_params: bool = True):
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.tracer = tracer
        self.opset = opset
        self.fold = fold
        self.export_params = export_params
        self.nodes: list = []
        self.initializers: list = []
        self.param_inputs: list = []  # parameters as graph inputs (export_params=False)
        self.names: dict[int, str] = {}
        self.available: list[Value] = []
        self._used: set = set()
        self._consts: dict = {}
        self._shape_cache: dict = {}
        self.scope = ""
        self.record: Record | None = None

    # ------------------------------------------------------------------ names
    def unique(self, base: str) -> str:
        name = base
        k = 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def set_name(self, v: Value, name: str) -> None:
        self.names[v.index] = name
        if not v.const:
            self.available.append(v)

    # ------------------------------------------------------------------ folding
    def folded(self, v: Value) -> bool:
        """A node output computed from constants only (and the same in both traces) is stored."""
        return v.kind == NODE and v.const and self.fold and self.stable(v)

    @staticmethod
    def stable(v: Value) -> bool:
        return v.data2 is None or same_data(v.data, v.data2)

    # ------------------------------------------------------------------ values
    def name(self, v: Value) -> str:
        """The ONNX name of ``v``, materializing constants and parameters on first use."""
        got = self.names.get(v.index)
        if got is not None:
            return got
        if v.kind == PARAM:
            name = v.name
            data = v.data  # the parameter's live array, on its device
            if self.export_params:
                host = numpy.asarray(backend_of(data).to_host(data), order="C")
                self.initializers.append(self.numpy_helper.from_array(host, name))
            else:
                self.param_inputs.append(self.helper.make_tensor_value_info(name, self.onnx_type(v.dtype), list(v.shape)))
            self.set_name(v, name)
            return name
        if v.kind == CONST or self.folded(v):
            if self.stable(v):
                name = self.const(v.data, v.name)
            else:
                name = self._varying_const(v)
            self.names[v.index] = name
            return name
        if v.kind == NODE and v.producer is not None:
            rec, k = v.producer
            self.record = rec
            self.unsupported(f"its output {k} cannot be exported")
        raise RuntimeError(f"internal error: {v} used before it was computed")  # pragma: no cover

    def const(self, arr, name: str | None = None) -> str:
        """An initializer holding ``arr`` (small ones shared by value)."""
        arr = numpy.asarray(arr, order="C")
        key = None
        if arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            hit = self._consts.get(key)
            if hit is not None:
                return hit
        name = self.unique(name or "onnx::Constant")
        self.initializers.append(self.numpy_helper.from_array(arr, name))
        if key is not None:
            self._consts[key] = name
        return name

    def i64(self, values) -> str:
        return self.const(numpy.asarray(list(values), dtype=numpy.int64))

    def scalar(self, value, dtype) -> str:
        return self.const(numpy.asarray(value, dtype=dtype))

    # ------------------------------------------------------------------ nodes
    def op(self, op_type: str, inputs, n_out: int = 1, **attrs):
        """Add a node; returns its output name (or list of names when ``n_out != 1``)."""
        base = f"{self.scope}/{op_type}"
        name = self.unique(base)
        outs = [self.unique(f"{name}_output_{i}") for i in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def onnx_type(self, dtype) -> int:
        return self.helper.np_dtype_to_tensor_dtype(numpy.dtype(dtype))

    def cast(self, x: str, src_dtype, dst_dtype) -> str:
        if numpy.dtype(src_dtype) == numpy.dtype(dst_dtype):
            return x
        return self.op("Cast", [x], to=self.onnx_type(dst_dtype))

    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        """Reduce over ``axes`` (opset-dependent: axes as an input from 13 for sums, 18 for the rest)."""
        axes = list(axes)
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.i64(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes) -> str:
        return self.op("Unsqueeze", [x, self.i64(axes)])

    def squeeze(self, x: str, axes) -> str:
        return self.op("Squeeze", [x, self.i64(axes)])

    # ------------------------------------------------------------------ dynamic shapes
    def _candidates(self, prefer):
        seen = set()
        for v in list(prefer) + list(self.tracer.inputs) + self.available[::-1]:
            if v.index in seen or v.shape2 is None or v.index not in self.names:
                continue
            seen.add(v.index)
            yield v

    def shape_of(self, v: Value) -> str:
        key = (v.index, None)
        hit = self._shape_cache.get(key)
        if hit is None:
            hit = self._shape_cache[key] = self.op("Shape", [self.name(v)])
        return hit

    def dim_of(self, v: Value, k: int) -> str:
        """Dim ``k`` of ``v`` as a (1,) int64 tensor."""
        key = (v.index, k)
        hit = self._shape_cache.get(key)
        if hit is None:
            if self.opset >= 15:
                hit = self.op("Shape", [self.name(v)], start=k, end=k + 1)
            else:
                hit = self.op("Gather", [self.shape_of(v), self.i64([k])], axis=0)
            self._shape_cache[key] = hit
        return hit

    def dim(self, size1: int, size2: int, prefer=()) -> str | None:
        """A (1,) int64 tensor equal to a dim that is ``size1`` in trace 1 and ``size2`` in trace 2."""
        if size1 == size2:
            return self.i64([size1])
        cands = list(self._candidates(prefer))
        for v in cands:
            for k, (a, b) in enumerate(zip(v.shape, v.shape2)):
                if a == size1 and b == size2:
                    return self.dim_of(v, k)
        for v in cands:  # a product of two dims of one tensor (flattened axes)
            n = len(v.shape)
            for i in range(n):
                for j in range(i + 1, n):
                    if v.shape[i] * v.shape[j] == size1 and v.shape2[i] * v.shape2[j] == size2 and v.shape[i] != v.shape2[i]:
                        return self.op("Mul", [self.dim_of(v, i), self.dim_of(v, j)])
        return None

    def build_shape(self, items) -> str:
        """A 1-D int64 tensor from ints and names of (1,) int64 tensors."""
        pieces, run = [], []
        for it in items:
            if isinstance(it, str):
                if run:
                    pieces.append(self.i64(run))
                    run = []
                pieces.append(it)
            else:
                run.append(int(it))
        if run or not pieces:
            pieces.append(self.i64(run))
        return pieces[0] if len(pieces) == 1 else self.op("Concat", pieces, axis=0)

    def shape_tensor(self, dims1, dims2, prefer=()) -> str:
        """A 1-D int64 shape: static dims as constants, dynamic ones from ``Shape`` of a tensor."""
        items = []
        for a, b in zip(dims1, dims2):
            if a == b:
                items.append(a)
                continue
            d = self.dim(a, b, prefer)
            if d is None:
                self.unsupported("a shape with a dynamic dim the exporter cannot trace back to an input dim")
            items.append(d)
        return self.build_shape(items)

    def _varying_const(self, v: Value) -> str:
        """A constant whose shape follows a dynamic axis: ConstantOfShape or Range, else an error."""
        a, b = v.data, v.data2
        if a.size and b.size and a.ndim == b.ndim:
            first = a.reshape(-1)[0]
            if (a == first).all() and (b == first).all():
                shape = self.shape_tensor(a.shape, b.shape)
                fill = self.helper.make_tensor("value", self.onnx_type(a.dtype), [1], [first.item()])
                return self.op("ConstantOfShape", [shape], value=fill)
            if a.ndim == 1 and a.size >= 2 and b.size >= 2 and a.dtype.kind in "iuf":
                step = a[1] - a[0]
                start = a[0]
                if b[0] == start and b[1] - b[0] == step and (a == start + step * numpy.arange(a.size, dtype=a.dtype)).all() and (
                    b == start + step * numpy.arange(b.size, dtype=b.dtype)
                ).all():
                    n = self.dim(a.size, b.size)
                    if n is not None:
                        n = self.cast(self.squeeze(n, [0]), numpy.int64, a.dtype)
                        start_n = self.scalar(start, a.dtype)
                        step_n = self.scalar(step, a.dtype)
                        limit = self.op("Add", [start_n, self.op("Mul", [n, step_n])])
                        return self.op("Range", [start_n, limit, step_n])
        if a.size == 1 and b.size == 1 and a.dtype.kind in "iuf" and a.shape == b.shape:
            v1, v2 = a.reshape(-1)[0].item(), b.reshape(-1)[0].item()
            if float(v1).is_integer() and float(v2).is_integer() and v1 >= 0 and v2 >= 0:
                d = self.dim(int(v1), int(v2))  # a number computed from a dynamic size (x * x.shape[0])
                if d is not None:
                    return self.cast(self.op("Reshape", [d, self.i64(a.shape)]), numpy.int64, a.dtype)
        how = (
            "its shape follows a dynamic axis"
            if a.shape != b.shape
            else "its values depend on the input values (through .item(), .tolist(), NumPy or an op the exporter cannot "
            "trace) or on randomness"
        )
        self.unsupported(
            f"a tensor created outside the traced operations (shape {list(a.shape)}) is used as a constant, but {how}"
        )

    # ------------------------------------------------------------------ errors
    def unsupported(self, reason: str | None = None, op: str | None = None):
        rec = self.record
        name = op or (rec.op_name if rec is not None else "?")
        module = rec.module if rec is not None else None
        if rec is not None and rec.module_type and rec.module:
            module = f"{rec.module} ({rec.module_type})"
        raise UnsupportedOperatorError(name, module, reason, self.opset)


def needed_records(tracer: Tracer, outputs, emitter: Emitter) -> list:
    """The records the outputs depend on (folded constants cut the walk), in trace order."""
    marked = set()
    stack = list(outputs)
    seen = set()
    while stack:
        v = stack.pop()
        if v.index in seen:
            continue
        seen.add(v.index)
        if v.kind != NODE or emitter.folded(v):
            continue
        rec = v.producer[0]
        if rec.index in marked:
            continue
        marked.add(rec.index)
        stack.extend(iter_values((rec.args, rec.kwargs)))
    return [r for r in tracer.records if r.index in marked]

