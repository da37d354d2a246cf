"""``backprop.cuda``: backprop runs on the CPU; these answer like a CPU-only torch build."""

from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No-op (there is no CUDA generator); seeding the CPU generator is ``backprop.manual_seed``."""


def manual_seed_all(seed: int) -> None:
    """No-op, see ``manual_seed``."""


def synchronize(device=None) -> None:
    """No-op: CPU work is synchronous."""


def empty_cache() -> None:
    """No-op."""
