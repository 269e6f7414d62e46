"""GAN objectives: one class each, one method per phase, all on D's raw outputs (logits).

``d_real`` and ``d_fake`` are the two halves of D's loss (kept apart so D can be updated on real
and fake separately, as the Keras program does); ``g`` is G's loss; ``penalty`` is an optional
regularizer on D (the WGAN-GP gradient penalty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Loss:
    name = ""
    about = ""                   # a few words for --loss's help
    probability_outputs = False  # whether sigmoid(D) reads as "probability real"

    def __init__(self, label_smoothing: float = 0.0, gp_weight: float = 10.0):
        self.real_target = 1.0 - label_smoothing
        self.gp_weight = gp_weight

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, D, real, fake, y) -> torch.Tensor | None:
        return None


class NonSaturatingBCE(Loss):
    """The classic: sigmoid cross-entropy on logits; G maximises log D(G(z)).
    With one-sided label smoothing the real target is 1 - s (fake stays 0)."""

    name, probability_outputs, about = "bce", True, "non-saturating"

    def d_real(self, logits):
        t = self.real_target  # BCE(l, t) = t * softplus(-l) + (1 - t) * softplus(l)
        return (t * F.softplus(-logits) + (1 - t) * F.softplus(logits)).mean()

    def d_fake(self, logits):
        return F.softplus(logits).mean()

    def g(self, logits):
        return F.softplus(-logits).mean()


class Hinge(Loss):
    name = "hinge"

    def d_real(self, logits):
        return F.relu(1.0 - logits).mean()

    def d_fake(self, logits):
        return F.relu(1.0 + logits).mean()

    def g(self, logits):
        return -logits.mean()


class LeastSquares(Loss):
    """LSGAN with 0/1 targets (a=0, b=c=1), halved squared errors."""

    name = "lsgan"

    def d_real(self, logits):
        return 0.5 * (logits - self.real_target).pow(2).mean()

    def d_fake(self, logits):
        return 0.5 * logits.pow(2).mean()

    def g(self, logits):
        return 0.5 * (logits - 1.0).pow(2).mean()


class WGANGP(Loss):
    """Wasserstein critic with gradient penalty gp_weight * (||grad D(x_hat)|| - 1)^2 on random
    interpolates of real and fake (Gulrajani et al.)."""

    name = "wgan-gp"

    def d_real(self, logits):
        return -logits.mean()

    def d_fake(self, logits):
        return logits.mean()

    def g(self, logits):
        return -logits.mean()

    def penalty(self, D, real, fake, y):
        alpha = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)  # images or points
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat, y).sum(), x_hat, create_graph=True)
        return self.gp_weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(D, real: torch.Tensor, y=None, gamma: float = 1.0) -> torch.Tensor:
    """Zero-centred gradient penalty on real data, gamma / 2 * E ||grad_x D(x)||^2 (Mescheder et al.
    2018; StyleGAN2's R1): D is kept flat on the data, which stops it from oscillating around it."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, y).sum(), x, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(1).mean()


LOSSES = {cls.name: cls for cls in (NonSaturatingBCE, Hinge, WGANGP, LeastSquares)}


def loss_help() -> str:
    """``--loss``'s help, from the registry."""
    names = ", ".join(f"{n} ({c.about})" if c.about else n for n, c in LOSSES.items())
    return f"GAN loss: {names}; default bce"


def build(name: str, label_smoothing: float = 0.0, gp_weight: float = 10.0) -> Loss:
    return LOSSES[name](label_smoothing=label_smoothing, gp_weight=gp_weight)
