"""The architectures ``backprop train`` offers: MLP, CNN and a CIFAR-style ResNet.

Each builder takes the ``nn`` namespace to build with (``backprop.nn`` by default), so the
benchmarks build the very same architecture in torch for a side-by-side measurement.
"""

from __future__ import annotations


def _nn(nn):
    if nn is None:
        from .. import nn as backprop_nn

        return backprop_nn
    return nn


def mlp(in_shape: tuple, num_classes: int, dropout: float = 0.0, hidden=(512, 256), nn=None):
    """Flatten -> [Linear -> ReLU -> Dropout] per hidden size -> Linear."""
    nn = _nn(nn)
    layers = [nn.Flatten()]
    width = 1
    for s in in_shape:
        width *= s
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(in_shape: tuple, num_classes: int, dropout: float = 0.0, channels=(32, 64), hidden: int = 128, nn=None):
    """Two [3x3 conv -> ReLU -> 2x2 max-pool] blocks, then fc(hidden) -> ReLU -> Dropout -> fc."""
    nn = _nn(nn)
    c, h, w = in_shape
    layers = []
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, num_classes))
    return nn.Sequential(*layers)


def resnet(in_shape: tuple, num_classes: int, dropout: float = 0.0, widths=(16, 32, 64), blocks_per_stage: int = 2, nn=None):
    """CIFAR ResNet (He et al. 2016): 3x3 stem, stages of BasicBlocks with BatchNorm and 1x1
    projection shortcuts where the shape changes, global average pooling, fc. With the
    defaults: 3 stages x 2 blocks of 16/32/64 channels (ResNet-14)."""
    nn = _nn(nn)

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_shape[0], widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
            layers = []
            cin = widths[0]
            for i, w in enumerate(widths):
                for b in range(blocks_per_stage):
                    layers.append(BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1))
                    cin = w
            self.layers = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            return self.fc(self.dropout(self.flatten(self.pool(self.layers(self.stem(x))))))

    return ResNet()


MODELS = {"mlp": mlp, "cnn": cnn, "resnet": resnet}
