"""``backprop.save`` / ``backprop.load``: checkpoints without pickle, written atomically.

Format: one safetensors file. Every tensor in the saved object becomes a safetensors entry;
the object's structure is JSON in the file's ``__metadata__`` under the key ``backprop``, with
tensors replaced by references to their entries. A flat ``{name: tensor}`` dict (a state_dict)
is stored under its own names, so ``safetensors.torch.load_file`` reads backprop's state_dicts
and ``backprop.load`` reads safetensors files written by other tools (returning ``{name: tensor}``).

Whole objects (torch's ``torch.save(model, f)``): besides tensors, arrays, numbers, strings,
bytes, lists, tuples, dicts, sets, devices, dtypes, enum members and paths, ``save`` stores any
object as its class's import path (``module.qualname``) and its plain state (``__getstate__()``
where the class defines it, else its ``__dict__`` and ``__slots__``); functions and classes held
as values are stored as import paths too, bound methods as their object and name. Lambdas, local
classes and objects whose data lives in C (or that only pickle's ``__reduce__`` can rebuild)
raise ``TypeError`` at save, naming where in the object they are. An object, list or dict
referenced twice is stored once and comes back as one object (tied weights stay tied, an
optimizer's state is keyed by the loaded model's parameters, cycles survive); tensors that are
views of one another come back as separate tensors. A module's tensors are stored under its
state_dict names.

This is torch's ``weights_only`` unpickler without pickle's bytecode: ``load`` rebuilds an
object with ``cls.__new__(cls)`` and its state (``__setstate__`` where the class defines it),
runs no other code, and does so only for allowed classes. Allowed by default
(``_default_allowed``; unlike torch, whose default list has no modules, backprop's own modules,
optimizers and schedulers load without being listed):

* backprop's data classes, which hold no code of the file's choosing: every class of
  ``backprop.nn`` (modules, ``Parameter``, ``PackedSequence``...; not ``backprop.nn.parallel``),
  of ``backprop.optim`` (optimizers, LR schedulers), ``backprop.return_types``, ``Tensor``,
  ``Size``, ``dtype``, ``device``, ``layout``, ``memory_format``; builtin containers,
  ``collections.OrderedDict``/``defaultdict`` and ``pathlib`` paths;
* backprop's functions of those modules and its tensor functions (``backprop.nn.functional``,
  ``nn.init``, ``backprop.ops``, the factories and samplers, ``special``, ``linalg``, ``fft``,
  window functions), e.g. an activation or a hook stored on a module: they compute on tensors
  and touch nothing else. backprop's other functions (``save``, ``load``, thread and RNG
  settings, the CLI, ``utils.data``...) are not allowed: a loaded hook could call them.

Anything else (a user's model class, a dataclass) needs ``add_safe_globals([cls])`` or
``with safe_globals([cls]):``, or ``weights_only=False`` (as in torch: "I trust this file", any
importable class is allowed). A class that is not allowed raises ``pickle.UnpicklingError``
naming it, before anything is imported. Modules of a file's class paths are imported only when
they are backprop's or ``weights_only=False``.

Devices: a tensor is written as its host bytes (a CUDA tensor is copied to host memory first)
and its device, unless it is the CPU, is recorded next to its reference (``"device": "cuda:0"``).
``load`` puts every tensor back on its recorded device, or where ``map_location`` says (a device,
a ``{saved: target}`` dict or a callable, as torch's), and raises as torch does when that device
is not available.

Loading never executes code: pickle-based files (``torch.save``'s .pt) are refused with a
clear error; a malformed file (bad header, metadata of the wrong shape, too deeply nested, a
format version newer than this reader's) raises ``CheckpointError`` naming the file. Saving
writes a temporary file in the target directory, fsyncs it and renames it over the target, so
an interrupted save leaves the previous checkpoint intact; the next successful save of that
target removes temporary files a killed save left behind.
"""

from __future__ import annotations

import collections
import enum
import functools
import importlib
import io
import json
import math
import os
import pathlib
import pickle
import re
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy

from . import _dtype, _layout
from ._backend import backend_for, backend_of, is_array, move
from ._device import device as _device
from ._tensor import Size, Tensor, _make
from .nn.parameter import Parameter, UninitializedParameter
from .ops.sparse import _rebuild_sparse

__all__ = [
    "CheckpointError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "get_unsafe_globals_in_checkpoint",
    "load",
    "safe_globals",
    "save",
]

_META_KEY = "backprop"
# 1: tensors, arrays and plain containers; 2: also objects, globals, sets and shared references.
_FORMAT_VERSION = 2


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


# ---------------------------------------------------------------------------- allowed globals
_user_safe_globals: list = []

# Builtin and stdlib types that hold data only; keyed by the path a file names them with.
_SAFE_BUILTINS: dict[str, Any] = {
    f"{t.__module__}.{t.__qualname__}": t
    for t in (
        dict, list, tuple, set, frozenset, int, float, complex, str, bytes, bytearray, bool, slice, range,
        collections.OrderedDict, collections.defaultdict,
        pathlib.PurePath, pathlib.PurePosixPath, pathlib.PureWindowsPath, pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath,
    )
}
# backprop's modules of data classes (modules, optimizers, schedulers, result tuples) and their
# helpers (hooks such as a lazy module's); nn.parallel's wrappers hold process groups and devices.
_DATA_MODULES = ("backprop.nn", "backprop.optim", "backprop.return_types")
_EXCLUDED_MODULES = ("backprop.nn.parallel",)
# backprop's modules of pure tensor functions (a reference to one of them is harmless to load).
_FUNCTION_MODULES = (
    "backprop.ops",
    "backprop._creation",
    "backprop.special",
    "backprop.linalg",
    "backprop.fft",
    "backprop.signal.windows",
)
_CORE_CLASSES = (Tensor, Size, _dtype.dtype, _device, _layout.layout, _layout.memory_format)


def add_safe_globals(safe_globals: list) -> None:
    """Allow these classes/functions (or ``(obj, "module.qualname")`` pairs) in ``load`` with
    ``weights_only=True``, for the rest of the process (torch.serialization.add_safe_globals)."""
    _user_safe_globals.extend(_check_safe_globals(safe_globals))


def get_safe_globals() -> list:
    """The user-allowed globals (torch.serialization.get_safe_globals)."""
    return list(_user_safe_globals)


def clear_safe_globals() -> None:
    """Forget every user-allowed global (torch.serialization.clear_safe_globals)."""
    _user_safe_globals.clear()


class safe_globals:  # noqa: N801 - torch's name
    """``with safe_globals([MyModel, ...]):`` allows those globals inside the block only."""

    def __init__(self, safe_globals: list) -> None:
        self.safe_globals = _check_safe_globals(safe_globals)

    def __enter__(self) -> None:
        _user_safe_globals.extend(self.safe_globals)

    def __exit__(self, *exc) -> None:
        for entry in self.safe_globals:  # its own entries; what add_safe_globals added inside stays
            for i in range(len(_user_safe_globals) - 1, -1, -1):
                if _user_safe_globals[i] is entry:
                    del _user_safe_globals[i]
                    break


def get_unsafe_globals_in_checkpoint(f) -> list[str]:
    """The class/function paths the checkpoint ``f`` names that ``load(f)`` (``weights_only=True``)
    would refuse now (torch.serialization.get_unsafe_globals_in_checkpoint); imports nothing but
    backprop's own modules."""
    where, data = _read_file(f)
    header, _ = _read_header(data, where)
    payload = _payload(header, where)
    if payload is None:
        return []
    decoder = _Decoder({}, where, weights_only=True)
    unsafe: list[str] = []
    stack = [payload["object"]]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for tag in ("__object__", "__global__", "type"):
                path = node.get(tag)
                if isinstance(path, str) and path not in unsafe:
                    try:
                        decoder.resolve(path)
                    except pickle.UnpicklingError:
                        unsafe.append(path)
                    except CheckpointError:
                        pass
            stack.extend(node.values())
    return unsafe


def _check_safe_globals(entries) -> list:
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"safe_globals must be a list of classes/functions, got {type(entries).__name__}")
    for entry in entries:
        if isinstance(entry, tuple) and not (len(entry) == 2 and isinstance(entry[1], str)):
            raise TypeError(f"a safe_globals tuple must be (obj, 'module.qualname'), got {entry!r}")
    return list(entries)


def _path_of(obj) -> str:
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"


def _user_allowed() -> dict:
    out = {}
    for entry in _user_safe_globals:
        if isinstance(entry, tuple):
            out[entry[1]] = entry[0]
        else:
            out[_path_of(entry)] = entry
            name = _global_name(entry)
            if name is not None:
                out[name] = entry
    return out


# Namespaces where a function made by a factory (``__qualname__`` "make.<locals>.op") is found by its name.
_PUBLIC_NAMESPACES = ("backprop", "backprop.nn.functional", "backprop.special", "backprop.linalg", "backprop.fft")


def _global_name(obj) -> str | None:
    """The import path ``save`` stores a class or function under: ``module.qualname``, or for a
    function made by a factory ``module.name`` or a public backprop namespace's ``name``, whichever
    leads back to ``obj``; None if none does (a lambda, a local class)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    name = getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<lambda>" in qualname:
        return None
    candidates = [f"{module}.{qualname}"]
    if isinstance(name, str) and name.isidentifier():
        candidates.append(f"{module}.{name}")
        if module.startswith("backprop."):
            candidates += [f"{space}.{name}" for space in _PUBLIC_NAMESPACES]
    for candidate in candidates:
        if "<locals>" in candidate:
            continue
        try:
            if _import_path(candidate) is obj:
                return candidate
        except (ImportError, AttributeError):
            continue
    return None


def _in_modules(module: str, prefixes: tuple) -> bool:
    return any(module == m or module.startswith(m + ".") for m in prefixes)


def _default_allowed(obj) -> bool:
    """backprop's rule for what ``load`` rebuilds without being told (see the module docstring)."""
    if isinstance(obj, type):
        if obj in _CORE_CLASSES or obj in _SAFE_BUILTINS.values():
            return True
        module = obj.__module__ or ""
        return _in_modules(module, _DATA_MODULES) and not _in_modules(module, _EXCLUDED_MODULES)
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        module = obj.__module__ or ""
        if _in_modules(module, _DATA_MODULES + _FUNCTION_MODULES) and not _in_modules(module, _EXCLUDED_MODULES):
            return True
        return any(obj is f for f in _top_level_tensor_functions())
    return isinstance(obj, (_layout.layout, _layout.memory_format, _dtype.dtype))


# Tensor functions of backprop's top-level namespace defined outside the modules above (samplers,
# predicates); its settings (seeds, threads, default dtype/device), save/load and compile are not.
_TOP_LEVEL_TENSOR_FUNCTIONS = (
    "adjoint", "as_strided_", "bernoulli", "can_cast", "detach", "is_complex", "is_floating_point", "is_nonzero",
    "is_tensor", "multinomial", "normal", "numel", "poisson", "promote_types", "rand", "rand_like", "randint",
    "randint_like", "randn", "randn_like", "randperm", "resize_as_", "result_type", "zero_",
)


@functools.lru_cache(maxsize=1)
def _top_level_tensor_functions() -> tuple:
    top = importlib.import_module("backprop")
    return tuple(getattr(top, name) for name in _TOP_LEVEL_TENSOR_FUNCTIONS if hasattr(top, name))


def _import_path(path: str):
    """The object at ``module.qualname`` (the longest importable module prefix, then attributes)."""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"no module in '{path}'")


def _unsupported(path: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(
        "Weights only load failed. The file is a backprop checkpoint that names a class or function which is not "
        f"allowed by default: {path}. Nothing of it was loaded or imported. If you trust this file and that "
        f"{path} is what you expect, either\n"
        f"\t(1) allow it: `backprop.serialization.add_safe_globals([{path}])` or, for one load, "
        f"`with backprop.serialization.safe_globals([{path}]):` around it; or\n"
        "\t(2) load with `weights_only=False`, which allows every importable class and function: do it only if you "
        "got the file from a trusted source."
    )


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self):
        self.arrays: dict = {}
        self.by_id: dict = {}
        self.locations: dict = {}  # key -> device string (None: the CPU)
        self.memo: dict = {}  # id(list/dict/object) -> (number, emitted node, the object: kept alive)
        self.shared: set = set()  # numbers of nodes referenced more than once
        self.version = 1

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
            self.by_id[id(obj)] = (key, obj)
            self.locations[key] = location
        else:
            key = key[0]
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
        if isinstance(t, UninitializedParameter):  # a lazy module's: no shape yet
            ref["uninitialized"] = True
            ref["requires_grad"] = t._requires_grad
        elif isinstance(t, Parameter):
            ref["parameter"] = True
            ref["requires_grad"] = t._requires_grad
        elif t._requires_grad:
            ref["requires_grad"] = True
        return ref

    def _remember(self, obj, node):
        self.memo[id(obj)] = (len(self.memo), node, obj)
        return node

    def global_ref(self, obj, path: str) -> dict:
        """``obj`` (a class or function) as its import path; TypeError if no path leads back to it."""
        name = _global_name(obj)
        if name is None:
            qualname = getattr(obj, "__qualname__", "")
            what = "a lambda" if "<lambda>" in qualname else f"{type(obj).__name__} {_path_of(obj)}"
            raise TypeError(
                f"backprop.save: cannot save {what} at '{path or '<root>'}': functions and classes are stored by import "
                "path, and this one cannot be imported by its name (a lambda, a local or a nested function/class); "
                "define it at module level or leave it out of the saved object"
            )
        self.version = 2
        return {"__global__": name}

    def encode(self, obj, path: str):
        if obj is None or isinstance(obj, (bool, str)) or type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"__float__": repr(obj)}
        if isinstance(obj, Tensor):
            return self.tensor(obj, path or "tensor")
        if hasattr(obj, "detach") and hasattr(obj, "numpy") and hasattr(obj, "device"):  # foreign tensors (torch)
            on = str(obj.device) if getattr(obj.device, "type", "cpu") == "cuda" else None
            key, location = self.array(obj, numpy.asarray(obj.detach().cpu().numpy()), path or "tensor", on)
            return {"__tensor__": key} if location is None else {"__tensor__": key, "device": location}
        if is_array(obj):  # a NumPy or CuPy array: loaded back as one
            key, location = self.array(obj, obj, path or "array")
            return {"__ndarray__": key} if location is None else {"__ndarray__": key, "device": location}
        if isinstance(obj, numpy.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, _dtype.dtype):
            return {"__dtype__": obj.name}
        if isinstance(obj, enum.Enum):
            self.version = 2
            return {"__enum__": self.global_ref(type(obj), path)["__global__"], "name": obj.name}
        if isinstance(obj, pathlib.PurePath):
            self.version = 2
            return {"__path__": str(obj), "type": self.global_ref(type(obj), path)["__global__"]}
        if isinstance(obj, (int, float)) and type(obj) not in (int, float) and not hasattr(obj, "__dict__"):
            return self.encode(int(obj) if isinstance(obj, int) else float(obj), path)  # e.g. an IntEnum-free int subclass
        if isinstance(obj, _device):
            self.version = 2
            return {"__device__": str(obj)}
        if isinstance(obj, complex):
            self.version = 2
            return {"__complex__": [self.encode(obj.real, path), self.encode(obj.imag, path)]}
        if isinstance(obj, (bytes, bytearray)) and type(obj) in (bytes, bytearray):
            self.version = 2
            return {"__bytes__": obj.hex()} if type(obj) is bytes else {"__bytearray__": obj.hex()}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            return self.global_ref(obj, path)
        if isinstance(obj, types.MethodType):
            return self.method(obj, path)
        if isinstance(obj, (_layout.layout, _layout.memory_format)):
            self.version = 2
            return {"__global__": f"{type(obj).__module__}.{obj.__reduce__()}"}
        seen = self.memo.get(id(obj))
        if seen is not None:
            self.shared.add(seen[0])
            self.version = 2
            return {"__ref__": seen[0]}
        if isinstance(obj, tuple):
            items = [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]
            if type(obj) is tuple:
                return {"__tuple__": items}
            return self._with_type({"__tuple__": items}, obj, path)
        if isinstance(obj, list):
            if type(obj) is list:
                node = self._remember(obj, [])
                node.extend(self.encode(v, _join(path, i)) for i, v in enumerate(obj))
                return node
            node = self._remember(obj, {"__list__": []})
            node["__list__"].extend(self.encode(v, _join(path, i)) for i, v in enumerate(obj))
            return self._with_type(node, obj, path)
        if isinstance(obj, (set, frozenset)):
            tag = "__set__" if isinstance(obj, set) else "__frozenset__"
            self.version = 2
            node = {tag: [self.encode(v, _join(path, i)) for i, v in enumerate(obj)]}
            return node if type(obj) in (set, frozenset) else self._with_type(node, obj, path)
        if isinstance(obj, dict):
            plain = type(obj) is dict and all(isinstance(k, str) and not (k.startswith("__") and k.endswith("__")) for k in obj)
            if plain:
                node = self._remember(obj, {})
                for k, v in obj.items():
                    node[k] = self.encode(v, _join(path, k))
                return node
            node = self._remember(obj, {"__dict__": []})
            for k, v in obj.items():
                sub = _join(path, k)
                node["__dict__"].append([self.encode(k, sub), self.encode(v, sub)])
            if type(obj) is not dict:
                self._with_type(node, obj, path)
                if isinstance(obj, collections.defaultdict) and obj.default_factory is not None:
                    node["default_factory"] = self.encode(obj.default_factory, _join(path, "default_factory"))
            return node
        return self.object(obj, path)

    def method(self, obj: types.MethodType, path: str) -> dict:
        """A bound method (e.g. a module's own hook, ``self._hook``) as its object and name."""
        name = getattr(obj.__func__, "__name__", "")
        try:
            same = getattr(obj.__self__, name) == obj
        except AttributeError:
            same = False
        if not same or not name.isidentifier() or name.startswith("__"):
            raise TypeError(
                f"backprop.save: cannot save the bound method {getattr(obj, '__qualname__', obj)!r} at '{path or '<root>'}': "
                "only a method its object finds under its own name can be stored"
            )
        self.version = 2
        return {"__method__": name, "self": self.encode(obj.__self__, _join(path, "__self__"))}

    def _with_type(self, node: dict, obj, path: str) -> dict:
        """A builtin container's subclass (OrderedDict, a namedtuple, Size...): its class path and instance dict."""
        self.version = 2
        node["type"] = self.global_ref(type(obj), path)["__global__"]
        extra = getattr(obj, "__dict__", None)
        if extra:
            node["state"] = self.encode(dict(extra), path)
        return node

    def object(self, obj, path: str) -> dict:
        cls = type(obj)
        if not _has_python_layout(cls):
            raise TypeError(
                f"backprop.save: cannot save an object of type {cls.__name__} at '{path or '<root>'}': its data lives "
                "in a C extension, not in a __dict__ or __slots__ backprop could store (no pickle)"
            )
        if cls.__reduce_ex__ is not object.__reduce_ex__ or cls.__reduce__ is not object.__reduce__:
            raise TypeError(
                f"backprop.save: cannot save an object of type {cls.__name__} at '{path or '<root>'}': it defines "
                "__reduce__/__reduce_ex__ (pickle's protocol, which backprop does not run); save its data instead"
            )
        node = self._remember(obj, {"__object__": self.global_ref(cls, path)["__global__"]})
        self.version = 2
        if cls.__getstate__ is not object.__getstate__:
            state = obj.__getstate__()
            if state is not None:
                node["state"] = self.encode(state, path)
            return node
        state = getattr(obj, "__dict__", None)
        slots = {}
        for klass in cls.__mro__:
            names = klass.__dict__.get("__slots__", ())
            for name in (names,) if isinstance(names, str) else names:
                if name not in ("__dict__", "__weakref__") and name not in slots:
                    mangled = f"_{klass.__name__.lstrip('_')}{name}" if name.startswith("__") and not name.endswith("__") else name
                    try:
                        slots[mangled] = getattr(obj, mangled)
                    except AttributeError:
                        pass
        if state:
            node["state"] = self.encode(dict(state), path)  # a dict with "__x__" keys is stored as items
        if slots:
            node["slots"] = {k: self.encode(v, _join(path, k)) for k, v in slots.items()}
        return node

    def finish(self, structure):
        """``structure`` with every node referenced more than once given its number (``"id"``)."""
        if not self.shared:
            return structure
        numbers = {id(node): n for n, node, _ in self.memo.values() if n in self.shared}
        return self._mark(structure, numbers)

    def _mark(self, node, numbers: dict):
        n = numbers.get(id(node))
        if isinstance(node, list):
            items = [self._mark(v, numbers) for v in node]
            return items if n is None else {"__list__": items, "id": n}
        if not isinstance(node, dict):
            return node
        if n is not None and not any(k.startswith("__") and k.endswith("__") for k in node):  # a plain dict
            return {"__dict__": [[k, self._mark(v, numbers)] for k, v in node.items()], "id": n}
        out = {k: self._mark(v, numbers) for k, v in node.items()}
        if n is not None:
            out["id"] = n
        return out


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined by a class statement


# Module attributes that hold its parameters, buffers and submodules: left out of entry names,
# so that a whole module's tensors are stored under its state_dict names ("encoder.weight").
_TRANSPARENT = frozenset({"_parameters", "_buffers", "_modules"})


def _join(path: str, key) -> str:
    """The name of the value under ``key`` of the value at ``path`` (tensor entries, error messages)."""
    if key in _TRANSPARENT:
        return path
    return f"{path}.{key}" if path else str(key)


def _has_python_layout(cls) -> bool:
    """Whether instances of ``cls`` are plain Python objects (no C-level state): every base is
    ``object`` or defined in Python."""
    return all(base is object or base.__flags__ & _HEAPTYPE for base in cls.__mro__)


# ---------------------------------------------------------------------------- decoding
class _Decoder:
    def __init__(self, arrays: dict, where: str, weights_only: bool):
        self.arrays = arrays
        self.where = where
        self.weights_only = weights_only
        self.tensors: dict = {}  # entry -> the one Tensor made of it
        self.memo: dict = {}  # node number -> object
        self.allowed = _user_allowed()

    def fail(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.where}: corrupt backprop metadata ({message})")

    def resolve(self, path) -> Any:
        """The class/function/value at ``path`` if allowed (UnpicklingError otherwise)."""
        if not isinstance(path, str) or not path:
            raise self.fail(f"a class path must be a string, got {path!r}")
        if path in self.allowed:
            return self.allowed[path]
        if path in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[path]
        if not self.weights_only or path.startswith("backprop."):
            try:
                obj = _import_path(path)
            except (ImportError, AttributeError) as exc:
                raise CheckpointError(f"{self.where}: the file names {path}, which cannot be imported ({exc})") from None
            if not self.weights_only or _default_allowed(obj) or any(obj is v for v in self.allowed.values()):
                return obj
        raise _unsupported(path)

    def klass(self, path) -> type:
        cls = self.resolve(path)
        if not isinstance(cls, type):
            raise self.fail(f"{path} is not a class")
        return cls

    def container(self, path, base: type) -> type:
        cls = self.klass(path)
        if not issubclass(cls, base):
            raise self.fail(f"{path} is not a {base.__name__} type")
        return cls

    def tensor(self, node: dict, tag: str):
        key = node[tag]
        if not isinstance(key, str) or key not in self.arrays:
            raise CheckpointError(f"{self.where}: metadata refers to {tag.strip('_')} {key!r} which is not in the file")
        if tag == "__ndarray__":
            return self.arrays[key]
        t = self.tensors.get(key)
        if t is None:
            arr = self.arrays[key]
            if "sparse_indices" in node:  # a sparse COO tensor (ops/sparse.py)
                indices = self.arrays.get(node["sparse_indices"]) if isinstance(node["sparse_indices"], str) else None
                if indices is None:
                    raise CheckpointError(f"{self.where}: metadata refers to sparse indices {node['sparse_indices']!r} which are not in the file")
                t = _rebuild_sparse(indices, arr, tuple(node["size"]), bool(node.get("coalesced")), bool(node.get("requires_grad")))
            elif node.get("uninitialized"):
                t = UninitializedParameter(bool(node.get("requires_grad", True)), _make(arr).device, _make(arr).dtype)
            elif node.get("parameter"):
                t = Parameter(_make(arr), requires_grad=bool(node.get("requires_grad", True)))
            else:
                t = _make(arr)
                if node.get("requires_grad"):
                    t.requires_grad_(True)
            self.tensors[key] = t
        return t

    def remember(self, node: dict, obj):
        n = node.get("id")
        if n is not None:
            self.memo[n] = obj
        return obj

    def decode(self, node):
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            return self.tensor(node, "__tensor__")
        if "__ndarray__" in node:
            return self.tensor(node, "__ndarray__")
        if "__ref__" in node:
            if node["__ref__"] not in self.memo:
                raise self.fail(f"reference to object {node['__ref__']!r} before its definition")
            return self.memo[node["__ref__"]]
        if "__tuple__" in node:
            items = tuple(self.decode(v) for v in _as_list(node["__tuple__"], self))
            if "type" not in node:
                return items
            obj = tuple.__new__(self.container(node["type"], tuple), items)
            return self.fill_dict(obj, node)
        if "__list__" in node:
            obj = list() if "type" not in node else self.container(node["type"], list).__new__(self.container(node["type"], list))
            self.remember(node, obj)
            obj.extend(self.decode(v) for v in _as_list(node["__list__"], self))
            return self.fill_dict(obj, node)
        if "__dict__" in node:
            cls = dict if "type" not in node else self.container(node["type"], dict)
            obj = cls.__new__(cls)
            self.remember(node, obj)
            if "default_factory" in node:
                obj.default_factory = self.decode(node["default_factory"])
            for item in _as_list(node["__dict__"], self):
                if not isinstance(item, list) or len(item) != 2:
                    raise self.fail(f"a dict item must be a [key, value] pair, got {item!r}"[:200])
                obj[self.decode(item[0])] = self.decode(item[1])
            return self.fill_dict(obj, node)
        if "__set__" in node or "__frozenset__" in node:
            tag = "__set__" if "__set__" in node else "__frozenset__"
            items = [self.decode(v) for v in _as_list(node[tag], self)]
            if "type" in node:
                cls = self.container(node["type"], set if tag == "__set__" else frozenset)
                return self.fill_dict(cls.__new__(cls, items) if tag == "__frozenset__" else _set_of(cls, items), node)
            return set(items) if tag == "__set__" else frozenset(items)
        if "__float__" in node:
            return float(node["__float__"])
        if "__complex__" in node:
            re_, im = _as_list(node["__complex__"], self)
            return complex(float(re_), float(im))
        if "__bytes__" in node:
            return bytes.fromhex(node["__bytes__"])
        if "__bytearray__" in node:
            return bytearray.fromhex(node["__bytearray__"])
        if "__dtype__" in node:
            name = node["__dtype__"]
            value = _dtype.bool_ if name == "bool" else getattr(_dtype, str(name), None)
            if not isinstance(value, _dtype.dtype):
                raise self.fail(f"unknown dtype {name!r}")
            return value
        if "__device__" in node:
            return _device(str(node["__device__"]))
        if "__global__" in node:
            return self.resolve(node["__global__"])
        if "__enum__" in node:
            cls = self.klass(node["__enum__"])
            if not issubclass(cls, enum.Enum) or not isinstance(node.get("name"), str) or node["name"] not in cls.__members__:
                raise self.fail(f"{node['__enum__']} has no member {node.get('name')!r}")
            return cls.__members__[node["name"]]
        if "__path__" in node:
            cls = self.klass(node.get("type"))
            if not issubclass(cls, pathlib.PurePath):
                raise self.fail(f"{node.get('type')} is not a path type")
            return cls(str(node["__path__"]))
        if "__method__" in node:
            name = node["__method__"]
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
                raise self.fail(f"bad method name {name!r}")
            method = getattr(self.decode(node.get("self")), name)
            if not isinstance(method, types.MethodType):
                raise self.fail(f"{name!r} is not a method of its object")
            return method
        if "__object__" in node:
            return self.object(node)
        return {k: self.decode(v) for k, v in node.items()}

    def fill_dict(self, obj, node: dict):
        if "state" in node:
            state = self.decode(node["state"])
            if not isinstance(state, dict):
                raise self.fail("an instance's state must be a dict")
            obj.__dict__.update(state)
        return obj

    def object(self, node: dict):
        cls = self.klass(node["__object__"])
        if issubclass(cls, (*_CORE_CLASSES, numpy.ndarray)):  # saved through their own tags, never as bare objects
            raise self.fail(f"{node['__object__']} cannot be rebuilt from a state")
        try:
            obj = cls.__new__(cls)
        except TypeError as exc:
            raise CheckpointError(f"{self.where}: cannot rebuild a {node['__object__']} ({exc})") from None
        self.remember(node, obj)
        if "state" in node:
            state = self.decode(node["state"])
            setstate = getattr(obj, "__setstate__", None)
            if setstate is not None:
                setstate(state)
            elif isinstance(state, dict):
                obj.__dict__.update(state)
            else:
                raise self.fail(f"the state of a {node['__object__']} must be a dict")
        if "slots" in node:
            slots = node["slots"]
            if not isinstance(slots, dict):
                raise self.fail("slots must be a dict")
            for name, value in slots.items():
                object.__setattr__(obj, name, self.decode(value))
        return obj


def _set_of(cls, items):
    out = cls.__new__(cls)
    for item in items:
        out.add(item)
    return out


def _as_list(value, decoder: _Decoder) -> list:
    if not isinstance(value, list):
        raise decoder.fail(f"expected a list, got {type(value).__name__}")
    return value


def _locations(obj, out: dict) -> dict:
    """``{entry: device string}`` of the entries the metadata ``obj`` refers to (``"cpu"`` unless
    recorded)."""
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            key = node.get("__tensor__", node.get("__ndarray__"))
            if isinstance(key, str):
                location = node.get("device", "cpu")
                out.setdefault(key, location if isinstance(location, str) else "cpu")
                if isinstance(node.get("sparse_indices"), str):  # a sparse tensor's indices live with its values
                    out.setdefault(node["sparse_indices"], location if isinstance(location, str) else "cpu")
            else:
                stack.extend(node.values())
    return out


def _is_flat_tensor_dict(obj) -> bool:
    return (
        type(obj) in (dict, collections.OrderedDict)
        and bool(obj)
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, Tensor) for v in obj.values())
    )


def _serialize(obj) -> tuple:
    enc = _Encoder()
    if _is_flat_tensor_dict(obj):
        # A state_dict: entries under their own names (readable by safetensors.torch.load_file).
        structure = {k: enc.tensor(v, k) for k, v in obj.items()}
    else:
        structure = enc.finish(enc.encode(obj, ""))
    metadata = {_META_KEY: json.dumps({"version": enc.version, "object": structure}, allow_nan=False)}
    return enc.arrays, metadata


# ---------------------------------------------------------------------------- save
_TMP_PATTERN = r"\.{name}\.(?:(\d+)-)?[^.]+\.tmp"


def _remove_orphans(directory: Path, name: str) -> None:
    """Remove temporary files that saves of ``name`` killed mid-write left in ``directory``.
    A file of a process still running (its pid is in the name) is another save in progress and
    stays; so do this process's own (a save in another thread)."""
    pattern = re.compile(_TMP_PATTERN.format(name=re.escape(name)))
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        pid = match.group(1)
        if pid is not None and _process_alive(int(pid)):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill terminates: no liveness probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a number the system cannot check: leave its file alone
    return True


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization: bool = True) -> None:
    """Save ``obj`` (tensors, state_dicts, whole modules/optimizers/schedulers, user objects and
    nested containers of them) to ``f``, a path (written atomically) or a binary file object."""
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=directory)
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
    _remove_orphans(directory, path.name)


# ---------------------------------------------------------------------------- load
_PICKLE_HINT = (
    "it is a pickle-based file (e.g. written by torch.save). backprop never unpickles files because loading a "
    "pickle can execute arbitrary code. Convert it where you trust it, e.g. "
    "`safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors')`, and load that."
)

# safetensors dtype names -> NumPy dtypes backprop reads (BF16 through ml_dtypes).
_ST_DTYPES = {
    "BOOL": numpy.bool_, "U8": numpy.uint8, "I8": numpy.int8, "I16": numpy.int16, "U16": numpy.uint16,
    "I32": numpy.int32, "U32": numpy.uint32, "I64": numpy.int64, "U64": numpy.uint64, "F16": numpy.float16,
    "F32": numpy.float32, "F64": numpy.float64, "C64": numpy.complex64,
}


def _looks_like_pickle(data: bytes) -> bool:
    """A zip archive (torch.save) or a raw pickle stream (PROTO opcode), and not a safetensors
    file, whose 8-byte header length is followed by '{'."""
    if len(data) >= 9 and data[8:9] == b"{":
        return False
    return data[:4] == b"PK\x03\x04" or (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _json(text, where: str, what: str):
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{where}: {what} is nested too deeply to be a checkpoint's") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{where}: corrupt {what} (not valid JSON)") from None


def _read_header(data: bytes, where: str) -> tuple:
    """(header dict, byte offset of the tensor data); CheckpointError for anything that is not a
    well-formed safetensors header."""
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
    header = _json(data[8 : 8 + header_len], where, "safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: corrupt safetensors header (a JSON {type(header).__name__}, not an object)")
    metadata = header.get("__metadata__")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(f"{where}: corrupt safetensors header: __metadata__ must map names to strings")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, stop = info["data_offsets"]
            shape = info["shape"]
            ok = isinstance(info["dtype"], str) and all(type(s) is int and s >= 0 for s in shape)
            ok = ok and type(start) is int and type(stop) is int and 0 <= start <= stop
        except (KeyError, TypeError, IndexError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{where}: corrupt safetensors header entry '{name}'")
        end = max(end, stop)
    if 8 + header_len + end > len(data):
        raise CheckpointError(
            f"{where}: file is truncated: the header describes {8 + header_len + end} bytes but the file has {len(data)}"
        )
    return header, 8 + header_len


def _read_arrays(data: bytes, header: dict, offset: int, where: str) -> dict:
    """The arrays of a safetensors file: every entry as a NumPy array of its dtype (BF16 as
    ml_dtypes' bfloat16); CheckpointError naming a dtype backprop has no tensors of."""
    body = memoryview(data)[offset:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code = info["dtype"]
        if code == "BF16":
            dt = numpy.dtype(_dtype.get_bfloat16().np)
        elif code in _ST_DTYPES:
            dt = numpy.dtype(_ST_DTYPES[code])
        else:
            raise CheckpointError(
                f"{where}: tensor '{name}' has dtype {code}, which backprop does not support (it has no "
                f"{'float8' if code.startswith('F8') else code} tensors); convert it, e.g. to float16 or float32, where it was written"
            )
        start, stop = info["data_offsets"]
        shape = tuple(info["shape"])
        if stop - start != math.prod(shape) * dt.itemsize:
            raise CheckpointError(f"{where}: corrupt safetensors header entry '{name}' (its byte range does not match {code}{list(shape)})")
        out[name] = numpy.frombuffer(body[start:stop], dtype=dt).reshape(shape).copy()
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


def _read_file(f) -> tuple:
    """(name for messages, the bytes) of a path or a binary file object."""
    if hasattr(f, "read"):
        return getattr(f, "name", "<file object>"), f.read()
    where = os.fspath(f)
    if not os.path.exists(where):
        raise FileNotFoundError(f"backprop.load: no such file: '{where}'")
    with open(where, "rb") as fh:
        return where, fh.read()


def _payload(header: dict, where: str) -> dict | None:
    """The backprop metadata (``{"version": int, "object": ...}``) of a safetensors header, None
    for a file of another tool; CheckpointError if malformed or of a newer format version."""
    metadata = header.get("__metadata__") or {}
    if _META_KEY not in metadata:
        return None
    payload = _json(metadata[_META_KEY], where, "backprop metadata")
    if not isinstance(payload, dict) or "object" not in payload:
        raise CheckpointError(f"{where}: corrupt backprop metadata (not an object with 'version' and 'object')")
    version = payload.get("version")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{where}: corrupt backprop metadata (format version {version!r})")
    if version > _FORMAT_VERSION:
        raise CheckpointError(
            f"{where}: the file is in backprop checkpoint format version {version}, newer than this backprop reads "
            f"(version {_FORMAT_VERSION}); upgrade backprop to load it"
        )
    return payload


def load(f, map_location=None, pickle_module=None, *, weights_only: bool = True, mmap=None, **kwargs):
    """Load an object saved by ``backprop.save``, or any safetensors file (as ``{name: tensor}``).

    ``weights_only=True`` (the default, as in torch) rebuilds only allowed classes (see the
    module docstring, ``add_safe_globals`` and ``safe_globals``) and raises
    ``pickle.UnpicklingError`` naming any other; ``weights_only=False`` trusts the file and
    rebuilds any importable class. No pickle is run either way.

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
    if weights_only is None:
        weights_only = True
    where, data = _read_file(f)
    header, offset = _read_header(data, where)
    arrays = _read_arrays(data, header, offset, where)
    payload = _payload(header, where)
    if payload is None:
        return {name: _make(arr) for name, arr in _restore(arrays, {}, map_location, where).items()}
    obj = payload["object"]
    arrays = _restore(arrays, _locations(obj, {}), map_location, where)
    try:
        return _Decoder(arrays, where, weights_only).decode(obj)
    except (pickle.UnpicklingError, CheckpointError):
        raise
    except RecursionError:
        raise CheckpointError(f"{where}: backprop metadata is nested too deeply to be a checkpoint's") from None
    except Exception as exc:  # noqa: BLE001 - whatever an allowed class's __setstate__ makes of bad state
        raise CheckpointError(f"{where}: corrupt backprop metadata ({type(exc).__name__}: {exc})"[:2000]) from None


def save_bytes(obj) -> bytes:
    """``obj`` as the bytes ``save`` would write to a file."""
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()

