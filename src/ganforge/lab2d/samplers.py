"""Samplers that use D after training: G's points kept or moved by what D knows of the data.

A continuous G from a connected noise space puts some points on the bridges between modes. D, trained to
tell real from fake, scores those points low. Two remedies from the field act at sampling time:

- ``rejection`` (Discriminator Rejection Sampling, Azadi et al. 2019): keep a point with probability
  exp(l(x) - l*), where l is a calibrated logit, an estimate of log p_data(x) / p_G(x), and l* a high
  percentile of it; the kept points follow p_G x exp(l), which is p_data where the estimate is right.
- ``refine`` (collaborative sampling, Liu et al. 2020; DOT, Tanaka 2019): move each point a few steps up
  the gradient of log p_data, at most a short way from where G put it and within the view's bounds, so
  points near a mode settle onto it and none travels to another mode.
- ``both``: rejection, then refinement of the kept points.

D as trained judges packs of points and is not the optimal D for the final G, so samplers use a
calibrated per-point logit (DRS fine-tunes D the same way): a copy of D's per-point net, trained further
with BCE on real points against the final G's points, G fixed (rejection), or against points uniform over
the view, whose density is known, so that the logit is log p_data up to a constant (refinement: the
ratio to p_G would push points off modes G fills too well rather than onto the mode they are near).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

SAMPLERS = ("plain", "rejection", "refine", "both")
CALIBRATE_STEPS = 600      # BCE steps of the calibration after training (a headless run)
CALIBRATE_BATCH = 512
KEEP_PERCENTILE = 0.95     # l* is this quantile of l over G's points: points above it are all kept
REFINE_STEPS = 30
REFINE_RATE = 0.01         # step size, as a share of the view's half-width per unit of gradient
MAX_MOVE = 0.02            # how far refinement may move a point, as a share of the view's half-width


@dataclass
class Drawn:
    points: torch.Tensor          # (n, 2) what the sampler gives
    plain: torch.Tensor           # (m, 2) the G points it started from (m >= n for rejection)
    kept: torch.Tensor | None     # (m,) bool: which plain points rejection kept (None: all)
    moved: torch.Tensor | None    # (n,) how far refinement moved each kept point (None: not moved)

    def summary(self) -> dict:
        out = {"kept_share": float(self.kept.float().mean()) if self.kept is not None else 1.0}
        out["mean_move"] = float(self.moved.mean()) if self.moved is not None else 0.0
        return out


class Calibrated:
    """A per-point logit trained with BCE on real points against ``against``: G's points (then l(x) ~
    log p_data(x) / p_G(x), what rejection needs) or points uniform over the view (then l(x) ~
    log p_data(x) + const, whose gradient leads to the nearest mode: what refinement needs). A few more
    steps keep it up to date while G moves."""

    def __init__(self, trainer, against: str = "G"):
        self.trainer, self.against = trainer, against
        self.net = copy.deepcopy(trainer.D.per_point()).requires_grad_(True)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, betas=(0.5, 0.99))
        self.gen = torch.Generator().manual_seed(trainer.s.seed + 11)
        self.steps = 0

    def train(self, steps: int, batch: int = CALIBRATE_BATCH) -> None:
        t = self.trainer
        for _ in range(steps):
            real = t.real(batch, self.gen)  # its own generator: training's data stream stays as it was
            if self.against == "G":
                fake = t.sample_points(t.noise(batch, self.gen))
            else:
                fake = (torch.rand(batch, 2, generator=self.gen) * 2 - 1) * t.radius
            logits = self.net(torch.cat([real, fake])).squeeze(1)
            target = torch.cat([torch.ones(batch), torch.zeros(batch)])
            loss = F.binary_cross_entropy_with_logits(logits, target)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.steps += 1

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x).squeeze(1)

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(self.net(x).sum(), x)
        return g


def reject(cal: Calibrated, points: torch.Tensor, generator: torch.Generator,
           threshold: float | None = None) -> tuple[torch.Tensor, float]:
    """Which points to keep (bool (n,)) and the l* used: keep with probability min(1, exp(l - l*))."""
    logit = cal.logit(points)
    if threshold is None:
        threshold = float(torch.quantile(logit, KEEP_PERCENTILE))
    accept = (logit - threshold).clamp(max=0).exp()
    return torch.rand(len(points), generator=generator) < accept, threshold


def refine(cal: Calibrated, points: torch.Tensor, radius: float) -> torch.Tensor:
    """Points moved ``REFINE_STEPS`` steps up l's gradient, each at most ``MAX_MOVE`` of the view's
    half-width from where G put it (a transport cost, as DOT's: a point settles onto its own mode and
    never travels to another), and never off the view's square."""
    x = points.clone()
    step, reach = REFINE_RATE * radius, MAX_MOVE * radius
    for _ in range(REFINE_STEPS):
        g = cal.gradient(x)
        norm = g.norm(dim=1, keepdim=True).clamp(min=1.0)  # long gradients are cut to unit length
        x = x + step * g / norm
        d = x - points
        x = points + d * (reach / d.norm(dim=1, keepdim=True).clamp(min=reach))
        x = x.clamp(-radius, radius)
    return x


def calibrate(trainer, sampler: str, steps: int = CALIBRATE_STEPS) -> dict[str, Calibrated]:
    """The calibrated logits ``sampler`` needs: "G" (rejection), "uniform" (refinement)."""
    need = {"rejection": ("G",), "refine": ("uniform",), "both": ("G", "uniform")}.get(sampler, ())
    cals = {k: Calibrated(trainer, k) for k in need}
    for cal in cals.values():
        cal.train(steps)
    return cals


def draw(trainer, cals: dict[str, Calibrated], n: int, seed: int, sampler: str) -> Drawn:
    """``n`` points by ``sampler`` with the calibrated logits ``cals`` (from ``calibrate``). The same seed
    gives the same points for every sampler: the G points are drawn from the same noise, in rounds of
    ``n`` until rejection has kept ``n``, so the first round is plain's points."""
    gen = torch.Generator().manual_seed(seed)
    if sampler == "plain" or not cals:
        pts = trainer.sample_points(trainer.noise(n, gen))
        return Drawn(pts, pts, None, None)
    plain, kept, threshold = [], [], None
    got = 0
    for _ in range(200):  # rounds of n points from one generator: the first round is plain's
        batch = trainer.sample_points(trainer.noise(n, gen))
        if sampler in ("rejection", "both"):
            keep, threshold = reject(cals["G"], batch, gen, threshold)
        else:
            keep = torch.ones(len(batch), dtype=torch.bool)
        plain.append(batch)
        kept.append(keep)
        got += int(keep.sum())
        if got >= n:
            break
    plain_all, keep_all = torch.cat(plain), torch.cat(kept)
    pts = plain_all[keep_all][:n]
    moved = None
    if sampler in ("refine", "both"):
        new = refine(cals["uniform"], pts, trainer.radius)
        moved, pts = (new - pts).norm(dim=1), new
    return Drawn(pts, plain_all, keep_all if sampler != "refine" else None, moved)
