"""A character-level GPT trained with backprop on Tiny Shakespeare.

Ordinary PyTorch code (`import backprop as torch`): token + position embeddings, pre-norm
Transformer blocks with causal self-attention and a GELU MLP, AdamW with weight decay,
cosine learning-rate decay with warm-up, gradient clipping, periodic validation loss on a
90/10 split, a checkpoint, and text sampled at the end.

    python examples/char_gpt.py --data ../shared/data/tinyshakespeare/input.txt \
        --iters 2000 --block-size 64 --batch-size 12 --n-layer 4 --n-head 4 --n-embd 128 --dropout 0 --lr 1e-3

It trains on a GPU when one is available (``--device cuda|cpu``; default: PyTorch's idiom
``"cuda" if torch.cuda.is_available() else "cpu"``). Set BACKPROP_EXAMPLE_FRAMEWORK=torch to run
the very same code on PyTorch (for comparison).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np

torch = importlib.import_module(os.environ.get("BACKPROP_EXAMPLE_FRAMEWORK", "backprop"))
nn = torch.nn
F = nn.functional


@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)  # (b, heads, t, head_dim)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, idx, targets=None):
        t = idx.shape[1]
        x = self.drop(self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device)))
        logits = self.head(self.ln_f(self.blocks(x)))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        """Sample one token at a time from the softmax over the last position's logits."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.cfg.block_size :])
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.shape[-1]))
                logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
            probs = F.softmax(logits, dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


def configure_optimizer(model: GPT, lr: float, weight_decay: float = 0.1):
    """AdamW with weight decay on matrices only (not on biases, LayerNorm or embeddings' ... norms)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def lr_at(it: int, lr: float, warmup: int, total: int, min_lr: float) -> float:
    """Linear warm-up, then cosine decay to ``min_lr``."""
    if it < warmup:
        return lr * (it + 1) / warmup
    progress = min((it - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def load_data(path: str):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    n = int(0.9 * len(data))
    return data[:n], data[n:], chars


def get_batch(data: np.ndarray, block: int, batch: int, rng: np.random.Generator, device="cpu"):
    ix = rng.integers(0, len(data) - block - 1, batch)
    x = np.stack([data[i : i + block] for i in ix])
    y = np.stack([data[i + 1 : i + 1 + block] for i in ix])
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


@torch.no_grad()
def estimate_loss(model: GPT, splits: dict, block: int, batch: int, iters: int, seed: int, device="cpu") -> dict:
    model.eval()
    out = {}
    for name, data in splits.items():
        rng = np.random.default_rng(seed)
        losses = [model(*get_batch(data, block, batch, rng, device))[1].item() for _ in range(iters)]
        out[name] = float(np.mean(losses))
    model.train()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt", help="path to input.txt")
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--checkpoint", default=None, help="save model + optimizer here at the end (safetensors)")
    p.add_argument("--sample-tokens", type=int, default=400)
    p.add_argument("--metrics-out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not os.path.exists(args.data):
        raise SystemExit(f"char_gpt: error: data file not found: {args.data} (Tiny Shakespeare input.txt)")

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    train, val, chars = load_data(args.data)
    cfg = GPTConfig(len(chars), args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout)
    model = GPT(cfg).to(device)
    opt = configure_optimizer(model, args.lr, args.weight_decay)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{torch.__name__}: {n_params / 1e6:.2f}M parameters on {device}, vocab {len(chars)}, {len(train):,} train / {len(val):,} val characters")

    rng = np.random.default_rng(args.seed)
    history = []
    t_start = time.perf_counter()
    train_time = 0.0
    for it in range(args.iters + 1):
        if it % args.eval_interval == 0 or it == args.iters:
            losses = estimate_loss(model, {"train": train, "val": val}, args.block_size, args.batch_size, args.eval_iters, args.seed, device)
            history.append({"iter": it, **losses})
            print(f"iter {it:5d}  train loss {losses['train']:.4f}  val loss {losses['val']:.4f}  ({time.perf_counter() - t_start:.0f}s)", flush=True)
        if it == args.iters:
            break
        t0 = time.perf_counter()
        lr = lr_at(it, args.lr, args.warmup, args.iters, args.lr / 10)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(train, args.block_size, args.batch_size, rng, device)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        if torch.device(device).type == "cuda":  # GPU work is queued ("cuda", "cuda:1"...): wait for it, so the time is the step's
            torch.cuda.synchronize(device)
        train_time += time.perf_counter() - t0

    if args.checkpoint:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter": args.iters, "chars": "".join(chars)}, args.checkpoint)
    if args.sample_tokens:
        start = torch.zeros((1, 1), dtype=torch.long, device=device)
        out = model.generate(start, args.sample_tokens, temperature=0.8, top_k=20)[0].tolist()
        print("\n--- sample ---\n" + "".join(chars[i] for i in out) + "\n--------------")
    metrics = {
        "framework": torch.__name__,
        "device": str(device),
        "iters": args.iters,
        "train_loss": history[-1]["train"],
        "val_loss": history[-1]["val"],
        "seconds": time.perf_counter() - t_start,
        "train_seconds": train_time,
        "ms_per_iter": 1e3 * train_time / max(args.iters, 1),
        "parameters": n_params,
        "history": history,
    }
    print(f"final val loss {metrics['val_loss']:.4f}, {metrics['ms_per_iter']:.1f} ms/iter, {metrics['seconds']:.0f}s total")
    if args.metrics_out:
        with open(args.metrics_out, "w") as fh:
            json.dump(metrics, fh, indent=2)
    return metrics


if __name__ == "__main__":
    main()
