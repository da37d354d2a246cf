"""One benchmark measurement in a fresh process: ``python -m benchmarks.worker FRAMEWORK WORKLOAD``.

Prints one JSON line: per-step times (ms) with the forward/backward/optimizer split, the
losses (to check that training progresses), and the peak memory: on the CPU the growth of the
resident set over the baseline measured after imports; on CUDA the framework's peak of
allocated device memory (``max_memory_allocated``). On CUDA every timed step ends with a device
synchronization (work is asynchronous), and the phase split is not measured: synchronizing
between phases would change what is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _status_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process image. Not ru_maxrss: that survives exec
    and would carry over the parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def jit_state(backprop) -> str:
    """``"numba X.Y"`` when backprop's CPU ops run the JIT kernels, else ``"off"`` (the NumPy path)."""
    from backprop._backend import CPU

    if CPU.kernels is None:
        return "off"
    import numba

    return f"numba {numba.__version__}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("framework", choices=["backprop", "torch"])
    p.add_argument("workload")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--size", choices=["cpu", "gpu"], default=None, help="workload sizes (default: gpu on cuda, else cpu)")
    args = p.parse_args()

    if args.framework == "torch":
        import torch as m

        m.set_num_threads(args.threads)
        if args.device == "cuda":  # fp32 as backprop computes it: no TF32 tensor-core rounding
            m.backends.cuda.matmul.allow_tf32 = False
            m.backends.cudnn.allow_tf32 = False
    else:
        import backprop as m

        m.set_num_threads(args.threads)  # also loads the JIT kernels (an import, like torch's own)
    from benchmarks import workloads

    size = args.size or ("gpu" if args.device == "cuda" else "cpu")
    sync = m.cuda.synchronize if args.device == "cuda" else _no_sync
    baseline = _status_kb("VmRSS")
    m.manual_seed(0)
    result = {"framework": args.framework, "workload": args.workload, "threads": args.threads, "device": args.device, "size": size}
    if args.framework == "backprop":
        result["jit"] = jit_state(m)
    if args.workload == "overhead":
        result.update(_overhead(m, args.steps, args.device, sync))
    elif args.workload.endswith("-inference"):
        w = _to_device(workloads.INFERENCE[args.workload](m, size), args.device)
        result.update(_inference(m, w, args.steps, args.warmup, sync))
    else:
        w = _to_device(workloads.WORKLOADS[args.workload](m, size), args.device)
        result.update(_training(m, w, args.steps, args.warmup, sync, split=args.device == "cpu"))
    if args.device == "cuda":
        result["peak_mem_mb"] = m.cuda.max_memory_allocated() / 2**20
    else:
        result["peak_mem_mb"] = max(_status_kb("VmHWM") - baseline, 0) / 1024
    print(json.dumps(result))


def _to_device(w, device: str):
    """The workload with its model (before the optimizer's first step), inputs and target on ``device``."""
    if device != "cpu":
        w.model.to(device)
        w.inputs = tuple(x.to(device) for x in w.inputs)
        w.target = w.target.to(device) if w.target is not None else None
    return w


def _no_sync() -> None:
    pass


def _training(m, w, steps: int, warmup: int, sync=_no_sync, split: bool = True) -> dict:
    model, opt = w.model, w.optimizer
    model.train()
    times, fwd, bwd, optim, losses = [], [], [], [], []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = w.loss_fn(model(*w.inputs), w.target)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        losses.append(float(loss.item()))
        if i >= warmup:
            times.append((t3 - t0) * 1e3)
            if split:
                fwd.append((t1 - t0) * 1e3)
                bwd.append((t2 - t1) * 1e3)
                optim.append((t3 - t2) * 1e3)
    return {"unit": "ms", "batch_size": w.batch_size, "times": times, "forward": fwd, "backward": bwd, "optimizer": optim, "losses": losses}


def _inference(m, w, steps: int, warmup: int, sync=_no_sync) -> dict:
    model = w.model
    model.eval()
    times = []
    with m.no_grad():
        for i in range(warmup + steps):
            sync()
            t0 = time.perf_counter()
            model(*w.inputs)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return {"unit": "ms", "batch_size": w.batch_size, "times": times, "forward": times, "backward": [], "optimizer": [], "losses": []}


def _overhead(m, steps: int, device: str = "cpu", sync=_no_sync) -> dict:
    from benchmarks.workloads import overhead_graph

    x = m.tensor(0.5, requires_grad=True, device=device)
    y = m.tensor(1.5, requires_grad=True, device=device)
    n = 2000
    times = []
    for rep in range(max(steps // 4, 5) + 2):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            overhead_graph(m, x, y).backward()
            x.grad = None
            y.grad = None
        sync()
        if rep >= 2:
            times.append((time.perf_counter() - t0) / n * 1e6)
    return {"unit": "us", "batch_size": 1, "times": times, "forward": [], "backward": [], "optimizer": [], "losses": []}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
