"""Short smoke runs of every example on a small slice of the data: it runs, writes its
metrics, and training makes progress (loss falls)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_data
from dist_harness import check_ok, launch_script, needs_mpi

ROOT = Path(__file__).resolve().parents[1]


def load_example(name: str):
    """Import examples/<name>.py as a module (with backprop as its framework)."""
    os.environ.pop("BACKPROP_EXAMPLE_FRAMEWORK", None)
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_char_gpt_small(tmp_path):
    data = require_data("tinyshakespeare/input.txt")
    gpt = load_example("char_gpt")
    out = tmp_path / "m.json"
    ckpt = tmp_path / "gpt.safetensors"
    metrics = gpt.main([
        "--data", str(data), "--iters", "60", "--eval-interval", "30", "--eval-iters", "3", "--n-layer", "1",
        "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "8", "--lr", "3e-3", "--warmup", "5",
        "--sample-tokens", "30", "--checkpoint", str(ckpt), "--metrics-out", str(out),
    ])  # fmt: skip
    saved = json.loads(out.read_text())
    for key in ("val_loss", "train_loss", "iters", "seconds", "ms_per_iter"):
        assert key in saved
    assert saved["iters"] == 60
    assert metrics["history"][-1]["val"] < metrics["history"][0]["val"] - 0.5  # from ~4.2 (uniform over 65 chars)
    import backprop

    ck = backprop.load(ckpt)
    assert "model" in ck and "optimizer" in ck and ck["iter"] == 60


def test_char_gpt_runs_unchanged_on_cpu_and_cuda(device):
    """The example picks its device as PyTorch scripts do (``"cuda" if torch.cuda.is_available()
    else "cpu"``) and trains there: on the CPU, on the fake CUDA device, on a GPU."""
    data = require_data("tinyshakespeare/input.txt")
    gpt = load_example("char_gpt")
    import backprop

    if device == "cpu" and backprop.cuda.is_available():
        pytest.skip("a GPU is present: the script's default picks cuda")
    assert backprop.cuda.is_available() == (device == "cuda")
    metrics = gpt.main([
        "--data", str(data), "--iters", "30", "--eval-interval", "15", "--eval-iters", "2", "--n-layer", "1",
        "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "8", "--lr", "3e-3", "--warmup", "5",
        "--dropout", "0.1", "--sample-tokens", "10",
    ])  # fmt: skip
    assert metrics["device"] == device
    assert metrics["history"][-1]["val"] < metrics["history"][0]["val"] - 0.3


def test_char_gpt_generation_is_deterministic_given_seed():
    gpt = load_example("char_gpt")
    import backprop

    backprop.manual_seed(0)
    model = gpt.GPT(gpt.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16))
    start = backprop.zeros((1, 1), dtype=backprop.long)
    backprop.manual_seed(1)
    a = model.generate(start, 12, temperature=0.8, top_k=5)
    backprop.manual_seed(1)
    b = model.generate(start, 12, temperature=0.8, top_k=5)
    assert a.shape == (1, 13) and a.tolist() == b.tolist()
    assert 0 <= int(a.min()) and int(a.max()) < 11


def test_lstm_charlm_small(tmp_path):
    data = require_data("tinyshakespeare/input.txt")
    lm = load_example("lstm_charlm")
    metrics = lm.main([
        "--data", str(data), "--iters", "40", "--eval-interval", "20", "--eval-iters", "2", "--hidden", "64",
        "--block-size", "32", "--batch-size", "8", "--sample-tokens", "20", "--metrics-out", str(tmp_path / "m.json"),
    ])  # fmt: skip
    assert metrics["history"][-1]["val"] < metrics["history"][0]["val"] - 0.3


def test_timeseries_forecast_small(tmp_path):
    ts = load_example("timeseries_forecast")
    metrics = ts.main(["--epochs", "30", "--metrics-out", str(tmp_path / "m.json")])
    assert {"test_mae", "test_rmse", "seasonal_naive_mae"} <= set(metrics)
    assert 0 < metrics["test_mae"] < 1.5 * metrics["seasonal_naive_mae"]  # 30 of 150 epochs: close to the baseline
    series = ts.make_series()
    assert series.shape == (360,) and series.dtype.name == "float32"


def test_demo_from_scratch_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    losses = [float(line.split()[-1]) for line in result.stdout.splitlines() if line.startswith("step")]
    assert losses[-1] < losses[0] / 10


def test_examples_report_missing_data_clearly(tmp_path):
    gpt = load_example("char_gpt")
    with pytest.raises(SystemExit, match="data file not found"):
        gpt.main(["--data", str(tmp_path / "missing.txt")])


@needs_mpi
def test_ddp_mnist_trains_snapshots_and_resumes_on_two_processes(tmp_path):
    """pytorch/examples' DDP tutorial shape, unchanged but for the import: a job that stops after
    one epoch and a restarted job that resumes from rank 0's snapshot."""
    data = require_data("mnist/train-images-idx3-ubyte.gz").parent
    snapshot, out = tmp_path / "snapshot.pt", tmp_path / "m.json"
    common = ["--data", str(data), "--limit", "2048", "--batch-size", "32", "--snapshot", str(snapshot)]
    first = launch_script(ROOT / "examples" / "ddp_mnist.py", 2, tmp_path, timeout=240, args=[*common, "--epochs", "1"])
    check_ok(first)
    assert snapshot.exists() and "epoch 1 | training snapshot saved" in first.stdout
    import backprop

    state = backprop.load(snapshot)
    assert state["EPOCHS_RUN"] == 1 and not any(k.startswith("module.") for k in state["MODEL_STATE"])  # model.module's keys
    second = launch_script(ROOT / "examples" / "ddp_mnist.py", 2, tmp_path, timeout=240, args=[*common, "--epochs", "2", "--metrics-out", str(out)])
    check_ok(second)
    assert second.stdout.count("resuming training from snapshot at epoch 1") == 2  # both ranks
    metrics = json.loads(out.read_text())
    assert metrics["world_size"] == 2 and [h["epoch"] for h in metrics["history"]] == [1]
    assert metrics["history"][0]["samples"] == 2048  # the two ranks' shares add up to the data
    assert metrics["history"][0]["accuracy"] > 0.7 and metrics["test_accuracy"] > 0.7


@needs_mpi
def test_ddp_char_gpt_nanogpt_style_on_two_processes(tmp_path):
    """nanoGPT's DDP idioms (RANK in the environment, seed offsets, require_backward_grad_sync on
    the last micro-step, master-process checkpoints): the replicas stay equal and the loss falls."""
    data = require_data("tinyshakespeare/input.txt")
    out = tmp_path / "m.json"
    args = [
        "--data", str(data), "--max-iters", "30", "--eval-interval", "15", "--eval-iters", "2", "--n-layer", "1", "--n-head", "2",
        "--n-embd", "32", "--block-size", "32", "--batch-size", "8", "--gradient-accumulation-steps", "4", "--learning-rate", "3e-3",
        "--warmup-iters", "5", "--out-dir", str(tmp_path / "ckpt"), "--metrics-out", str(out),
    ]  # fmt: skip
    result = launch_script(ROOT / "examples" / "ddp_char_gpt.py", 2, tmp_path, timeout=240, args=args)
    check_ok(result)
    metrics = json.loads(out.read_text())
    assert metrics["world_size"] == 2
    a, b = metrics["weight_sums"]
    assert a == b  # the replicas, started from different seeds, end bitwise equal
    assert metrics["history"][-1]["val"] < metrics["history"][0]["val"] - 0.5
    assert (tmp_path / "ckpt" / "ckpt.pt").exists() and "tokens per iteration will be: 1,024" in result.stdout
