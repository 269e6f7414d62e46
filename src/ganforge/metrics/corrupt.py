"""Real images made worse in known steps, to check that a metric ranks them in order: Gaussian blur, added
Gaussian noise, and fewer distinct images (a few repeated to the same count: what a collapsed G draws)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 (N, C, H, W) blurred by a Gaussian of ``sigma`` pixels (edges reflected)."""
    if sigma <= 0:
        return images
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images.float(), (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """uint8 images plus Gaussian noise of ``sigma`` in units of the full range (0..1)."""
    g = torch.Generator().manual_seed(seed)
    x = images.float() + torch.randn(images.shape, generator=g) * (255.0 * sigma)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def fewer(images: torch.Tensor, distinct: int, seed: int = 0) -> torch.Tensor:
    """As many images as given, drawn from only ``distinct`` of them."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(images), generator=g)[:distinct]
    return images[keep[torch.arange(len(images)) % len(keep)]]
