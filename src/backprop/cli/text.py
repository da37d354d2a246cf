"""``backprop train --task sentiment`` (SST-2, dev accuracy) and ``--task translate`` (Multi30k de->en, BLEU).

Both tasks share one loop: a BPE tokenizer trained on the training split only, sentences batched by
length (``BucketBatchSampler``) and padded, AdamW with a warm-up then cosine decay of the learning rate
(``OneCycleLR``), gradients clipped to norm 1, validation after every epoch, early stopping, checkpoints
that carry the tokenizer and the model's configuration, and a metrics JSON. A :class:`SentimentTask` or
:class:`TranslationTask` says what differs: the data, the model, the loss of a batch and the evaluation.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import time
from typing import Any

import numpy as np

from .. import nn, optim
from .. import random as bp_random
from .._device import device as device_cls
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..metrics.text import bleu_signature, corpus_bleu
from ..nn import functional as F
from ..text import datasets as text_datasets
from ..text.data import BucketBatchSampler, pad_batch, sentiment_collate, translation_collate
from ..text.datasets import DatasetNotFoundError
from ..text.decoding import beam_search, greedy_decode
from ..text.models import BiLSTMClassifier, TransformerClassifier, TranslationTransformer
from ..text.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    encode,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)
from ..utils.data import DataLoader
from .train import (
    TEXT_MODELS,
    UsageError,
    _check_output_file,
    _progress,
    _set_rng_state,
    _warn,
    check_split,
    pick_device,
    training_state,
)

# Per-task defaults used when an option is not given (the README's figures come from these).
TEXT_DEFAULTS = {
    "sentiment": {
        "dataset": "sst2", "model": "transformer", "epochs": 6, "batch_size": 64, "lr": 1e-3, "optimizer": "adamw",
        "weight_decay": 0.01, "dropout": 0.2, "tokenizer": "bpe", "vocab_size": 8000, "max_len": 64, "d_model": 128, "layers": 2,
        "heads": 4, "ffn": 256, "label_smoothing": 0.0, "warmup": 300, "val_split": 0.05,
    },
    "translate": {
        "dataset": "multi30k", "model": "transformer", "epochs": 7, "batch_size": 128, "lr": 1e-3, "optimizer": "adamw",
        "weight_decay": 1e-4, "dropout": 0.1, "tokenizer": "bpe", "vocab_size": 8000, "max_len": 128, "d_model": 256, "layers": 3,
        "heads": 4, "ffn": 512, "label_smoothing": 0.1, "warmup": 400, "beam_size": 4, "length_penalty": 0.6,
    },
}
_CLASSIFY_ONLY = ("augment", "report", "ann", "images", "test_ann", "test_images", "img_size")
Device = device_cls | str  # where a model runs: backprop.device("cuda") or "cpu"
CLIP_NORM = 1.0  # gradients are clipped to this global norm (Transformers' usual guard against spikes)


# ---------------------------------------------------------------------------- options
def complete_text(args: argparse.Namespace) -> None:
    """Fill the task's defaults and check everything the run will read or write, before any work."""
    defaults = TEXT_DEFAULTS[args.task]
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.dataset != defaults["dataset"]:
        raise UsageError(f"--task {args.task} trains on --dataset {defaults['dataset']}, not {args.dataset}")
    if args.model not in TEXT_MODELS or (args.task == "translate" and args.model != "transformer"):
        allowed = "transformer or bilstm" if args.task == "sentiment" else "transformer"
        raise UsageError(f"--task {args.task} needs --model {allowed}, not {args.model}")
    for key in _CLASSIFY_ONLY:
        if getattr(args, key, None) not in (None, False):
            raise UsageError(f"--{key.replace('_', '-')} is not an option of --task {args.task}")
    if args.task == "sentiment" and (args.beam_size is not None or args.length_penalty is not None):
        raise UsageError("--beam-size and --length-penalty are for --task translate")
    if args.task == "translate" and args.val_split is not None:
        raise UsageError("--task translate validates on Multi30k's own validation split (no --val-split)")
    if args.scheduler not in (None, "onecycle"):
        raise UsageError(f"--task {args.task} trains with a warm-up then cosine decay (--scheduler onecycle), not --scheduler {args.scheduler}")
    if args.model == "transformer" and args.d_model % args.heads:
        raise UsageError(f"--d-model {args.d_model} must be a multiple of --heads {args.heads}")
    if args.task == "translate" and args.max_len < 3:
        raise UsageError(f"--max-len {args.max_len} leaves no room for tokens besides the decoder's BOS/EOS")
    if args.vocab_size <= len(SPECIAL_TOKENS):
        raise UsageError(f"--vocab-size {args.vocab_size} must exceed the {len(SPECIAL_TOKENS)} special tokens {' '.join(SPECIAL_TOKENS)}")
    if args.nproc > 1:
        raise UsageError(f"--task {args.task} runs in one process (--nproc 1)")
    if args.early_stopping and args.task == "sentiment" and args.val_split == 0:
        raise UsageError("--early-stopping needs a validation set (--val-split > 0)")
    if args.data_dir is None:
        files = "train.tsv and dev.tsv" if args.task == "sentiment" else "Multi30k's .gz files"
        raise UsageError(f"--data-dir is required for --task {args.task} (the folder with {files})")
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UsageError(f"argument --data-dir: {args.data_dir} is not a directory")
    if not os.path.isdir(args.data_dir) and not args.download:
        raise UsageError(f"data directory not found: {args.data_dir} (--download fetches the dataset into it)")
    for option, path in (("--save", args.save), ("--metrics-out", args.metrics_out), ("--plot", args.plot)):
        _check_output_file(option, path)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'backprop[plot]'") from None
    if args.resume and not os.path.isfile(args.resume):
        raise UsageError(f"argument --resume: no such file: {args.resume}")
    needed = ("tokenizers", "sacrebleu") if args.task == "translate" else ("tokenizers",)
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--task {args.task} needs {' and '.join(missing)}: pip install 'backprop[text]'")


def model_config(args: argparse.Namespace, vocab_size: int, classes: list[str] | None = None) -> dict:
    """What rebuilds the model (for ``--resume`` and ``predict``): the architecture, its sizes and class names."""
    return {
        "task": args.task, "model": args.model, "vocab_size": vocab_size, "d_model": args.d_model, "layers": args.layers,
        "heads": args.heads, "ffn": args.ffn, "dropout": args.dropout, "max_len": args.max_len, "classes": classes,
    }


def build_model(config: dict) -> nn.Module:
    """The model a :func:`model_config` describes, with fresh weights."""
    v, d = config["vocab_size"], config["d_model"]
    if config["task"] == "translate":
        return TranslationTransformer(
            v, d, config["heads"], config["layers"], config["layers"], config["ffn"], config["dropout"], max_len=config["max_len"], pad_id=PAD_ID
        )
    if config["model"] == "bilstm":
        return BiLSTMClassifier(v, len(config["classes"]), embed_dim=d, hidden_size=d, num_layers=config["layers"], dropout=config["dropout"], pad_id=PAD_ID)
    return TransformerClassifier(v, len(config["classes"]), d, config["heads"], config["layers"], config["ffn"], config["dropout"], config["max_len"], PAD_ID)


# ---------------------------------------------------------------------------- tasks
class SentimentTask:
    """SST-2: a held-out part of train.tsv validates, dev.tsv is the test (GLUE's test labels are private)."""

    name, metric = "sentiment", "dev_accuracy"

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        train_all = text_datasets.SST2(args.data_dir, split="train", download=args.download)
        dev = text_datasets.SST2(args.data_dir, split="dev", download=args.download)
        sentences, labels = train_all.sentences, train_all.labels
        test_sentences, test_labels = dev.sentences, dev.labels
        if args.limit:
            sentences, labels = sentences[: args.limit], labels[: args.limit]
            test_sentences, test_labels = test_sentences[: args.limit], test_labels[: args.limit]
        check_split(len(sentences), args.val_split)  # neither part empty (a usage error, as for images)
        n_val = int(round(len(sentences) * args.val_split))
        order = np.random.default_rng(args.seed % 2**64).permutation(len(sentences))
        self.train_text = [(sentences[i], labels[i]) for i in np.sort(order[n_val:])]
        self.val_text = [(sentences[i], labels[i]) for i in np.sort(order[:n_val])]
        self.test_text = list(zip(test_sentences, test_labels))
        self.classes = list(train_all.classes)
        self.collate = sentiment_collate

    def training_corpus(self) -> list[str]:
        return [s for s, _ in self.train_text]

    def encode(self, tokenizer) -> None:
        cut = self.args.max_len
        self.train = self._encoded(tokenizer, self.train_text, cut)
        self.val = self._encoded(tokenizer, self.val_text, cut)
        self.test = self._encoded(tokenizer, self.test_text, cut)

    @staticmethod
    def _encoded(tokenizer, pairs: list, cut: int) -> list:
        ids = encode(tokenizer, [s for s, _ in pairs], max_len=cut)
        return [(_nonempty(x), y) for x, (_, y) in zip(ids, pairs)]

    def lengths(self, examples: list) -> list[int]:
        return [len(x) for x, _ in examples]

    def sizes(self) -> str:
        return f"{len(self.train)} train / {len(self.val)} val / {len(self.test)} dev sentences"

    def loss(self, model, batch, device) -> tuple[Tensor, Tensor, int]:
        """(mean loss, number of correct predictions on the device, batch size) of one batch."""
        tokens, labels = (t.to(device) for t in batch)
        logits = model(tokens)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.args.label_smoothing)
        return loss, (logits.detach().argmax(1) == labels).sum(), len(labels)

    def evaluate(self, model, split: str, device) -> dict:
        """Loss and accuracy on the ``"val"`` or ``"test"`` split in eval mode, batches by length (one host read at the end)."""
        examples = getattr(self, split)
        model.eval()
        loss_sum = correct = None
        with no_grad():
            for batch in _batches(examples, self.lengths(examples), 256, self.collate):
                tokens, labels = (t.to(device) for t in batch)
                logits = model(tokens)
                loss = F.cross_entropy(logits, labels, reduction="sum")
                hits = (logits.argmax(1) == labels).sum()
                loss_sum = loss if loss_sum is None else loss_sum + loss
                correct = hits if correct is None else correct + hits
        n = max(len(examples), 1)
        return {"loss": float(loss_sum) / n if loss_sum is not None else math.nan, "accuracy": int(correct) / n if correct is not None else math.nan}

    def epoch_entry(self, train_loss: float, train_hits: float, val: dict | None) -> dict:
        entry = {"train_loss": train_loss, "train_accuracy": train_hits}
        if val is not None:
            entry.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        return entry

    def describe(self, entry: dict) -> str:
        val = f"  val loss {entry['val_loss']:.4f} acc {100 * entry['val_accuracy']:.2f}%" if "val_loss" in entry else ""
        return f"train loss {entry['train_loss']:.4f} acc {100 * entry['train_accuracy']:.2f}%{val}"

    def test_metrics(self, model, tokenizer, device) -> dict:
        dev = self.evaluate(model, "test", device)
        examples = [
            {"sentence": s, "label": self.classes[y], **predict_sentiment(model, tokenizer, s, device, self.args.max_len, self.classes)}
            for s, y in self.test_text[:5]
        ]
        print(f"dev accuracy {100 * dev['accuracy']:.2f}%  dev loss {dev['loss']:.4f}")
        return {"dev_accuracy": dev["accuracy"], "dev_loss": dev["loss"], "examples": examples}


class TranslationTask:
    """Multi30k German->English: train, the official validation split, test_2016_flickr judged by sacreBLEU."""

    name, metric = "translate", "test_bleu"

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        splits = {s: text_datasets.Multi30k(args.data_dir, split=s, language_pair=("de", "en"), download=args.download) for s in ("train", "valid", "test")}
        pairs = {s: list(zip(d.source, d.target)) for s, d in splits.items()}
        if args.limit:
            pairs = {s: p[: args.limit] for s, p in pairs.items()}
        self.train_text, self.val_text, self.test_text = pairs["train"], pairs["valid"], pairs["test"]
        self.collate = translation_collate

    def training_corpus(self) -> list[str]:
        return [s for pair in self.train_text for s in pair]  # one joint vocabulary: the embedding is shared

    def encode(self, tokenizer) -> None:
        cut = self.args.max_len
        self.train, self.val, self.test = (self._encoded(tokenizer, p, cut) for p in (self.train_text, self.val_text, self.test_text))

    @staticmethod
    def _encoded(tokenizer, pairs: list, cut: int) -> list:
        src = encode(tokenizer, [s for s, _ in pairs], max_len=cut)
        tgt = encode(tokenizer, [t for _, t in pairs], max_len=cut - 1)  # room for the decoder's BOS / EOS
        return [(_nonempty(s), t) for s, t in zip(src, tgt)]

    def lengths(self, examples: list) -> list[int]:
        return [max(len(s), len(t)) for s, t in examples]

    def sizes(self) -> str:
        return f"{len(self.train)} train / {len(self.val)} val / {len(self.test)} test sentence pairs"

    def loss(self, model, batch, device) -> tuple[Tensor, None, int]:
        """(mean loss per target token, no accuracy, the number of target tokens: counted on the host batch)."""
        tokens = int((batch[2] != PAD_ID).sum())
        src, tgt_in, tgt_out = (t.to(device) for t in batch)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD_ID, label_smoothing=self.args.label_smoothing)
        return loss, None, tokens

    def evaluate(self, model, split: str, device) -> dict:
        """Per-token cross-entropy (no smoothing) and the greedy translations' BLEU on the ``"val"`` or ``"test"`` split."""
        examples, texts = getattr(self, split), getattr(self, f"{split}_text")
        model.eval()
        loss_sum, tokens = None, 0
        with no_grad():
            for batch in _batches(examples, self.lengths(examples), 128, self.collate):
                src, tgt_in, tgt_out = (t.to(device) for t in batch)
                logits = model(src, tgt_in)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD_ID, reduction="sum")
                loss_sum = loss if loss_sum is None else loss_sum + loss
                tokens += int((tgt_out != PAD_ID).sum())
        hyps = self.translate(model, [s for s, _ in examples], device)
        refs = [t for _, t in texts]
        return {"loss": float(loss_sum) / max(tokens, 1) if loss_sum is not None else math.nan, "bleu": corpus_bleu(hyps, refs), "hypotheses": hyps}

    def translate(self, model, sources: list, device, beam_size: int = 1, length_penalty: float = 0.0) -> list[str]:
        """Detokenized translations of the encoded ``sources``."""
        return [self.tokenizer.decode(ids) for ids in translate_ids(model, sources, device, beam_size, length_penalty)]

    def epoch_entry(self, train_loss: float, train_hits: float | None, val: dict | None) -> dict:
        entry = {"train_loss": train_loss}  # label-smoothed, so not a perplexity
        if val is not None:
            entry.update(val_loss=val["loss"], val_ppl=math.exp(min(val["loss"], 50.0)), val_bleu=val["bleu"])
        return entry

    def describe(self, entry: dict) -> str:
        val = f"  val loss {entry['val_loss']:.4f} (ppl {entry['val_ppl']:.2f}) greedy BLEU {entry['val_bleu']:.2f}" if "val_loss" in entry else ""
        return f"train loss {entry['train_loss']:.4f}{val}"

    def test_metrics(self, model, tokenizer, device) -> dict:
        a = self.args
        t0 = time.perf_counter()
        sources = [s for s, _ in self.test]
        hyps = self.translate(model, sources, device, a.beam_size, a.length_penalty)
        refs = [t for _, t in self.test_text]
        bleu = corpus_bleu(hyps, refs)
        greedy_bleu = corpus_bleu(self.translate(model, sources, device), refs) if a.beam_size > 1 else bleu
        seconds = time.perf_counter() - t0
        signature = bleu_signature(hyps, refs)
        print(f"test BLEU {bleu:.2f} (beam {a.beam_size}, length penalty {a.length_penalty:g}; greedy {greedy_bleu:.2f})  [{signature}]  {seconds:.1f}s")
        examples = [{"source": s, "reference": r, "translation": h} for (s, r), h in list(zip(self.test_text, hyps))[:5]]
        for ex in examples:
            print(f"  de: {ex['source']}\n  en: {ex['reference']}\n  mt: {ex['translation']}")
        return {
            "test_bleu": bleu, "test_bleu_greedy": greedy_bleu, "bleu_signature": signature,
            "beam_size": a.beam_size, "length_penalty": a.length_penalty, "decode_seconds": seconds, "examples": examples,
        }


def _nonempty(ids: list[int]) -> list[int]:
    """An empty sentence (or one the tokenizer maps to nothing) reads as one ``<unk>``: a model needs a token."""
    return ids or [UNK_ID]


def _batches(examples: list, lengths: list, batch_size: int, collate):
    """Evaluation batches, sorted by length (no shuffle)."""
    for index in BucketBatchSampler(lengths, batch_size, shuffle=False):
        yield collate([examples[i] for i in index])


def translate_ids(model: nn.Module, sources: list[list[int]], device: Device, beam_size: int = 1, length_penalty: float = 0.0) -> list[list[int]]:
    """Token ids of the translations of encoded ``sources`` (greedy when ``beam_size`` is 1), decoded in
    batches of similar length and returned in the order given."""
    out: list = [None] * len(sources)
    order = np.argsort([len(s) for s in sources], kind="stable")
    batch = 200 if beam_size == 1 else max(1, 400 // beam_size)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        src = pad_batch([sources[i] for i in rows]).to(device)
        if beam_size == 1:
            ids = greedy_decode(model, src, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
        else:
            ids = beam_search(model, src, beam_size=beam_size, length_penalty=length_penalty, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
        for i, seq in zip(rows, ids):
            out[i] = seq
    return out


def translate_sentences(model: nn.Module, tokenizer: Any, sentences: list[str], device: Device, beam_size: int, length_penalty: float, max_len: int) -> list[str]:
    """``sentences`` translated by ``model`` (what ``backprop predict --text`` prints)."""
    sources = [_nonempty(ids) for ids in encode(tokenizer, sentences, max_len=max_len)]
    return [tokenizer.decode(ids) for ids in translate_ids(model, sources, device, beam_size, length_penalty)]


def predict_sentiment(model: nn.Module, tokenizer: Any, sentence: str, device: Device, max_len: int, classes: list[str]) -> dict:
    """The label ``model`` gives ``sentence`` and its probability."""
    model.eval()
    ids = _nonempty(encode(tokenizer, [sentence], max_len=max_len)[0])
    with no_grad():
        probs = F.softmax(model(pad_batch([ids]).to(device)), dim=-1)[0].cpu().numpy()
    k = int(probs.argmax())
    return {"prediction": classes[k], "probability": float(probs[k])}


# ---------------------------------------------------------------------------- training
def run_text(args: argparse.Namespace) -> dict:
    """Train and test as configured by ``args`` (``--task sentiment`` or ``translate``); returns the metrics dict."""
    complete_text(args)
    if args.threads:
        from .._backend import set_num_threads

        set_num_threads(args.threads)
    device = pick_device(args.device)
    ckpt = _read_text_resume(args.resume, device) if args.resume else None
    try:
        task = SentimentTask(args) if args.task == "sentiment" else TranslationTask(args)
    except DatasetNotFoundError as exc:
        raise UsageError(f"{exc} On the command line: --download.") from None
    t0 = time.perf_counter()
    if ckpt is not None:
        tokenizer = _checkpoint_tokenizer(ckpt, args.resume)  # the vocabulary the saved weights were trained with
    else:
        tokenizer = train_tokenizer(task.training_corpus(), vocab_size=args.vocab_size, model=args.tokenizer)
    task.tokenizer = tokenizer
    task.encode(tokenizer)
    tokenizer_seconds = time.perf_counter() - t0
    config = model_config(args, tokenizer.get_vocab_size(), getattr(task, "classes", None))

    bp_random.manual_seed(args.seed)
    model = build_model(config).to(device)
    opt = _make_text_optimizer(args, model)
    loader_gen = bp_random.Generator().manual_seed(args.seed)
    sampler = BucketBatchSampler(task.lengths(task.train), args.batch_size, shuffle=True, generator=loader_gen)
    loader = DataLoader(task.train, batch_sampler=sampler, collate_fn=task.collate)
    total_steps = max(1, args.epochs * len(loader))
    scheduler = _schedule(opt, args, total_steps)
    monitor = None
    if args.diagnose:
        from ..diagnostics import GradientMonitor

        monitor = GradientMonitor(model, opt)

    history: list = []
    best = {"val_loss": math.inf, "epoch": 0, "state": None}
    start_epoch = 1
    if ckpt is not None:
        history, best, start_epoch, scheduler = _restore(args, ckpt, config, model, opt, scheduler, loader_gen, device, len(loader))

    params = sum(p.numel() for p in model.parameters())
    print(
        f"backprop train --task {args.task}: {args.model} ({params:,} parameters, vocabulary {config['vocab_size']}) on {args.dataset}: "
        f"{task.sizes()}, {args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr:g} (warm-up {warmup_steps(args, total_steps)} "
        f"steps, then cosine decay), on {device}",
        flush=True,
    )
    train_start = time.perf_counter()
    epochs_run, stopped_early = start_epoch - 1, False
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum = hits = None
        seen = 0
        bar = _progress(loader, len(loader), f"epoch {epoch}/{args.epochs}", not args.no_progress)
        for step, batch in enumerate(bar):
            loss, batch_hits, n = task.loss(model, batch, device)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            opt.step()
            scheduler.step()
            seen += n
            batch_loss = loss.detach() * n
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            if batch_hits is not None:
                hits = batch_hits if hits is None else hits + batch_hits
            if bar is not loader and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", lr=f"{opt.param_groups[0]['lr']:.2e}")
        train_loss = float(loss_sum) / max(seen, 1) if loss_sum is not None else math.nan
        train_hits = int(hits) / max(seen, 1) if hits is not None else None
        val = task.evaluate(model, "val", device) if task.val else None
        seconds = time.perf_counter() - t0
        entry = {"epoch": epoch, **task.epoch_entry(train_loss, train_hits, val), "lr": opt.param_groups[0]["lr"], "seconds": seconds}
        history.append(entry)
        epochs_run = epoch
        print(f"epoch {epoch}/{args.epochs}  {task.describe(entry)}  lr {entry['lr']:.2e}  {seconds:.1f}s", flush=True)
        if monitor is not None:
            print("  diagnostics: " + monitor.summary().replace("\n", "\n  diagnostics: "), flush=True)
        if val is not None and val["loss"] < best["val_loss"]:
            best.update(val_loss=val["loss"], epoch=epoch, state=copy.deepcopy(model.state_dict()))
        if args.save:
            _save_text_checkpoint(args, config, tokenizer, model, opt, scheduler, loader_gen, epoch, history, best, device)
        if args.early_stopping and epoch - best["epoch"] >= args.early_stopping:
            print(f"early stopping: no better validation loss for {args.early_stopping} epochs (best {best['val_loss']:.4f} at epoch {best['epoch']})")
            stopped_early = True
            break
    train_seconds = time.perf_counter() - train_start
    if monitor is not None:
        monitor.remove()
    if best["state"] is not None:
        model.load_state_dict(best["state"])  # the epoch with the best validation loss is the one tested
    metrics = {
        "task": args.task, "dataset": args.dataset, "model": args.model,
        **task.test_metrics(model, tokenizer, device),
        "best_val_loss": best["val_loss"] if math.isfinite(best["val_loss"]) else None, "best_epoch": best["epoch"],
        "epochs_run": epochs_run, "stopped_early": stopped_early, "train_seconds": train_seconds,
        "tokenizer_seconds": tokenizer_seconds, "parameters": params, "vocab_size": config["vocab_size"], "history": history,
    }
    if args.task == "translate":
        metrics["val_loss"] = metrics["best_val_loss"]
    print(f"{task.metric} {metrics[task.metric]:.4f}  ({epochs_run} epochs, {train_seconds:.1f}s training)")
    if args.metrics_out:
        with open(args.metrics_out, "w") as fh:
            json.dump(metrics, fh, indent=2)
    if args.plot:
        plot_text_history(history, args.plot, args.task)
    return metrics


def _make_text_optimizer(args: argparse.Namespace, model: nn.Module) -> optim.Optimizer:
    """AdamW (or Adam/SGD) with no weight decay on biases, norms and embeddings' position tables."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "position" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "position" not in n)]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        return optim.SGD(groups, lr=args.lr, momentum=args.momentum)
    if args.optimizer == "adam":
        return optim.Adam(groups, lr=args.lr)
    return optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98))


def warmup_steps(args: argparse.Namespace, total_steps: int) -> int:
    """``--warmup``, but at most a third of the run's steps (short runs still get their decay) and at
    least 2 (``OneCycleLR``'s warm-up phase must span a step)."""
    return max(min(args.warmup, total_steps // 3), 2)


def _schedule(opt: optim.Optimizer, args: argparse.Namespace, total_steps: int) -> optim.lr_scheduler.OneCycleLR:
    """Linear warm-up from lr/25 to lr, then cosine decay to lr/2500 at the last step (torch's ``OneCycleLR``)."""
    warmup = warmup_steps(args, total_steps)
    total = max(total_steps, 2 * warmup)  # runs of a few steps: the decay phase is never shorter than the warm-up
    return optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=total, pct_start=warmup / total,
        anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=100.0,
    )


# ---------------------------------------------------------------------------- checkpoints
_TEXT_KEYS = ("model", "optimizer", "scheduler", "rng", "loader_rng", "epoch", "history", "best_val_loss", "best_epoch", "text_model", "tokenizer")
_SCHEDULE_OPTIONS = ("epochs", "batch_size", "lr", "warmup", "optimizer")
_DATA_OPTIONS = ("seed", "limit", "val_split", "max_len", "tokenizer", "vocab_size")  # what decides the examples and their ids


def _save_text_checkpoint(args, config, tokenizer, model, opt, scheduler, loader_gen, epoch, history, best, device) -> None:
    """The whole training state, the model's configuration and the tokenizer (also written beside it as
    ``<save>.tokenizer.json``, Hugging Face's format, for other tools)."""
    from ..serialization import save

    state = training_state(args, model, opt, scheduler, loader_gen, epoch, history, best, device)
    save({**state, "text_model": config, "tokenizer": tokenizer.to_str()}, args.save)
    save_tokenizer(tokenizer, tokenizer_path(args.save))


def tokenizer_path(checkpoint: str) -> str:
    """Where ``--save CHECKPOINT`` writes the tokenizer: beside it, as ``CHECKPOINT.tokenizer.json``."""
    return checkpoint + ".tokenizer.json"


def _read_text_resume(path: str, device) -> dict:
    from ..serialization import load

    ckpt = load(path, map_location=device)
    missing = [k for k in _TEXT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise UsageError(f"--resume {path}: not a checkpoint written by --task sentiment/translate --save (missing {', '.join(missing)})")
    return ckpt


def _restore(args: argparse.Namespace, ckpt: dict, config: dict, model: nn.Module, opt, scheduler, loader_gen, device, steps_per_epoch: int) -> tuple:
    """Weights, optimizer, schedule, RNG, batch order and history from ``ckpt``; returns
    ``(history, best, start_epoch, scheduler)``.

    The model and the data must be the saved ones (same architecture and sizes; same seed, --limit,
    --val-split, --max-len and vocabulary, which decide the examples, the validation split and the ids).
    A changed optimizer starts fresh; a changed schedule option (epochs, batch size, lr, warm-up,
    optimizer) restarts the warm-up and cosine decay over the remaining epochs, with the new values.
    Each of these is said in a warning."""
    saved = ckpt["text_model"]
    changed = [k for k in config if k != "dropout" and saved.get(k) != config[k]]
    if changed:
        names = ", ".join(f"{k} {saved.get(k)} -> {config[k]}" for k in changed)
        raise UsageError(f"--resume {args.resume}: the saved model differs from this run's ({names})")
    saved_args = ckpt.get("args", {})
    moved_data = [k for k in _DATA_OPTIONS if saved_args.get(k) != getattr(args, k)]
    if moved_data:
        names = ", ".join(f"--{k.replace('_', '-')} {saved_args.get(k)} -> {getattr(args, k)}" for k in moved_data)
        raise UsageError(f"--resume {args.resume}: the saved run used other data ({names}); resume with the saved values")
    start_epoch = int(ckpt["epoch"]) + 1
    try:
        model.load_state_dict(ckpt["model"])
        if saved_args.get("optimizer") == args.optimizer:
            opt.load_state_dict(ckpt["optimizer"])
        else:
            _warn(f"--resume {args.resume} was saved with --optimizer {saved_args.get('optimizer')}: the {args.optimizer} optimizer starts fresh")
        moved = [k for k in _SCHEDULE_OPTIONS if saved_args.get(k) != getattr(args, k)]
        if not moved:
            scheduler.load_state_dict(ckpt["scheduler"])
        elif start_epoch <= args.epochs:
            names = ", ".join(f"--{k.replace('_', '-')} {saved_args.get(k)} -> {getattr(args, k)}" for k in moved)
            _warn(f"--resume {args.resume}: {names}: the learning-rate warm-up and decay restart over the remaining epochs")
            scheduler = _schedule(opt, args, (args.epochs - start_epoch + 1) * steps_per_epoch)  # after the optimizer state: its lr is --lr's
        _set_rng_state(ckpt["rng"], device)
        loader_gen.set_state(ckpt["loader_rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"--resume {args.resume}: does not fit this run: {exc}") from None
    best = {"val_loss": float(ckpt["best_val_loss"]), "epoch": int(ckpt["best_epoch"]), "state": ckpt.get("best_model")}
    if start_epoch > args.epochs:
        _warn(f"--resume {args.resume} already ran {ckpt['epoch']} of --epochs {args.epochs}: only the test runs")
    return list(ckpt["history"]), best, start_epoch, scheduler


def load_text_model(path: str, device: Device | None = None) -> tuple[nn.Module, Any, dict]:
    """The model a ``--task sentiment/translate --save`` checkpoint holds (its best weights), its tokenizer and config."""
    from ..serialization import load

    ckpt = load(path, map_location=device)
    if not isinstance(ckpt, dict) or "text_model" not in ckpt or "tokenizer" not in ckpt:
        raise UsageError(f"--weights {path}: not a checkpoint written by backprop train --task sentiment/translate --save")
    config = ckpt["text_model"]
    model = build_model(config)
    try:
        model.load_state_dict(ckpt["best_model"] if ckpt.get("best_model") is not None else ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise UsageError(f"--weights {path}: the weights do not fit the saved configuration: {exc}") from None
    return model.to(device).eval(), _checkpoint_tokenizer(ckpt, path), config


def _checkpoint_tokenizer(ckpt: dict, path: str):
    """The tokenizer a checkpoint carries (JSON text); a damaged one is a usage error naming the file."""
    try:
        return load_tokenizer(str(ckpt["tokenizer"]))
    except ValueError as exc:
        raise UsageError(f"{path}: damaged checkpoint: its tokenizer does not load ({exc})") from None


# ---------------------------------------------------------------------------- plots
def plot_text_history(history: list, path: str, task: str) -> None:
    """Loss curves and the validation metric (accuracy, or greedy BLEU) per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    if any("val_loss" in h for h in history):
        ax1.plot(epochs, [h.get("val_loss", math.nan) for h in history], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy per token" if task == "translate" else "cross-entropy loss")
    ax1.legend()
    if task == "translate":
        ax2.plot(epochs, [h.get("val_bleu", math.nan) for h in history], label="validation (greedy)")
        ax2.set_ylabel("BLEU (sacreBLEU)")
    else:
        ax2.plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
        ax2.plot(epochs, [100 * h.get("val_accuracy", math.nan) for h in history], label="validation")
        ax2.set_ylabel("accuracy (%)")
    ax2.set_xlabel("epoch")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
