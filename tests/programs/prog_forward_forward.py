"""The pattern of pytorch/examples mnist_forward_forward: labels written into the input with range
indexing (``x_[range(n), y] = x.max()``), layers trained one by one with their own optimizers on a
goodness loss, prediction by the label with the largest goodness."""

import numpy as np
import torch
import torch.nn as nn
from torch.optim import Adam


def overlay_y_on_x(x, y):
    x_ = x.clone()
    x_[:, :10] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Net(torch.nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = []
        for d in range(len(dims) - 1):
            self.layers += [Layer(dims[d], dims[d + 1])]

    def predict(self, x):
        goodness_per_label = []
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in self.layers:
                h = layer(h)
                goodness += [h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]
        goodness_per_label = torch.cat(goodness_per_label, 1)
        return goodness_per_label.argmax(1)

    def train(self, x_pos, x_neg):
        h_pos, h_neg = x_pos, x_neg
        losses = []
        for i, layer in enumerate(self.layers):
            h_pos, h_neg, layer_losses = layer.train(h_pos, h_neg)
            losses.append(layer_losses)
        return losses


class Layer(nn.Linear):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=0.03)
        self.threshold = 2.0
        self.num_epochs = 5

    def forward(self, x):
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

    def train(self, x_pos, x_neg):
        losses = []
        for i in range(self.num_epochs):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log(1 + torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            losses.append(loss.item())
        return self.forward(x_pos).detach(), self.forward(x_neg).detach(), losses


def main(reinit, n=40):
    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.random((n, 64)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, size=n))
    net = Net([64, 32, 32])
    for layer in net.layers:
        reinit(layer)
    x_pos = overlay_y_on_x(x, y)
    rnd = torch.from_numpy(rng.permutation(x.size(0)))
    x_neg = overlay_y_on_x(x, y[rnd])
    losses = net.train(x_pos, x_neg)
    error = 1.0 - net.predict(x).eq(y).float().mean().item()
    return {"losses": losses, "train_error": error, "x_pos_labels": x_pos[range(n), y].tolist()}
