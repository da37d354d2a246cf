"""Run the benchmark suite: ``python -m benchmarks.run [--workloads mlp cnn ...] [--reps 5]``.

Each measurement is a fresh process (``benchmarks.worker``); backprop and torch alternate
A B A B over the repetitions so that machine noise hits both alike. Compare numbers only
within one run. Reports medians over repetitions (each repetition's median over its steps),
the spread (min-max of the repetition medians), samples/s, the forward/backward/optimizer
split, peak memory growth and the ratio backprop/torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.workloads import ALL

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ["mlp", "cnn", "resnet", "gpt", "lstm", "yolo", "sentiment", "translate", "overhead"]
DEFAULT_WORKLOADS = TRAINING + [f"{name}-inference" for name in TRAINING if name != "overhead"]


# "backprop-numpy" is backprop with its JIT kernels off (BACKPROP_JIT=0): the NumPy path, measured
# beside the JIT one with ``--jit both``.
NUMPY_PATH = "backprop-numpy"


def _measure(framework: str, workload: str, steps: int, threads: int, device: str = "cpu") -> dict:
    env = dict(os.environ)
    if framework == NUMPY_PATH:
        framework, env["BACKPROP_JIT"] = "backprop", "0"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "benchmarks.worker", framework, workload, "--steps", str(steps), "--threads", str(threads), "--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{framework} {workload} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values):
    return statistics.median(values) if values else None


def summarize(reps: list) -> dict:
    per_rep = [_median(r["times"]) for r in reps]
    first = reps[0]
    med = _median(per_rep)
    out = {
        "median": med,
        "min": min(per_rep),
        "max": max(per_rep),
        "unit": first["unit"],
        "forward": _median([_median(r["forward"]) for r in reps if r["forward"]]),
        "backward": _median([_median(r["backward"]) for r in reps if r["backward"]]),
        "optimizer": _median([_median(r["optimizer"]) for r in reps if r["optimizer"]]),
        "device": first.get("device", "cpu"),
        "peak_mem_mb": _median([r["peak_mem_mb"] for r in reps]),
        "samples_per_s": first["batch_size"] / med * (1e3 if first["unit"] == "ms" else 1e6) if med else None,
        "losses": first["losses"],
        "jit": first.get("jit"),
    }
    losses = first["losses"]
    out["loss_falls"] = bool(losses) and losses[-1] < losses[0]
    return out


def gpu_name() -> str:
    """The GPU's name as nvidia-smi reports it (empty when there is none)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


def machine(device: str = "cpu") -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import importlib.metadata

    import numpy

    try:
        tv = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        tv = "not installed"
    text = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {numpy.__version__}, torch {tv}"
    if device == "cuda":
        try:
            cp = importlib.metadata.version("cupy-cuda13x")
        except importlib.metadata.PackageNotFoundError:
            try:
                cp = importlib.metadata.version("cupy-cuda12x")
            except importlib.metadata.PackageNotFoundError:
                cp = "?"
        text = f"{gpu_name() or 'GPU'} (CuPy {cp}); host: {text}"
    return text


def markdown(results: dict, threads: int, reps: int, device: str = "cpu") -> str:
    where = "fp32 on the GPU (torch: TF32 off); peak device memory" if device == "cuda" else f"{threads} threads for both"
    first = next(iter(results.values()), {})
    jit = first.get("backprop", {}).get("jit")
    if jit is not None:
        where += f"; backprop's JIT kernels: {jit}"
    if NUMPY_PATH in first:
        where += " (the `numpy path` column: BACKPROP_JIT=0)"
    lines = [
        f"Measured on: {machine(device)}; {where}; median of {reps} interleaved repetitions in fresh processes.",
        "",
        "| workload | backprop | torch | ratio | backprop fwd / bwd / optim | samples/s (backprop) | peak mem MB (backprop / torch) | mem ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if NUMPY_PATH in first:
        lines[-2] = lines[-2].replace("| ratio |", "| ratio | numpy path | ratio |")
        lines[-1] += "---|---|"
    for name, r in results.items():
        b, t, n = r["backprop"], r.get("torch"), r.get(NUMPY_PATH)
        unit = b["unit"]
        split = "-" if b["backward"] is None else f"{b['forward']:.1f} / {b['backward']:.1f} / {b['optimizer']:.1f}"
        if b["backward"] is None and b["forward"] is not None and unit == "ms":
            split = f"{b['forward']:.1f} / - / -"
        tt = f"{t['median']:.2f} {unit}" if t else "-"
        ratio = f"**{b['median'] / t['median']:.2f}**" if t else "-"
        mem_t = f"{t['peak_mem_mb']:.0f}" if t else "-"
        mem_ratio = f"{b['peak_mem_mb'] / t['peak_mem_mb']:.2f}" if t and t["peak_mem_mb"] > 1 else "-"
        sps = f"{b['samples_per_s']:.0f}" if b["samples_per_s"] else "-"
        numpy_cols = ""
        if n is not None:
            numpy_cols = f" {n['median']:.2f} {unit} | {n['median'] / t['median']:.2f} |" if t else f" {n['median']:.2f} {unit} | - |"
        lines.append(
            f"| {name} | {b['median']:.2f} {unit} ({b['min']:.2f}-{b['max']:.2f}) | {tt} | {ratio} |{numpy_cols} {split} | {sps} | {b['peak_mem_mb']:.0f} / {mem_t} | {mem_ratio} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", default=DEFAULT_WORKLOADS, choices=ALL)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda: both frameworks on the GPU, at GPU batch sizes")
    p.add_argument("--no-torch", action="store_true", help="measure backprop only")
    p.add_argument("--json", default=None, help="write all raw results as JSON")
    p.add_argument("--markdown", default=None, help="write the results table as markdown")
    p.add_argument(
        "--jit",
        choices=["on", "off", "both"],
        default="on",
        help="backprop's numba kernels: on (when numba is installed), off (BACKPROP_JIT=0), both (a numpy-path column)",
    )
    args = p.parse_args(argv)
    if args.jit == "off":
        os.environ["BACKPROP_JIT"] = "0"
    frameworks = ["backprop"] if args.no_torch else ["backprop", "torch"]
    if args.jit == "both":
        frameworks.append(NUMPY_PATH)
    if not args.no_torch:
        import importlib.util

        if importlib.util.find_spec("torch") is None:  # only look: importing torch here would inflate the workers' memory
            frameworks = ["backprop"]
    results = {}
    started = time.time()
    for name in args.workloads:
        raw = {fw: [] for fw in frameworks}
        for rep in range(args.reps):
            order = frameworks if rep % 2 == 0 else frameworks[::-1]
            for fw in order:
                raw[fw].append(_measure(fw, name, args.steps, args.threads, args.device))
        results[name] = {fw: summarize(raw[fw]) for fw in frameworks}
        b = results[name]["backprop"]
        line = f"{name:<20} backprop {b['median']:9.2f} {b['unit']}"
        if "torch" in results[name]:
            t = results[name]["torch"]
            line += f"   torch {t['median']:9.2f} {t['unit']}   ratio {b['median'] / t['median']:.2f}   mem ratio {b['peak_mem_mb'] / max(t['peak_mem_mb'], 1e-9):.2f}"
        if NUMPY_PATH in results[name]:
            line += f"   numpy path {results[name][NUMPY_PATH]['median']:9.2f} {b['unit']}"
        if b["losses"]:
            line += f"   loss {b['losses'][0]:.3f} -> {b['losses'][-1]:.3f}"
        print(line, flush=True)
    table = markdown(results, args.threads, args.reps, args.device)
    print()
    print(table)
    print(f"\n({time.time() - started:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(args.device), "device": args.device, "threads": args.threads, "reps": args.reps, "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
