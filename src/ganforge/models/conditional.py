"""Label-conditioned DCGAN for digits, after the TensorFlow DCGAN's MNIST path.

The one-hot label y is joined to z, to every G feature map (as constant planes), to D's input
and every D hidden layer, and to D's fully connected layers. Depth follows the output size as
in ``dcgan.py``; ``hidden`` is the width of the fully connected layers (1024 in the original).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.models.dcgan import Down, Up, dcgan_init, stage_sizes


def with_label_maps(h: torch.Tensor, y1h: torch.Tensor) -> torch.Tensor:
    """Concatenate one-hot labels (B, K) to feature maps (B, C, H, W) as K constant planes."""
    return torch.cat([h, y1h[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], 1)


class Generator(nn.Module):
    def __init__(self, resolution: int = 28, channels: int = 1, z_dim: int = 100, ngf: int = 64,
                 hidden: int = 1024, num_classes: int = 10, **_):
        super().__init__()
        sizes = stage_sizes(resolution)[::-1]
        n = len(sizes) - 1
        widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]
        self.k, self.base, self.c0 = num_classes, sizes[0], widths[0]
        self.fc1 = nn.Sequential(nn.Linear(z_dim + self.k, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True))
        self.fc2 = nn.Sequential(nn.Linear(hidden + self.k, self.c0 * self.base ** 2, bias=False),
                                 nn.BatchNorm1d(self.c0 * self.base ** 2), nn.ReLU(True))
        self.ups = nn.ModuleList()
        self.bns = nn.ModuleList()
        for i in range(n):
            cout = widths[i + 1] if i < n - 1 else channels
            self.ups.append(Up(widths[i] + self.k, cout, sizes[i + 1]))
            if i < n - 1:
                self.bns.append(nn.BatchNorm2d(cout))
        dcgan_init(self)

    def forward(self, z, y):
        y1h = F.one_hot(y, self.k).to(z.dtype)                          # (B, K)
        h = self.fc1(torch.cat([z, y1h], 1))
        h = self.fc2(torch.cat([h, y1h], 1)).view(-1, self.c0, self.base, self.base)
        for i, up in enumerate(self.ups):
            h = up(with_label_maps(h, y1h))
            h = F.relu(self.bns[i](h)) if i < len(self.bns) else torch.tanh(h)
        return h


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 28, channels: int = 1, ndf: int = 64, hidden: int = 1024,
                 num_classes: int = 10, **_):
        super().__init__()
        sizes = stage_sizes(resolution)
        n = len(sizes) - 1
        widths = [ndf * 2 ** i for i in range(n)]
        self.k = num_classes
        self.downs = nn.ModuleList()
        self.bns = nn.ModuleList([nn.Identity()])  # no BN on the first layer
        cin = channels
        for i in range(n):
            self.downs.append(Down(cin + self.k, widths[i]))
            if i > 0:
                self.bns.append(nn.BatchNorm2d(widths[i]))
            cin = widths[i]
        self.fc = nn.Sequential(nn.Linear(widths[-1] * sizes[-1] ** 2 + self.k, hidden, bias=False),
                                nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True))
        self.head = nn.Linear(hidden + self.k, 1)
        dcgan_init(self)

    def forward(self, x, y):
        y1h = F.one_hot(y, self.k).to(x.dtype)
        h = x
        for down, bn in zip(self.downs, self.bns):
            h = F.leaky_relu(bn(down(with_label_maps(h, y1h))), 0.2)
        h = self.fc(torch.cat([h.flatten(1), y1h], 1))
        return self.head(torch.cat([h, y1h], 1)).squeeze(1)
