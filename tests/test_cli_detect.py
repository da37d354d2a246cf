"""`backprop train --task detect`, `backprop predict` and `backprop export` end to end, on real MNIST digit
canvases and on a tiny COCO-format folder: outputs, checkpoints and resume, drawn predictions, the ONNX file
in onnxruntime, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import backprop
from backprop.cli import main as cli_main
from conftest import DATA_DIR, require_data

QUICK = ["--task", "detect", "--epochs", "1", "--batch-size", "16", "--limit", "64", "--img-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def mnist_dir():
    require_data("mnist/train-images-idx3-ubyte.gz")
    return str(DATA_DIR / "mnist")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """One quick detector checkpoint shared by the predict and export tests."""
    folder = tmp_path_factory.mktemp("detector")
    ckpt = folder / "det.safetensors"
    assert cli_main(["train", *QUICK, "--data-dir", mnist_dir, "--save", str(ckpt)]) == 0
    return ckpt


def _train(tmp_path, mnist_dir, *extra, name="m.json"):
    path = tmp_path / name
    code = cli_main(["train", *QUICK, "--data-dir", mnist_dir, "--metrics-out", str(path), *extra])
    assert code == 0
    return json.loads(path.read_text())


def test_train_writes_metrics_checkpoint_and_plot(tmp_path, mnist_dir, capsys):
    ckpt, plot = tmp_path / "det.safetensors", tmp_path / "pred.png"
    m = _train(tmp_path, mnist_dir, "--save", str(ckpt), "--plot", str(plot), "--diagnose")
    out = capsys.readouterr().out
    assert "diagnostics:" in out and "adamw lr 0.002" in out
    for key in ("test_map", "test_map50", "test_map75", "per_class_ap", "epochs_run", "train_seconds", "history"):
        assert key in m
    assert m["task"] == "detect" and m["dataset"] == "mnist-detect" and m["model"] == "yolo-t"
    assert m["epochs_run"] == len(m["history"]) == 1
    assert 0.0 <= m["test_map"] <= m["test_map50"] <= 1.0
    assert set(m["per_class_ap"]) <= {str(d) for d in range(10)}
    assert "test mAP@0.5:0.95" in out and "per-class AP" in out
    assert ckpt.exists() and plot.exists()
    from PIL import Image

    with Image.open(plot) as im:
        assert im.mode == "RGB" and im.size[0] > 64 * 4  # a 4x4 grid of 64 px canvases


def test_resume_continues_exactly(tmp_path, mnist_dir, monkeypatch):
    """A two-epoch run stopped after its first epoch's checkpoint, then resumed, equals the straight run."""
    import backprop.cli.detect as detect

    straight = _train(tmp_path, mnist_dir, "--epochs", "2", name="a.json")
    ckpt = tmp_path / "c.safetensors"
    save = detect._save_detect_checkpoint

    def save_then_stop(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt  # the run is killed right after epoch 1 is on disk

    monkeypatch.setattr(detect, "_save_detect_checkpoint", save_then_stop)
    assert cli_main(["train", *QUICK, "--data-dir", mnist_dir, "--epochs", "2", "--save", str(ckpt)]) == 130
    monkeypatch.setattr(detect, "_save_detect_checkpoint", save)
    resumed = _train(tmp_path, mnist_dir, "--epochs", "2", "--resume", str(ckpt), name="c.json")
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    assert resumed["test_map"] == straight["test_map"]


def test_resume_with_more_epochs_restarts_the_cycle(tmp_path, mnist_dir, capsys):
    ckpt = tmp_path / "c.safetensors"
    _train(tmp_path, mnist_dir, "--save", str(ckpt), name="b.json")
    more = _train(tmp_path, mnist_dir, "--epochs", "3", "--resume", str(ckpt), name="c.json")
    assert more["epochs_run"] == 3 and len(more["history"]) == 3
    assert "--epochs 1 -> 3: the learning-rate cycle restarts" in capsys.readouterr().err


def test_resume_with_another_optimizer_and_negative_seed(tmp_path, mnist_dir, capsys):
    """An adamw checkpoint resumed with --optimizer sgd: a fresh SGD (no crash on the first step) and a
    restarted cycle, said in warnings; seeds are any integer torch takes."""
    ckpt = tmp_path / "c.safetensors"
    _train(tmp_path, mnist_dir, "--save", str(ckpt), "--seed", "-1", name="b.json")
    more = _train(tmp_path, mnist_dir, "--epochs", "2", "--resume", str(ckpt), "--optimizer", "sgd", "--seed", "-1", name="c.json")
    assert more["epochs_run"] == 2
    err = capsys.readouterr().err
    assert "the sgd optimizer starts fresh" in err and "--optimizer adamw -> sgd" in err


def test_per_class_ap_with_one_class():
    from backprop.cli.detect import _per_class

    result = {"classes": backprop.tensor(3, dtype=backprop.int32), "map_per_class": backprop.tensor(0.5)}
    assert _per_class(result, ["a", "b", "c", "d"]) == {"d": 0.5}


def _write_canvases(folder, count: int = 3, size: int = 64):
    from PIL import Image

    ds = backprop.vision.datasets.MNISTDetection(str(DATA_DIR / "mnist"), train=False, size=size, length=count)
    folder.mkdir()
    for i in range(count):
        Image.fromarray(ds.images[i, 0].numpy()).save(folder / f"canvas{i}.png")
    return ds


def test_predict_prints_and_draws_boxes(tmp_path, trained, capsys):
    ckpt = trained
    _write_canvases(tmp_path / "images")
    capsys.readouterr()
    code = cli_main(["predict", "--weights", str(ckpt), "--source", str(tmp_path / "images"), "--conf", "0.01", "--save", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("canvas") == 3 and "object" in out
    drawn = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert drawn == ["canvas0.png", "canvas1.png", "canvas2.png"]
    from PIL import Image

    with Image.open(tmp_path / "out" / "canvas0.png") as im:
        assert im.size == (64, 64) and im.mode == "RGB"


def test_predict_maps_boxes_back_to_the_image():
    """A 96x128 image letterboxed to 64: scale 0.5, 8 px of padding above and below."""
    from backprop.cli.predict import to_image_coords
    from backprop.vision.transforms.detection import letterbox

    image = backprop.zeros(1, 96, 128)
    target = {"boxes": backprop.tensor([[20.0, 20.0, 60.0, 60.0]]), "labels": backprop.tensor([0])}
    boxed, moved, params = letterbox(image, target, 64)
    assert tuple(boxed.shape) == (1, 64, 64) and params == (0.5, (0, 8))
    assert moved["boxes"].tolist() == [[10.0, 18.0, 30.0, 38.0]]
    back = to_image_coords(backprop.tensor([[10.0, 18.0, 30.0, 38.0], [-4.0, 0.0, 70.0, 64.0]]), params, (96, 128))
    assert back.tolist() == [[20.0, 20.0, 60.0, 60.0], [0.0, 0.0, 128.0, 96.0]]


def test_export_runs_in_onnxruntime(tmp_path, trained, capsys):
    ort = pytest.importorskip("onnxruntime")
    from backprop.cli.detect import load_detector

    ckpt, onnx_path = trained, tmp_path / "det.onnx"
    assert cli_main(["export", "--weights", str(ckpt), "--output", str(onnx_path)]) == 0
    assert "stride8" in capsys.readouterr().out
    model, _ = load_detector(str(ckpt))
    x = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x})
    with backprop.no_grad():
        want = [o.numpy() for o in model(backprop.tensor(x))]
    assert [g.shape for g in got] == [(3, 14, 8, 8), (3, 14, 4, 4), (3, 14, 2, 2)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def _write_coco(folder, count: int = 12, size: int = 80):
    """Bright rectangles (class 'box') and dark-on-grey discs (class 'disc') on random RGB noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(count):
        w, h = size + 16 * (i % 3), size
        img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
        x0, y0 = int(rng.integers(2, w // 2)), int(rng.integers(2, h // 2))
        bw, bh = int(rng.integers(10, w // 2 - 2)), int(rng.integers(10, h // 2 - 2))
        img[y0 : y0 + bh, x0 : x0 + bw] = 230
        Image.fromarray(img).save(folder / "images" / f"{i}.png")
        images.append({"id": 100 + i, "file_name": f"{i}.png", "width": w, "height": h})
        anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": 7, "bbox": [x0, y0, bw, bh], "area": bw * bh, "iscrowd": 0})
        if i % 4 == 0:  # a crowd region: out of the training targets, ignored by the evaluation
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": 7, "bbox": [w - 20, h - 20, 18, 18], "area": 300, "iscrowd": 1})
    ann = {"images": images, "annotations": anns, "categories": [{"id": 7, "name": "box"}, {"id": 9, "name": "disc"}]}
    (folder / "ann.json").write_text(json.dumps(ann))
    return folder / "ann.json", folder / "images"


def test_coco_folder_trains(tmp_path, capsys):
    pytest.importorskip("PIL")
    ann, images = _write_coco(tmp_path / "coco")
    path = tmp_path / "m.json"
    args = ["train", "--task", "detect", "--dataset", "coco", "--ann", str(ann), "--images", str(images), "--img-size", "64",
            "--epochs", "1", "--batch-size", "4", "--model", "yolo-t", "--augment", "--no-progress", "--metrics-out", str(path)]
    assert cli_main(args) == 0
    m = json.loads(path.read_text())
    assert m["dataset"] == "coco" and m["epochs_run"] == 1
    assert set(m["per_class_ap"]) <= {"box", "disc"}  # class names from the JSON's categories
    # 12 images: 20% held out for the test, 10% of the rest for validation; RGB in, 2 classes out
    out = capsys.readouterr().out
    assert "2 classes) on coco: 9 train / 1 val / 2 test images of 64px" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--task", "detect", "--dataset", "mnist"], "needs --dataset mnist-detect or coco"),
        (["--task", "detect"], "--data-dir is required"),
        (["--task", "detect", "--data-dir", "/no/such/dir"], "data directory not found"),
        (["--task", "detect", "--dataset", "coco"], "needs --ann FILE"),
        (["--task", "detect", "--dataset", "coco", "--ann", __file__, "--images", ".", "--test-images", "."], "--test-images needs --test-ann"),
        (["--task", "detect", "--dataset", "coco", "--ann", "/no/such.json", "--images", "."], "no such file"),
        (["--task", "detect", "--img-size", "100", "--data-dir", "."], "multiple of 32"),
        (["--task", "detect", "--img-size", "32", "--data-dir", "."], "at least 64"),
        (["--task", "detect", "--model", "cnn", "--data-dir", "."], "needs --model yolo-t"),
        (["--dataset", "mnist-detect"], "add --task detect"),
        (["--model", "yolo-t"], "add --task detect"),
        (["--img-size", "64"], "--img-size is for --task detect"),
        (["--ann", "a.json"], "--ann is for --task detect"),
        (["--task", "detect", "--data-dir", ".", "--early-stopping", "2", "--val-split", "0"], "needs a validation set"),
        (["--task", "detect", "--data-dir", ".", "--dropout", "0.1"], "--dropout is for --task classify"),
        (["--task", "detect", "--data-dir", ".", "--report", "r"], "--report is for --task classify"),
        (["--task", "detect", "--data-dir", ".", "--scheduler", "step"], "one-cycle schedule"),
    ],
)
def test_bad_options_are_one_line_errors(args, message, capsys):
    assert cli_main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("backprop train: error:")


@pytest.mark.parametrize(
    "command,args,message",
    [
        ("predict", ["--weights", "/no/ckpt", "--source", "."], "no such file"),
        ("predict", ["--source", "."], "required: --weights"),
        ("export", ["--weights", "/no/ckpt", "--output", "x.onnx"], "no such file"),
        ("predict", ["--weights", "w", "--source", ".", "--max-det", "0"], "--max-det"),
    ],
)
def test_predict_and_export_errors(command, args, message, capsys):
    assert cli_main([command, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith(f"backprop {command}: error:")


def test_predict_rejects_a_classifier_checkpoint(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "cls.safetensors"
    backprop.save({"weight": backprop.zeros(2)}, str(path))
    (tmp_path / "img").mkdir()
    assert cli_main(["predict", "--weights", str(path), "--source", str(tmp_path / "img")]) == 2
    assert "no images" in capsys.readouterr().err
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "img" / "a.png")
    assert cli_main(["predict", "--weights", str(path), "--source", str(tmp_path / "img")]) == 2
    assert "not a checkpoint written by backprop train --task detect" in capsys.readouterr().err


def test_ramped_ema_follows_early_weights():
    """The EMA's decay starts near 0 and grows to its nominal value: decay * (1 - exp(-n / ramp))."""
    import math

    from backprop.cli.detect import ramped_ema
    from backprop.optim.swa_utils import AveragedModel

    model = backprop.nn.BatchNorm1d(2)
    ema = AveragedModel(model, multi_avg_fn=ramped_ema(0.9, 10.0), use_buffers=True)
    ema.update_parameters(model)  # the first update copies
    expected = model.weight.detach().clone()
    for n in range(1, 4):
        with backprop.no_grad():
            model.weight.add_(1.0)
            model.num_batches_tracked.add_(1)
        ema.update_parameters(model)
        d = 0.9 * (1 - math.exp(-n / 10.0))
        expected = d * expected + (1 - d) * model.weight.detach()
        np.testing.assert_allclose(ema.module.weight.detach().numpy(), expected.numpy(), rtol=1e-6)
    assert int(ema.module.num_batches_tracked) == 3
