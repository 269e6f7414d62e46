"""The lab's networks: small MLPs on 2-D points (G, and a D that judges packs of points), and PacGAN's own
toy networks (Lin et al. 2018) for its reference row: G of 4 x 400 ReLU units with BatchNorm, D of 3 x 200
maxout units (5 pieces) on packs of points joined into one input."""

from __future__ import annotations

import torch
import torch.nn as nn


def mlp(n_in: int, n_out: int, layers: int, neurons: int, sn: bool = False) -> nn.Sequential:
    mods, width = [], n_in
    for _ in range(layers):
        lin = nn.Linear(width, neurons)
        mods += [nn.utils.parametrizations.spectral_norm(lin) if sn else lin, nn.LeakyReLU(0.2)]
        width = neurons
    last = nn.Linear(width, n_out)
    mods.append(nn.utils.parametrizations.spectral_norm(last) if sn else last)
    return nn.Sequential(*mods)


class Scale(nn.Module):
    """Multiplies by a fixed number: the lab's networks work in coordinates divided by the view's half-width,
    so that data of any size looks the same to them (the ring's radius 1 and a grid 12 wide alike)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def generator(z_dim: int, layers: int, neurons: int, radius: float) -> nn.Sequential:
    """G: noise -> a point, in units of the view's half-width ``radius`` (its last layer starts at half the
    usual scale, so G's first points lie around the middle of the view rather than at its edges)."""
    net = mlp(z_dim, 2, layers, neurons)
    with torch.no_grad():
        net[-1].weight.mul_(0.5)
    return nn.Sequential(*net, Scale(radius))


class PackedD(nn.Module):
    """D over packs: (B, 2) points -> (B / pack,) logits, each judging ``pack`` points together.

    A pack's logit is the mean of a per-point net's logits plus a pack net's logit on the ``pack``
    points concatenated. The pack net sees a pack's spread, so it punishes G for dropping modes
    (PacGAN); the per-point net sees each point on its own, so it stays as sharp as a plain D about
    where the data lies (a pack net alone has to learn that per point, and on 25 modes it is too slow).
    With pack 1 this is a plain D: the per-point net alone."""

    def __init__(self, pack: int, layers: int, neurons: int, sn: bool = False, radius: float = 1.0):
        super().__init__()
        self.pack = pack
        self.point = nn.Sequential(Scale(1 / radius), *mlp(2, 1, layers, neurons, sn))
        self.net = nn.Sequential(Scale(1 / radius), Flat(pack), *mlp(2 * pack, 1, layers, neurons, sn)) \
            if pack > 1 else None

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        logits = self.point(x).view(-1, self.pack).mean(1)              # (B / pack,)
        if self.net is not None:
            logits = logits + self.net(x).squeeze(1)
        return logits

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for single points (the heatmap): each point judged as a pack of copies of itself."""
        return self.forward(x.repeat_interleave(self.pack, 0))

    def per_point(self) -> nn.Module:
        """The part that judges one point at a time (where a sampler's calibration starts)."""
        return self.point


class Flat(nn.Module):
    """(B, f) per-point features -> (B / pack, pack * f): a pack's points side by side."""

    def __init__(self, pack: int):
        super().__init__()
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, self.pack * x.shape[-1])


class Maxout(nn.Module):
    """A linear layer with ``pieces`` outputs per unit, of which each unit keeps the largest."""

    def __init__(self, n_in: int, n_out: int, pieces: int = 5):
        super().__init__()
        self.pieces, self.lin = pieces, nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).view(len(x), -1, self.pieces).amax(-1)


def pacgan_generator(z_dim: int) -> nn.Sequential:
    mods, width = [], z_dim
    for _ in range(4):
        mods += [nn.Linear(width, 400), nn.BatchNorm1d(400), nn.ReLU()]
        width = 400
    return nn.Sequential(*mods, nn.Linear(400, 2))


class PacGANDiscriminator(nn.Module):
    """PacGAN's D: ``pack`` points concatenated -> 3 maxout layers of 200 units -> one logit per pack."""

    def __init__(self, pack: int):
        super().__init__()
        self.pack = pack
        self.net = nn.Sequential(Maxout(2 * pack, 200), Maxout(200, 200), Maxout(200, 200), nn.Linear(200, 1))

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return self.net(x.reshape(-1, 2 * self.pack)).squeeze(1)

    def single(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x.repeat_interleave(self.pack, 0))

    def per_point(self) -> nn.Module:
        """No part of this D judges one point alone: calibration starts from a fresh per-point net."""
        return mlp(2, 1, 3, 128)
