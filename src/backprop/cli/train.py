"""``backprop train``: train a classifier with backpropagation and report on it.

Forward pass, cross-entropy loss, backward pass, optimizer step -- batch by batch, epoch by
epoch -- with a validation split, regularization (weight decay, dropout), optional data
augmentation, learning-rate schedules and early stopping. With no arguments it trains a
small CNN on the 8x8 digits bundled with scikit-learn (no download needed).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np

from .. import cuda, nn, optim
from .. import distributed as dist
from .. import random as bp_random
from .._creation import tensor
from .._device import device as device_cls
from .._dtype import float64
from .._tensor import Tensor, _make
from ..autograd.grad_mode import no_grad
from ..distributed.run import launch
from ..nn.parallel import DistributedDataParallel
from ..ops.indexing import bincount
from ..utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset
from .models import MODELS

DETECT_MODELS = ("yolo-t", "yolo-n", "yolo-s")  # --task detect's architectures (backprop.vision.models.yolo)
TEXT_MODELS = ("transformer", "bilstm")  # --task sentiment / translate (backprop.text.models)
# the language tasks' options (None unless given)
TEXT_OPTIONS = ("tokenizer", "vocab_size", "max_len", "d_model", "layers", "heads", "ffn", "label_smoothing", "warmup", "beam_size", "length_penalty")

# Per-dataset defaults used when an option is not given.
DATASET_DEFAULTS = {
    "digits": {"epochs": 25, "batch_size": 32, "lr": 3e-3, "dropout": 0.0, "scheduler": "none"},
    "mnist": {"epochs": 6, "batch_size": 64, "lr": 1e-3, "dropout": 0.25, "scheduler": "cosine"},
    "fashion-mnist": {"epochs": 10, "batch_size": 64, "lr": 1e-3, "dropout": 0.25, "scheduler": "cosine"},
}


class UsageError(Exception):
    """A problem with the command line or the data, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, status 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="backprop train",
        description="Train with backprop: an image classifier (test accuracy), a YOLO-style detector (--task detect, test mAP), "
        "a sentiment classifier (--task sentiment, SST-2 dev accuracy) or a translator (--task translate, Multi30k test BLEU).",
    )
    p.add_argument(
        "--task", choices=["classify", "detect", "sentiment", "translate"], default="classify",
        help="classify images; detect objects (judged by COCO mAP); sentiment of sentences (SST-2); translate German to English (Multi30k, sacreBLEU)",
    )
    p.add_argument(
        "--dataset", choices=["digits", "mnist", "fashion-mnist", "mnist-detect", "coco", "sst2", "multi30k"], default=None,
        help="default: digits (classify), mnist-detect (detect), sst2 (sentiment), multi30k (translate)",
    )
    p.add_argument("--data-dir", default=None, help="directory with the dataset's files (IDX .gz for mnist/fashion-mnist/mnist-detect; train.tsv/dev.tsv for sst2; the .gz files for multi30k)")
    p.add_argument("--download", action="store_true", help="download the dataset into --data-dir if missing")
    p.add_argument(
        "--model", choices=sorted(MODELS) + list(DETECT_MODELS) + list(TEXT_MODELS), default=None,
        help="default: cnn (classify), yolo-t (detect on mnist-detect), transformer (sentiment, translate; sentiment also bilstm)",
    )
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--lr", type=_positive_float, default=None)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None, help="default: adam (classify), adamw (detect)")
    p.add_argument("--momentum", type=_nonneg_float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=_nonneg_float, default=None, help="default 0 (classify), 5e-4 on convolution kernels (detect)")
    p.add_argument("--dropout", type=_probability, default=None, help="dropout before the last layer (default per dataset)")
    p.add_argument("--scheduler", choices=["none", "step", "cosine", "onecycle", "plateau"], default=None, help="learning-rate schedule (default per dataset)")
    p.add_argument("--augment", action="store_true", help="random shifts and small rotations of training images")
    p.add_argument("--val-split", type=_fraction, default=None, help="fraction of the training set held out for validation (default 0.1; sentiment 0.05; translate uses Multi30k's validation split)")
    p.add_argument("--early-stopping", type=_positive_int, default=None, metavar="PATIENCE", help="stop after PATIENCE epochs without a better validation loss (detect: validation mAP); restore the best weights")
    p.add_argument("--seed", type=_seed, default=0, help="any integer torch.manual_seed takes: -2**63 to 2**64 - 1")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to train: cuda (an NVIDIA GPU through CuPy), cpu, or auto (cuda when available)")
    p.add_argument("--nproc", type=_positive_int, default=1, help="data-parallel processes (MPI): each trains on its share of every batch")
    p.add_argument("--threads", type=_positive_int, default=None, help="BLAS threads")
    p.add_argument("--save", default=None, metavar="PATH", help="write a checkpoint (model, optimizer, scheduler, RNG, epoch, metrics) after every epoch")
    p.add_argument("--resume", default=None, metavar="PATH", help="continue training from a checkpoint written by --save")
    p.add_argument("--metrics-out", default=None, metavar="PATH", help="write final metrics and per-epoch history as JSON")
    p.add_argument("--plot", default=None, metavar="PATH", help="PNG of loss and accuracy curves (needs matplotlib); detect: test images with true and predicted boxes (needs Pillow)")
    p.add_argument("--limit", type=_positive_int, default=None, help="use only the first N training and test examples (quick runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--diagnose", action="store_true", help="watch gradients, updates and activations; print the problems found after each epoch")
    detect = p.add_argument_group("detection (--task detect)")
    detect.add_argument("--ann", default=None, metavar="FILE", help="COCO-format JSON of the training images (--dataset coco)")
    detect.add_argument("--images", default=None, metavar="DIR", help="folder of the training images (--dataset coco)")
    detect.add_argument("--test-ann", default=None, metavar="FILE", help="COCO-format JSON of the test images (default: 20%% of --ann held out)")
    detect.add_argument("--test-images", default=None, metavar="DIR", help="folder of the test images (default: --images)")
    detect.add_argument("--img-size", type=_positive_int, default=None, help="images are letterboxed to this size, a multiple of 32 (default per dataset)")
    p.add_argument("--report", default=None, metavar="DIR", help="write DIR/report.html: curves, gradient flow and the problems found")
    text = p.add_argument_group("language (--task sentiment / translate)")
    text.add_argument("--tokenizer", choices=["bpe", "wordpiece"], default=None, help="subword model trained on the training split (Hugging Face tokenizers; default bpe)")
    text.add_argument("--vocab-size", type=_positive_int, default=None, help="subword vocabulary size (default 8000)")
    text.add_argument("--max-len", type=_positive_int, default=None, help="longest sentence in tokens; longer ones are cut (default 64 sentiment, 128 translate)")
    text.add_argument("--d-model", type=_positive_int, default=None, help="model width: embedding size (and LSTM hidden size for bilstm)")
    text.add_argument("--layers", type=_positive_int, default=None, help="Transformer layers (translate: in the encoder and in the decoder) or LSTM layers")
    text.add_argument("--heads", type=_positive_int, default=None, help="attention heads")
    text.add_argument("--ffn", type=_positive_int, default=None, help="width of the Transformer's feed-forward layers")
    text.add_argument("--label-smoothing", type=_probability, default=None, help="label smoothing of the cross-entropy (default 0 sentiment, 0.1 translate)")
    text.add_argument("--warmup", type=_nonneg_int, default=None, help="learning-rate warm-up steps before the cosine decay (at least 2, at most a third of the run)")
    text.add_argument("--beam-size", type=_positive_int, default=None, help="beam width of the test translations (1: greedy; default 4)")
    text.add_argument("--length-penalty", type=_nonneg_float, default=None, help="GNMT length penalty alpha of beam search (0: none; default 0.6)")
    return p


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not -(2**63) <= v < 2**64:
        raise argparse.ArgumentTypeError(f"expected a seed in [-2**63, 2**64 - 1] (torch.manual_seed's range), got {text!r}")
    return v


def _positive_float(text: str) -> float:
    v = _float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _nonneg_float(text: str) -> float:
    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return v


def _probability(text: str) -> float:
    v = _float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return v


def _fraction(text: str) -> float:
    v = _float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return v


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


# ---------------------------------------------------------------------------- data
def load_arrays(args) -> dict:
    """Images as float32 (N, C, H, W) standardized with training-set statistics, labels int64."""
    from .. import datasets

    if args.dataset == "digits":
        train, test = datasets.Digits(train=True), datasets.Digits(train=False)
    else:
        cls = datasets.MNIST if args.dataset == "mnist" else datasets.FashionMNIST
        train = cls(args.data_dir, train=True, download=args.download)
        test = cls(args.data_dir, train=False, download=args.download)
    x_train, y_train = _as_arrays(train)
    x_test, y_test = _as_arrays(test)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
        x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    mean, std = float(x_train.mean()), float(x_train.std()) or 1.0
    norm = lambda a: ((a - mean) / std).astype(np.float32)[:, None]  # noqa: E731
    classes = int(max(y_train.max(), y_test.max())) + 1
    return {"x_train": norm(x_train), "y_train": y_train, "x_test": norm(x_test), "y_test": y_test, "classes": classes, "mean": mean, "std": std}


def _as_arrays(ds) -> tuple:
    data = getattr(ds, "data", None)
    targets = getattr(ds, "targets", None)
    if data is not None and targets is not None:
        x = np.asarray(data.numpy() if hasattr(data, "numpy") else data, dtype=np.float32)
        if x.max() > 1.0:
            x = x / 255.0
        return x, np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets, dtype=np.int64)
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return np.stack([np.asarray(x, dtype=np.float32) for x in xs]), np.asarray(ys, dtype=np.int64)


class _AugmentedImages(Dataset):
    """Training images with random shifts and small rotations (``backprop.transforms``)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        from .. import transforms as T

        size = x.shape[-1]
        self.x, self.y = x, y
        self.transform = T.RandomAffine(degrees=10, translate=(0.1, 0.1))
        self.size = size

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.transform(_make(self.x[i])), int(self.y[i])


def _split_sizes(n: int, fraction: float) -> tuple[int, int]:
    """(train, validation) sizes of ``n`` examples split by ``fraction``."""
    n_val = int(round(n * fraction))
    return n - n_val, n_val


def check_split(n: int, fraction: float) -> None:
    """A split that leaves the training set empty, or the validation set empty although one was
    asked for, is a usage error (caught before training, not as a failure inside it)."""
    n_train, n_val = _split_sizes(n, fraction)
    if n_train == 0:
        raise UsageError(
            f"argument --val-split: {fraction:g} of {n} training examples leaves none for training "
            "(use a smaller --val-split or a larger --limit)"
        )
    if fraction > 0 and n_val == 0:
        raise UsageError(
            f"argument --val-split: {fraction:g} of {n} training examples leaves none for validation "
            "(use --val-split 0 to train without one, or a larger --val-split or --limit)"
        )


def _split(x, y, fraction: float, seed: int):
    n = len(y)
    n_val = _split_sizes(n, fraction)[1]
    order = np.random.default_rng(seed % 2**64).permutation(n)  # torch's seeds: negative ones wrap
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


# ---------------------------------------------------------------------------- training
def _make_optimizer(args, params):
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


def _make_scheduler(args, opt, steps_per_epoch: int):
    s = optim.lr_scheduler
    if args.scheduler == "step":
        return s.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)
    if args.scheduler == "cosine":
        return s.CosineAnnealingLR(opt, T_max=args.epochs)
    if args.scheduler == "onecycle":
        return s.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    if args.scheduler == "plateau":
        return s.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
    return None


def pick_device(name: str) -> device_cls:
    """``--device``: cuda, cpu, or auto (cuda when a GPU is available)."""
    if name == "auto":
        return device_cls("cuda" if cuda.is_available() else "cpu")
    if name == "cuda" and not cuda.is_available():
        try:
            cuda.init()
        except (AssertionError, RuntimeError) as exc:
            raise UsageError(f"--device cuda: {exc}") from None
    return device_cls(name)


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 512, classes: int | None = None, device=None) -> dict:
    """Loss, accuracy and (optionally) the confusion matrix of ``model`` on arrays, in eval mode.
    Sums stay on ``device`` until the end: one host read per evaluation, not per batch."""
    model.eval()
    total_loss = correct = confusion = None
    with no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = _make(x[i : i + batch_size]), _make(y[i : i + batch_size])
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb, reduction="sum")
            pred = out.argmax(1)
            hits = (pred == yb).sum()
            total_loss = loss if total_loss is None else total_loss + loss
            correct = hits if correct is None else correct + hits
            if classes:
                counts = bincount(yb * classes + pred, minlength=classes * classes)
                confusion = counts if confusion is None else confusion + counts
    n = max(len(y), 1)
    if total_loss is None:
        return {"loss": 0.0, "accuracy": 0.0, "confusion": np.zeros((classes, classes), dtype=np.int64) if classes else None}
    if confusion is not None:
        confusion = confusion.cpu().numpy().reshape(classes, classes)
    return {"loss": float(total_loss) / n, "accuracy": int(correct) / n, "confusion": confusion}


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


def _rng_state(device) -> dict:
    state = {"default_generator": bp_random.get_rng_state()}
    if device.type == "cuda":
        state["cuda_generator"] = cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device) -> None:
    bp_random.set_rng_state(state["default_generator"])
    if device.type == "cuda" and "cuda_generator" in state:
        cuda.set_rng_state(state["cuda_generator"], device)


def complete(args, processes: int = 1):
    """``args`` with the dataset's defaults filled in, checked for combinations that cannot run."""
    if args.dataset is None:
        args.dataset = "digits"
    if args.model is None:
        args.model = "cnn"
    if args.val_split is None:
        args.val_split = 0.1
    if args.dataset not in DATASET_DEFAULTS:
        task = "translate" if args.dataset == "multi30k" else "sentiment" if args.dataset == "sst2" else "detect"
        raise UsageError(f"--dataset {args.dataset} is for --task {task}: add --task {task}")
    if args.model not in MODELS:
        task = "detect" if args.model in DETECT_MODELS else "sentiment or --task translate"
        raise UsageError(f"--model {args.model} is for --task {task}: add --task {task}")
    for key in ("ann", "images", "test_ann", "test_images", "img_size"):
        if getattr(args, key, None) is not None:
            raise UsageError(f"--{key.replace('_', '-')} is for --task detect")
    for key in TEXT_OPTIONS:
        if getattr(args, key, None) is not None:
            raise UsageError(f"--{key.replace('_', '-')} is for --task sentiment or translate")
    if args.weight_decay is None:
        args.weight_decay = 0.0
    if args.optimizer is None:
        args.optimizer = "adam"
    defaults = DATASET_DEFAULTS[args.dataset]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.early_stopping and args.val_split == 0:
        raise UsageError("--early-stopping needs a validation set (--val-split > 0)")
    if args.dataset != "digits" and args.data_dir is None:
        raise UsageError(f"--data-dir is required for --dataset {args.dataset} (a directory with the IDX .gz files)")
    if args.dataset != "digits" and os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UsageError(f"argument --data-dir: {args.data_dir} is not a directory")
    if args.dataset != "digits" and not os.path.isdir(args.data_dir) and not args.download:
        raise UsageError(f"data directory not found: {args.data_dir}")
    if args.limit:  # a split of --limit examples that fails means the real one (of at most --limit) fails too
        check_split(args.limit, args.val_split)
    # Everything the run will write or read later is checked now, not after the training.
    for option, path in (("--save", args.save), ("--metrics-out", args.metrics_out), ("--plot", args.plot)):
        _check_output_file(option, path)
    _check_output_dir("--report", args.report)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install 'backprop[plot]'")
    if args.resume and not os.path.exists(args.resume):
        raise UsageError(f"argument --resume: no such file: {args.resume}")
    if args.resume and os.path.isdir(args.resume):
        raise UsageError(f"argument --resume: {args.resume} is a directory (expected a checkpoint file written by --save)")
    if args.batch_size % processes:
        raise UsageError(f"--batch-size {args.batch_size} must be a multiple of --nproc {processes} (each process takes an equal share)")
    return args


def _check_output_file(option: str, path: str | None) -> None:
    """``path`` can be written: not a directory, in an existing writable directory."""
    if path is None:
        return
    if os.path.isdir(path):
        raise UsageError(f"argument {option}: {path} is a directory (expected a file name)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"argument {option}: cannot write {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"argument {option}: cannot write {path}: permission denied")


def _check_output_dir(option: str, path: str | None) -> None:
    """``path`` is a directory or can be created as one (its nearest existing ancestor is a writable directory)."""
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"argument {option}: {path} exists and is not a directory")
    ancestor = os.path.abspath(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise UsageError(f"argument {option}: cannot create {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"argument {option}: cannot write in {ancestor}: permission denied")


_CHECKPOINT_KEYS = ("model", "optimizer", "rng", "loader_rng", "epoch", "history", "best_val_loss", "best_epoch")


def read_resume(path: str, device) -> dict:
    """The checkpoint ``--resume`` names: a full one written by ``--save``, or a plain model
    ``state_dict`` (weights only: a dict of tensors, e.g. ``backprop.save(model.state_dict(), path)``).
    Anything else is a usage error. Read before the data, so a wrong file fails at once."""
    from ..serialization import load

    ckpt = load(path, map_location=device)
    if not isinstance(ckpt, dict) or not ckpt:
        raise UsageError(f"--resume {path}: not a checkpoint written by --save nor a model state_dict")
    if all(isinstance(v, Tensor) for v in ckpt.values()):
        return {"model": ckpt, "weights_only": True}
    missing = [k for k in _CHECKPOINT_KEYS if k not in ckpt]
    if missing or not isinstance(ckpt["model"], dict):
        raise UsageError(
            f"--resume {path}: not a checkpoint written by --save nor a model state_dict (missing {', '.join(missing) or 'model weights'})"
        )
    ckpt["weights_only"] = False
    return ckpt


def _warn(text: str) -> None:
    if os.environ.get("RANK", "0") == "0":
        print(f"backprop train: warning: {text}", file=sys.stderr, flush=True)


def _resume(args, ckpt: dict, core, opt, scheduler, loader_gen, device) -> tuple:
    """Restore what ``ckpt`` holds into the run; returns (history, best, start_epoch).

    The weights must fit ``--model``: a mismatch is a usage error. A plain state_dict starts the
    training at epoch 1 from its weights. A checkpoint saved with another ``--optimizer`` (or
    ``--scheduler``) restores everything but that optimizer's (scheduler's) state, which starts
    fresh: changing the optimizer mid-training is a legitimate choice, and this is the only way to
    make it. Each of these cases is said in a warning."""
    saved = ckpt.get("args") if isinstance(ckpt.get("args"), dict) else {}
    try:
        core.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        was = f" (it was saved with --model {saved['model']})" if saved.get("model") not in (None, args.model) else ""
        raise UsageError(f"--resume {args.resume}: the weights do not fit --model {args.model} on {args.dataset}{was}: {detail}") from None
    best = {"val_loss": math.inf, "epoch": 0, "state": None}
    if ckpt["weights_only"]:
        _warn(f"--resume {args.resume} holds model weights only (no optimizer, epoch or RNG state): training starts at epoch 1 from these weights")
        return [], best, 1
    if saved.get("optimizer") not in (None, args.optimizer):
        _warn(f"--resume {args.resume} was saved with --optimizer {saved['optimizer']}: the {args.optimizer} optimizer starts fresh (weights, epoch, history and RNG state are restored)")
    else:
        try:
            opt.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise UsageError(f"--resume {args.resume}: the optimizer state does not fit --optimizer {args.optimizer}: {exc}") from None
    if saved.get("scheduler") not in (None, args.scheduler):
        fresh = "no schedule is used from here on" if scheduler is None else f"the {args.scheduler} schedule starts fresh"
        _warn(f"--resume {args.resume} was saved with --scheduler {saved['scheduler']}: {fresh}")
    elif scheduler is not None and ckpt.get("scheduler") is not None:
        try:
            scheduler.load_state_dict(ckpt["scheduler"])
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise UsageError(f"--resume {args.resume}: the scheduler state does not fit --scheduler {args.scheduler}: {exc}") from None
    try:
        _set_rng_state(ckpt["rng"], device)
        loader_gen.set_state(ckpt["loader_rng"])
        best.update(val_loss=float(ckpt["best_val_loss"]), epoch=int(ckpt["best_epoch"]), state=ckpt.get("best_model"))
        return list(ckpt["history"]), best, int(ckpt["epoch"]) + 1
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"--resume {args.resume}: damaged checkpoint ({exc})") from None


def run(args) -> dict:
    """Train and evaluate as configured by ``args``; returns the metrics dict."""
    world = _Distributed.start()
    complete(args, world.size)
    if args.threads:
        from .._backend import set_num_threads

        set_num_threads(args.threads)
    device = pick_device(args.device)
    if world.size > 1 and device.type == "cuda":
        device = device_cls("cuda", world.local_rank % cuda.device_count())  # one GPU per process where there are several
    ckpt = read_resume(args.resume, device) if args.resume else None
    data = load_arrays(args)
    check_split(len(data["y_train"]), args.val_split)
    x_tr, y_tr, x_val, y_val = _split(data["x_train"], data["y_train"], args.val_split, args.seed)
    in_shape = tuple(x_tr.shape[1:])

    bp_random.manual_seed(args.seed)
    core = MODELS[args.model](in_shape, data["classes"], dropout=args.dropout).to(device)
    model = world.wrap(core)  # DistributedDataParallel on several processes, else the model itself
    opt = _make_optimizer(args, model.parameters())
    train_set = _AugmentedImages(x_tr, y_tr) if args.augment else TensorDataset(_make(x_tr), _make(y_tr))
    loader_gen = bp_random.Generator().manual_seed(args.seed)
    loader = world.loader(train_set, args.batch_size, loader_gen, args.seed % 2**63, pin_memory=device.type == "cuda")
    scheduler = _make_scheduler(args, opt, len(loader))
    monitor = None
    if args.diagnose or args.report:
        from ..diagnostics import GradientMonitor

        monitor = GradientMonitor(core, opt)
    say = print if world.rank == 0 else (lambda *a, **k: None)  # one process reports and writes files

    history: list = []
    best = {"val_loss": math.inf, "epoch": 0, "state": None}
    start_epoch = 1
    if ckpt is not None:
        history, best, start_epoch = _resume(args, ckpt, core, opt, scheduler, loader_gen, device)

    params = sum(p.numel() for p in core.parameters())
    where = f"{world.size} processes, {args.batch_size // world.size} per process per batch" if world.size > 1 else str(device)
    say(
        f"backprop train: {args.model} ({params:,} parameters) on {args.dataset}: {len(y_tr)} train / {len(y_val)} val / "
        f"{len(data['y_test'])} test, {args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr:g}, on {where}",
        flush=True,
    )
    train_start = time.perf_counter()
    epochs_run = start_epoch - 1
    stopped_early = False
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        world.set_epoch(loader, epoch)
        t0 = time.perf_counter()
        seen, loss_sum, correct = 0, None, None  # the sums stay on the device: no host wait per step
        bar = _progress(loader, len(loader), f"epoch {epoch}/{args.epochs}", not args.no_progress and world.rank == 0)
        for step, (xb, yb) in enumerate(bar):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad()
            out = model(xb)
            loss = nn.functional.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            if args.scheduler == "onecycle":
                scheduler.step()
            n = len(yb)
            seen += n
            batch_loss, batch_hits = loss.detach() * n, (out.detach().argmax(1) == yb).sum()
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            correct = batch_hits if correct is None else correct + batch_hits
            if bar is not loader and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", samples_per_s=f"{seen / (time.perf_counter() - t0):.0f}")
        seen, loss_sum, correct = world.sum_over_processes(seen, loss_sum, correct)
        train_loss = float(loss_sum) / max(seen, 1) if loss_sum is not None else math.nan
        train_acc = int(correct) / max(seen, 1) if correct is not None else math.nan
        val = evaluate(core, x_val, y_val, device=device) if len(y_val) else {"loss": math.nan, "accuracy": math.nan}
        lr = opt.param_groups[0]["lr"]
        if scheduler is not None and args.scheduler != "onecycle":
            if args.scheduler == "plateau":
                scheduler.step(val["loss"] if len(y_val) else train_loss)
            else:
                scheduler.step()
        seconds = time.perf_counter() - t0
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": val["loss"], "val_accuracy": val["accuracy"], "lr": lr, "seconds": seconds}
        )
        epochs_run = epoch
        val_text = f"  val loss {val['loss']:.4f} acc {100 * val['accuracy']:.2f}%" if len(y_val) else ""
        say(f"epoch {epoch}/{args.epochs}  train loss {train_loss:.4f} acc {100 * train_acc:.2f}%{val_text}  lr {lr:.2e}  {seconds:.1f}s", flush=True)
        if args.diagnose:
            say("  diagnostics: " + monitor.summary().replace("\n", "\n  diagnostics: "), flush=True)
        improved = len(y_val) and val["loss"] < best["val_loss"]
        if improved:
            best.update(val_loss=val["loss"], epoch=epoch, state=copy.deepcopy(core.state_dict()) if args.early_stopping else None)
        if args.save and world.rank == 0:
            _save_checkpoint(args, core, opt, scheduler, loader_gen, epoch, history, best, device)
        if args.early_stopping and epoch - best["epoch"] >= args.early_stopping:
            say(f"early stopping: no better validation loss for {args.early_stopping} epochs (best {best['val_loss']:.4f} at epoch {best['epoch']})")
            stopped_early = True
            break
    train_seconds = time.perf_counter() - train_start
    if args.early_stopping and best["state"] is not None:
        core.load_state_dict(best["state"])
    test = evaluate(core, data["x_test"], data["y_test"], classes=data["classes"], device=device)
    metrics = {
        "dataset": args.dataset,
        "model": args.model,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "best_val_loss": best["val_loss"] if math.isfinite(best["val_loss"]) else None,
        "best_epoch": best["epoch"],
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "train_seconds": train_seconds,
        "parameters": params,
        "history": history,
        "confusion_matrix": test["confusion"].tolist(),
    }
    if world.size > 1:
        metrics["processes"] = world.size
    say(f"test accuracy {100 * test['accuracy']:.2f}%  test loss {test['loss']:.4f}  ({epochs_run} epochs, {train_seconds:.1f}s training)")
    say(_format_confusion(test["confusion"]))
    if args.metrics_out and world.rank == 0:
        with open(args.metrics_out, "w") as fh:
            json.dump(metrics, fh, indent=2)
    if args.plot and world.rank == 0:
        plot_history(history, args.plot)
    if monitor is not None:
        monitor.remove()
        if args.report and world.rank == 0:
            from ..diagnostics import write_html_report

            path = write_html_report(args.report, history, monitor, {k: v for k, v in metrics.items() if k not in ("history", "confusion_matrix")})
            print(f"report written to {path}")
    world.finish()
    return metrics


class _Distributed:
    """What ``--nproc`` changes in a training run: in each of the processes the launcher started
    (``WORLD_SIZE`` > 1), the model is wrapped in DistributedDataParallel, every batch is shared
    out by a DistributedSampler (each process takes batch_size / nproc of it), the epoch's sums
    are added up over the processes, and process 0 alone reports and writes files. With one
    process every method is the plain single-process step."""

    def __init__(self, size: int = 1, rank: int = 0, local_rank: int = 0) -> None:
        self.size, self.rank, self.local_rank = size, rank, local_rank

    @classmethod
    def start(cls) -> _Distributed:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group()
        return cls(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))

    def wrap(self, model):
        if self.size == 1:
            return model
        return DistributedDataParallel(model)

    def loader(self, dataset, batch_size: int, generator, seed: int, pin_memory: bool):
        if self.size == 1:
            return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, pin_memory=pin_memory)
        sampler = DistributedSampler(dataset, num_replicas=self.size, rank=self.rank, shuffle=True, seed=seed)
        return DataLoader(dataset, batch_size=batch_size // self.size, sampler=sampler, pin_memory=pin_memory)

    def set_epoch(self, loader, epoch: int) -> None:
        if self.size > 1:
            loader.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process

    def sum_over_processes(self, seen: int, loss_sum, correct):
        if self.size == 1 or loss_sum is None:
            return seen, loss_sum, correct
        totals = tensor([float(seen), float(loss_sum), float(correct)], dtype=float64)
        dist.all_reduce(totals)
        seen_all, loss_all, correct_all = totals.tolist()
        return int(seen_all), loss_all, int(correct_all)

    def finish(self) -> None:
        if self.size > 1:
            dist.barrier()
            dist.destroy_process_group()


def training_state(args, model, opt, scheduler, loader_gen, epoch, history, best, device) -> dict:
    """Everything ``--resume`` needs to continue a run exactly: weights, optimizer and schedule states,
    RNG and batch-order states, epoch, history, the best epoch so far, and the run's options."""
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _rng_state(device),
        "loader_rng": loader_gen.get_state(),
        "epoch": epoch,
        "history": history,
        "best_val_loss": best["val_loss"],
        "best_epoch": best["epoch"],
        "best_model": best["state"],
        "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))},
    }


def _save_checkpoint(args, model, opt, scheduler, loader_gen, epoch, history, best, device) -> None:
    from ..serialization import save

    save(training_state(args, model, opt, scheduler, loader_gen, epoch, history, best, device), args.save)


def _format_confusion(confusion: np.ndarray) -> str:
    n = confusion.shape[0]
    width = max(len(str(confusion.max())), 3)
    lines = ["confusion matrix (rows: true class, columns: predicted)"]
    lines.append(" " * 4 + " ".join(f"{j:>{width}}" for j in range(n)))
    for i in range(n):
        lines.append(f"{i:>3} " + " ".join(f"{v:>{width}}" for v in confusion[i]))
    return "\n".join(lines)


def plot_history(history: list, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'backprop[plot]'") from None
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.legend()
    ax2.plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
    ax2.plot(epochs, [100 * h["val_accuracy"] for h in history], label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.task == "detect":
            from .detect import run_detect

            run_detect(args)
            return 0
        if args.task in ("sentiment", "translate"):
            from .text import run_text

            run_text(args)
            return 0
        if args.nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # start the processes (MPI)
            complete(args, args.nproc)
            argv = list(sys.argv[1:] if argv is None else argv)
            return launch(["--nproc-per-node", str(args.nproc), "-m", "backprop", "train", *argv])
        run(args)
    except (UsageError, FileNotFoundError, NotADirectoryError) as exc:
        return _usage_error(exc)
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        if _is_data_error(exc):
            return _usage_error(exc)
        raise
    except KeyboardInterrupt:
        print("backprop train: interrupted", file=sys.stderr)
        return 130
    return 0


def _usage_error(exc: Exception, command: str = "train") -> int:
    """One line on stderr and exit status 2. Every process of a --nproc run meets the same bad
    option or data, so process 0 alone says it."""
    if os.environ.get("RANK", "0") == "0":
        text = " ".join(str(exc).split())  # one line, also for messages that list several things
        print(f"backprop {command}: error: {text}", file=sys.stderr)
    return 2


def _is_data_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("idx", "corrupt", "truncated", "magic", "dataset", "checkpoint", "safetensors", "no such file", "scikit-learn", "download"))
