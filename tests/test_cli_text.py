"""`backprop train --task sentiment / translate` and `backprop predict --text` end to end on a few hundred
real SST-2 and Multi30k examples: the loss falls, metrics and checkpoints (with the tokenizer beside them)
are written, a killed run resumed equals the straight run, predictions print, bad options are one-line
errors with exit status 2."""

from __future__ import annotations

import io
import json

import pytest

import backprop
import backprop.cli.text as text_cli
from backprop.cli import main as cli_main
from backprop.text import load_tokenizer
from conftest import DATA_DIR, require_data

pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")

SMALL = ["--d-model", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab-size", "600", "--no-progress", "--batch-size", "32"]
SENTIMENT = ["--task", "sentiment", "--limit", "1500", "--lr", "3e-3", "--warmup", "5", *SMALL]
TRANSLATE = ["--task", "translate", "--limit", "160", "--lr", "3e-3", "--warmup", "5", "--beam-size", "2", "--max-len", "40", *SMALL]


@pytest.fixture(scope="module")
def sst2_dir():
    require_data("sst2/train.tsv")
    return str(DATA_DIR / "sst2")


@pytest.fixture(scope="module")
def multi30k_dir():
    require_data("multi30k/train.de.gz")
    return str(DATA_DIR / "multi30k")


def _train(tmp_path, base, data_dir, *extra, name="m.json"):
    path = tmp_path / name
    assert cli_main(["train", *base, "--data-dir", data_dir, "--metrics-out", str(path), *extra]) == 0
    return json.loads(path.read_text())


def _saved_run(tmp_path_factory, base, data_dir, epochs: int):
    """(folder, checkpoint, metrics) of a run with --save and --plot, shared by a module's tests."""
    folder = tmp_path_factory.mktemp(base[1])
    ckpt = folder / f"{base[1]}.safetensors"
    metrics = _train(folder, base, data_dir, "--epochs", str(epochs), "--save", str(ckpt), "--plot", str(folder / "curves.png"))
    return folder, ckpt, metrics


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory, sst2_dir):
    return _saved_run(tmp_path_factory, SENTIMENT, sst2_dir, 6)


def test_sentiment_trains_and_reports(sentiment_run):
    folder, ckpt, m = sentiment_run
    assert m["task"] == "sentiment" and m["dataset"] == "sst2" and m["model"] == "transformer"
    assert m["epochs_run"] == len(m["history"]) == 6
    losses = [h["train_loss"] for h in m["history"]]
    assert losses[-1] < losses[0] - 0.05, losses
    for key in ("dev_accuracy", "dev_loss", "best_val_loss", "train_seconds", "parameters", "vocab_size", "examples"):
        assert key in m
    assert 0.0 <= m["dev_accuracy"] <= 1.0
    assert m["history"][-1]["train_accuracy"] > 0.6 > m["history"][0]["train_accuracy"]  # it learns (65% vs 53% here)
    assert {e["prediction"] for e in m["examples"]} <= {"negative", "positive"}
    assert (folder / "curves.png").stat().st_size > 1000
    # the tokenizer is saved beside the checkpoint and is the one inside it
    beside = load_tokenizer(f"{ckpt}.tokenizer.json")
    _, inside, config = text_cli.load_text_model(str(ckpt))
    sentence = "a gorgeous , witty , seductive movie ."
    assert beside.encode(sentence).ids == inside.encode(sentence).ids
    assert config["classes"] == ["negative", "positive"] and config["vocab_size"] == beside.get_vocab_size()


def test_sentiment_bilstm_and_wordpiece(tmp_path, sst2_dir):
    m = _train(tmp_path, SENTIMENT, sst2_dir, "--model", "bilstm", "--tokenizer", "wordpiece", "--epochs", "2")
    assert m["model"] == "bilstm" and m["epochs_run"] == 2
    assert m["history"][1]["train_loss"] < m["history"][0]["train_loss"]


@pytest.mark.parametrize("task", ["sentiment", "translate"])
def test_resume_continues_exactly(task, tmp_path, sst2_dir, multi30k_dir, monkeypatch):
    """A two-epoch run killed after its first epoch's checkpoint, then resumed, equals the straight run."""
    base, data = (SENTIMENT, sst2_dir) if task == "sentiment" else ([*TRANSLATE, "--limit", "64"], multi30k_dir)
    metric = "dev_accuracy" if task == "sentiment" else "test_bleu"
    straight = _train(tmp_path, base, data, "--epochs", "2", name="a.json")
    ckpt = tmp_path / "c.safetensors"
    save = text_cli._save_text_checkpoint

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(text_cli, "_save_text_checkpoint", save_then_stop)
    assert cli_main(["train", *base, "--data-dir", data, "--epochs", "2", "--save", str(ckpt)]) == 130
    monkeypatch.setattr(text_cli, "_save_text_checkpoint", save)
    resumed = _train(tmp_path, base, data, "--epochs", "2", "--resume", str(ckpt), name="c.json")
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    assert resumed[metric] == straight[metric] and resumed["best_val_loss"] == straight["best_val_loss"]


def test_resume_refuses_another_model(tmp_path, sentiment_run, sst2_dir, capsys):
    _, ckpt, _ = sentiment_run
    code = cli_main(["train", *SENTIMENT, "--data-dir", sst2_dir, "--epochs", "4", "--d-model", "48", "--resume", str(ckpt)])
    assert code == 2
    assert "the saved model differs from this run's (d_model 32 -> 48)" in capsys.readouterr().err


def test_predict_sentiment(sentiment_run, capsys, monkeypatch):
    _, ckpt, _ = sentiment_run
    capsys.readouterr()
    assert cli_main(["predict", "--weights", str(ckpt), "--text", "a gorgeous , witty , seductive movie .", "--text", "dull"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    label, probability, sentence = lines[0].split("\t")
    assert label in ("negative", "positive") and 0.5 <= float(probability) <= 1.0 and sentence.startswith("a gorgeous")
    monkeypatch.setattr("sys.stdin", io.StringIO("first one\n\nsecond one\n"))
    assert cli_main(["predict", "--weights", str(ckpt), "--text", "-"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


@pytest.fixture(scope="module")
def translate_run(tmp_path_factory, multi30k_dir):
    return _saved_run(tmp_path_factory, TRANSLATE, multi30k_dir, 3)


def test_translate_trains_and_reports(translate_run):
    folder, ckpt, m = translate_run
    assert m["task"] == "translate" and m["dataset"] == "multi30k"
    assert m["epochs_run"] == len(m["history"]) == 3
    losses = [h["train_loss"] for h in m["history"]]
    assert losses[-1] < losses[0] - 0.3, losses
    for key in ("test_bleu", "test_bleu_greedy", "val_loss", "bleu_signature", "beam_size", "examples", "decode_seconds"):
        assert key in m
    assert m["val_loss"] == min(h["val_loss"] for h in m["history"])
    assert 0.0 <= m["test_bleu"] <= 100.0 and m["beam_size"] == 2
    assert m["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert all("val_bleu" in h for h in m["history"])
    assert (folder / "curves.png").stat().st_size > 1000
    assert (folder / "translate.safetensors.tokenizer.json").exists()


def test_predict_translation(translate_run, capsys):
    _, ckpt, _ = translate_run
    capsys.readouterr()
    assert cli_main(["predict", "--weights", str(ckpt), "--text", "Ein Mann schläft.", "--text", "Zwei Hunde.", "--beam-size", "1"]) == 0
    assert capsys.readouterr().out.count("\n") == 2  # one translation per line (this barely trained model's may be empty)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "translate", "--model", "bilstm"], "--task translate needs --model transformer, not bilstm"),
        (["--task", "sentiment", "--beam-size", "3"], "--beam-size and --length-penalty are for --task translate"),
        (["--task", "translate", "--val-split", "0.1"], "validates on Multi30k's own validation split"),
        (["--task", "sentiment", "--dataset", "mnist"], "--task sentiment trains on --dataset sst2, not mnist"),
        (["--task", "sentiment", "--d-model", "30", "--heads", "4"], "--d-model 30 must be a multiple of --heads 4"),
        (["--task", "sentiment", "--augment"], "--augment is not an option of --task sentiment"),
        (["--task", "sentiment", "--scheduler", "step"], "warm-up then cosine decay"),
        (["--task", "sentiment", "--nproc", "2"], "runs in one process"),
        (["--dataset", "sst2"], "--dataset sst2 is for --task sentiment"),
        (["--model", "transformer"], "--model transformer is for --task sentiment or --task translate"),
        (["--vocab-size", "100"], "--vocab-size is for --task sentiment or translate"),
        (["--task", "detect", "--warmup", "3"], "--warmup is for --task sentiment or translate"),
        (["--tokenizer", "bpe"], "--tokenizer is for --task sentiment or translate"),
        (["--task", "sentiment", "--vocab-size", "4"], "--vocab-size 4 must exceed the 4 special tokens"),
        (["--task", "translate", "--max-len", "2"], "leaves no room for tokens besides the decoder's BOS/EOS"),
        (["--task", "sentiment", "--limit", "10"], "0.05 of 10 training examples leaves none for validation"),
    ],
)
def test_usage_errors(argv, message, capsys, sst2_dir):
    data = [] if "--data-dir" in argv else ["--data-dir", sst2_dir]
    assert cli_main(["train", *argv, *data]) == 2
    err = capsys.readouterr().err
    assert err.startswith("backprop train: error:") and message in err and err.count("\n") == 1


def test_bilstm_takes_any_width(tmp_path, sst2_dir):
    """--heads belongs to the Transformer: a BiLSTM of width 30 is fine; sentiment needs no BOS/EOS room."""
    m = _train(tmp_path, SENTIMENT, sst2_dir, "--model", "bilstm", "--d-model", "30", "--max-len", "2", "--epochs", "1", "--limit", "200")
    assert m["model"] == "bilstm" and m["epochs_run"] == 1


def test_translate_without_sacrebleu_is_refused_before_training(tmp_path, multi30k_dir, capsys, monkeypatch):
    find_spec = text_cli.importlib.util.find_spec
    monkeypatch.setattr(text_cli.importlib.util, "find_spec", lambda name: None if name == "sacrebleu" else find_spec(name))
    assert cli_main(["train", *TRANSLATE, "--data-dir", multi30k_dir]) == 2
    assert "--task translate needs sacrebleu: pip install 'backprop[text]'" in capsys.readouterr().err


def test_early_stopping_tests_the_best_epoch(tmp_path, sst2_dir, monkeypatch):
    """Validation losses 0.5, 0.4, 0.6: with patience 1 the run stops after epoch 3 and the dev set is
    judged with epoch 2's weights (snapshotted when epoch 2 was validated)."""
    scripted = iter([0.5, 0.4, 0.6, 0.7])
    snapshots = []
    evaluate = text_cli.SentimentTask.evaluate

    def fake_evaluate(self, model, split, device):
        result = evaluate(self, model, split, device)
        weights = model.head.weight.detach().clone().numpy()
        if split == "val":
            snapshots.append(weights)
            return {**result, "loss": next(scripted)}
        snapshots.append(("test", weights))
        return result

    monkeypatch.setattr(text_cli.SentimentTask, "evaluate", fake_evaluate)
    m = _train(tmp_path, SENTIMENT, sst2_dir, "--epochs", "5", "--early-stopping", "1")
    assert m["stopped_early"] and m["epochs_run"] == 3 and m["best_epoch"] == 2 and m["best_val_loss"] == 0.4
    tested = [w for tag, w in (x for x in snapshots if isinstance(x, tuple))]
    assert len(tested) == 1 and (tested[0] == snapshots[1]).all() and not (tested[0] == snapshots[2]).all()


def test_resume_refuses_other_data_and_restarts_a_changed_schedule(tmp_path, sentiment_run, sst2_dir, capsys):
    _, ckpt, _ = sentiment_run
    assert cli_main(["train", *SENTIMENT, "--data-dir", sst2_dir, "--epochs", "7", "--limit", "1400", "--resume", str(ckpt)]) == 2
    assert "the saved run used other data (--limit 1500 -> 1400)" in capsys.readouterr().err
    more = tmp_path / "more.safetensors"
    m = _train(tmp_path, SENTIMENT, sst2_dir, "--epochs", "7", "--lr", "1e-2", "--resume", str(ckpt), "--save", str(more))
    assert m["epochs_run"] == 7 and len(m["history"]) == 7
    err = capsys.readouterr().err
    assert "--epochs 6 -> 7, --lr 0.003 -> 0.01: the learning-rate warm-up and decay restart over the remaining epochs" in err
    # the remaining epoch ran a fresh warm-up and decay peaking at the new --lr, not the saved 0.003
    saved = backprop.load(str(more))
    assert [g["max_lr"] for g in saved["optimizer"]["param_groups"]] == [0.01, 0.01]
    assert saved["scheduler"]["total_steps"] == saved["scheduler"]["last_epoch"]  # laid over exactly the remaining epoch


def test_missing_data_dir_and_files(tmp_path, capsys):
    assert cli_main(["train", "--task", "sentiment"]) == 2
    assert "--data-dir is required for --task sentiment" in capsys.readouterr().err
    assert cli_main(["train", "--task", "translate", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "data directory not found" in capsys.readouterr().err
    assert cli_main(["train", "--task", "sentiment", "--data-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "train.tsv" in err and "On the command line: --download." in err


def test_predict_usage_errors(tmp_path, sentiment_run, capsys):
    _, ckpt, _ = sentiment_run
    assert cli_main(["predict", "--weights", str(ckpt)]) == 2
    assert "give --source IMAGE_OR_DIR" in capsys.readouterr().err
    bogus = tmp_path / "w.safetensors"
    import backprop

    backprop.save({"w": backprop.zeros(2)}, str(bogus))
    assert cli_main(["predict", "--weights", str(bogus), "--text", "hello"]) == 2
    assert "not a checkpoint written by backprop train --task sentiment/translate --save" in capsys.readouterr().err
