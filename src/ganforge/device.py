"""Which device a command computes on: ``auto`` picks a CUDA GPU, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from ganforge.errors import GanforgeError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return dev
