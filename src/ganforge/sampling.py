"""Noise and G(z) -> images: the one sampling path every caller uses (training's grids and evaluation,
``ganforge generate``, the run page, export checks), so the same seed gives the same images everywhere.

``LoadedGenerator`` is the small interface a generator is drawn from: a network (or an exported file's
runner) with the facts sampling needs (architecture arguments, noise distribution, classes, step).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ganforge.models import is_conditional
from ganforge.models.dcgan import Down, Up


def sample_z(n: int, z_dim: int, dist: str, device="cpu", generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent vectors (n, z_dim): N(0, 1) or U[-1, 1]. With ``generator`` they are drawn on the CPU
    (same values on every device) and moved; without, from the device's global RNG."""
    dev = "cpu" if generator is not None else device
    if dist == "uniform":
        z = torch.rand(n, z_dim, generator=generator, device=dev).mul_(2).sub_(1)
    else:
        z = torch.randn(n, z_dim, generator=generator, device=dev)
    return z.to(device)


@dataclass
class LoadedGenerator:
    G: nn.Module
    arch: str
    kwargs: dict
    z_dist: str
    classes: list[str] | None
    step: int
    path: Path
    ema: bool

    @property
    def conditional(self) -> bool:
        return is_conditional(self.arch)

    @property
    def z_dim(self) -> int:
        return self.kwargs["z_dim"]

    @property
    def device(self) -> torch.device:
        return module_device(self.G)


def module_device(m: nn.Module) -> torch.device:
    """Where a module computes: its first parameter's device, else its first buffer's (an exported
    generator has buffers only)."""
    return next(itertools.chain(m.parameters(), m.buffers())).device


def sampling_batch(height: int, width: int, device: torch.device) -> int:
    """Images per forward when sampling. On a CPU, a batch whose activations stay cache-sized is the
    fastest (measured with the DCGAN generator: 64 at 64 px and 256 at 28 px, each 10-15% faster than
    the other choice); a GPU wants the large batch."""
    if device.type != "cpu":
        return 256
    return max(16, min(256, 2 ** round(math.log2(2 ** 18 / (height * width)))))


def _folds(bn: nn.Module) -> bool:
    return isinstance(bn, nn.modules.batchnorm._BatchNorm) and bn.running_mean is not None


def fold_batchnorm(G: nn.Module) -> nn.Module:
    """A copy of G for sampling in which each BatchNorm that directly follows a linear, convolution or
    transposed-convolution layer in a ``Sequential`` is folded into that layer's weights (eval-mode BN
    is an affine map per channel). Same images up to rounding, one pass over the activations fewer:
    1.12x faster sampling with the DCGAN generator at 64 px on a CPU."""
    G = copy.deepcopy(G).eval()
    for seq in [m for m in G.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            layer, bn = seq[i], seq[i + 1]
            if not _folds(bn):
                continue
            if isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d):
                seq[i] = fuse_linear_bn_eval(layer, bn)
            elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                seq[i] = fuse_conv_bn_eval(layer, bn, transpose=isinstance(layer, nn.ConvTranspose2d))
            elif isinstance(layer, Down) or (isinstance(layer, Up) and (layer.out_size + 1) // 2 % 2 == 0):
                # the conv is their last step (a crop or pad commutes). An Up whose input side is odd
                # keeps its BN: oneDNN adds a transposed conv's bias slowly for some odd sides (128->64
                # channels from 7x7: 37 ms per 256 images with the bias, 22 ms without)
                layer.conv = fuse_conv_bn_eval(layer.conv, bn, transpose=isinstance(layer, Up))
            else:
                continue
            seq[i + 1] = nn.Identity()
    return G


@torch.inference_mode()
def generate(gen: LoadedGenerator | nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int | None = None) -> torch.Tensor:
    """Images in [-1, 1], float (N, C, H, W) on the CPU, for latents ``z`` (and ``labels``).
    ``batch_size`` None: :func:`sampling_batch` for the size of the first images drawn."""
    G = gen.G if isinstance(gen, LoadedGenerator) else gen
    G = G if getattr(G, "frozen", False) else fold_batchnorm(G)  # an exported file is folded already
    device = module_device(G)
    out, i, bs = None, 0, batch_size or 64
    while i < len(z):
        y = labels[i:i + bs].to(device) if labels is not None else None
        x = G(z[i:i + bs].to(device), y)
        if out is None:  # one buffer, filled in place: half the peak memory of joining the pieces
            cl = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
            out = torch.empty((len(z), *x.shape[1:]), dtype=torch.float32,
                              memory_format=torch.channels_last if cl else torch.contiguous_format)
            bs = batch_size or sampling_batch(*x.shape[-2:], device)
        out[i:i + len(x)] = x
        i += len(x)
    return out if out is not None else torch.empty(0)


def seeded_z(gen: LoadedGenerator, n: int, seed: int) -> torch.Tensor:
    return sample_z(n, gen.z_dim, gen.z_dist, generator=torch.Generator().manual_seed(seed))
