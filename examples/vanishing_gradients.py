"""Why deep sigmoid networks don't learn: the same 20-layer MLP three ways, with a GradientMonitor.

1. sigmoid, default init: sigmoid'(x) <= 0.25, so every layer shrinks the gradient and the
   first layers get almost none -- the monitor flags *vanishing gradients*;
2. ReLU with Kaiming (He) init: ReLU passes gradients through unchanged where active and He
   init keeps their scale from layer to layer;
3. residual blocks (x + Linear(ReLU(BatchNorm(x)))): the identity path carries the gradient
   straight to the first layers, and BatchNorm keeps activations well scaled.

Each run is trained with plain SGD (momentum 0.9) on the 8x8 digits (or MNIST with --data);
the script prints the monitor's numbers and issues and saves the three gradient-flow
pictures side by side in ``docs/images/gradient_flow.png``::

    python examples/vanishing_gradients.py                  # digits, 15 epochs, docs/images/
    python examples/vanishing_gradients.py --data mnist --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import backprop as torch
from backprop import nn
from backprop.diagnostics import GradientMonitor, plot_gradient_flow


class Residual(nn.Module):
    """x + Linear(ReLU(BatchNorm(x))): a pre-activation residual block."""

    def __init__(self, width: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(width)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc(self.relu(self.bn(x)))


def build(kind: str, depth: int, width: int, in_features: int, classes: int) -> nn.Module:
    """``depth`` Linear layers in all: input layer, ``depth - 2`` hidden ones, output layer."""
    layers: list = [nn.Linear(in_features, width)]
    for _ in range(depth - 2):
        if kind == "sigmoid":
            layers += [nn.Sigmoid(), nn.Linear(width, width)]
        elif kind == "relu":
            layers += [nn.ReLU(), nn.Linear(width, width)]
        else:
            layers.append(Residual(width))
    layers += [nn.ReLU() if kind != "sigmoid" else nn.Sigmoid(), nn.Linear(width, classes)]
    model = nn.Sequential(*layers)
    if kind == "relu":
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return model


def load(args):
    from backprop import datasets

    if args.data == "digits":
        train, test = datasets.Digits(train=True), datasets.Digits(train=False)
    else:
        train = datasets.MNIST(args.data_dir, train=True)
        test = datasets.MNIST(args.data_dir, train=False)

    def arrays(ds):
        x = np.asarray(ds.data.numpy() if hasattr(ds.data, "numpy") else ds.data, dtype=np.float32)
        y = np.asarray(ds.targets.numpy() if hasattr(ds.targets, "numpy") else ds.targets, dtype=np.int64)
        return x.reshape(len(x), -1), y

    (x_tr, y_tr), (x_te, y_te) = arrays(train), arrays(test)
    if args.limit:
        x_tr, y_tr = x_tr[: args.limit], y_tr[: args.limit]
    mean, std = x_tr.mean(), x_tr.std()
    return (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    model.train()
    return float((pred == y).mean())


def run(kind: str, args, data) -> tuple:
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(args.seed)
    model = build(kind, args.depth, args.width, x_tr.shape[1], int(y_tr.max()) + 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    monitor = GradientMonitor(model, opt)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    losses = []
    for _epoch in range(args.epochs):
        order = rng.permutation(len(y_tr))
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            xb, yb = torch.from_numpy(x_tr[idx]), torch.from_numpy(y_tr[idx])
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(float(loss))
    seconds = time.perf_counter() - t0
    monitor.remove()
    acc = accuracy(model, x_te, y_te)
    return monitor, acc, float(np.mean(losses[-20:])), seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=["digits", "mnist"], default="digits")
    p.add_argument("--data-dir", default=None, help="directory with the MNIST IDX .gz files (--data mnist)")
    p.add_argument("--depth", type=int, default=20, help="number of Linear layers")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("docs", "images"), help="folder for the gradient-flow PNG(s)")
    p.add_argument("--each", action="store_true", help="also one PNG per network (gradient_flow_<kind>.png)")
    args = p.parse_args(argv)
    if args.data == "mnist" and not args.data_dir:
        p.error("--data mnist needs --data-dir")
    data = load(args)
    os.makedirs(args.out, exist_ok=True)
    print(f"{args.depth}-layer MLP (width {args.width}) on {args.data}: {len(data[1])} train / {len(data[3])} test, SGD lr {args.lr} momentum 0.9, {args.epochs} epochs")

    monitors = {}
    names = {"sigmoid": "sigmoid", "relu": "ReLU + He init", "residual": "residual + BatchNorm"}
    for kind, title in names.items():
        monitor, acc, loss, seconds = run(kind, args, data)
        monitors[title] = monitor
        layers = [r for r in monitor.report().layers if r.params]
        first, last = layers[0], layers[-1]
        ratio = first.grad_rms / last.grad_rms if last.grad_rms else math.nan
        print(f"\n=== {title}: test accuracy {100 * acc:.1f}%, final train loss {loss:.3f} ({seconds:.0f}s)")
        print(f"    gradient RMS per weight: first layer {first.grad_rms:.2e}, last layer {last.grad_rms:.2e} (ratio {ratio:.1e})")
        print(f"    update/weight per step:  first layer {first.update_ratio:.1e}, last layer {last.update_ratio:.1e}")
        issues = monitor.issues()
        print("    issues: " + ("none" if not issues else ""))
        for issue in issues:
            print(f"      - {issue}")
        if args.each:
            path = plot_gradient_flow(monitor, os.path.join(args.out, f"gradient_flow_{kind}.png"), title=title)
            print(f"    gradient flow: {path}")
    path = plot_gradient_flow(monitors, os.path.join(args.out, "gradient_flow.png"))
    print(f"\nall three side by side: {path}")


if __name__ == "__main__":
    main()
