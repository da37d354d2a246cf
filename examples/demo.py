"""Backpropagation from scratch with backprop's tensors: a 2-layer MLP learns y = sin(x).

Forward pass -> MSE loss -> loss.backward() (the chain rule back to every weight) -> an SGD
step by hand, batch after batch. Prints the loss falling.
"""

from __future__ import annotations

import math

import backprop as torch

torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 256).unsqueeze(1)
y = torch.sin(x)

hidden = 32
w1 = (torch.randn(1, hidden) * 1.0).requires_grad_()
b1 = torch.zeros(hidden, requires_grad=True)
w2 = (torch.randn(hidden, 1) / math.sqrt(hidden)).requires_grad_()
b2 = torch.zeros(1, requires_grad=True)
params = [w1, b1, w2, b2]
lr = 0.05

for step in range(1, 2001):
    idx = torch.randint(0, x.shape[0], (64,))
    pred = torch.tanh(x[idx] @ w1 + b1) @ w2 + b2
    loss = ((pred - y[idx]) ** 2).mean()
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    if step == 1 or step % 250 == 0:
        print(f"step {step:5d}  loss {loss.item():.5f}")

with torch.no_grad():
    full = ((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean().item()
print(f"final MSE on all 256 points: {full:.5f}")
