"""The pattern of nanoGPT's train.py checkpointing: ``model_args`` and a GPTConfig built from them,
``torch.compile(model)``, checkpoints ``torch.save({'model': raw_model.state_dict(), 'optimizer':
optimizer.state_dict(), 'model_args': ..., 'iter_num': ..., 'best_val_loss': ..., 'config': ...})``
written at evaluation intervals, and ``init_from == 'resume'``: ``torch.load(ckpt_path,
map_location=device)``, the model args taken from the checkpoint, the ``'_orig_mod.'`` prefixes that a
compiled model's state_dict carries stripped, ``load_state_dict`` for model and optimizer, and training
continued from the saved iteration. Batches depend only on the iteration number, so a resumed run
must reproduce the uninterrupted run's losses."""

import inspect
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0,
                                           is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == "cuda"
        extra_args = dict(fused=True) if use_fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)


def train(reinit, out_dir, init_from, max_iters, compile):
    # -----------------------------------------------------------------------------
    eval_interval = 2
    eval_iters = 2
    always_save_checkpoint = True
    gradient_accumulation_steps = 2
    batch_size = 4
    block_size = 8
    n_layer, n_head, n_embd, dropout, bias = 1, 2, 16, 0.0, True
    learning_rate, weight_decay, beta1, beta2, grad_clip = 6e-3, 1e-1, 0.9, 0.95, 1.0
    decay_lr, warmup_iters, lr_decay_iters, min_lr = True, 2, 6, 6e-4
    device = "cpu"
    config = {"eval_interval": eval_interval, "batch_size": batch_size, "learning_rate": learning_rate,
              "init_from": init_from, "out_dir": out_dir, "compile": compile}
    # -----------------------------------------------------------------------------
    os.makedirs(out_dir, exist_ok=True)
    device_type = "cuda" if "cuda" in device else "cpu"
    ctx = nullcontext()
    data = {"train": np.random.default_rng(3).integers(0, 30, size=300).astype(np.uint16),
            "val": np.random.default_rng(4).integers(0, 30, size=100).astype(np.uint16)}

    def get_batch(split, key):
        rng = np.random.default_rng(key)  # batches depend on (iteration, micro step) only
        ix = rng.integers(0, len(data[split]) - block_size, size=batch_size)
        x = torch.stack([torch.from_numpy((data[split][i:i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[split][i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
        return x.to(device), y.to(device)

    iter_num = 0
    best_val_loss = 1e9
    model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias,
                      vocab_size=None, dropout=dropout)
    if init_from == "scratch":
        model_args["vocab_size"] = 30
        gptconf = GPTConfig(**model_args)
        model = GPT(gptconf)
        reinit(model)
    elif init_from == "resume":
        ckpt_path = os.path.join(out_dir, "ckpt.pt")
        checkpoint = torch.load(ckpt_path, map_location=device)
        checkpoint_model_args = checkpoint["model_args"]
        # force these config attributes to be equal otherwise we can't even resume training
        for k in ["n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size"]:
            model_args[k] = checkpoint_model_args[k]
        gptconf = GPTConfig(**model_args)
        model = GPT(gptconf)
        state_dict = checkpoint["model"]
        saved_keys = sorted(state_dict.keys())
        # fix the keys of the state dictionary :(
        unwanted_prefix = "_orig_mod."
        for k, v in list(state_dict.items()):
            if k.startswith(unwanted_prefix):
                state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
        model.load_state_dict(state_dict)
        iter_num = checkpoint["iter_num"]
        best_val_loss = checkpoint["best_val_loss"]
    model.to(device)
    scaler = torch.amp.GradScaler(device_type, enabled=False)
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)
    if init_from == "resume":
        optimizer.load_state_dict(checkpoint["optimizer"])
        resumed = {"iter_num": iter_num, "best_val_loss": float(best_val_loss), "saved_keys": saved_keys[:3],
                   "config": checkpoint["config"], "model_args": checkpoint["model_args"]}
    checkpoint = None  # free up memory
    if compile:
        unoptimized_model = model  # noqa: F841
        model = torch.compile(model, backend="eager")  # "eager": nanoGPT's plain compile, without a C compiler
    raw_model = model

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split, 1000 + k)
                with ctx:
                    logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        assert 0 <= decay_ratio <= 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    history = {}
    evals = {}
    while True:
        lr = get_lr(iter_num) if decay_lr else learning_rate
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        if iter_num % eval_interval == 0:
            losses = estimate_loss()
            evals[iter_num] = [losses["train"].item(), losses["val"].item()]
            if losses["val"] < best_val_loss or always_save_checkpoint:
                best_val_loss = losses["val"]
                if iter_num > 0:
                    checkpoint = {
                        "model": raw_model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "model_args": model_args,
                        "iter_num": iter_num,
                        "best_val_loss": best_val_loss,
                        "config": config,
                    }
                    torch.save(checkpoint, os.path.join(out_dir, "ckpt.pt"))
        for micro_step in range(gradient_accumulation_steps):
            X, Y = get_batch("train", iter_num * gradient_accumulation_steps + micro_step)
            with ctx:
                logits, loss = model(X, Y)
                loss = loss / gradient_accumulation_steps
            scaler.scale(loss).backward()
        if grad_clip != 0.0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        history[iter_num] = loss.item() * gradient_accumulation_steps
        iter_num += 1
        if iter_num > max_iters:
            break
    result = {"history": history, "evals": evals, "model_type": type(model).__name__}
    if init_from == "resume":
        result["resumed"] = resumed
    return result


def main(reinit, out_dir, compile=False):
    os.makedirs(out_dir, exist_ok=True)
    full = train(reinit, os.path.join(out_dir, "full"), "scratch", max_iters=5, compile=compile)
    part_dir = os.path.join(out_dir, "part")
    first = train(reinit, part_dir, "scratch", max_iters=2, compile=compile)  # checkpoint at iter 2, then stops
    resumed = train(reinit, part_dir, "resume", max_iters=5, compile=compile)
    same = [resumed["history"][it] == full["history"][it] for it in resumed["history"]]
    return {"full": full, "first": first, "resumed": resumed, "resumed_equals_full": same}
