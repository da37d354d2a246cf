"""A per-op profiler: where a forward and backward pass spend their time.

``with backprop.autograd.profiler.profile() as prof: ...`` records every primitive's forward
(``Function.apply``, self time excluding nested ops) and every backward node; then
``print(prof.key_averages().table(sort_by="self_cpu_time_total"))`` -- torch's names. While
inactive it costs nothing: it patches ``Function.apply`` and the engine only on entry.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from . import engine
from .function import Function


@dataclass
class FunctionEventAvg:
    key: str
    count: int = 0
    self_cpu_time_total: float = 0.0  # microseconds
    cpu_time_total: float = 0.0

    @property
    def self_cpu_time_avg(self) -> float:
        return self.self_cpu_time_total / max(self.count, 1)


class EventList(list):
    def table(self, sort_by: str = "self_cpu_time_total", row_limit: int = 30) -> str:
        rows = sorted(self, key=lambda e: getattr(e, sort_by.replace("cpu_time_total", "cpu_time_total")), reverse=True)[:row_limit]
        total = sum(e.self_cpu_time_total for e in self) or 1.0
        lines = [f"{'name':<40} {'calls':>7} {'self ms':>10} {'self %':>7} {'avg us':>9}", "-" * 77]
        for e in rows:
            lines.append(
                f"{e.key[:40]:<40} {e.count:>7} {e.self_cpu_time_total / 1e3:>10.2f} {100 * e.self_cpu_time_total / total:>6.1f}% {e.self_cpu_time_avg:>9.1f}"
            )
        lines.append("-" * 77)
        lines.append(f"{'total':<40} {sum(e.count for e in self):>7} {total / 1e3:>10.2f}")
        return "\n".join(lines)


class profile:  # noqa: N801 - torch's name
    """Context manager recording forward (``<Op>``) and backward (``<Op>Backward0``) times."""

    def __init__(self, enabled: bool = True, **kwargs):
        self.enabled = enabled
        self._stats: dict = defaultdict(lambda: [0, 0.0, 0.0])  # key -> [count, self_us, total_us]

    def __enter__(self):
        if not self.enabled:
            return self
        self._orig_apply = Function.__dict__["apply"]
        self._orig_backward = engine._call_backward
        stats = self._stats
        stack: list = []  # child time accumulated per active apply
        orig_apply = self._orig_apply.__func__

        def timed_apply(cls, *args, **kwargs):
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return orig_apply(cls, *args, **kwargs)
            finally:
                dt = (time.perf_counter() - t0) * 1e6
                children = stack.pop()
                s = stats[cls.__name__]
                s[0] += 1
                s[1] += dt - children
                s[2] += dt
                if stack:
                    stack[-1] += dt

        orig_backward = self._orig_backward

        def timed_backward(node, grads, create_graph):
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return orig_backward(node, grads, create_graph)
            finally:
                dt = (time.perf_counter() - t0) * 1e6
                children = stack.pop()
                s = stats[node.name()]
                s[0] += 1
                s[1] += dt - children
                s[2] += dt
                if stack:
                    stack[-1] += dt

        Function.apply = classmethod(timed_apply)
        engine._call_backward = timed_backward
        return self

    def __exit__(self, *exc):
        if self.enabled:
            Function.apply = self._orig_apply
            engine._call_backward = self._orig_backward
        return False

    def key_averages(self) -> EventList:
        return EventList(FunctionEventAvg(k, c, s, t) for k, (c, s, t) in self._stats.items())
