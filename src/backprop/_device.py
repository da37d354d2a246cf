"""``backprop.device`` and the default device of factory functions.

A device is a value (``type``, ``index``), as in torch: ``device("cuda")``, ``device("cuda:1")``,
``device("cuda", 1)``, ``device(1)`` (a bare index means CUDA). Which backend serves a device
is ``_backend.backend_for``'s business; this module only names devices and keeps the default
that ``zeros``, ``randn``, ``tensor`` ... use when given no ``device=``: set with
``set_default_device`` or, for a block, ``with backprop.device("cuda"):``. Like torch's, the
default is per thread.
"""

from __future__ import annotations

import threading

_TYPES = ("cpu", "cuda", "mps", "meta", "xpu")


class device:  # noqa: N801 - torch's name
    """Where a tensor's memory lives: ``type`` (``"cpu"`` or ``"cuda"``) and ``index`` (None: the current one)."""

    __slots__ = ("type", "index")

    def __init__(self, type_or_device="cpu", index: int | None = None):
        if isinstance(type_or_device, device):
            self.type, self.index = type_or_device.type, type_or_device.index
            return
        if isinstance(type_or_device, int) and not isinstance(type_or_device, bool):
            # A bare index names a device of the accelerator (CUDA), as in torch >= 2.5.
            from ._backend import loaded_backend

            if loaded_backend("cuda") is None:
                from .cuda import is_available

                if not is_available():
                    raise RuntimeError("Cannot access accelerator device when none is available.")
            type_or_device, index = "cuda", type_or_device
        spec = str(type_or_device)
        if ":" in spec:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {spec}")
            spec, idx = spec.split(":", 1)
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type_or_device}'")
            index = int(idx)
        if spec not in _TYPES:
            raise RuntimeError(
                f"Expected one of cpu, cuda, mps, meta, xpu device type at start of device string: {type_or_device}"
            )
        if index is not None:
            index = int(index)
            if index < 0:
                raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = spec
        self.index = index

    def __eq__(self, other) -> bool:
        # Like torch, a device never equals a string: compare with device("cpu") or .type.
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __reduce__(self):
        return (device, (self.type, self.index))

    # ``with backprop.device("cuda"):`` makes it the default device of factory calls in the block.
    def __enter__(self) -> device:
        _state.stack.append(_state.default)
        _state.default = None if self.type == "cpu" else self
        return self

    def __exit__(self, *exc) -> None:
        _state.default = _state.stack.pop()


class _DefaultDevice(threading.local):
    def __init__(self) -> None:
        self.default: device | None = None  # None: the CPU (the fast path of every factory call)
        self.stack: list = []


_state = _DefaultDevice()
CPU = device("cpu")


def set_default_device(dev) -> None:
    """Make ``dev`` the device of tensors that factory functions create without ``device=``."""
    d = None if dev is None else as_device(dev)
    _state.default = None if d is None or d.type == "cpu" else d


def get_default_device() -> device:
    """The device factory functions use when given none (``cuda`` reported with its index, as torch)."""
    d = _state.default
    if d is None:
        return CPU
    if d.type == "cuda" and d.index is None:
        from ._backend import backend_for

        return device("cuda", backend_for(d).current_device())
    return d


def as_device(dev) -> device:
    """``dev`` (a device, a string such as ``"cuda:0"``, or an int) as a ``device``."""
    return dev if type(dev) is device else device(dev)


def target_device(dev) -> device | None:
    """The device a factory call with ``device=dev`` creates on; None means the CPU."""
    if dev is None:
        return _state.default
    d = dev if type(dev) is device else device(dev)
    return None if d.type == "cpu" else d
