"""Worker bookkeeping: ``WorkerInfo`` and ``get_worker_info``.

backprop's DataLoader workers are threads, so the worker info is thread-local: ``get_worker_info()``
returns ``None`` in the main thread (and any thread that is not a DataLoader worker).
"""

from __future__ import annotations

import threading
from typing import Any

from .... import random as _random

__all__ = ["WorkerInfo", "get_worker_info"]

_local = threading.local()


class WorkerInfo:
    """Information about the current DataLoader worker: ``id``, ``num_workers``, ``seed``, ``dataset``.

    ``generator`` (backprop-only) is a per-worker generator seeded with ``seed``; backprop's random
    transforms draw from it inside a worker, so augmentation is reproducible with threaded workers.
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any

    def __init__(self, **kwargs: Any) -> None:
        for k, v in kwargs.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_keys", tuple(kwargs))
        object.__setattr__(self, "generator", _random.Generator().manual_seed(kwargs.get("seed", 0)))

    def __setattr__(self, key: str, val: Any) -> None:
        raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={getattr(self, k)}" for k in self._keys)
        return f"{self.__class__.__name__}({items})"


def get_worker_info() -> WorkerInfo | None:
    """The current worker's ``WorkerInfo``; ``None`` outside DataLoader workers (e.g. the main thread)."""
    return getattr(_local, "info", None)


def _set_worker_info(info: WorkerInfo | None) -> None:
    _local.info = info


def _worker_generator() -> _random.Generator | None:
    """The generator random transforms should use: the worker's own inside a worker, else ``None`` (default)."""
    info = get_worker_info()
    return None if info is None else info.generator
