"""The browser MNIST GAN: 3-layer leaky-ReLU MLPs, tanh output from G, one logit from D."""

from __future__ import annotations

import torch.nn as nn


class Generator(nn.Module):
    def __init__(self, resolution: int = 28, channels: int = 1, z_dim: int = 100, hidden: int = 256, **_):
        super().__init__()
        self.shape = (channels, resolution, resolution)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2, True),
            nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2, True),
            nn.Linear(2 * hidden, channels * resolution * resolution), nn.Tanh())

    def forward(self, z, y=None):
        return self.net(z).view(-1, *self.shape)


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 28, channels: int = 1, hidden: int = 256, dropout: float = 0.0, **_):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * resolution * resolution, 2 * hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
            nn.Linear(hidden, 1))

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)
