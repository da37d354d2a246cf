"""The pattern of pytorch/examples regression: fit a degree-4 polynomial with one nn.Linear on
polynomial features built with ``torch.cat([x ** i ...], 1)``, F.smooth_l1_loss, and a manual update
``param.data.add_(-0.1 * param.grad)``, stopping when the loss is small."""

from itertools import count

import numpy as np
import torch
import torch.nn.functional as F

POLY_DEGREE = 4
rng = np.random.default_rng(3)
W_target = torch.from_numpy(rng.standard_normal((POLY_DEGREE, 1)).astype(np.float32)) * 5
b_target = torch.from_numpy(rng.standard_normal(1).astype(np.float32)) * 5


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """Approximated function."""
    return x.mm(W_target) + b_target.item()


def poly_desc(w, b):
    """Creates a string description of a polynomial."""
    result = "y = "
    for i, wi in enumerate(w):
        result += f"{wi:+.1f} x^{i + 1} "
    result += f"{b[0]:+.1f}"
    return result


def get_batch(batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair."""
    random = torch.from_numpy(rng.standard_normal(batch_size).astype(np.float32))
    x = make_features(random)
    y = f(x)
    return x, y


def main(reinit, max_batches=60):
    fc = torch.nn.Linear(W_target.size(0), 1)
    reinit(fc)
    losses = []
    for batch_idx in count(1):
        batch_x, batch_y = get_batch()
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        output.backward()
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)
        losses.append(loss)
        if loss < 1e-3 or batch_idx >= max_batches:
            break
    return {"batches": batch_idx, "losses": losses, "weight": fc.weight.view(-1).tolist(), "bias": fc.bias.tolist(),
            "learned": poly_desc(fc.weight.view(-1).tolist(), fc.bias.tolist()).split(" x^")[0],
            "actual": poly_desc(W_target.view(-1), b_target)}
