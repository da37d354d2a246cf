"""One data-parallel measurement, run by a launcher on every rank (``benchmarks.distributed`` starts it).

    python -m backprop.distributed.run --nproc-per-node 2 -m benchmarks.dist_worker backprop mlp
    torchrun --nproc-per-node 2 -m benchmarks.dist_worker torch mlp

Each rank builds the workload with the same seed and takes its share of the same global batch
(its ``chunk`` of rows), so the global batch equals the single-process benchmark's. Rank 0
prints one JSON line with:

- ``times``: full DistributedDataParallel training steps (ms), gradients all-reduced;
- ``compute``: the same steps under ``no_sync()`` (no communication): what the step would cost
  if the all-reduce were free; ``times - compute`` is the communication backward does not hide;
- ``allreduce``: one all-reduce of a flat float32 buffer the size of all gradients (ms), what
  communication would cost if nothing overlapped it;
- ``sweep``: all-reduce time (us) by message size, for the latency/bandwidth fit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

SWEEP_FLOATS = (1, 256, 4096, 65536, 262144, 1048576, 4194304)


def _timed(fn, reps: int, warmup: int = 3) -> list:
    out = []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("framework", choices=["backprop", "torch"])
    p.add_argument("workload")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    if args.framework == "torch":
        import torch as m
    else:
        import backprop as m
    m.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from benchmarks import workloads

    dist = m.distributed
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    m.manual_seed(0)
    w = workloads.WORKLOADS[args.workload](m, "cpu")
    inputs = tuple(x.chunk(world)[rank] for x in w.inputs)
    target = w.target.chunk(world)[rank]
    model = m.nn.parallel.DistributedDataParallel(w.model)
    # The optimizer was built on the module's parameters; DDP trains those same tensors.
    opt = w.optimizer

    def step():
        opt.zero_grad(set_to_none=True)
        loss = w.loss_fn(model(*inputs), target)
        loss.backward()
        opt.step()
        return loss

    losses = []
    times = [t * 1e3 for t in _timed(lambda: losses.append(float(step().item())), args.steps, args.warmup)]
    with model.no_sync():
        compute = [t * 1e3 for t in _timed(step, args.steps, args.warmup)]
    n_grad = sum(p.numel() for p in w.model.parameters())
    flat = m.zeros(n_grad)
    allreduce = [t * 1e3 for t in _timed(lambda: dist.all_reduce(flat), args.steps)]
    sweep = {}
    for n in SWEEP_FLOATS:
        buf = m.ones(n)
        reps = 200 if n <= 4096 else 30
        sweep[n] = statistics.median(_timed(lambda b=buf: dist.all_reduce(b), reps)) * 1e6
    if rank == 0:
        result = {
            "framework": args.framework,
            "workload": args.workload,
            "world_size": world,
            "batch_size": w.batch_size,
            "per_rank_batch": int(inputs[0].shape[0]),
            "gradient_floats": n_grad,
            "times": times,
            "compute": compute,
            "allreduce": allreduce,
            "sweep_us": sweep,
            "losses": losses,
        }
        print(json.dumps(result), flush=True)
    dist.barrier()  # no rank tears down while another still talks (torch's gloo aborts on that)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
