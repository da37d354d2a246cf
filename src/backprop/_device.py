"""``backprop.device``: only the CPU exists today; CUDA requests fail like a CPU-only torch."""

from __future__ import annotations


class device:  # noqa: N801 - torch's name
    __slots__ = ("type", "index")

    def __init__(self, type_or_device="cpu", index: int | None = None):
        if isinstance(type_or_device, device):
            self.type, self.index = type_or_device.type, type_or_device.index
            return
        spec = str(type_or_device)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            index = int(idx)
        if spec not in ("cpu", "cuda", "mps", "meta"):
            raise RuntimeError(
                f"Expected one of cpu, cuda, mps, meta device type at start of device string: {type_or_device}"
            )
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


def check_device(dev) -> None:
    """Raise like a CPU-only torch build when anything but the CPU is requested."""
    if dev is None:
        return
    d = device(dev) if not isinstance(dev, device) else dev
    if d.type == "cuda":
        raise AssertionError("Torch not compiled with CUDA enabled (backprop runs on the CPU only)")
    if d.type != "cpu":
        raise RuntimeError(f"backprop supports only the CPU device, got {d}")
