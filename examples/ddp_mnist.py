"""Data-parallel MNIST in the style of pytorch/examples' DDP tutorial (``multigpu_torchrun.py``).

    python -m backprop.distributed.run --nproc-per-node 2 examples/ddp_mnist.py --epochs 2 --snapshot /tmp/snap.pt

A ``Trainer`` with the tutorial's shape: the process group is set up from torchrun's
environment (``LOCAL_RANK``...), the model is wrapped in ``DistributedDataParallel``, a
``DistributedSampler`` gives every rank its own share of each epoch (``set_epoch`` reshuffles),
rank 0 writes a snapshot of ``model.module``'s weights after each epoch and a restarted job
resumes from it. The epoch's loss and accuracy are summed over the ranks with ``all_reduce``.
Set BACKPROP_EXAMPLE_FRAMEWORK=torch to run the very same program on PyTorch (``torchrun``).
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os

import numpy as np

torch = importlib.import_module(os.environ.get("BACKPROP_EXAMPLE_FRAMEWORK", "backprop"))
nn = torch.nn
F = nn.functional
dist = torch.distributed
DDP = torch.nn.parallel.DistributedDataParallel
DataLoader = torch.utils.data.DataLoader
DistributedSampler = torch.utils.data.DistributedSampler
TensorDataset = torch.utils.data.TensorDataset


def ddp_setup() -> None:
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend)


def load_mnist(root: str, train: bool, limit: int | None = None):
    """MNIST's IDX files (gzip) as a TensorDataset of float images in [0, 1] and int64 labels."""
    prefix = "train" if train else "t10k"
    with gzip.open(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")) as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")) as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy((images.astype(np.float32) / 255.0 - 0.1307) / 0.3081)
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class Trainer:
    def __init__(self, model, train_data, optimizer, save_every: int, snapshot_path: str | None) -> None:
        self.local_rank = int(os.environ["LOCAL_RANK"])
        self.global_rank = int(os.environ["RANK"])
        self.device = torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.train_data = train_data
        self.optimizer = optimizer
        self.save_every = save_every
        self.snapshot_path = snapshot_path
        self.epochs_run = 0
        if snapshot_path and os.path.exists(snapshot_path):
            self._load_snapshot(snapshot_path)
        self.model = DDP(self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None)
        self.history: list = []

    def _load_snapshot(self, path: str) -> None:
        snapshot = torch.load(path, map_location=self.device)
        self.model.load_state_dict(snapshot["MODEL_STATE"])
        self.optimizer.load_state_dict(snapshot["OPTIMIZER_STATE"])
        self.epochs_run = snapshot["EPOCHS_RUN"]
        print(f"[rank {self.global_rank}] resuming training from snapshot at epoch {self.epochs_run}")

    def _run_batch(self, source, targets):
        self.optimizer.zero_grad()
        output = self.model(source)
        loss = F.cross_entropy(output, targets)
        loss.backward()
        self.optimizer.step()
        return loss.detach() * len(targets), (output.argmax(1) == targets).sum()

    def _run_epoch(self, epoch: int) -> dict:
        self.train_data.sampler.set_epoch(epoch)
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss sum, correct, samples
        for source, targets in self.train_data:
            source, targets = source.to(self.device), targets.to(self.device)
            loss_sum, correct = self._run_batch(source, targets)
            totals += torch.stack([loss_sum.double(), correct.double(), torch.tensor(float(len(targets)), dtype=torch.float64, device=self.device)])
        dist.all_reduce(totals)  # over all ranks: every rank saw its own share of the epoch
        loss_sum, correct, seen = totals.tolist()
        return {"epoch": epoch, "loss": loss_sum / seen, "accuracy": correct / seen, "samples": int(seen)}

    def _save_snapshot(self, epoch: int) -> None:
        snapshot = {"MODEL_STATE": self.model.module.state_dict(), "OPTIMIZER_STATE": self.optimizer.state_dict(), "EPOCHS_RUN": epoch}
        torch.save(snapshot, self.snapshot_path)
        print(f"epoch {epoch} | training snapshot saved at {self.snapshot_path}")

    def train(self, max_epochs: int) -> None:
        for epoch in range(self.epochs_run, max_epochs):
            stats = self._run_epoch(epoch)
            self.history.append(stats)
            if self.global_rank == 0:
                print(f"epoch {epoch} | loss {stats['loss']:.4f} | accuracy {100 * stats['accuracy']:.2f}% | {stats['samples']} samples over {dist.get_world_size()} ranks", flush=True)
                if self.snapshot_path and (epoch + 1) % self.save_every == 0:
                    self._save_snapshot(epoch + 1)


@torch.no_grad()
def evaluate(model, data, device) -> float:
    model.eval()
    correct = sum(int((model(x.to(device)).argmax(1) == y.to(device)).sum()) for x, y in data)
    return correct / len(data.dataset)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/mnist")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--save-every", type=int, default=1)
    p.add_argument("--snapshot", default=None, help="snapshot file (resumed from when it exists)")
    p.add_argument("--limit", type=int, default=None, help="use the first N training images")
    p.add_argument("--metrics-out", default=None)
    args = p.parse_args(argv)
    if not os.path.isdir(args.data):
        raise SystemExit(f"ddp_mnist: error: MNIST not found at {args.data} (the four *-ubyte.gz files)")

    ddp_setup()
    torch.manual_seed(0)
    train_set = load_mnist(args.data, train=True, limit=args.limit)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=False, sampler=DistributedSampler(train_set))
    trainer = Trainer(model, loader, optimizer, args.save_every, args.snapshot)
    trainer.train(args.epochs)
    if dist.get_rank() == 0:
        test_loader = DataLoader(load_mnist(args.data, train=False), batch_size=1000)
        accuracy = evaluate(trainer.model.module, test_loader, trainer.device)
        print(f"test accuracy {100 * accuracy:.2f}%")
        if args.metrics_out:
            with open(args.metrics_out, "w") as fh:
                json.dump({"framework": torch.__name__, "world_size": dist.get_world_size(), "history": trainer.history, "test_accuracy": accuracy}, fh, indent=2)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
