"""The pattern of current pytorch/examples mnist: the device from torch.accelerator, a CNN with
dropout, Adadelta with StepLR, a DataLoader, test loss summed with reduction='sum', and the weights
saved with torch.save(model.state_dict(), ...)."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, p1=0.25, p2=0.5):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(p1)
        self.dropout2 = nn.Dropout(p2)
        self.fc1 = nn.Linear(400, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
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


def main(reinit, epochs=2, path=None):
    use_accel = torch.accelerator.is_available()
    use_mps = torch.backends.mps.is_available()
    torch.manual_seed(1)
    if use_accel:
        device = torch.accelerator.current_accelerator()
    elif use_mps:
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    rng = np.random.default_rng(8)
    images = torch.from_numpy(rng.random((48, 1, 14, 14)).astype(np.float32))
    images = (images - 0.1307) / 0.3081
    labels = torch.from_numpy(rng.integers(0, 10, size=48))
    train_kwargs = {"batch_size": 16}
    test_kwargs = {"batch_size": 24}
    if use_accel:
        accel_kwargs = {"num_workers": 1, "persistent_workers": True, "pin_memory": True, "shuffle": True}
        train_kwargs.update(accel_kwargs)
        test_kwargs.update(accel_kwargs)
    train_loader = DataLoader(TensorDataset(images[:32], labels[:32]), **train_kwargs)
    test_loader = DataLoader(TensorDataset(images[32:], labels[32:]), **test_kwargs)
    model = Net(p1=0.0, p2=0.0).to(device)
    reinit(model)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    history = []
    for epoch in range(1, epochs + 1):
        losses = train(model, device, train_loader, optimizer)
        test_loss, correct = test(model, device, test_loader)
        scheduler.step()
        history.append({"losses": losses, "test_loss": test_loss, "correct": correct, "lr": scheduler.get_last_lr()[0]})
    if path:
        torch.save(model.state_dict(), path)
    return {"history": history, "device": str(device), "is_xpu": images.is_xpu}
