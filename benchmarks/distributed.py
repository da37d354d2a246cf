"""Data-parallel scaling on this machine, backprop next to torch: ``python -m benchmarks.distributed``.

For each workload (global batch as in the CPU suite) and framework, interleaved over the
repetitions, in fresh processes:

- 1 process x 1 thread and 1 process x 2 threads (``benchmarks.worker``);
- N processes x 1 thread with DistributedDataParallel on the CPU backend, each rank on
  1/N of every batch (``benchmarks.dist_worker``; backprop's launcher, torch's ``torchrun``
  with gloo).

It reports samples/s and speed-ups, the all-reduce time per step (one all-reduce of all
gradients), the part of it that backward does not hide (DDP step minus the same step under
``no_sync``), and an all-reduce latency/bandwidth fit (``t = alpha + bytes / bandwidth``).
With gpt among the workloads it then prints the ring all-reduce cost model
(``ring_allreduce_ms``, ``predict_step_ms``) for 8 and 64 machines over stated networks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import _measure, machine

ROOT = Path(__file__).resolve().parents[1]

# Networks for the on-paper model: (name, per-message latency s, bandwidth bytes/s per link).
NETWORKS = (
    ("10 Gb/s Ethernet, MPI over TCP", 30e-6, 10e9 / 8),
    ("100 Gb/s InfiniBand, MPI over RDMA", 3e-6, 100e9 / 8),
)


def _launch(framework: str, workload: str, nproc: int, steps: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    launcher = "backprop.distributed.run" if framework == "backprop" else "torch.distributed.run"
    cmd = [sys.executable, "-m", launcher, "--nproc-per-node", str(nproc), "-m", "benchmarks.dist_worker", framework, workload, "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 and not (framework == "torch" and lines):
        raise RuntimeError(f"{framework} {workload} x{nproc} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    if out.returncode != 0:  # torch's gloo sometimes aborts in teardown after the measurement is out
        print(f"  (torch {workload} x{nproc}: exit {out.returncode} after reporting; measurement kept)", file=sys.stderr)
    return json.loads(lines[-1])


def fit_alpha_beta(sweep_us: dict) -> tuple:
    """Least-squares ``t = alpha + bytes * beta`` over an all-reduce sweep (float32 counts -> us)."""
    xs = [int(n) * 4 for n in sweep_us]
    ys = [v * 1e-6 for v in sweep_us.values()]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return max(my - beta * mx, 0.0), beta


def bucket_sizes(nbytes: float, bucket_bytes: float, first_bucket_bytes: float | None = None) -> list:
    """The bucket sizes DDP all-reduces, in launch order: the first (last layers' gradients, ready
    first) capped at ``first_bucket_bytes`` (torch: 1 MiB), the rest at ``bucket_bytes``."""
    sizes = []
    if first_bucket_bytes:
        sizes.append(min(nbytes, first_bucket_bytes))
        nbytes -= sizes[0]
    while nbytes > 0:
        sizes.append(min(nbytes, bucket_bytes))
        nbytes -= sizes[-1]
    return sizes


def ring_allreduce_ms(nbytes: float, machines: int, latency_s: float, bandwidth: float, bucket_bytes: float, first_bucket_bytes: float | None = None) -> float:
    """Ring all-reduce of ``nbytes`` in buckets: each bucket takes 2(P-1) steps (reduce-scatter,
    then all-gather), each step paying the latency and moving 1/P of the bucket, so the bytes cost
    2(P-1)/P * nbytes / bandwidth in all (about 2n/B however large P grows) and the latency
    2(P-1) times per bucket (which grows with P)."""
    if machines <= 1:
        return 0.0
    p = machines
    return sum(2 * (p - 1) * latency_s + 2 * (p - 1) / p * b / bandwidth for b in bucket_sizes(nbytes, bucket_bytes, first_bucket_bytes)) * 1e3


def predict_step_ms(
    compute_ms: float, backward_ms: float, nbytes: float, machines: int, latency_s: float, bandwidth: float, bucket_bytes: float,
    first_bucket_bytes: float | None = None, overhead_ms: float = 0.0, overlap: bool = True,
) -> float:  # fmt: skip
    """A step on ``machines`` machines at the same per-machine batch (weak scaling): the compute,
    DDP's own per-step cost (``overhead_ms``: bucket copies, hooks, waiting for the slowest rank),
    and the all-reduce time that shows. With ``overlap``, buckets launch as backward fills them,
    so all but the last bucket's all-reduce can run beside the rest of backward; without it
    (no core free while backward runs, as on this 2-core machine) all of it shows."""
    comm = ring_allreduce_ms(nbytes, machines, latency_s, bandwidth, bucket_bytes, first_bucket_bytes)
    if comm == 0.0:
        return compute_ms
    if not overlap:
        return compute_ms + overhead_ms + comm
    last = ring_allreduce_ms(bucket_sizes(nbytes, bucket_bytes, first_bucket_bytes)[-1], machines, latency_s, bandwidth, bucket_bytes)
    return compute_ms + overhead_ms + max(comm - backward_ms, last)


def _median(xs):
    return statistics.median(xs)


def run(workloads, reps: int, steps: int, nproc: int, frameworks) -> dict:
    results = {}
    for name in workloads:
        raw = {fw: {"1x1": [], "1x2": [], "ddp": []} for fw in frameworks}
        for rep in range(reps):
            order = frameworks if rep % 2 == 0 else frameworks[::-1]
            for fw in order:
                raw[fw]["1x1"].append(_measure(fw, name, steps, 1))
                raw[fw]["1x2"].append(_measure(fw, name, steps, 2))
                raw[fw]["ddp"].append(_launch(fw, name, nproc, steps))
        results[name] = {fw: summarize(raw[fw]) for fw in frameworks}
        for fw in frameworks:
            r = results[name][fw]
            print(
                f"{name:<5} {fw:<8} 1x1 {r['1x1_ms']:8.2f} ms  1x2 {r['1x2_ms']:8.2f} ms  {nproc}x1 DDP {r['ddp_ms']:8.2f} ms "
                f"(compute {r['compute_ms']:.2f}, all-reduce {r['allreduce_ms']:.2f}, exposed {r['exposed_ms']:.2f}, hidden {r['hidden']:.0%})",
                flush=True,
            )
    return results


def summarize(raw: dict) -> dict:
    one, two, ddp = raw["1x1"], raw["1x2"], raw["ddp"]
    batch = one[0]["batch_size"]
    ms1 = _median([_median(r["times"]) for r in one])
    ms2 = _median([_median(r["times"]) for r in two])
    msd = _median([_median(r["times"]) for r in ddp])
    compute = _median([_median(r["compute"]) for r in ddp])
    allreduce = _median([_median(r["allreduce"]) for r in ddp])
    exposed = max(msd - compute, 0.0)
    sweep = {n: _median([r["sweep_us"][n] for r in ddp]) for n in ddp[0]["sweep_us"]}
    alpha, beta = fit_alpha_beta(sweep)
    return {
        "batch_size": batch,
        "gradient_floats": ddp[0]["gradient_floats"],
        "1x1_ms": ms1,
        "1x2_ms": ms2,
        "ddp_ms": msd,
        "compute_ms": compute,
        "allreduce_ms": allreduce,
        "exposed_ms": exposed,
        "hidden": 1.0 - min(exposed / allreduce, 1.0) if allreduce > 0 else 1.0,
        "backward_1x1_ms": _median([_median(r["backward"]) for r in one]),
        "samples_per_s": {"1x1": batch / ms1 * 1e3, "1x2": batch / ms2 * 1e3, "ddp": batch / msd * 1e3},
        "sweep_us": sweep,
        "alpha_us": alpha * 1e6,
        "bandwidth_gb_s": (1.0 / beta / 1e9) if beta > 0 else float("inf"),
        "losses_ddp": ddp[0]["losses"],
    }


def markdown(results: dict, nproc: int, reps: int) -> str:
    lines = [
        f"Measured on: {machine()}; median of {reps} interleaved repetitions in fresh processes; same global batch in every column.",
        "",
        f"| workload | framework | 1 proc x 1 thread | 1 proc x 2 threads | {nproc} procs x 1 thread (DDP) | DDP speed-up over 1x1 / 1x2 | all-reduce per step | exposed (not hidden by backward) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, by_fw in results.items():
        for fw, r in by_fw.items():
            s = r["samples_per_s"]
            lines.append(
                f"| {name} | {fw} | {s['1x1']:.0f}/s ({r['1x1_ms']:.2f} ms) | {s['1x2']:.0f}/s ({r['1x2_ms']:.2f} ms) | {s['ddp']:.0f}/s ({r['ddp_ms']:.2f} ms) "
                f"| {r['1x1_ms'] / r['ddp_ms']:.2f}x / {r['1x2_ms'] / r['ddp_ms']:.2f}x | {r['allreduce_ms']:.2f} ms ({r['gradient_floats'] * 4 / 2**20:.1f} MiB) "
                f"| {r['exposed_ms']:.2f} ms ({r['hidden']:.0%} hidden) |"
            )
    lines += ["", "All-reduce on this machine (2 ranks, shared memory), fit t = alpha + bytes / bandwidth:", ""]
    for name, by_fw in results.items():
        for fw, r in by_fw.items():
            sweep = ", ".join(f"{int(n) * 4} B: {us:.0f} us" for n, us in r["sweep_us"].items())
            lines.append(f"- {name}, {fw}: alpha {r['alpha_us']:.0f} us, bandwidth {r['bandwidth_gb_s']:.2f} GB/s ({sweep})")
        break  # the sweep does not depend on the workload
    return "\n".join(lines)


def cost_model(r: dict, bucket_mb: float = 25.0, first_mib: float = 1.0) -> str:
    """The gpt workload on 8 and 64 machines (2 cores each, as this one), each machine at the
    measured single-machine step (weak scaling), plus DDP's measured per-step cost beyond the
    all-reduce itself; with the all-reduce overlapped by backward and without."""
    nbytes = r["gradient_floats"] * 4
    compute, backward = r["1x2_ms"], r["backward_1x1_ms"] * r["1x2_ms"] / r["1x1_ms"]
    overhead = max(r["exposed_ms"] - r["allreduce_ms"], 0.0)
    cap, first = bucket_mb * 1e6, first_mib * 2**20
    sizes = " + ".join(f"{b / 2**20:.2f}" for b in bucket_sizes(nbytes, cap, first))
    lines = [
        f"Ring all-reduce model for gpt: {nbytes / 2**20:.2f} MiB of gradients in DDP's buckets ({sizes} MiB); one machine's "
        f"step {compute:.1f} ms (backward ~{backward:.1f} ms); DDP's own cost {overhead:.1f} ms per step (measured here: "
        "exposed minus all-reduce); per-machine batch fixed.",
        "",
        "| network | machines | all-reduce | step, overlapped / not | efficiency | speed-up over one machine |",
        "|---|---|---|---|---|---|",
    ]
    for net, lat, bw in NETWORKS:
        for p in (8, 64):
            comm = ring_allreduce_ms(nbytes, p, lat, bw, cap, first)
            fast = predict_step_ms(compute, backward, nbytes, p, lat, bw, cap, first, overhead, overlap=True)
            slow = predict_step_ms(compute, backward, nbytes, p, lat, bw, cap, first, overhead, overlap=False)
            lines.append(
                f"| {net} | {p} | {comm:.2f} ms | {fast:.1f} / {slow:.1f} ms | {compute / slow:.0%}-{compute / fast:.0%} "
                f"| {p * compute / slow:.1f}-{p * compute / fast:.1f}x |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", default=["mlp", "cnn", "gpt"], choices=["mlp", "cnn", "resnet", "gpt", "lstm"])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--markdown", default=None)
    p.add_argument("--from-json", default=None, help="print the tables of an earlier --json run (measures nothing)")
    args = p.parse_args(argv)
    frameworks = ["backprop"] if args.no_torch else ["backprop", "torch"]
    started = time.time()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results, args.nproc, args.reps = saved["results"], saved["nproc"], saved["reps"]
    else:
        results = run(args.workloads, args.reps, args.steps, args.nproc, frameworks)
    text = markdown(results, args.nproc, args.reps)
    if "gpt" in results:
        text += "\n\n" + cost_model(results["gpt"]["backprop"])
    print()
    print(text)
    print(f"\n({time.time() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "nproc": args.nproc, "reps": args.reps, "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
