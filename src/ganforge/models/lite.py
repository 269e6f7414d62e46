"""Lite: a FastGAN-style family (Liu et al., ICLR 2021) made for folders at 32-256 px on a CPU.

G: z (joined to a class embedding when conditional) -> 4x4 maps (a linear layer, BatchNorm and GLU, a gated
linear unit, as FastGAN's first block), then one block per doubling: a transposed
4x4 convolution, BatchNorm and ReLU (DCGAN's up-sampling: measured against FastGAN's nearest up-sampling,
3x3 convolution and GLU on emoji at 64 px, it trains twice the steps in the same minutes and reaches an FD
of 34 where the GLU blocks were still at 827 after 5 CPU-minutes). Skip-layer excitation (SLE) lets a small
early map gate every channel of a map three doublings later (4 -> 32, 8 -> 64, 16 -> 128, ...): the coarse
layout steers the fine texture at the cost of a 4x4 convolution. Widths halve with every doubling from
``ngf * 8`` at 4x4 (at most 256) to at least 8, so the high-resolution layers, where a CPU spends its time,
stay thin. A 3x3 convolution and tanh give the image.

D: a strided 4x4 convolution to half the size, then down blocks that average two paths (FastGAN's
DownBlockComp): a strided 4x4 convolution, BatchNorm and LeakyReLU, and an average pool with a 1x1
convolution; widths double from ``ndf`` per halving (at most 256). A linear layer on the 4x4 maps gives the
logit; conditional: plus the projection of a class embedding on the pooled features (Miyato & Koyama 2018).

Sides that are not powers of two (28 px) up- and down-sample to the exact sizes of ``dcgan.stage_sizes``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.models.dcgan import Down, Up, dcgan_init, stage_sizes

SLE_SPAN = 3  # doublings between the map that gates and the map it gates


def g_width(ngf: int, stage: int) -> int:
    """Channels of G's maps at ``stage`` doublings above 4x4."""
    return max(8, min(256, ngf * 8 >> stage))


def d_width(ndf: int, stage: int) -> int:
    """Channels of D's maps after ``stage + 1`` halvings."""
    return min(256, ndf << stage)


class UpBlock(nn.Module):
    """A transposed 4x4 convolution to ``side`` (twice the input's, cropped when odd), BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, side: int):
        super().__init__()
        self.up = Up(cin, cout, side)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.up(x)))


class SLE(nn.Module):
    """Skip-layer excitation: a gate per channel of a large map, from a small one."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.squeeze = nn.Conv2d(cin, cout, 4, 1, 0, bias=False)   # (B, cout, 1, 1)
        self.act = nn.LeakyReLU(0.1)
        self.excite = nn.Conv2d(cout, cout, 1, 1, 0, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, small, large):
        return large * self.gate(self.excite(self.act(self.squeeze(self.pool(small)))))


class Generator(nn.Module):
    def __init__(self, resolution: int = 64, channels: int = 3, z_dim: int = 100, ngf: int = 32,
                 num_classes: int = 0, conditional: bool = False, **_):
        super().__init__()
        num_classes = num_classes if conditional else 0   # the conditional family is clite.py
        sizes = stage_sizes(resolution)[::-1]             # base .. resolution
        self.base, self.k = sizes[0], num_classes
        widths = [g_width(ngf, i) for i in range(len(sizes))]
        self.c0 = widths[0]
        self.embed = nn.Linear(num_classes, z_dim, bias=False) if num_classes else None
        self.project = nn.Linear(z_dim * (2 if num_classes else 1), 2 * self.c0 * self.base ** 2, bias=False)
        self.bn0 = nn.BatchNorm2d(2 * self.c0)
        self.glu0 = nn.GLU(dim=1)
        self.ups = nn.ModuleList(UpBlock(widths[i], widths[i + 1], sizes[i + 1]) for i in range(len(sizes) - 1))
        # SLE into stage j from stage j - SLE_SPAN, where both exist
        self.sle_at = list(range(SLE_SPAN, len(sizes)))
        self.sles = nn.ModuleList(SLE(widths[j - SLE_SPAN], widths[j]) for j in self.sle_at)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        dcgan_init(self)

    def forward(self, z, y=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(F.one_hot(y, self.k).float())], 1)
        h = self.glu0(self.bn0(self.project(z).view(-1, 2 * self.c0, self.base, self.base)))
        maps = [h]
        for j, up in enumerate(self.ups, start=1):
            h = up(h)
            if j in self.sle_at:
                h = self.sles[self.sle_at.index(j)](maps[j - SLE_SPAN], h)
            maps.append(h)
        return torch.tanh(self.to_image(h))


class DownBlock(nn.Module):
    """FastGAN's DownBlockComp, lighter: (strided conv-BN-LeakyReLU + avg-pool, 1x1 conv-BN-LeakyReLU) / 2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.main = nn.Sequential(Down(cin, cout), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), nn.Conv2d(cin, cout, 1, bias=False),
                                    nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))

    def forward(self, x):
        return (self.main(x) + self.direct(x)) * 0.5


class Discriminator(nn.Module):
    def __init__(self, resolution: int = 64, channels: int = 3, ndf: int = 32, num_classes: int = 0,
                 conditional: bool = False, **_):
        super().__init__()
        num_classes = num_classes if conditional else 0
        sizes = stage_sizes(resolution)                   # resolution .. base
        n = len(sizes) - 1
        self.k = num_classes
        self.first = nn.Sequential(Down(channels, d_width(ndf, 0)), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*[DownBlock(d_width(ndf, i - 1), d_width(ndf, i)) for i in range(1, n)])
        c = d_width(ndf, n - 1)
        self.head = nn.Linear(c * sizes[-1] ** 2, 1)
        self.embed = nn.Linear(num_classes, c, bias=False) if num_classes else None
        dcgan_init(self)

    def forward(self, x, y=None):
        h = self.blocks(self.first(x))                    # (B, c, base, base)
        out = self.head(h.flatten(1)).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(F.one_hot(y, self.k).float()) * h.mean((2, 3))).sum(1)
        return out
