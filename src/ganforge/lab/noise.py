"""The lab's noise spaces: uniform on [-1, 1]^d (GAN Lab's), a standard normal, and a mixture of separate
Gaussians (a disconnected noise space, as DeLiGAN's and BourGAN's).

A continuous G maps a connected noise space to a connected set, so between two modes of the data it must
put some points (the bridges a learner sees on the ring and the grid). With a mixture whose components lie
apart, G can send each component to a mode and leave the space between them empty. The components sit
on an even grid over [-1, 1]^d (a line for d = 1) and share one standard deviation.
"""

from __future__ import annotations

import math

import torch

NOISES = ("uniform", "normal", "mixture")


def layout(k: int, dim: int) -> torch.Tensor:
    """``k`` component means spread evenly over [-1, 1]^dim: (k, dim)."""
    if dim == 1:
        return torch.linspace(-1, 1, k)[:, None] if k > 1 else torch.zeros(1, 1)
    side = math.ceil(math.sqrt(k))
    v = torch.linspace(-1, 1, side) if side > 1 else torch.zeros(1)
    cells = torch.cartesian_prod(v, v)                       # (side^2, 2), row by row
    order = torch.linspace(0, len(cells) - 1, k).round().long()  # k cells spread over the grid
    return cells[order]


class Noise:
    """Draws noise of one kind; ``sample`` also gives each point's component (0 unless a mixture)."""

    def __init__(self, kind: str, dim: int, components: int = 1, std: float = 0.05):
        self.kind, self.dim, self.std = kind, dim, std
        self.means = layout(components, dim) if kind == "mixture" else None

    @property
    def components(self) -> int:
        return len(self.means) if self.means is not None else 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (n, dim), component (n,))."""
        if self.kind == "uniform":
            return torch.rand(n, self.dim, generator=generator) * 2 - 1, torch.zeros(n, dtype=torch.long)
        if self.kind == "normal":
            return torch.randn(n, self.dim, generator=generator), torch.zeros(n, dtype=torch.long)
        comp = torch.randint(0, len(self.means), (n,), generator=generator)
        return self.means[comp] + self.std * torch.randn(n, self.dim, generator=generator), comp

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(n, generator)[0]

    def grid(self) -> tuple[torch.Tensor, list[int]]:
        """Points whose image under G draws the manifold, and their shape: one grid over the noise space
        ([rows, cols]), or one small grid per component ([components, rows, cols])."""
        if self.kind == "mixture":
            v = torch.linspace(-2 * self.std, 2 * self.std, 5)
            if self.dim == 1:
                pts = (self.means[:, None, :] + v[None, :, None]).reshape(-1, 1)
                return pts, [len(self.means), 1, 5]
            a, b = torch.meshgrid(v, v, indexing="ij")
            patch = torch.stack([a.flatten(), b.flatten()], 1)   # (25, 2)
            return (self.means[:, None, :] + patch[None]).reshape(-1, 2), [len(self.means), 5, 5]
        lo, hi = (-1.0, 1.0) if self.kind == "uniform" else (-2.0, 2.0)
        if self.dim == 1:
            return torch.linspace(lo, hi, 101)[:, None], [1, 101]
        v = torch.linspace(lo, hi, 21)
        a, b = torch.meshgrid(v, v, indexing="ij")
        return torch.stack([a.flatten(), b.flatten()], 1), [21, 21]

    def extent(self) -> float:
        """Half the side of the square the noise view shows."""
        if self.kind == "normal":
            return 3.0
        return 1.0 + (3 * self.std if self.kind == "mixture" else 0.05)
