"""The pattern of pytorch/examples vae: a Linear encoder to (mu, logvar), the reparameterization trick
with ``torch.randn_like``, a sigmoid Linear decoder, BCE with reduction='sum' plus the KL divergence,
Adam, and sampling images from ``torch.randn`` latents. The training noise ``eps`` is passed in (NumPy)
so both frameworks see the same noise; the ``randn_like`` and ``torch.randn`` paths are checked for shape."""

import numpy as np
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F

D, H, Z = 64, 32, 4


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(D, H)
        self.fc21 = nn.Linear(H, Z)
        self.fc22 = nn.Linear(H, Z)
        self.fc3 = nn.Linear(Z, H)
        self.fc4 = nn.Linear(H, D)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps=None):
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x.view(-1, D))
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, D), reduction="sum")
    # KL divergence between N(mu, sigma^2) and N(0, 1), see Kingma and Welling (2014), appendix B
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def main(reinit, epochs=2, batch_size=8):
    device = torch.device("cpu")
    rng = np.random.default_rng(11)
    images = torch.from_numpy((rng.random((32, 1, 8, 8)) > 0.6).astype(np.float32))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=batch_size, shuffle=False)
    model = VAE().to(device)
    reinit(model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx, (data,) in enumerate(loader):
            data = data.to(device)
            eps = torch.from_numpy(rng.standard_normal((data.size(0), Z)).astype(np.float32))
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data, eps)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            data = images[:8]
            mu, logvar = model.encode(data.view(-1, D))
            recon = model.decode(mu)  # the noise-free reconstruction
            test_loss = loss_function(recon, data, mu, logvar).item()
            comparison = torch.cat([data[:4], recon.view(8, 1, 8, 8)[:4]])
            sample = model.decode(torch.randn(64, Z).to(device))  # random latents: shape only
            noisy, _, _ = model(data)  # randn_like noise
        history.append({"train_loss": train_loss / len(loader.dataset), "test_loss": test_loss,
                        "comparison_sum": comparison.sum().item()})
    return {"history": history, "sample_shape": list(sample.view(64, 1, 8, 8).shape),
            "sample_in_unit_interval": bool(((sample > 0) & (sample < 1)).all()),
            "noisy_shape": list(noisy.shape)}
