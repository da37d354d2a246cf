"""A character-level LSTM language model on Tiny Shakespeare, trained with backprop.

Ordinary PyTorch code: Embedding -> 2-layer LSTM -> Linear, truncated backpropagation
through time over 64-character windows, Adam, gradient clipping, validation loss on a 90/10
split, and sampled text at the end.

    python examples/lstm_charlm.py --data ../shared/data/tinyshakespeare/input.txt --iters 1500
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

import numpy as np

torch = importlib.import_module(os.environ.get("BACKPROP_EXAMPLE_FRAMEWORK", "backprop"))
nn = torch.nn
F = nn.functional


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, emb: int = 128, hidden: int = 256, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.rnn(self.emb(idx), state)
        return self.head(out), state

    @torch.no_grad()
    def generate(self, idx, n: int, temperature: float = 0.8):
        logits, state = self(idx)
        out = [idx]
        for _ in range(n):
            probs = F.softmax(logits[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1)
            out.append(nxt)
            logits, state = self(nxt, state)
        return torch.cat(out, dim=1)


def load(path: str):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    n = int(0.9 * len(data))
    return data[:n], data[n:], chars


def batch(data, block, size, rng):
    ix = rng.integers(0, len(data) - block - 1, size)
    return torch.from_numpy(np.stack([data[i : i + block] for i in ix])), torch.from_numpy(np.stack([data[i + 1 : i + block + 1] for i in ix]))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt")
    p.add_argument("--iters", type=int, default=1500)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-tokens", type=int, default=300)
    p.add_argument("--metrics-out", default=None)
    args = p.parse_args(argv)
    if not os.path.exists(args.data):
        raise SystemExit(f"lstm_charlm: error: data file not found: {args.data}")
    torch.manual_seed(args.seed)
    train, val, chars = load(args.data)
    model = CharLSTM(len(chars), hidden=args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()
    history = []

    def evaluate():
        model.eval()
        out = {}
        with torch.no_grad():
            for name, data in (("train", train), ("val", val)):
                r = np.random.default_rng(1)
                losses = []
                for _ in range(args.eval_iters):
                    x, y = batch(data, args.block_size, args.batch_size, r)
                    logits, _ = model(x)
                    losses.append(F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1)).item())
                out[name] = float(np.mean(losses))
        model.train()
        return out

    for it in range(args.iters + 1):
        if it % args.eval_interval == 0 or it == args.iters:
            losses = evaluate()
            history.append({"iter": it, **losses})
            print(f"iter {it:5d}  train loss {losses['train']:.4f}  val loss {losses['val']:.4f}  ({time.perf_counter() - t_start:.0f}s)", flush=True)
        if it == args.iters:
            break
        x, y = batch(train, args.block_size, args.batch_size, rng)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - t_start
    if args.sample_tokens:
        out = model.generate(torch.zeros((1, 1), dtype=torch.long), args.sample_tokens)[0].tolist()
        print("\n--- sample ---\n" + "".join(chars[i] for i in out) + "\n--------------")
    metrics = {"iters": args.iters, "train_loss": history[-1]["train"], "val_loss": history[-1]["val"], "seconds": seconds, "ms_per_iter": 1e3 * seconds / max(args.iters, 1), "history": history}
    print(f"final val loss {metrics['val_loss']:.4f} ({seconds:.0f}s)")
    if args.metrics_out:
        with open(args.metrics_out, "w") as fh:
            json.dump(metrics, fh, indent=2)
    return metrics


if __name__ == "__main__":
    main()
