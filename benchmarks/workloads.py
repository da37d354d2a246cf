"""The benchmark workloads, each written once against the PyTorch API.

``build(m, size)`` receives the framework module (``backprop`` or ``torch``) and a size
(``"cpu"``: the CPU suite's sizes; ``"gpu"``: batch sizes that fill a GPU) and returns a
``Workload``: the model, an optimizer, a batch and a loss function, on the CPU; the worker
moves it to the device. The runner then times full training steps (zero_grad + forward + loss
+ backward + optimizer step), or forward passes under ``no_grad`` for the ``*-inference``
variants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class Workload:
    model: object
    optimizer: object | None
    inputs: tuple
    target: object | None
    loss_fn: object
    batch_size: int


def _batch(m, shape, seed, dtype="float32"):
    return m.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _labels(m, n, classes, seed):
    return m.tensor(np.random.default_rng(seed).integers(0, classes, n))


# Batch sizes (and the GPT's shape) per size: "cpu" is the CPU suite, "gpu" fills a GPU.
SIZES = {
    "cpu": {"mlp": 128, "cnn": 64, "resnet": 32, "lstm": 32, "yolo": 32, "sentiment": 64, "translate": 32, "gpt": {"batch": 12, "block": 64, "n_layer": 4, "n_head": 4, "n_embd": 128}},
    "gpu": {"mlp": 4096, "cnn": 1024, "resnet": 512, "lstm": 256, "yolo": 256, "sentiment": 1024, "translate": 512, "gpt": {"batch": 64, "block": 256, "n_layer": 6, "n_head": 6, "n_embd": 384}},
}


def mlp(m, size: str = "cpu") -> Workload:
    """784-512-256-10 ReLU MLP, batch 128 (GPU: 4096), SGD with momentum."""
    nn = m.nn
    batch = SIZES[size]["mlp"]
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return Workload(model, opt, (_batch(m, (batch, 784), 0),), _labels(m, batch, 10, 1), nn.functional.cross_entropy, batch)


def cnn(m, size: str = "cpu") -> Workload:
    """Two 3x3 conv+ReLU+maxpool blocks (32, 64 channels) on 1x28x28, fc 128, fc 10; batch 64 (GPU: 1024), Adam."""
    from backprop.cli.models import cnn as build

    batch = SIZES[size]["cnn"]
    model = build((1, 28, 28), 10, nn=m.nn)
    opt = m.optim.Adam(model.parameters(), lr=1e-3)
    return Workload(model, opt, (_batch(m, (batch, 1, 28, 28), 0),), _labels(m, batch, 10, 1), m.nn.functional.cross_entropy, batch)


def resnet(m, size: str = "cpu") -> Workload:
    """CIFAR ResNet-14 (3 stages x 2 BasicBlocks, 16/32/64 channels, BatchNorm, projection
    shortcuts) on 3x32x32, batch 32 (GPU: 512), SGD with momentum."""
    from backprop.cli.models import resnet as build

    batch = SIZES[size]["resnet"]
    model = build((3, 32, 32), 10, nn=m.nn)
    opt = m.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    return Workload(model, opt, (_batch(m, (batch, 3, 32, 32), 0),), _labels(m, batch, 10, 1), m.nn.functional.cross_entropy, batch)


def _char_gpt_module(m):
    """examples/char_gpt.py, imported for framework ``m`` (one framework per worker process)."""
    os.environ["BACKPROP_EXAMPLE_FRAMEWORK"] = m.__name__
    from examples import char_gpt

    if char_gpt.torch is not m:
        raise RuntimeError("examples.char_gpt was already imported for another framework")
    return char_gpt


def gpt(m, size: str = "cpu") -> Workload:
    """Char GPT of examples/char_gpt.py: vocab 65, block 64, 4 layers, 4 heads, 128 embd, batch 12
    (GPU: block 256, 6 layers, 6 heads, 384 embd, batch 64), AdamW."""
    char_gpt = _char_gpt_module(m)
    c = SIZES[size]["gpt"]
    cfg = char_gpt.GPTConfig(vocab_size=65, block_size=c["block"], n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"], dropout=0.0)
    model = char_gpt.GPT(cfg)
    opt = m.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    idx = m.tensor(rng.integers(0, 65, (c["batch"], c["block"])))
    tgt = m.tensor(rng.integers(0, 65, (c["batch"], c["block"])))

    def loss_fn(output, target):
        logits = output[0]
        return m.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), target.view(-1))

    return Workload(model, opt, (idx,), tgt, loss_fn, c["batch"])


def lstm(m, size: str = "cpu") -> Workload:
    """Char LSTM language model: Embedding(65, 128) -> 2-layer LSTM(hidden 256) -> Linear; seq 64, batch 32 (GPU: 256), Adam."""
    nn = m.nn

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(65, 128)
            self.rnn = nn.LSTM(128, 256, num_layers=2, batch_first=True)
            self.head = nn.Linear(256, 65)

        def forward(self, idx):
            out, _ = self.rnn(self.emb(idx))
            return self.head(out)

    batch = SIZES[size]["lstm"]
    model = CharLSTM()
    opt = m.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    idx = m.tensor(rng.integers(0, 65, (batch, 64)))
    tgt = m.tensor(rng.integers(0, 65, (batch, 64)))

    def loss_fn(logits, target):
        return m.nn.functional.cross_entropy(logits.reshape(-1, 65), target.reshape(-1))

    return Workload(model, opt, (idx,), tgt, loss_fn, batch)


class DetectionTargets(list):
    """Per-image ``{"boxes", "labels"}`` dicts (what a detection loss takes), movable like a tensor."""

    def to(self, device):
        return DetectionTargets({k: v.to(device) for k, v in t.items()} for t in self)


def _detection_batch(m, batch: int, size: int = 96, classes: int = 10, seed: int = 0):
    """Fixed random 1-channel canvases with 1-6 boxes each (14-48 px, brighter than the background
    noise, so the detector has something to learn) and their targets."""
    rng = np.random.default_rng(seed)
    images = 0.2 * rng.random((batch, 1, size, size), dtype=np.float32)
    targets = DetectionTargets()
    for i in range(batch):
        n = int(rng.integers(1, 7))
        wh = rng.uniform(14, 48, (n, 2))
        xy = rng.uniform(0, size - wh)
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        for x1, y1, x2, y2 in boxes.round().astype(int):
            images[i, 0, y1:y2, x1:x2] = rng.uniform(0.6, 1.0)
        targets.append({"boxes": m.tensor(boxes), "labels": m.tensor(rng.integers(0, classes, n))})
    return m.tensor(images), targets


def yolo(m, size: str = "cpu") -> Workload:
    """The YOLO-style detector ``yolo(10, 1, "t")`` (backprop.vision.models; torch runs the same source,
    see torch_twin.py) on 1x96x96 canvases with 1-6 boxes each, batch 32 (GPU: 256): forward,
    YOLOLoss (task-aligned assignment, CIoU + BCE), backward, AdamW."""
    from benchmarks.torch_twin import vision_models

    models = vision_models(m)
    batch = SIZES[size]["yolo"]
    model = models.yolo(10, 1, "t")
    opt = m.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4)
    images, targets = _detection_batch(m, batch)
    criterion = models.YOLOLoss(model)

    def loss_fn(outputs, target):
        return criterion(outputs, target)[0]

    return Workload(model, opt, (images,), targets, loss_fn, batch)


def yolo_inference(m, size: str = "cpu") -> Workload:
    """The same detector's forward pass and post-processing (decode, confidence 0.001 as for mAP,
    per-class NMS at IoU 0.7, at most 100 boxes per image), batch 32 (GPU: 256)."""
    w = yolo(m, size)
    detector = w.model

    class Detect(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.detector = detector

        def forward(self, images):
            return self.detector.postprocess(self.detector(images), conf=0.001, iou=0.7, max_det=100, image_size=tuple(images.shape[-2:]))

    return Workload(Detect(), None, w.inputs, None, w.loss_fn, w.batch_size)


def _text_module(m, name: str):
    """``backprop.text.models.<name>`` / ``backprop.text.decoding`` for backprop; the same file run by torch."""
    from benchmarks.torch_twin import torch_module

    full = f"backprop.text.{name}"
    if m.__name__ == "torch":
        return torch_module(full)
    import importlib

    return importlib.import_module(full)


def _sentences(m, batch: int, length: int, vocab: int, seed: int):
    """Right-padded random token ids: lengths spread over [length / 2, length], pad id 0."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, vocab, (batch, length))
    ids[np.arange(length)[None, :] >= rng.integers(length // 2, length + 1, (batch, 1))] = 0
    return m.tensor(ids)


TEXT_VOCAB = 8000  # the BPE vocabulary size of `backprop train --task sentiment/translate`


def sentiment(m, size: str = "cpu") -> Workload:
    """The SST-2 Transformer classifier of ``backprop train --task sentiment`` (vocab 8000, d 128, 2 layers,
    4 heads, ffn 256) on padded sentences of up to 24 tokens, batch 64 (GPU: 1024), AdamW."""
    models = _text_module(m, "models.classifier")
    batch = SIZES[size]["sentiment"]
    model = models.TransformerClassifier(TEXT_VOCAB, 2, 128, 4, 2, 256, dropout=0.0, max_len=64)
    opt = m.optim.AdamW(model.parameters(), lr=1e-3)
    return Workload(model, opt, (_sentences(m, batch, 24, TEXT_VOCAB, 0),), _labels(m, batch, 2, 1), m.nn.functional.cross_entropy, batch)


def translate(m, size: str = "cpu") -> Workload:
    """The Multi30k translator of ``backprop train --task translate`` (vocab 8000, d 256, 3+3 layers, 4 heads,
    ffn 512) with teacher forcing on 18-token sources and 19-token targets, batch 32 (GPU: 512), AdamW,
    label-smoothed cross-entropy ignoring pads."""
    models = _text_module(m, "models.translation")
    batch = SIZES[size]["translate"]
    model = models.TranslationTransformer(TEXT_VOCAB, 256, 4, 3, 3, 512, dropout=0.0)
    opt = m.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98))
    src, tgt = _sentences(m, batch, 18, TEXT_VOCAB, 0), _sentences(m, batch, 20, TEXT_VOCAB, 1)

    def loss_fn(logits, target):
        return m.nn.functional.cross_entropy(logits.reshape(-1, TEXT_VOCAB), target.reshape(-1), ignore_index=0, label_smoothing=0.1)

    return Workload(model, opt, (src, tgt[:, :-1]), tgt[:, 1:], loss_fn, batch)


def translate_inference(m, size: str = "cpu") -> Workload:
    """The same translator's greedy decoding (incremental, cached keys/values) of the batch's sources,
    20 tokens each: the decoder never stops early, so both frameworks do the same work."""
    w = translate(m, size)
    decoding = _text_module(m, "decoding")
    translator = w.model

    class Greedy(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.translator = translator

        def forward(self, src, tgt_in):
            return decoding.greedy_decode(self.translator, src, max_len=20, eos_id=TEXT_VOCAB)  # an id never emitted

    return Workload(Greedy(), None, w.inputs, None, w.loss_fn, w.batch_size)


def overhead_graph(m, x, y):
    """Eight scalar ops: the cost of the framework itself (dispatch, graph recording, engine)."""
    a = x * y
    b = a + x
    c = b.exp()
    d = c - y
    e = d * d
    f = e.sin()
    g = f + a
    return g.tanh()


WORKLOADS = {"mlp": mlp, "cnn": cnn, "resnet": resnet, "gpt": gpt, "lstm": lstm, "yolo": yolo, "sentiment": sentiment, "translate": translate}
_OWN_INFERENCE = {"lstm-inference": lstm, "yolo-inference": yolo_inference, "translate-inference": translate_inference}
INFERENCE = {f"{name}-inference": fn for name, fn in WORKLOADS.items() if f"{name}-inference" not in _OWN_INFERENCE} | _OWN_INFERENCE
ALL = list(WORKLOADS) + ["overhead"] + list(INFERENCE)

