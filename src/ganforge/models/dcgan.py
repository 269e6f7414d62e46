"""DCGAN (Radford et al.), as in both classic DCGAN programs, at any resolution.

The number of up/down-sampling stages follows the output size: each stage maps a side ``s`` to
``ceil(s / 2)`` until it is at most 4 (28 -> 14 -> 7 -> 4; 64 -> 32 -> 16 -> 8 -> 4).
G: linear projection of z to (base x base x ngf*2^(n-1)) + BN + ReLU, then transposed convs
(kernel 4, stride 2: a kernel that is a multiple of the stride avoids checkerboard artifacts),
BN + ReLU, tanh. D mirrors it with strided convs, BN (not on the first layer), LeakyReLU(0.2),
and a linear layer to one logit. Weights start at N(0, 0.02), BN scales at N(1, 0.02).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


def stage_sizes(resolution: int) -> list[int]:
    """Sides from the output down to the base: 28 -> [28, 14, 7, 4]."""
    sizes = [resolution]
    while sizes[-1] > 4:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class Up(nn.Module):
    """Transposed conv that doubles the side, cropped to ``out_size`` when that is odd."""

    def __init__(self, cin: int, cout: int, out_size: int, bias: bool = False):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
        self.out_size = out_size

    def forward(self, x):
        x = self.conv(x)  # (B, cout, 2h, 2w)
        return x[..., :self.out_size, :self.out_size] if x.shape[-1] != self.out_size else x


class Down(nn.Module):
    """Strided conv to ``ceil(side / 2)`` (odd sides padded on the bottom/right, like TF 'SAME')."""

    def __init__(self, cin: int, cout: int, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=bias)

    def forward(self, x):
        if x.shape[-1] % 2:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


def dcgan_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, resolution: int = 64, channels: int = 3, z_dim: int = 100, ngf: int = 64, **_):
        super().__init__()
        sizes = stage_sizes(resolution)[::-1]          # base .. resolution
        n = len(sizes) - 1                             # up-sampling stages
        widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # channels at sizes[0..n-1]
        self.base, self.c0 = sizes[0], widths[0]
        self.project = nn.Linear(z_dim, self.c0 * self.base ** 2, bias=False)
        self.bn0 = nn.BatchNorm2d(self.c0)
        layers = []
        for i in range(n - 1):
            layers += [Up(widths[i], widths[i + 1], sizes[i + 1]), nn.BatchNorm2d(widths[i + 1]), nn.ReLU(True)]
        layers += [Up(widths[-1], channels, sizes[-1]), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z, y=None):
        h = self.project(z).view(-1, self.c0, self.base, self.base)  # (B, c0, base, base)
        return self.body(F.relu(self.bn0(h)))


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 64, channels: int = 3, ndf: int = 64, **_):
        super().__init__()
        sizes = stage_sizes(resolution)
        n = len(sizes) - 1
        widths = [ndf * 2 ** i for i in range(n)]
        layers = [Down(channels, widths[0]), nn.LeakyReLU(0.2, True)]
        for i in range(1, n):
            layers += [Down(widths[i - 1], widths[i]), nn.BatchNorm2d(widths[i]), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * sizes[-1] ** 2, 1, bias=False)
        dcgan_init(self)

    def forward(self, x, y=None):
        return self.head(self.body(x).flatten(1)).squeeze(1)  # (B,) logits
