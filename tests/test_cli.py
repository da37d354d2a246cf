"""`backprop train` end to end: the default digits run, determinism, checkpoints and resume,
the outputs (metrics JSON, plot, confusion matrix) and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from backprop.cli import main as cli_main
from backprop.cli import train as cli_train
from conftest import DATA_DIR, require_data
from dist_harness import needs_mpi

QUICK = ["--epochs", "2", "--no-progress", "--limit", "600"]


def run(args, capsys=None) -> tuple:
    code = cli_main(["train", *args])
    out = capsys.readouterr() if capsys else None
    return code, out


def test_default_run_trains_cnn_on_digits_to_97_percent(tmp_path, capsys):
    metrics_path = tmp_path / "m.json"
    code, out = run(["--no-progress", "--metrics-out", str(metrics_path)], capsys)
    assert code == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["dataset"] == "digits" and metrics["model"] == "cnn"
    assert metrics["test_accuracy"] >= 0.97
    for key in ("test_accuracy", "test_loss", "best_val_loss", "epochs_run", "train_seconds", "history"):
        assert key in metrics
    assert metrics["epochs_run"] == len(metrics["history"]) == 25
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert "confusion matrix" in out.out and "test accuracy" in out.out
    import backprop

    assert np.array(metrics["confusion_matrix"]).sum() == len(backprop.datasets.Digits(train=False))


def test_same_seed_gives_bit_identical_results(tmp_path):
    histories = []
    for i in range(2):
        path = tmp_path / f"m{i}.json"
        assert cli_main(["train", *QUICK, "--metrics-out", str(path), "--dropout", "0.3"]) == 0
        m = json.loads(path.read_text())
        histories.append([(h["train_loss"], h["val_loss"]) for h in m["history"]] + [m["test_loss"]])
    assert histories[0] == histories[1]


@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet"])
@pytest.mark.parametrize("optimizer,scheduler", [("sgd", "step"), ("adam", "cosine"), ("adamw", "onecycle")])
def test_models_optimizers_and_schedulers_run(model, optimizer, scheduler, tmp_path):
    path = tmp_path / "m.json"
    args = ["--model", model, "--optimizer", optimizer, "--scheduler", scheduler, "--epochs", "1", "--limit", "200", "--no-progress", "--metrics-out", str(path)]
    assert cli_main(["train", *args]) == 0
    m = json.loads(path.read_text())
    assert np.isfinite(m["test_loss"]) and 0 <= m["test_accuracy"] <= 1


def test_plateau_scheduler_weight_decay_dropout_augment(tmp_path):
    path = tmp_path / "m.json"
    args = [*QUICK, "--scheduler", "plateau", "--weight-decay", "1e-4", "--dropout", "0.2", "--augment", "--metrics-out", str(path)]
    assert cli_main(["train", *args]) == 0
    assert json.loads(path.read_text())["epochs_run"] == 2


def test_early_stopping_stops_and_restores_best(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    # Validation loss that improves once, then only gets worse: patience 2 stops after epoch 3.
    losses = iter([1.0, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7])
    original = cli_train.evaluate

    def fake_evaluate(model, x, y, batch_size=512, classes=None, device=None):
        result = original(model, x, y, batch_size, classes, device=device)
        if classes is None:
            result["loss"] = next(losses)
        return result

    monkeypatch.setattr(cli_train, "evaluate", fake_evaluate)
    assert cli_main(["train", "--epochs", "8", "--early-stopping", "2", "--limit", "300", "--no-progress", "--metrics-out", str(path)]) == 0
    m = json.loads(path.read_text())
    assert m["stopped_early"] and m["epochs_run"] == 4 and m["best_epoch"] == 2 and m["best_val_loss"] == 0.5


def test_save_and_resume_equal_an_uninterrupted_run(tmp_path, monkeypatch):
    import backprop

    full = tmp_path / "full.safetensors"
    part = tmp_path / "part.safetensors"
    args = ["--epochs", "4", "--limit", "400", "--dropout", "0.2", "--scheduler", "cosine", "--augment", "--no-progress"]
    assert cli_main(["train", *args, "--save", str(full)]) == 0

    # Interrupt a second run right after its epoch-2 checkpoint, then resume it.
    real_save = cli_train._save_checkpoint

    def save_then_interrupt(*a, **kw):
        real_save(*a, **kw)
        if a[5] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_train, "_save_checkpoint", save_then_interrupt)
    assert cli_main(["train", *args, "--save", str(part)]) == 130
    monkeypatch.setattr(cli_train, "_save_checkpoint", real_save)
    assert backprop.load(part)["epoch"] == 2
    assert cli_main(["train", *args, "--save", str(part), "--resume", str(part)]) == 0

    a, b = backprop.load(full), backprop.load(part)
    assert a["epoch"] == b["epoch"] == 4
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key].numpy(), b["model"][key].numpy(), err_msg=key)
    losses = lambda ck: [(h["train_loss"], h["val_loss"]) for h in ck["history"]]  # noqa: E731 (seconds differ)
    assert losses(a) == losses(b)


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    assert cli_main(["train", *QUICK, "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--epochs", "0"], "--epochs"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "abc"], "--lr"),
        (["--dataset", "cifar"], "--dataset"),
        (["--dropout", "1.5"], "--dropout"),
        (["--bogus"], "unrecognized"),
        (["--dataset", "mnist"], "--data-dir"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/dir"], "not found"),
        (["--early-stopping", "2", "--val-split", "0"], "validation"),
        (["--resume", "/nonexistent/ckpt.safetensors"], "no such file"),
        (["--resume", "."], "is a directory"),
        (["--epochs", "-3"], "--epochs"),
        (["--batch-size", "-5"], "--batch-size"),
        (["--lr", "0"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--weight-decay", "-1"], "--weight-decay"),
        (["--seed", "1.5"], "--seed"),
        (["--seed", str(2**64)], "--seed"),
        (["--seed", str(-(2**63) - 1)], "--seed"),
        (["--limit", "10", "--val-split", "0.99"], "none for training"),
        (["--limit", "3"], "none for validation"),
        (["--val-split", "0.9999"], "none for training"),
        (["--save", "/nonexistent/dir/ck.safetensors"], "does not exist"),
        (["--metrics-out", "/nonexistent/dir/m.json"], "does not exist"),
        (["--plot", "/nonexistent/dir/p.png"], "does not exist"),
        (["--save", "."], "is a directory"),
        (["--metrics-out", "."], "is a directory"),
        (["--dataset", "mnist", "--data-dir", "/dev/null"], "not a directory"),
    ],
)
def test_bad_input_is_one_line_error_with_status_2(args, needle, capsys):
    code, out = run(args, capsys)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("backprop train: error:") and needle.lower() in lines[0].lower()
    assert "Traceback" not in out.err


def test_outputs_and_split_are_checked_before_any_data_is_loaded(tmp_path, capsys, monkeypatch):
    """A run that would fail at its end (an unwritable --save/--metrics-out/--plot/--report, an
    empty split) fails at once, before the data is loaded or a step is taken."""

    def no_loading(args):
        raise AssertionError("the data was loaded before the options were checked")

    monkeypatch.setattr(cli_train, "load_arrays", no_loading)
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["--save", str(tmp_path / "nodir" / "ck")], "does not exist"),
        (["--metrics-out", str(tmp_path / "nodir" / "m.json")], "does not exist"),
        (["--report", str(afile)], "not a directory"),
        (["--report", str(afile / "sub")], "not a directory"),
        (["--limit", "10", "--val-split", "0.99"], "none for training"),
    ]
    for args, needle in cases:
        code, out = run(args, capsys)
        assert code == 2 and needle in out.err and len(out.err.strip().splitlines()) == 1, (args, out.err)
    assert not (tmp_path / "nodir").exists()


def test_split_of_the_whole_dataset_is_checked_after_loading(capsys, monkeypatch):
    real = cli_train.load_arrays
    monkeypatch.setattr(cli_train, "load_arrays", lambda args: {k: (v[:4] if k.startswith(("x_", "y_")) else v) for k, v in real(args).items()})
    code, out = run(["--no-progress", "--epochs", "1"], capsys)
    assert code == 2 and "0.1 of 4 training examples leaves none for validation" in out.err


def test_negative_seed_is_its_64_bit_twos_complement(tmp_path):
    """--seed -1 runs (torch.manual_seed takes it) and is the same run as --seed 2**64 - 1."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["--epochs", "1", "--limit", "200", "--no-progress"]
    assert cli_main(["train", *args, "--seed", "-1", "--metrics-out", str(a)]) == 0
    assert cli_main(["train", *args, "--seed", str(2**64 - 1), "--metrics-out", str(b)]) == 0
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ma["history"][0]["train_loss"] == mb["history"][0]["train_loss"] and ma["test_loss"] == mb["test_loss"]


RESUME_ARGS = ["--limit", "200", "--no-progress"]


@pytest.fixture(scope="module")
def sgd_checkpoint(tmp_path_factory):
    """One epoch with SGD saved by --save, and its model weights alone as a plain state_dict."""
    import backprop

    folder = tmp_path_factory.mktemp("ck")
    full, plain = folder / "sgd.safetensors", folder / "plain.safetensors"
    assert cli_main(["train", *RESUME_ARGS, "--epochs", "1", "--optimizer", "sgd", "--save", str(full)]) == 0
    backprop.save(backprop.load(full)["model"], plain)
    return full, plain


def test_resume_a_plain_state_dict_starts_from_its_weights_with_a_warning(sgd_checkpoint, tmp_path, capsys):
    full, plain = sgd_checkpoint
    fresh, resumed = tmp_path / "fresh.json", tmp_path / "resumed.json"
    assert cli_main(["train", *RESUME_ARGS, "--epochs", "1", "--metrics-out", str(fresh)]) == 0
    capsys.readouterr()
    code, out = run([*RESUME_ARGS, "--epochs", "1", "--resume", str(plain), "--metrics-out", str(resumed)], capsys)
    assert code == 0
    assert "warning: --resume" in out.err and "model weights only" in out.err and "Traceback" not in out.err
    a, b = json.loads(fresh.read_text()), json.loads(resumed.read_text())
    assert [h["epoch"] for h in b["history"]] == [1]
    assert a["history"][0]["train_loss"] != b["history"][0]["train_loss"]  # it started from the saved weights


def test_resume_with_another_optimizer_restores_all_but_the_optimizer(sgd_checkpoint, tmp_path, capsys):
    full, _ = sgd_checkpoint
    path = tmp_path / "m.json"
    code, out = run([*RESUME_ARGS, "--epochs", "2", "--optimizer", "adam", "--scheduler", "cosine", "--resume", str(full), "--metrics-out", str(path)], capsys)
    assert code == 0
    assert "saved with --optimizer sgd" in out.err and "adam optimizer starts fresh" in out.err
    assert "saved with --scheduler none: the cosine schedule starts fresh" in out.err
    m = json.loads(path.read_text())
    assert [h["epoch"] for h in m["history"]] == [1, 2] and m["epochs_run"] == 2


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda full, plain, tmp: (["--model", "mlp"], full), "do not fit --model mlp on digits (it was saved with --model cnn)"),
        (lambda full, plain, tmp: (["--model", "mlp"], plain), "do not fit --model mlp on digits"),
        (lambda full, plain, tmp: ([], _save(tmp / "odd.safetensors", {"a": 1, "w": _zeros()})), "not a checkpoint written by --save"),
        (lambda full, plain, tmp: ([], _save(tmp / "list.safetensors", [1, 2])), "not a checkpoint written by --save"),
        (lambda full, plain, tmp: ([], _write(tmp / "junk.bin", b"junk" * 10)), "safetensors"),
    ],
)
def test_resume_of_a_file_that_does_not_fit_is_one_line_with_status_2(make, needle, sgd_checkpoint, tmp_path, capsys):
    extra, path = make(*sgd_checkpoint, tmp_path)
    code, out = run([*RESUME_ARGS, "--epochs", "2", *extra, "--resume", str(path)], capsys)
    assert code == 2, out.err
    assert len(out.err.strip().splitlines()) == 1 and needle in out.err and "Traceback" not in out.err


def _save(path, obj):
    import backprop

    backprop.save(obj, path)
    return path


def _zeros():
    import backprop

    return backprop.zeros(2)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_corrupt_idx_file_is_a_one_line_error(tmp_path, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"this is not gzip")
    code, out = run(["--dataset", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 2
    assert len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err


def test_console_script_and_module_entry_point_subprocess(tmp_path):
    result = subprocess.run([sys.executable, "-m", "backprop", "train", "--epochs", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("backprop train: error:") and "Traceback" not in result.stderr


def _train_subprocess(args: list, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprop", "train", "--no-progress", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@needs_mpi
def test_nproc_2_trains_on_shares_of_each_batch_and_resumes_exactly(tmp_path):
    """--nproc 2: one process reports and writes; the epoch figures are the sums over both
    processes' shares; stopping after epoch 2 and resuming equals an uninterrupted run."""
    import backprop

    common = ["--nproc", "2", "--limit", "400", "--batch-size", "32"]
    full = _train_subprocess([*common, "--epochs", "3", "--metrics-out", "full.json"], tmp_path)
    assert full.returncode == 0, full.stderr
    assert full.stdout.count("test accuracy") == 1 and "on 2 processes, 16 per process per batch" in full.stdout
    part = _train_subprocess([*common, "--epochs", "2", "--save", "ck.safetensors"], tmp_path)
    assert part.returncode == 0, part.stderr
    assert backprop.load(tmp_path / "ck.safetensors")["epoch"] == 2
    assert not any(k.startswith("module.") for k in backprop.load(tmp_path / "ck.safetensors")["model"])  # the plain model's keys
    resumed = _train_subprocess([*common, "--epochs", "3", "--resume", "ck.safetensors", "--metrics-out", "resumed.json"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.loads((tmp_path / "full.json").read_text()), json.loads((tmp_path / "resumed.json").read_text())
    assert a["processes"] == b["processes"] == 2
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert a["test_loss"] == b["test_loss"] and a["history"][-1]["train_accuracy"] > 0.8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.safetensors", "full.json", "resumed.json"]  # no per-rank files


@needs_mpi
@pytest.mark.parametrize("args,needle", [(["--batch-size", "33"], "multiple of --nproc 2"), (["--dataset", "mnist", "--data-dir", "/nonexistent"], "not found")])
def test_nproc_bad_input_is_one_line_before_any_process_starts(args, needle, tmp_path):
    result = _train_subprocess(["--nproc", "2", *args], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and needle in result.stderr


def test_mnist_smoke_from_shared_data(tmp_path):
    require_data("mnist/train-images-idx3-ubyte.gz")
    path = tmp_path / "m.json"
    args = ["--dataset", "mnist", "--data-dir", str(DATA_DIR / "mnist"), "--epochs", "2", "--limit", "2000", "--no-progress", "--metrics-out", str(path)]
    assert cli_main(["train", *args]) == 0
    assert json.loads(path.read_text())["test_accuracy"] > 0.85


def test_fashion_mnist_smoke_from_shared_data(tmp_path):
    require_data("fashion-mnist/train-images-idx3-ubyte.gz")
    path = tmp_path / "m.json"
    args = ["--dataset", "fashion-mnist", "--data-dir", str(DATA_DIR / "fashion-mnist"), "--model", "mlp", "--epochs", "1", "--limit", "2000", "--no-progress", "--metrics-out", str(path)]
    assert cli_main(["train", *args]) == 0
    assert json.loads(path.read_text())["test_accuracy"] > 0.6
