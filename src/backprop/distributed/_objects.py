"""Objects sent between processes without pickle: JSON-able values and tensors.

``encode(obj)`` gives bytes: a header (JSON of the object with every tensor or array replaced by
``{"__tensor__": i}``, plus each array's dtype and shape), then the arrays' raw bytes. ``decode``
reverses it; tensors come back on the CPU (``broadcast_object_list`` moves them to the caller's
device as torch does). Nothing in the bytes can make the receiver run code.
"""

from __future__ import annotations

import json
import struct

import numpy

from .._backend import backend_of, is_array
from .._tensor import Tensor, _make

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


def encode(obj) -> bytes:
    arrays: list = []

    def walk(value):
        if isinstance(value, Tensor):
            arrays.append(backend_of(value._data).to_host(value._data))
            return {_TENSOR: len(arrays) - 1}
        if is_array(value):
            arrays.append(backend_of(value).to_host(value))
            return {_TENSOR: len(arrays) - 1, "array": True}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("objects sent between processes may only have dicts with string keys")
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return {_TUPLE: [walk(v) for v in value]}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, numpy.generic):
            return value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(
            f"cannot send an object of type {type(value).__name__} between processes: backprop sends JSON-able "
            "values (None, bool, int, float, str, list, tuple, dict with str keys) and tensors, never pickles"
        )

    tree = walk(obj)
    specs = [[a.dtype.str, list(a.shape)] for a in arrays]
    header = json.dumps({"tree": tree, "arrays": specs}).encode()
    blobs = [numpy.ascontiguousarray(a).tobytes() for a in arrays]
    return struct.pack("<Q", len(header)) + header + b"".join(blobs)


def decode(data: bytes):
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(bytes(data[8 : 8 + n]).decode())
    offset = 8 + n
    arrays = []
    for dtype, shape in header["arrays"]:
        dt = numpy.dtype(dtype)
        size = int(numpy.prod(shape, dtype=numpy.int64)) * dt.itemsize
        arrays.append(numpy.frombuffer(bytes(data[offset : offset + size]), dtype=dt).reshape(shape).copy())
        offset += size

    def walk(value):
        if isinstance(value, dict):
            if _TENSOR in value:
                arr = arrays[value[_TENSOR]]
                return arr if value.get("array") else _make(arr)
            if _TUPLE in value:
                return tuple(walk(v) for v in value[_TUPLE])
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(header["tree"])
