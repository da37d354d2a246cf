"""``backprop.save`` / ``backprop.load``: checkpoints without pickle, written atomically.

Format: one safetensors file. Every tensor in the saved object becomes a safetensors entry;
the object's structure (dicts, lists, numbers, strings, bools, None) is JSON in the file's
``__metadata__`` under the key ``backprop``, with tensors replaced by references to their
entries. A flat ``{name: tensor}`` dict (a state_dict) is stored under its own names, so
``safetensors.torch.load_file`` reads backprop's state_dicts and ``backprop.load`` reads
safetensors files written by other tools (returning ``{name: tensor}``).

Devices: a tensor is written as its host bytes (a CUDA tensor is copied to host memory first)
and its device, unless it is the CPU, is recorded next to its reference (``"device": "cuda:0"``).
``load`` puts every tensor back on its recorded device, or where ``map_location`` says (a device,
a ``{saved: target}`` dict or a callable, as torch's), and raises as torch does when that device
is not available.

Loading never executes code: pickle-based files (``torch.save``'s .pt) are refused with a
clear error. Saving writes a temporary file in the target directory, fsyncs it and renames
it over the target, so an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy

from . import _dtype
from ._backend import backend_for, backend_of, is_array, move
from ._device import device as _device
from ._tensor import Tensor, _make
from .nn.parameter import Parameter

_META_KEY = "backprop"
_FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A file could not be read as a backprop/safetensors checkpoint (names the file and the problem)."""


def _safetensors_numpy():
    try:
        import safetensors.numpy as st
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "backprop.save/load need the 'safetensors' package (an optional extra): pip install 'backprop[serialization]'"
        ) from None
    return st


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self):
        self.arrays: dict = {}
        self.by_id: dict = {}
        self.locations: dict = {}  # key -> device string (None: the CPU)

    def array(self, obj, data, name: str, location: str | None = None) -> tuple:
        """Add ``data`` (an array of any device; ``obj``, alive while saving, holds it) under a
        fresh key, once per ``obj``: its host bytes, C-contiguous. Returns (key, location): the
        device it is on (``location`` for host data, None meaning the CPU)."""
        key = self.by_id.get(id(obj))
        if key is None:
            key = name
            while key in self.arrays:
                key = key + "_"
            backend = backend_of(data)
            if backend.type != "cpu":
                location = str(backend.device_of(data))
            host = backend.to_host(data)
            self.arrays[key] = host if host.flags.c_contiguous else numpy.array(host, order="C")
            self.by_id[id(obj)] = key
            self.locations[key] = location
        return key, self.locations[key]

    def tensor(self, t: Tensor, name: str) -> dict:
        key, location = self.array(t, t._data, name)
        ref = {"__tensor__": key}
        if location is not None:
            ref["device"] = location
        if t._sparse_layout:  # a sparse COO tensor (ops/sparse.py): its values above, its indices beside them
            ref["sparse_indices"], _ = self.array(t._sp_indices, t._sp_indices, name + ".indices")
            ref["size"] = list(t._sp_shape)
            ref["coalesced"] = t._sp_coalesced
        if isinstance(t, Parameter):
            ref["parameter"] = True
            ref["requires_grad"] = t._requires_grad
        elif t._requires_grad:
            ref["requires_grad"] = True
        return ref

    def encode(self, obj, path: str):
        if isinstance(obj, Tensor):
            return self.tensor(obj, path or "tensor")
        if hasattr(obj, "detach") and hasattr(obj, "numpy") and not isinstance(obj, Tensor):  # foreign tensors (torch)
            on = str(obj.device) if getattr(getattr(obj, "device", None), "type", "cpu") == "cuda" else None
            key, location = self.array(obj, numpy.asarray(obj.detach().cpu().numpy()), path or "tensor", on)
            return {"__tensor__": key} if location is None else {"__tensor__": key, "device": location}
        if is_array(obj):  # a NumPy or CuPy array: loaded back as one
            key, location = self.array(obj, obj, path or "array")
            return {"__ndarray__": key} if location is None else {"__ndarray__": key, "device": location}
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"__float__": repr(obj)}
        if isinstance(obj, numpy.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, _dtype.dtype):
            return {"__dtype__": obj.name}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{path}/{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") and k.endswith("__") for k in obj):
                return {k: self.encode(v, f"{path}/{k}" if path else k) for k, v in obj.items()}
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise TypeError(f"backprop.save: dict keys must be str, int, float, bool or None, got {type(k).__name__}")
                items.append([k, self.encode(v, f"{path}/{k}" if path else str(k))])
            return {"__dict__": items}
        raise TypeError(
            f"backprop.save: cannot save an object of type {type(obj).__name__} at '{path or '<root>'}': only tensors, "
            "arrays, numbers, strings, bools, None, lists, tuples and dicts are supported (no pickle)"
        )


def _decode(obj, arrays: dict, where: str):
    """The saved object, its tensors made of ``arrays`` (each entry already on its device)."""
    if isinstance(obj, list):
        return [_decode(v, arrays, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        key = obj["__tensor__"]
        if key not in arrays:
            raise CheckpointError(f"{where}: metadata refers to tensor '{key}' which is not in the file")
        arr = arrays[key]
        if "sparse_indices" in obj:
            from .ops.sparse import _rebuild_sparse

            indices = arrays.get(obj["sparse_indices"])
            if indices is None:
                raise CheckpointError(f"{where}: metadata refers to sparse indices '{obj['sparse_indices']}' which are not in the file")
            return _rebuild_sparse(indices, arr, tuple(obj["size"]), bool(obj.get("coalesced")), bool(obj.get("requires_grad")))
        if obj.get("parameter"):
            return Parameter(_make(arr), requires_grad=obj.get("requires_grad", True))
        t = _make(arr)
        if obj.get("requires_grad"):
            t.requires_grad_(True)
        return t
    if "__ndarray__" in obj:
        key = obj["__ndarray__"]
        if key not in arrays:
            raise CheckpointError(f"{where}: metadata refers to array '{key}' which is not in the file")
        return arrays[key]
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays, where) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {k: _decode(v, arrays, where) for k, v in obj["__dict__"]}
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__dtype__" in obj:
        return _dtype.bool_ if obj["__dtype__"] == "bool" else getattr(_dtype, obj["__dtype__"])
    return {k: _decode(v, arrays, where) for k, v in obj.items()}


def _locations(obj, out: dict) -> dict:
    """``{entry: device string}`` of the entries the metadata ``obj`` refers to (``"cpu"`` unless
    recorded)."""
    if isinstance(obj, list):
        for v in obj:
            _locations(v, out)
    elif isinstance(obj, dict):
        key = obj.get("__tensor__", obj.get("__ndarray__"))
        if isinstance(key, str):
            location = obj.get("device", "cpu")
            out.setdefault(key, location if isinstance(location, str) else "cpu")
            if isinstance(obj.get("sparse_indices"), str):  # a sparse tensor's indices live with its values
                out.setdefault(obj["sparse_indices"], location if isinstance(location, str) else "cpu")
        else:
            for v in obj.values():
                _locations(v, out)
    return out


def _is_flat_tensor_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and all(isinstance(v, Tensor) for v in obj.values())


def _serialize(obj) -> tuple:
    enc = _Encoder()
    if _is_flat_tensor_dict(obj):
        # A state_dict: entries under their own names (readable by safetensors.torch.load_file).
        structure = {k: enc.tensor(v, k) for k, v in obj.items()}
    else:
        structure = enc.encode(obj, "")
    metadata = {_META_KEY: json.dumps({"version": _FORMAT_VERSION, "object": structure}, allow_nan=False)}
    return enc.arrays, metadata


# ---------------------------------------------------------------------------- save
def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization: bool = True) -> None:
    """Save ``obj`` (tensors, state_dicts, nested containers of tensors and plain values) to ``f``.

    ``f`` is a path (written atomically) or a binary file object.
    """
    if pickle_module is not None:
        raise ValueError("backprop.save never uses pickle; pickle_module is not supported")
    st = _safetensors_numpy()
    arrays, metadata = _serialize(obj)
    if hasattr(f, "write"):
        f.write(st.save(arrays, metadata=metadata))
        return
    path = Path(os.fspath(f))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise FileNotFoundError(f"backprop.save: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(st.save(arrays, metadata=metadata))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# ---------------------------------------------------------------------------- load
_PICKLE_HINT = (
    "it is a pickle-based file (e.g. written by torch.save). backprop never unpickles files because loading a "
    "pickle can execute arbitrary code. Convert it where you trust it, e.g. "
    "`safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors')`, and load that."
)


def _looks_like_pickle(data: bytes) -> bool:
    """A zip archive (torch.save) or a raw pickle stream (PROTO opcode), and not a safetensors
    file, whose 8-byte header length is followed by '{'."""
    if len(data) >= 9 and data[8:9] == b"{":
        return False
    return data[:4] == b"PK\x03\x04" or (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _check_header(data: bytes, where: str) -> None:
    if _looks_like_pickle(data):
        raise CheckpointError(f"{where}: {_PICKLE_HINT}")
    if len(data) < 8:
        raise CheckpointError(f"{where}: file is truncated or empty ({len(data)} bytes); not a safetensors checkpoint")
    header_len = int.from_bytes(data[:8], "little")
    if header_len <= 0 or 8 + header_len > len(data):
        raise CheckpointError(
            f"{where}: not a valid safetensors file (header length {header_len} for a {len(data)}-byte file: "
            "truncated or a different format)"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError:
        raise CheckpointError(f"{where}: corrupt safetensors header (not valid JSON)") from None
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise CheckpointError(f"{where}: corrupt safetensors header entry '{name}'") from None
    if 8 + header_len + end > len(data):
        raise CheckpointError(
            f"{where}: file is truncated: the header describes {8 + header_len + end} bytes but the file has {len(data)}"
        )


def _read_bfloat16(data: bytes) -> dict:
    """The arrays of a safetensors file holding BF16 entries, which safetensors' NumPy reader
    lacks (ml_dtypes' bfloat16 stands for them; the other dtypes as that reader maps them)."""
    from safetensors.numpy import _TYPES

    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _dtype.get_bfloat16().np if info["dtype"] == "BF16" else numpy.dtype(_TYPES[info["dtype"]])
        start, end = info["data_offsets"]
        out[name] = numpy.frombuffer(body[start:end], dtype=dt).reshape(info["shape"]).copy()
    return out


def _place(host, target, where: str):
    """Host array ``host`` on device ``target`` (a device or a device string)."""
    dev = target if isinstance(target, _device) else _device(target.decode() if isinstance(target, bytes) else str(target))
    if dev.type == "cpu":
        return host
    if dev.type == "cuda":
        try:
            count = backend_for(dev).device_count()
        except (AssertionError, RuntimeError):  # no CuPy, or no GPU
            count = 0
        if count == 0:
            raise RuntimeError(
                f"{where}: Attempting to deserialize object on a CUDA device but backprop.cuda.is_available() is False. "
                "If you are running on a CPU-only machine, please use backprop.load with "
                "map_location=backprop.device('cpu') to map your storages to the CPU."
            )
        if dev.index is not None and dev.index >= count:
            raise RuntimeError(
                f"{where}: Attempting to deserialize object on CUDA device {dev.index} but backprop.cuda.device_count() "
                f"is {count}. Please use backprop.load with map_location to map your storages to an existing device."
            )
    return move(host, dev)


def _restore(arrays: dict, locations: dict, map_location, where: str) -> dict:
    """``arrays`` (host arrays by entry) each on the device ``map_location`` sends it to from
    its saved device ``locations[entry]``; one array per entry (tensors sharing one share it)."""
    placed = {}
    for key, host in arrays.items():
        location = locations.get(key, "cpu")
        if map_location is None:
            target = location
        elif isinstance(map_location, dict):
            target = map_location.get(location, location)
        elif callable(map_location):
            target = map_location(_make(host), location)
            if target is None:
                target = location
        else:
            target = map_location
        if isinstance(target, Tensor):
            placed[key] = target._data
        elif is_array(target):
            placed[key] = target
        else:
            placed[key] = _place(host, target, where)
    return placed


def load(f, map_location=None, pickle_module=None, *, weights_only: bool = True, mmap=None, **kwargs):
    """Load an object saved by ``backprop.save``, or any safetensors file (as ``{name: tensor}``).

    Every tensor comes back on the device it was saved from, unless ``map_location`` (torch's)
    says otherwise:

    * a device or device string (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``backprop.device(...)``): every
      tensor goes there;
    * a dict ``{"cuda:1": "cuda:0"}``: tensors saved from a key's device go to its value (the
      others to their own device);
    * a callable ``fn(storage, location)``: called once per saved tensor with the tensor, loaded
      on the CPU, and its saved device as a string (``"cpu"``, ``"cuda:0"``); it returns the tensor
      to use (e.g. ``storage`` itself, or ``storage.cuda(1)``), a device or device string, or
      None for the saved device. Where torch passes an untyped storage, backprop, which has no
      storages, passes a CPU tensor: ``lambda storage, loc: storage`` and ``storage.cuda(i)``
      work as in torch.

    A tensor whose device is not available raises ``RuntimeError`` (use ``map_location``).
    """
    if pickle_module is not None:
        raise ValueError("backprop.load never uses pickle; pickle_module is not supported")
    st = _safetensors_numpy()
    if hasattr(f, "read"):
        data = f.read()
        where = getattr(f, "name", "<file object>")
    else:
        where = os.fspath(f)
        if not os.path.exists(where):
            raise FileNotFoundError(f"backprop.load: no such file: '{where}'")
        with open(where, "rb") as fh:
            data = fh.read()
    _check_header(data, where)
    try:
        arrays = _read_bfloat16(data) if b'"BF16"' in data[: 8 + int.from_bytes(data[:8], "little")] else st.load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{where}: could not read safetensors data ({exc})") from None
    header_len = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
    if _META_KEY not in metadata:
        return {name: _make(arr) for name, arr in _restore(arrays, {}, map_location, where).items()}
    try:
        payload = json.loads(metadata[_META_KEY])
        obj = payload["object"]
        locations = _locations(obj, {})
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: corrupt backprop metadata ({exc})") from None
    arrays = _restore(arrays, locations, map_location, where)
    try:
        return _decode(obj, arrays, where)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: corrupt backprop metadata ({exc})") from None


def save_bytes(obj) -> bytes:
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()
