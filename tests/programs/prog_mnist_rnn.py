"""The pattern of pytorch/examples mnist_rnn: an nn.LSTM with batch_first=True reading the image one
row per time step, the last output through BatchNorm1d, Dropout2d and two Linear layers, log_softmax
with nll_loss, Adadelta and StepLR."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset

ROWS = 12


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=ROWS, hidden_size=16, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(16)
        self.dropout1 = nn.Dropout2d(0.0)
        self.dropout2 = nn.Dropout2d(0.0)
        self.fc1 = nn.Linear(16, 12)
        self.fc2 = nn.Linear(12, 10)

    def forward(self, input):
        # Shape of input is (batch_size, 1, ROWS, ROWS); reshape to (batch_size, ROWS, ROWS) for the RNN
        input = input.reshape(-1, ROWS, ROWS)
        output, hidden = self.rnn(input)

        # RNN output shape is (seq_len, batch, input_size); get the last output
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


def train(model, device, train_loader, optimizer):
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    return test_loss / len(test_loader.dataset), correct


def main(reinit, epochs=2):
    device = torch.device("cpu")
    rng = np.random.default_rng(21)
    images = torch.from_numpy(rng.random((40, 1, ROWS, ROWS)).astype(np.float32))
    images = (images - 0.1307) / 0.3081
    labels = torch.from_numpy(rng.integers(0, 10, size=40))
    train_loader = DataLoader(TensorDataset(images[:24], labels[:24]), batch_size=8)
    test_loader = DataLoader(TensorDataset(images[24:], labels[24:]), batch_size=8)
    model = Net().to(device)
    reinit(model)
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    history = []
    for epoch in range(1, epochs + 1):
        losses = train(model, device, train_loader, optimizer)
        test_loss, correct = test(model, device, test_loader)
        scheduler.step()
        history.append({"losses": losses, "test_loss": test_loss, "correct": correct})
    return {"history": history, "running_mean": model.batchnorm.running_mean.tolist()}
