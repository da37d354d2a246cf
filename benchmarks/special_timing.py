"""Timing of the special-function kernels backprop keeps against SciPy's (not a test).

``python benchmarks/special_timing.py`` prints the best of 5 runs on 1M float32 elements for
each kernel that is still hand-written (erf's and Phi's float32 tables, polygamma's Hurwitz
zeta sum) next to the SciPy function it would otherwise call, and GELU's forward+backward.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.special as sc

import backprop
from backprop.ops import elementwise as ew
from backprop.ops import nn_ops
from backprop.ops import special as sp


def best_ms(fn, *args, repeat: int = 5) -> float:
    fn(*args)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1_000_000).astype(np.float32)
    pos = np.abs(x) * 5 + 0.1
    rows = [
        ("erf float32: table", ew._erf_array, x),
        ("erf float32: scipy.special.erf", sc.erf, x),
        ("Phi float32: table", lambda a: nn_ops._phi_table(a, np.empty_like(a)), x),
        ("Phi float32: scipy.special.ndtr", sc.ndtr, x),
        ("polygamma(2): Hurwitz zeta kernel", lambda a: sp._in_float64(lambda v: sp._polygamma64(2, v, a.dtype), a), pos),
        ("polygamma(2): scipy.special.polygamma", lambda a: sc.polygamma(2, a), pos),
    ]
    for name, fn, arg in rows:
        print(f"{name:40s} {best_ms(fn, arg):8.2f} ms")
    xt = backprop.tensor(x, requires_grad=True)

    def gelu_step():
        y = backprop.nn.functional.gelu(xt)
        y.backward(backprop.ones_like(y))

    print(f"{'GELU forward+backward (exact)':40s} {best_ms(gelu_step):8.2f} ms")


if __name__ == "__main__":
    main()
