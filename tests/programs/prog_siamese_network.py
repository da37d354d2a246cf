"""The pattern of pytorch/examples siamese_network: one CNN tower applied to both images, the two
embeddings joined with ``torch.cat`` into an MLP head with a sigmoid, BCELoss, weights initialized with
``nn.init.xavier_uniform_`` and ``m.bias.data.fill_(0.01)`` through ``apply``, Adadelta with StepLR,
and accuracy from ``torch.where(output > 0.5, 1, 0)``."""

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset


class SiameseNetwork(nn.Module):
    def __init__(self):
        super(SiameseNetwork, self).__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(4, 8, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        self.fc_in_features = 8
        self.fc = nn.Sequential(
            nn.Linear(self.fc_in_features * 2, 16),
            nn.ReLU(inplace=True),
            nn.Linear(16, 1),
        )
        self.sigmoid = nn.Sigmoid()
        self.tower.apply(self.init_weights)
        self.fc.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    def forward_once(self, x):
        output = self.tower(x)
        output = output.view(output.size()[0], -1)
        return output

    def forward(self, input1, input2):
        output1 = self.forward_once(input1)
        output2 = self.forward_once(input2)
        output = torch.cat((output1, output2), 1)
        output = self.fc(output)
        output = self.sigmoid(output)
        return output


class PairDataset(Dataset):
    """Pairs of images with target 1 when they show the same class (class = which half is brighter)."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.images = rng.random((n, 2, 1, 8, 8)).astype(np.float32)
        self.classes = rng.integers(0, 2, size=(n, 2))
        for i in range(n):
            for j in range(2):
                self.images[i, j, 0, : 4 if self.classes[i, j] else 8] += 0.5
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        image_1 = torch.from_numpy(self.images[index, 0])
        image_2 = torch.from_numpy(self.images[index, 1])
        target = torch.tensor(int(self.classes[index, 0] == self.classes[index, 1]), dtype=torch.float)
        return image_1, image_2, target


def train(model, device, train_loader, optimizer):
    model.train()
    criterion = nn.BCELoss()
    losses = []
    for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
        images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(images_1, images_2).squeeze()
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    criterion = nn.BCELoss()
    with torch.no_grad():
        for (images_1, images_2, targets) in test_loader:
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            outputs = model(images_1, images_2).squeeze()
            test_loss += criterion(outputs, targets).sum().item()
            pred = torch.where(outputs > 0.5, 1, 0)
            correct += pred.eq(targets.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return test_loss, correct


def main(reinit, epochs=2):
    device = torch.device("cpu")
    model = SiameseNetwork().to(device)
    bound = (6.0 / (16 + 16)) ** 0.5
    init = {"bias": [model.fc[0].bias.tolist()[:3], model.fc[2].bias.tolist()],
            "xavier_in_bound": bool(model.fc[0].weight.abs().max() <= bound),
            "xavier_spread": bool(model.fc[0].weight.abs().max() > bound / 2)}
    reinit(model)
    train_loader = DataLoader(PairDataset(24, 1), batch_size=8, shuffle=False)
    test_loader = DataLoader(PairDataset(16, 2), batch_size=8, shuffle=False)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    history = []
    for epoch in range(1, epochs + 1):
        losses = train(model, device, train_loader, optimizer)
        test_loss, correct = test(model, device, test_loader)
        scheduler.step()
        history.append({"losses": losses, "test_loss": test_loss, "correct": correct, "lr": scheduler.get_last_lr()})
    return {"init": init, "history": history}
