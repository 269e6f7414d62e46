"""What changes over a run: how far along it is (in steps, or in minutes of a budget), the learning rates'
decay to its end, and the EMA generator's decay from a half-life counted in images.

A run with ``train.minutes`` is a budget: its length is that much training time in all, a resumed run
counting the minutes its earlier segments trained (kept in the checkpoint), so a run stopped by Ctrl-C and
resumed ends its decay at the same total. Without one, progress is ``step / total_steps``. The learning
rates follow ``train.lr_decay`` over that progress: ``none``, ``linear`` (to zero at the end) or
``cosine`` (half a cosine, to zero).

The EMA follows StyleGAN2-ADA (Karras et al. 2020): a half-life of ``train.ema_kimg`` thousand images, and
with ``train.ema_rampup`` r the half-life is at most r times the images seen so far, so a short run's EMA
is not dominated by its first, untrained weights: beta = 0.5 ** (batch / min(ema_kimg * 1000, r * seen)).
``train.ema`` (a fixed decay) is the older way to ask for an EMA and stays as it was.
"""

from __future__ import annotations

import math
import time

DECAYS = ("none", "linear", "cosine")


def lr_factor(kind: str, progress: float) -> float:
    """The learning rates' multiplier at ``progress`` (0 at the start, 1 at the end) of a run."""
    p = min(max(progress, 0.0), 1.0)
    if kind == "linear":
        return 1.0 - p
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0


def ema_beta(batch: int, seen: int, kimg: float, rampup: float | None) -> float:
    """StyleGAN2-ADA's EMA decay for one step of ``batch`` images after ``seen`` images in all."""
    nimg = kimg * 1000
    if rampup:
        nimg = min(nimg, seen * rampup)
    return 0.5 ** (batch / max(nimg, 1e-8))


class Schedule:
    """A run's progress and what follows from it. ``clock`` is the time source (seconds; a test passes a fake
    one). Training time is counted from ``start()``; ``done_s`` holds what earlier segments trained."""

    def __init__(self, cfg, total_steps: int | None, clock=time.monotonic):
        t = cfg.train
        self.decay, self.total_steps, self.clock = t.lr_decay, total_steps, clock
        self.budget_s = t.minutes * 60 if t.minutes else None
        self.ema_kimg, self.ema_rampup, self.fixed_ema = t.ema_kimg, t.ema_rampup, t.ema
        self.base_lr = {"G": cfg.optim.lr_g, "D": cfg.optim.lr_d}
        self.done_s, self._t0 = 0.0, None

    @property
    def has_ema(self) -> bool:
        return self.fixed_ema > 0 or self.ema_kimg > 0

    def start(self) -> None:
        self._t0 = self.clock()

    def trained_s(self) -> float:
        """Training seconds in all: earlier segments and this one."""
        return self.done_s + (self.clock() - self._t0 if self._t0 is not None else 0.0)

    def over(self) -> bool:
        """Whether a budget was given and is spent."""
        return self.budget_s is not None and self.trained_s() >= self.budget_s

    def progress(self, step: int) -> float:
        """How far along the run is, 0 to 1: the larger of its share of the budget and of its steps."""
        p = 0.0
        if self.budget_s:
            p = self.trained_s() / self.budget_s
        if self.total_steps:
            p = max(p, step / self.total_steps)
        return min(p, 1.0)

    def lrs(self, step: int) -> dict[str, float]:
        """G's and D's learning rates for the step after ``step``."""
        f = lr_factor(self.decay, self.progress(step))
        return {k: v * f for k, v in self.base_lr.items()}

    def ema(self, batch: int, seen: int) -> float:
        """The EMA decay for a step of ``batch`` images after ``seen`` in all."""
        if self.fixed_ema > 0:
            return self.fixed_ema
        return ema_beta(batch, seen, self.ema_kimg, self.ema_rampup)

    def state_dict(self) -> dict:
        return {"trained_s": self.trained_s()}

    def load_state_dict(self, s: dict) -> None:
        self.done_s = float(s.get("trained_s", 0.0))
