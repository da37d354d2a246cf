"""``backprop train --task detect``: train the YOLO-style detector and judge it by COCO mAP.

Data: ``--dataset mnist-detect`` (canvases of real MNIST digits, :class:`~backprop.vision.datasets.MNISTDetection`)
or ``--dataset coco`` (your COCO-format JSON and image folder). Images are letterboxed to ``--img-size``. Each
epoch: forward, task-aligned loss, backward, AdamW step, an exponential moving average (EMA) of the weights;
then validation mAP of the EMA weights, which drives early stopping and picks the weights that are tested.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import nn, optim, stack
from .. import random as bp_random
from .._tensor import Tensor, _make
from ..autograd.grad_mode import no_grad
from ..diagnostics import GradientMonitor
from ..metrics import MeanAveragePrecision
from ..optim.swa_utils import AveragedModel
from ..vision import datasets as vdatasets
from ..vision.datasets.coco import coco_to_target
from ..vision.models.yolo import YOLO, yolo
from ..vision.models.yolo_loss import YOLOLoss
from ..vision.transforms import InterpolationMode, to_tensor
from ..vision.transforms import detection as DT
from .train import (
    DETECT_MODELS,
    TEXT_OPTIONS,
    UsageError,
    _check_output_file,
    _make_optimizer,
    _progress,
    _rng_state,
    _set_rng_state,
    _warn,
    pick_device,
)

DETECT_DEFAULTS = {
    "mnist-detect": {"epochs": 5, "batch_size": 32, "lr": 2e-3, "img_size": 96, "model": "yolo-t", "optimizer": "adamw", "weight_decay": 5e-4},
    "coco": {"epochs": 50, "batch_size": 16, "lr": 1e-3, "img_size": 320, "model": "yolo-n", "optimizer": "adamw", "weight_decay": 5e-4},
}

EMA_DECAY, EMA_RAMP = 0.9995, 300  # the EMA's decay ramps up over the first few hundred steps (see ramped_ema)


@dataclass
class DetectionData:
    """Letterboxed images ``(N, C, S, S)`` uint8 and per-image targets: boxes xyxy float32, labels int64,
    and for COCO evaluation each box's ``iscrowd`` flag and ``area`` (in letterboxed pixels) when known.
    Crowd regions are left out of the training targets and kept in the evaluation ones (COCO ignores
    detections on them)."""

    images: np.ndarray
    boxes: list
    labels: list
    classes: list = field(default_factory=list)
    crowd: list | None = None
    area: list | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    def subset(self, index) -> DetectionData:
        pick = lambda values: None if values is None else [values[i] for i in index]  # noqa: E731
        return DetectionData(self.images[index], pick(self.boxes), pick(self.labels), self.classes, pick(self.crowd), pick(self.area))

    def targets(self, index, device=None) -> list[dict[str, Tensor]]:
        """Training targets (crowd regions left out)."""
        out = []
        for i in index:
            keep = slice(None) if self.crowd is None else self.crowd[i] == 0
            out.append({"boxes": _make(self.boxes[i][keep]).to(device), "labels": _make(self.labels[i][keep]).to(device)})
        return out

    def eval_targets(self) -> list[dict[str, Tensor]]:
        """Every image's targets for :class:`MeanAveragePrecision`, with ``iscrowd``/``area`` when known."""
        out = []
        for i in range(len(self)):
            t = {"boxes": _make(self.boxes[i]), "labels": _make(self.labels[i])}
            if self.crowd is not None:
                t.update(iscrowd=_make(self.crowd[i]), area=_make(self.area[i]))
            out.append(t)
        return out


def _mnist_detect(args) -> tuple[DetectionData, DetectionData]:
    kw = {"size": args.img_size, "seed": args.seed % 2**63, "length": args.limit}  # --limit: only that many canvases drawn
    train = vdatasets.MNISTDetection(args.data_dir, train=True, download=args.download, **kw)
    test = vdatasets.MNISTDetection(args.data_dir, train=False, download=args.download, **kw)

    def arrays(ds):
        images = ds.images.numpy()
        if images.dtype != np.uint8:
            images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
        boxes = [t["boxes"].numpy().astype(np.float32) for t in ds.targets]
        labels = [t["labels"].numpy().astype(np.int64) for t in ds.targets]
        return DetectionData(images, boxes, labels, [str(d) for d in range(10)])

    return arrays(train), arrays(test)


def _coco(args) -> tuple[DetectionData, DetectionData]:
    train = _read_coco(args.images, args.ann, args.img_size)
    if args.test_ann:
        test = _read_coco(args.test_images or args.images, args.test_ann, args.img_size, classes=train.classes)
        return train, test
    n_test = max(1, int(round(len(train) * 0.2)))
    order = np.random.default_rng(args.seed % 2**64).permutation(len(train))
    return train.subset(order[n_test:]), train.subset(order[:n_test])


def _read_coco(images: str, ann: str, size: int, classes: list | None = None) -> DetectionData:
    """A COCO-format folder -> letterboxed arrays; categories become labels 0..C-1 in id order."""
    ds = vdatasets.CocoDetection(images, ann)
    cats = [ds.coco.cats[k] for k in sorted(ds.coco.cats)]
    names = [str(c.get("name", c["id"])) for c in cats]
    if classes is not None and names != classes:
        raise UsageError(f"--test-ann {ann}: its categories {names} differ from the training set's {classes}")
    label_of = np.vectorize({c["id"]: i for i, c in enumerate(cats)}.__getitem__, otypes=[np.int64])
    letterbox = DT.Letterbox(size)
    data = DetectionData(np.zeros(0), [], [], names, [], [])
    imgs = []
    for i in range(len(ds)):
        image, anns = ds[i]
        image = to_tensor(np.asarray(image))
        target = coco_to_target(anns, canvas_size=tuple(image.shape[-2:]))
        if len(target["labels"]):
            target["labels"] = _make(label_of(target["labels"].numpy()))
        image, target = letterbox(image, target)
        ratio = target["letterbox"][0]
        imgs.append(np.clip(np.rint(image.numpy() * 255.0), 0, 255).astype(np.uint8))
        data.boxes.append(target["boxes"].numpy().astype(np.float32))
        data.labels.append(target["labels"].numpy().astype(np.int64))
        data.crowd.append(target["iscrowd"].numpy().astype(np.int64))
        data.area.append((target["area"].numpy() * ratio**2).astype(np.float32))  # COCO's area ranges, in input pixels
    if not imgs:
        raise UsageError(f"--ann {ann}: no images")
    channels = max(im.shape[0] for im in imgs)
    data.images = np.stack([np.repeat(im, channels, 0) if im.shape[0] != channels else im for im in imgs])
    return data


def load_detection_data(args) -> tuple[DetectionData, DetectionData]:
    data = _mnist_detect(args) if args.dataset == "mnist-detect" else _coco(args)
    if args.limit:
        data = tuple(d.subset(np.arange(min(args.limit, len(d)))) for d in data)
    return data


def complete_detect(args) -> None:
    """Fill the detect defaults and check everything the run will read or write, before any work."""
    if args.dataset in (None, "digits"):
        args.dataset = "mnist-detect"
    if args.dataset not in DETECT_DEFAULTS:
        raise UsageError(f"--task detect needs --dataset mnist-detect or coco, not {args.dataset}")
    for key, value in DETECT_DEFAULTS[args.dataset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.val_split is None:
        args.val_split = 0.1
    for key in TEXT_OPTIONS:
        if getattr(args, key, None) is not None:
            raise UsageError(f"--{key.replace('_', '-')} is for --task sentiment or translate")
    for key, option in (("dropout", "--dropout"), ("report", "--report")):
        if getattr(args, key, None) is not None:
            raise UsageError(f"{option} is for --task classify (the detector has no dropout; its report is --metrics-out and --plot)")
    if args.scheduler not in (None, "onecycle"):
        raise UsageError(f"--task detect trains with a one-cycle schedule (warm-up, then cosine annealing), not --scheduler {args.scheduler}")
    if args.model not in DETECT_MODELS:
        raise UsageError(f"--task detect needs --model {' or '.join(DETECT_MODELS)}, not {args.model}")
    if args.img_size % 32:
        raise UsageError(f"--img-size {args.img_size} must be a multiple of 32 (the detector's largest stride)")
    if args.dataset == "mnist-detect":
        if args.img_size < 64:
            raise UsageError(f"--img-size {args.img_size}: mnist-detect canvases hold digits up to 48 px, so at least 64")
        if args.data_dir is None:
            raise UsageError("--data-dir is required for --dataset mnist-detect (a directory with MNIST's IDX .gz files)")
        if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
            raise UsageError(f"argument --data-dir: {args.data_dir} is not a directory")
        if not os.path.isdir(args.data_dir) and not args.download:
            raise UsageError(f"data directory not found: {args.data_dir} (--download fetches MNIST into it)")
    else:
        if not args.ann or not args.images:
            raise UsageError("--dataset coco needs --ann FILE (COCO-format JSON) and --images DIR")
        for option, path in (("--ann", args.ann), ("--test-ann", args.test_ann)):
            if path and not os.path.isfile(path):
                raise UsageError(f"argument {option}: no such file: {path}")
        if args.test_images and not args.test_ann:
            raise UsageError("--test-images needs --test-ann (the test images' COCO-format JSON)")
        for option, path in (("--images", args.images), ("--test-images", args.test_images)):
            if path and not os.path.isdir(path):
                raise UsageError(f"argument {option}: no such directory: {path}")
    if args.early_stopping and args.val_split == 0:
        raise UsageError("--early-stopping needs a validation set (--val-split > 0)")
    if args.nproc > 1:
        raise UsageError("--task detect runs in one process (--nproc 1)")
    for option, path in (("--save", args.save), ("--metrics-out", args.metrics_out), ("--plot", args.plot)):
        _check_output_file(option, path)
    if args.plot:
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs Pillow: pip install 'backprop[vision]'") from None
    if args.resume and not os.path.isfile(args.resume):
        raise UsageError(f"argument --resume: no such file: {args.resume}")


def ramped_ema(decay: float, ramp: float):
    """An ``AveragedModel`` ``multi_avg_fn``: exponential moving average whose decay grows as
    ``decay * (1 - exp(-n / ramp))`` with the update count ``n`` (YOLO's), so the average follows the
    fast-changing early weights instead of remembering the random initialization for thousands of steps."""

    @no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if not averaged[0].is_floating_point():  # BatchNorm's num_batches_tracked (its own group): a count, copied
            for a, c in zip(averaged, current):
                a.copy_(c)
            return
        # the weight is computed where the count lives (the parameters' device): no host read per step
        weight = 1.0 - decay * (1.0 - (num_averaged.to(averaged[0].dtype) / -ramp).exp())
        for a, c in zip(averaged, current):
            a.lerp_(c, weight)

    return update


def build_detector(name: str, num_classes: int, in_channels: int) -> YOLO:
    return yolo(num_classes, in_channels, size=name.split("-", 1)[1])


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on the convolution kernels only (not on biases or BatchNorm's scale and shift)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@no_grad()
def predict_arrays(model: YOLO, images: np.ndarray, device, conf: float, iou: float, batch_size: int = 128) -> list[dict]:
    """Detections for uint8 images ``(N, C, S, S)``, in eval mode, as host arrays per image."""
    model.eval()
    size = images.shape[-2:]
    results = []
    for s in range(0, len(images), batch_size):
        x = _make(images[s : s + batch_size]).to(device).float() / 255.0
        for r in model.postprocess(model(x), conf=conf, iou=iou, image_size=size):
            results.append({k: v.cpu() for k, v in r.items()})
    return results


def evaluate_map(model: YOLO, data: DetectionData, device, class_metrics: bool = False) -> dict:
    """COCO mAP of ``model`` on ``data`` (conf 0.001 and NMS IoU 0.7: the usual mAP protocol)."""
    metric = MeanAveragePrecision(class_metrics=class_metrics)
    preds = predict_arrays(model, data.images, device, conf=0.001, iou=0.7)
    metric.update(preds, data.eval_targets())
    return metric.compute()


def _fitness(m: dict) -> float:
    """Model selection score (as YOLO's): mostly mAP@0.5:0.95, a little mAP@0.5."""
    return 0.9 * float(m["map"]) + 0.1 * float(m["map_50"])


def run_detect(args) -> dict:
    """Train and test the detector as configured by ``args``; returns the metrics dict."""
    complete_detect(args)
    if args.threads:
        from .._backend import set_num_threads

        set_num_threads(args.threads)
    device = pick_device(args.device)
    ckpt = _read_detect_resume(args.resume, device) if args.resume else None
    train_all, test = load_detection_data(args)
    n_val = int(round(len(train_all) * args.val_split))
    order = np.random.default_rng(args.seed % 2**64).permutation(len(train_all))
    train, val = train_all.subset(np.sort(order[n_val:])), train_all.subset(np.sort(order[:n_val]))
    num_classes, in_channels = len(train_all.classes), int(train_all.images.shape[1])

    bp_random.manual_seed(args.seed)
    model = build_detector(args.model, num_classes, in_channels).to(device)
    ema = AveragedModel(model, multi_avg_fn=ramped_ema(EMA_DECAY, EMA_RAMP), use_buffers=True)
    criterion = YOLOLoss(model)
    opt = _make_optimizer(args, _param_groups(model, args.weight_decay))
    steps_per_epoch = len(train) // args.batch_size
    scheduler = optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, args.epochs * steps_per_epoch), pct_start=0.1)
    augment = _augmentation(in_channels, args.img_size) if args.augment else None
    monitor = GradientMonitor(model, opt) if args.diagnose else None
    order_rng = np.random.default_rng((args.seed + 1) % 2**64)

    history: list = []
    best = {"fitness": -math.inf, "epoch": 0, "state": None}
    start_epoch = 1
    if ckpt is not None:
        history, best, start_epoch, order_rng, same_schedule = _restore(args, ckpt, model, ema, opt, scheduler, device)
        if not same_schedule and start_epoch <= args.epochs:
            remaining = (args.epochs - start_epoch + 1) * steps_per_epoch
            scheduler = optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, remaining), pct_start=0.1)

    params = sum(p.numel() for p in model.parameters())
    print(
        f"backprop train --task detect: {args.model} ({params:,} parameters, {num_classes} classes) on {args.dataset}: "
        f"{len(train)} train / {len(val)} val / {len(test)} test images of {args.img_size}px, {args.epochs} epochs, "
        f"batch {args.batch_size}, {args.optimizer} lr {args.lr:g}, on {device}",
        flush=True,
    )
    train_start = time.perf_counter()
    epochs_run, stopped_early = start_epoch - 1, False
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = order_rng.permutation(len(train))
        sums, seen = None, 0
        batches = range(steps_per_epoch)
        bar = _progress(batches, steps_per_epoch, f"epoch {epoch}/{args.epochs}", not args.no_progress)
        for step in bar:
            index = perm[step * args.batch_size : (step + 1) * args.batch_size]
            images, targets = _batch(train, index, device, augment)
            loss, parts = criterion(model(images), targets)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            scheduler.step()
            ema.update_parameters(model)
            row = stack([loss.detach(), parts["box"], parts["cls"]])  # stays on the device: no wait per step
            sums = row if sums is None else sums + row
            seen += 1
            if bar is not batches and step % 10 == 0:
                bar.set_postfix(loss=f"{float(sums[0]) / seen:.3f}", img_per_s=f"{seen * args.batch_size / (time.perf_counter() - t0):.0f}")
        train_loss, box_loss, cls_loss = (sums / max(seen, 1)).tolist() if sums is not None else (math.nan,) * 3
        val_map = evaluate_map(ema.module, val, device) if len(val) else None
        seconds = time.perf_counter() - t0
        entry = {"epoch": epoch, "train_loss": train_loss, "box_loss": box_loss, "cls_loss": cls_loss, "lr": opt.param_groups[0]["lr"], "seconds": seconds}
        if val_map is not None:
            entry.update(val_map=float(val_map["map"]), val_map50=float(val_map["map_50"]))
        history.append(entry)
        epochs_run = epoch
        val_text = f"  val mAP {entry['val_map']:.4f} mAP50 {entry['val_map50']:.4f}" if val_map is not None else ""
        print(f"epoch {epoch}/{args.epochs}  loss {train_loss:.4f} (box {box_loss:.4f} cls {cls_loss:.4f}){val_text}  {seconds:.1f}s", flush=True)
        if monitor is not None:
            print("  diagnostics: " + monitor.summary().replace("\n", "\n  diagnostics: "), flush=True)
        fitness = _fitness(val_map) if val_map is not None else float(epoch)
        if fitness > best["fitness"]:
            best.update(fitness=fitness, epoch=epoch, state=copy.deepcopy(ema.module.state_dict()))
        if args.save:
            _save_detect_checkpoint(args, model, ema, opt, scheduler, order_rng, epoch, history, best, device, train_all)
        if args.early_stopping and epoch - best["epoch"] >= args.early_stopping:
            print(f"early stopping: no better validation mAP for {args.early_stopping} epochs (best at epoch {best['epoch']})")
            stopped_early = True
            break
    train_seconds = time.perf_counter() - train_start
    if monitor is not None:
        monitor.remove()
    final = ema.module
    if best["state"] is not None:
        final.load_state_dict(best["state"])
    result = evaluate_map(final, test, device, class_metrics=True)
    per_class = _per_class(result, train_all.classes)
    metrics = {
        "task": "detect",
        "dataset": args.dataset,
        "model": args.model,
        "test_map": float(result["map"]),
        "test_map50": float(result["map_50"]),
        "test_map75": float(result["map_75"]),
        "test_map_small": float(result["map_small"]),
        "test_map_medium": float(result["map_medium"]),
        "test_map_large": float(result["map_large"]),
        "test_mar100": float(result["mar_100"]),
        "per_class_ap": per_class,
        "best_epoch": best["epoch"],
        "epochs_run": epochs_run,
        "stopped_early": stopped_early,
        "train_seconds": train_seconds,
        "parameters": params,
        "history": history,
    }
    print(
        f"test mAP@0.5:0.95 {metrics['test_map']:.4f}  mAP@0.5 {metrics['test_map50']:.4f}  mAP@0.75 {metrics['test_map75']:.4f}  "
        f"({epochs_run} epochs, {train_seconds:.1f}s training)"
    )
    print("per-class AP@0.5:0.95: " + "  ".join(f"{name} {ap:.3f}" for name, ap in per_class.items()))
    if args.metrics_out:
        with open(args.metrics_out, "w") as fh:
            json.dump(metrics, fh, indent=2)
    if args.plot:
        plot_detections(final, test, device, args.plot, train_all.classes)
    return metrics


def _per_class(result: dict, names: list) -> dict:
    classes = result["classes"].reshape(-1).tolist()  # 0-d when there is one class
    values = result["map_per_class"].reshape(-1).tolist()
    return {names[int(c)] if int(c) < len(names) else str(c): float(v) for c, v in zip(classes, values)}


def _augmentation(channels: int, size: int):
    steps = [DT.RandomAffine(0, translate=(0.1, 0.1), scale=(0.75, 1.25), interpolation=InterpolationMode.BILINEAR)]
    if channels == 3:
        steps.append(DT.RandomHSV())
    return DT.Compose(steps)


def _batch(data: DetectionData, index, device, augment) -> tuple[Tensor, list]:
    images = _make(data.images[index]).to(device).float() / 255.0
    if augment is None:  # host targets: the loss's pad_targets sends them to the device in one copy
        return images, data.targets(index)
    targets = data.targets(index, device)
    pairs = [augment(img, t) for img, t in zip(images.unbind(0), targets)]
    return stack([p[0] for p in pairs]), [p[1] for p in pairs]


def plot_detections(model: YOLO, data: DetectionData, device, path: str, names: list, count: int = 16) -> None:
    """A PNG grid of ``count`` test images: true boxes in green, predictions (conf >= 0.25) in red."""
    from ..vision.utils import draw_bounding_boxes, make_grid, save_image  # Pillow, only for --plot

    count = min(count, len(data))
    preds = predict_arrays(model, data.images[:count], device, conf=0.25, iou=0.7)
    zoom = max(1, -(-192 // data.images.shape[-1]))  # tiles of at least 192 px, so the labels stay legible
    tiles = []
    for i in range(count):
        image = _make(data.images[i]).repeat_interleave(zoom, 1).repeat_interleave(zoom, 2)
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        if len(data.boxes[i]):
            image = draw_bounding_boxes(image, _make(data.boxes[i]) * zoom, colors="lime", width=1)
        if len(preds[i]["boxes"]):
            labels = [f"{names[int(c)]} {float(s):.2f}" for c, s in zip(preds[i]["labels"].tolist(), preds[i]["scores"].tolist())]
            image = draw_bounding_boxes(image, preds[i]["boxes"] * zoom, labels=labels, colors="red", width=1)
        tiles.append(image)
    grid = make_grid(stack(tiles).float() / 255.0, nrow=int(math.ceil(math.sqrt(count))), padding=2, pad_value=1.0)
    save_image(grid, path)


# ---------------------------------------------------------------------------- checkpoints
_DETECT_KEYS = ("model", "ema", "optimizer", "scheduler", "rng", "order_rng", "epoch", "history", "best_epoch", "best_fitness", "detector")


def detector_config(args, data: DetectionData) -> dict:
    """What ``predict``/``export`` need to rebuild the model: architecture, classes, channels, image size."""
    return {"model": args.model, "classes": list(data.classes), "in_channels": int(data.images.shape[1]), "img_size": int(args.img_size)}


def _save_detect_checkpoint(args, model, ema, opt, scheduler, order_rng, epoch, history, best, device, data) -> None:
    from ..serialization import save

    save(
        {
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "best_model": best["state"],
            "optimizer": opt.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(device),
            "order_rng": json.dumps(order_rng.bit_generator.state),
            "epoch": epoch,
            "history": history,
            "best_epoch": best["epoch"],
            "best_fitness": best["fitness"],
            "detector": detector_config(args, data),
            "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool, type(None)))},
        },
        args.save,
    )


def _read_detect_resume(path: str, device) -> dict:
    from ..serialization import load

    ckpt = load(path, map_location=device)
    missing = [k for k in _DETECT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise UsageError(f"--resume {path}: not a checkpoint written by --task detect --save (missing {', '.join(missing)})")
    return ckpt


# options whose change on --resume restarts the learning-rate cycle (the saved one would not fit)
_SCHEDULE_OPTIONS = ("epochs", "batch_size", "lr", "optimizer")


def _restore(args, ckpt, model, ema, opt, scheduler, device) -> tuple:
    """Weights, EMA, RNG and history from ``ckpt``. The optimizer state is restored when ``--optimizer`` is
    the saved one (its moments; ``--weight-decay``/``--momentum`` of this run apply), and the schedule when
    none of epochs, batch size, lr and optimizer changed; otherwise each starts fresh, with a warning, as
    for classification. Returns ``(history, best, start_epoch, order_rng, same_schedule)``."""
    saved, saved_args = ckpt["detector"], ckpt.get("args", {})
    if saved.get("model") != args.model:
        raise UsageError(f"--resume {args.resume}: it was saved with --model {saved.get('model')}, not {args.model}")
    changed = [k for k in _SCHEDULE_OPTIONS if saved_args.get(k) != getattr(args, k)]
    try:
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        if saved_args.get("optimizer") == args.optimizer:
            opt.load_state_dict(ckpt["optimizer"])
            for group, decay in zip(opt.param_groups, (args.weight_decay, 0.0)):
                group["weight_decay"] = decay
                if "momentum" in group:
                    group["momentum"] = args.momentum
        else:
            _warn(f"--resume {args.resume} was saved with --optimizer {saved_args.get('optimizer')}: the {args.optimizer} optimizer starts fresh")
        if not changed:
            scheduler.load_state_dict(ckpt["scheduler"])
        else:
            names = ", ".join(f"--{k.replace('_', '-')} {saved_args.get(k)} -> {getattr(args, k)}" for k in changed)
            _warn(f"--resume {args.resume}: {names}: the learning-rate cycle restarts over the remaining epochs")
        _set_rng_state(ckpt["rng"], device)
        order_rng = np.random.default_rng()
        order_rng.bit_generator.state = json.loads(ckpt["order_rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"--resume {args.resume}: does not fit this run: {exc}") from None
    best = {"fitness": float(ckpt["best_fitness"]), "epoch": int(ckpt["best_epoch"]), "state": ckpt.get("best_model")}
    if int(ckpt["epoch"]) >= args.epochs:
        _warn(f"--resume {args.resume} already ran {ckpt['epoch']} of --epochs {args.epochs}: only the test runs")
    return list(ckpt["history"]), best, int(ckpt["epoch"]) + 1, order_rng, not changed


def load_detector(path: str, device=None) -> tuple[YOLO, dict]:
    """The detector a ``--task detect --save`` checkpoint holds (its best EMA weights) and its config."""
    from ..serialization import load

    ckpt = load(path, map_location=device)
    if not isinstance(ckpt, dict) or "detector" not in ckpt:
        raise UsageError(f"--weights {path}: not a checkpoint written by backprop train --task detect --save")
    config = ckpt["detector"]
    model = build_detector(config["model"], len(config["classes"]), config["in_channels"])
    if ckpt.get("best_model") is not None:
        model.load_state_dict(ckpt["best_model"])
    else:
        model.load_state_dict({k[len("module.") :]: v for k, v in ckpt["ema"].items() if k.startswith("module.")})
    return model.to(device).eval(), config
