"""Model families behind one registry. Every G is ``G(z, y=None) -> images in [-1, 1]`` and every
D is ``D(x, y=None) -> logits (B,)``; conditional families require ``y``.

A network is rebuilt from ``(arch, kwargs)`` alone: checkpoints store exactly that as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

import torch.nn as nn

from ganforge.models.families import FAMILIES


class _Archs(Mapping):
    """name -> (Generator class, Discriminator class, conditional), read from the one list in ``families`` when
    asked, so a family added there (one line) is known everywhere at once."""

    def __getitem__(self, name: str):
        f = FAMILIES[name]
        m = import_module(f"ganforge.models.{f.module}")
        return m.Generator, m.Discriminator, f.conditional

    def __iter__(self):
        return iter(FAMILIES)

    def __len__(self) -> int:
        return len(FAMILIES)


ARCHS = _Archs()


def is_conditional(arch: str) -> bool:
    return FAMILIES[arch].conditional


def has_convolutions(arch: str) -> bool:
    """Convolutional families run faster in channels_last (oneDNN on CPUs, cuDNN on GPUs)."""
    return FAMILIES[arch].convolutional


def model_kwargs(model_cfg, resolution: int, channels: int, num_classes: int) -> dict:
    """Constructor arguments shared by G and D (each takes what it needs)."""
    return {"resolution": resolution, "channels": channels, "z_dim": model_cfg.z_dim, "ngf": model_cfg.ngf,
            "ndf": model_cfg.ndf, "hidden": model_cfg.hidden, "dropout": model_cfg.dropout,
            "num_classes": num_classes}


def build_generator(arch: str, kwargs: dict) -> nn.Module:
    return ARCHS[arch][0](**kwargs)


def build_discriminator(arch: str, kwargs: dict, spectral_norm: bool = False) -> nn.Module:
    D = ARCHS[arch][1](**kwargs)
    return add_spectral_norm(D) if spectral_norm else D


def add_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every convolutional and linear layer: each weight is
    divided by its largest singular value (one power iteration per forward), which bounds D's slope.
    The power iteration's vectors are buffers, so they travel with D's weights in checkpoints."""
    for m in list(net.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(m)
    return net


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
