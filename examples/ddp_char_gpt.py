"""Data-parallel training of the character GPT, written the way nanoGPT's train.py is.

One process (``python examples/ddp_char_gpt.py``) or several, started torchrun-style:

    python -m backprop.distributed.run --nproc-per-node 2 examples/ddp_char_gpt.py --max-iters 200

The DDP parts are nanoGPT's: ``RANK`` in the environment means a distributed run;
``init_process_group``; each rank seeds with ``1337 + rank``, so it samples its own batches;
the gradient-accumulation steps are divided among the ranks; the model is wrapped in
``DistributedDataParallel`` and gradients are synchronized only on the last micro-step
(``model.require_backward_grad_sync``); rank 0 (the master process) evaluates, logs and writes
the checkpoint; ``destroy_process_group`` at the end. nanoGPT's mixed precision (autocast,
GradScaler) is left out: this runs in float32. The model is ``examples/char_gpt.py``'s.
Set BACKPROP_EXAMPLE_FRAMEWORK=torch to run the same program on PyTorch (with ``torchrun``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from char_gpt import GPT, GPTConfig, configure_optimizer, load_data, lr_at  # noqa: E402

torch = importlib.import_module(os.environ.get("BACKPROP_EXAMPLE_FRAMEWORK", "backprop"))
DDP = torch.nn.parallel.DistributedDataParallel  # nanoGPT: from torch.nn.parallel import DistributedDataParallel as DDP
init_process_group = torch.distributed.init_process_group
destroy_process_group = torch.distributed.destroy_process_group


def get_batch(data: np.ndarray, block: int, batch: int, device: str):
    """A random batch, nanoGPT's way: from the global NumPy generator each rank seeded itself."""
    ix = np.random.randint(0, len(data) - block - 1, batch)
    x = np.stack([data[i : i + block] for i in ix])
    y = np.stack([data[i + 1 : i + 1 + block] for i in ix])
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


@torch.no_grad()
def estimate_loss(model, splits: dict, block: int, batch: int, iters: int, device: str) -> dict:
    model.eval()
    out = {}
    for name, data in splits.items():
        losses = torch.zeros(iters)
        for k in range(iters):
            _, loss = model(*get_batch(data, block, batch, device))
            losses[k] = loss.item()
        out[name] = losses.mean().item()
    model.train()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt")
    p.add_argument("--out-dir", default=None, help="write ckpt.pt here (rank 0)")
    p.add_argument("--max-iters", type=int, default=500)
    p.add_argument("--eval-interval", type=int, default=100)
    p.add_argument("--eval-iters", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--gradient-accumulation-steps", type=int, default=2, help="in all, divided among the ranks")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--warmup-iters", type=int, default=50)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--backend", default="gloo", help="gloo (CPU) or nccl (GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--metrics-out", default=None)
    args = p.parse_args(argv)

    ddp = int(os.environ.get("RANK", -1)) != -1  # is this a ddp run?
    gradient_accumulation_steps = args.gradient_accumulation_steps
    if ddp:
        init_process_group(backend=args.backend)
        ddp_rank = int(os.environ["RANK"])
        ddp_local_rank = int(os.environ["LOCAL_RANK"])
        ddp_world_size = int(os.environ["WORLD_SIZE"])
        device = f"cuda:{ddp_local_rank}" if args.device == "cuda" else args.device
        if device.startswith("cuda"):
            torch.cuda.set_device(device)
        master_process = ddp_rank == 0  # this process will do logging, checkpointing etc.
        seed_offset = ddp_rank  # each process gets a different seed
        assert gradient_accumulation_steps % ddp_world_size == 0
        gradient_accumulation_steps //= ddp_world_size
    else:
        master_process, seed_offset, ddp_world_size, device = True, 0, 1, args.device
    tokens_per_iter = gradient_accumulation_steps * ddp_world_size * args.batch_size * args.block_size
    if master_process:
        print(f"tokens per iteration will be: {tokens_per_iter:,}")
        if args.out_dir:
            os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(1337 + seed_offset)
    np.random.seed(1337 + seed_offset)

    train_data, val_data, chars = load_data(args.data)
    model = GPT(GPTConfig(len(chars), args.block_size, args.n_layer, args.n_head, args.n_embd, 0.0)).to(device)
    optimizer = configure_optimizer(model, args.learning_rate)
    if ddp:  # the ranks drew different initial weights (seeds differ): DDP starts them all from rank 0's
        model = DDP(model, device_ids=[ddp_local_rank] if device.startswith("cuda") else None)
    raw_model = model.module if ddp else model  # unwrap DDP container if needed

    history = []
    x, y = get_batch(train_data, args.block_size, args.batch_size, device)
    t0 = time.perf_counter()
    for it in range(args.max_iters + 1):
        lr = lr_at(it, args.learning_rate, args.warmup_iters, args.max_iters, args.learning_rate / 10)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        if it % args.eval_interval == 0 and master_process:
            losses = estimate_loss(raw_model, {"train": train_data, "val": val_data}, args.block_size, args.batch_size, args.eval_iters, device)
            history.append({"iter": it, **losses})
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
            if args.out_dir and it > 0:
                checkpoint = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(), "iter_num": it, "chars": "".join(chars)}
                torch.save(checkpoint, os.path.join(args.out_dir, "ckpt.pt"))
        if it == args.max_iters:
            break
        for micro_step in range(gradient_accumulation_steps):
            if ddp:
                # sync gradients only at the last micro-step (nanoGPT's way of using no_sync)
                model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
            _, loss = model(x, y)
            loss = loss / gradient_accumulation_steps  # scale the loss to account for gradient accumulation
            x, y = get_batch(train_data, args.block_size, args.batch_size, device)  # prefetch the next batch
            loss.backward()
        if args.grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t0

    metrics = {"framework": torch.__name__, "world_size": ddp_world_size, "iters": args.max_iters, "history": history, "seconds": seconds}
    if ddp:
        gathered = [None] * ddp_world_size
        torch.distributed.all_gather_object(gathered, {"rank": ddp_rank, "weight_sum": raw_model.head.weight.detach().sum().item()})
        metrics["weight_sums"] = [g["weight_sum"] for g in gathered]  # equal on every rank: DDP keeps the replicas in step
    if master_process:
        print(f"final val loss {history[-1]['val']:.4f} after {args.max_iters} iterations, {seconds:.1f}s")
        if args.metrics_out:
            with open(args.metrics_out, "w") as fh:
                json.dump(metrics, fh, indent=2)
    if ddp:
        destroy_process_group()
    return metrics


if __name__ == "__main__":
    main()
