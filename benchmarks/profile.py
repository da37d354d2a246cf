"""Where backprop's time goes, per op: ``python -m benchmarks.profile WORKLOAD [--steps N]``.

Runs the workload's training step under ``backprop.autograd.profiler.profile`` and prints
self time per primitive forward (``Conv2d``) and per backward node (``Conv2dBackward0``).
"""

from __future__ import annotations

import argparse
import time

import backprop
from backprop.autograd.profiler import profile
from benchmarks import workloads


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", choices=list(workloads.WORKLOADS))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=30)
    args = p.parse_args(argv)
    backprop.set_num_threads(args.threads)
    backprop.manual_seed(0)
    w = workloads.WORKLOADS[args.workload](backprop)

    def step():
        w.optimizer.zero_grad()
        w.loss_fn(w.model(*w.inputs), w.target).backward()
        w.optimizer.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    with profile() as prof:
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - t0) / args.steps * 1e3
    print(f"{args.workload}: {wall:.2f} ms/step under the profiler ({args.steps} steps)\n")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
