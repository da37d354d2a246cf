"""The benchmark suite's correctness checks, on small step counts: every benchmarked model
trains on backprop (its loss falls) through the same code path the timings use, and the
runner produces its JSON and markdown with backprop/torch ratios."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import workloads  # noqa: E402
from benchmarks.worker import _inference, _overhead, _to_device, _training  # noqa: E402


@pytest.mark.parametrize("name", list(workloads.WORKLOADS))
def test_benchmarked_model_trains(name, device):
    """On the CPU and on CUDA (the fake device here, a GPU with --device cuda), at the CPU sizes,
    through the worker's own code (``_to_device`` moves the model and batch, as on a GPU run)."""
    import backprop

    backprop.manual_seed(0)
    work = _to_device(workloads.WORKLOADS[name](backprop), device)
    sync = backprop.cuda.synchronize if device == "cuda" else (lambda: None)
    result = _training(backprop, work, steps=6, warmup=2, sync=sync, split=device == "cpu")
    assert all(p.device.type == device for p in work.model.parameters())
    losses = result["losses"]
    assert len(losses) == 8 and all(l == l for l in losses)  # finite, no NaN
    assert losses[-1] < losses[0], f"{name}: loss did not fall: {losses}"
    assert len(result["times"]) == 6 and min(result["times"]) > 0


@pytest.mark.parametrize("name", ["mlp-inference", "gpt-inference", "yolo-inference", "translate-inference"])
def test_inference_variants_run(name):
    import backprop

    result = _inference(backprop, workloads.INFERENCE[name](backprop), steps=2, warmup=1)
    assert len(result["times"]) == 2 and result["backward"] == []


def test_overhead_workload_gradients_match_torch():
    import numpy as np
    import torch

    import backprop

    grads = []
    for m in (backprop, torch):
        x = m.tensor(0.5, requires_grad=True)
        y = m.tensor(1.5, requires_grad=True)
        workloads.overhead_graph(m, x, y).backward()
        grads.append((x.grad.item(), y.grad.item()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5)
    assert len(_overhead(backprop, 4)["times"]) >= 1


def test_gpu_sizes_build():
    """The GPU-size workloads (built on the CPU, as the worker does) have the issue's shapes."""
    import backprop

    w = workloads.gpt(backprop, "gpu")
    assert w.batch_size == 64 and tuple(w.inputs[0].shape) == (64, 256)
    assert sum(isinstance(m, backprop.nn.LayerNorm) for m in w.model.modules()) == 2 * 6 + 1
    assert workloads.mlp(backprop, "gpu").batch_size == 4096 and workloads.resnet(backprop, "gpu").batch_size == 512


def test_runner_end_to_end_with_ratios(tmp_path):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    cmd = [sys.executable, "-m", "benchmarks.run", "--workloads", "mlp", "overhead", "--reps", "2", "--steps", "3",
           "--threads", "1", "--json", str(out_json), "--markdown", str(out_md)]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(out_json.read_text())
    assert set(data["results"]) == {"mlp", "overhead"}
    for name, frameworks in data["results"].items():
        assert set(frameworks) == {"backprop", "torch"}, name
        for r in frameworks.values():
            assert r["median"] > 0 and r["min"] <= r["median"] <= r["max"] and r["peak_mem_mb"] >= 0
    assert data["results"]["mlp"]["backprop"]["loss_falls"]
    table = out_md.read_text()
    assert "| mlp |" in table and "| overhead |" in table and "ratio" in table


def test_runner_measures_the_numpy_path_beside_the_jit(tmp_path):
    """``--jit both``: a BACKPROP_JIT=0 column beside the default one; the JIT state is recorded."""
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    cmd = [sys.executable, "-m", "benchmarks.run", "--workloads", "mlp-inference", "--reps", "1", "--steps", "2",
           "--threads", "1", "--no-torch", "--jit", "both", "--json", str(out_json), "--markdown", str(out_md)]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    frameworks = json.loads(out_json.read_text())["results"]["mlp-inference"]
    assert set(frameworks) == {"backprop", "backprop-numpy"}
    assert frameworks["backprop-numpy"]["jit"] == "off"
    numba_present = importlib.util.find_spec("numba") is not None and os.environ.get("BACKPROP_JIT", "1") != "0"
    assert frameworks["backprop"]["jit"].startswith("numba") == numba_present
    assert "numpy path" in out_md.read_text()


def test_ring_allreduce_model():
    """The cost model's terms: 2(P-1) latencies per bucket, and bytes that cost 2(P-1)/P * n / B
    (about 2n/B on many machines); backward hides all but the last bucket's all-reduce."""
    from benchmarks.distributed import bucket_sizes, predict_step_ms, ring_allreduce_ms

    n, lat, bw = 100e6, 10e-6, 1e9
    assert bucket_sizes(n, 25e6) == [25e6] * 4 and bucket_sizes(3e6, 25e6, 1e6) == [1e6, 2e6]
    assert ring_allreduce_ms(n, 1, lat, bw, 25e6) == 0.0
    assert ring_allreduce_ms(n, 2, lat, bw, 25e6) == pytest.approx((4 * 2 * lat + n / bw) * 1e3)  # 4 buckets x 2 steps
    assert ring_allreduce_ms(n, 1000, 0.0, bw, 25e6) == pytest.approx(2 * 999 / 1000 * n / bw * 1e3)
    assert ring_allreduce_ms(n, 8, lat, bw, 1e6) > ring_allreduce_ms(n, 8, lat, bw, 25e6)  # smaller buckets: more latencies
    comm, last = ring_allreduce_ms(n, 8, lat, bw, 25e6), ring_allreduce_ms(25e6, 8, lat, bw, 25e6)
    assert predict_step_ms(10.0, 1000.0, n, 8, lat, bw, 25e6) == pytest.approx(10.0 + last)  # long backward: the last shows
    assert predict_step_ms(10.0, 0.0, n, 8, lat, bw, 25e6) == pytest.approx(10.0 + comm)
    assert predict_step_ms(10.0, 1000.0, n, 8, lat, bw, 25e6, overhead_ms=2.0, overlap=False) == pytest.approx(12.0 + comm)


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="needs mpi4py (pip install 'backprop[distributed]')")
def test_distributed_benchmark_worker_on_two_processes():
    """One DDP measurement as the scaling benchmark takes it: backprop's launcher, 2 ranks."""
    from benchmarks.distributed import _launch, fit_alpha_beta

    result = _launch("backprop", "mlp", 2, steps=3)
    assert result["world_size"] == 2 and result["per_rank_batch"] * 2 == result["batch_size"]
    assert len(result["times"]) == len(result["compute"]) == len(result["allreduce"]) == 3
    assert result["losses"][-1] < result["losses"][0]
    alpha, beta = fit_alpha_beta(result["sweep_us"])
    assert alpha >= 0 and beta > 0
