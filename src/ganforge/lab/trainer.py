"""The lab's GAN: small MLPs on 2-D points, trained step by step, and what the page draws of them.

D may judge packs of points (PacGAN: ``pack`` points concatenated into one input), which lets it see
a batch's spread and so punishes G for dropping modes; R1 keeps D flat on the data. The losses are
``ganforge.losses``. ``frame()`` returns everything the view shows: real and fake points, D's
verdict over the plane, the direction G's loss pushes each fake point, and G's image of a grid of
noise (the manifold).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn as nn

from ganforge import losses
from ganforge.lab import dists
from ganforge.lab.metrics import grid_divergence, mode_metrics
from ganforge.lab.settings import LabSettings, validate

HEAT = 48          # heatmap cells per side
SHOW = 500         # real and fake points shown
MODE_POINTS = 2500  # generated points the mode measures use (as VEEGAN and PacGAN do)


def mlp(n_in: int, n_out: int, layers: int, neurons: int, sn: bool = False) -> nn.Sequential:
    mods, width = [], n_in
    for _ in range(layers):
        lin = nn.Linear(width, neurons)
        mods += [nn.utils.parametrizations.spectral_norm(lin) if sn else lin, nn.LeakyReLU(0.2)]
        width = neurons
    last = nn.Linear(width, n_out)
    mods.append(nn.utils.parametrizations.spectral_norm(last) if sn else last)
    return nn.Sequential(*mods)


class PackedD(nn.Module):
    """D over packs: (B, 2) points -> (B / pack,) logits, each judging ``pack`` points together.

    A pack's logit is the mean of a per-point net's logits plus a pack net's logit on the ``pack``
    points concatenated. The pack net sees a pack's spread, so it punishes G for dropping modes
    (PacGAN); the per-point net sees each point on its own, so it stays as sharp as a plain D about
    where the data lies (a pack net alone has to learn that per point, and on 25 modes it is too slow).
    With pack 1 this is a plain D: the per-point net alone."""

    def __init__(self, s: LabSettings):
        super().__init__()
        self.pack = s.pack
        self.point = mlp(2, 1, s.layers, s.neurons, s.spectral_norm)
        self.net = mlp(2 * s.pack, 1, s.layers, s.neurons, s.spectral_norm) if s.pack > 1 else None

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        logits = self.point(x).view(-1, self.pack).mean(1)              # (B / pack,)
        if self.net is not None:
            logits = logits + self.net(x.reshape(-1, 2 * self.pack)).squeeze(1)
        return logits

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for single points (the heatmap): each point judged as a pack of copies of itself."""
        return self.forward(x.repeat_interleave(self.pack, 0))


class LabTrainer:
    def __init__(self, s: LabSettings):
        validate(s)
        self.s = s
        torch.manual_seed(s.seed)
        self.data_gen = torch.Generator().manual_seed(s.seed + 1)
        self.G = mlp(s.z_dim, 2, s.layers, s.neurons)
        self.D = PackedD(s)
        self.centers, self.std = dists.modes(s.dist)
        self.radius = dists.view_radius(s.dist) if s.dist != "drawn" else self._drawn_radius()
        with torch.no_grad():  # start G around the data's scale, not at a point
            self.G[-1].weight.mul_(self.radius / 2)
        self.step, self.phase, self.d_loss, self.g_loss = 0, 0, float("nan"), float("nan")
        self.diverged: str | None = None  # what blew up first (a loss that became NaN or infinite)
        self.total = None  # a headless run's length (for ``anneal``); None while live
        self.history: list[dict] = []
        self.seconds = 0.0
        fixed = torch.Generator().manual_seed(s.seed + 2)
        self.show_real = dists.sample(s.dist, SHOW, fixed, s.drawn)
        self.show_z = self.noise(SHOW, fixed)
        self.set_optimizers()

    def _drawn_radius(self) -> float:
        p = torch.tensor(self.s.drawn)
        return max(1.0, float(p.abs().max()) * 1.25)

    def set_optimizers(self) -> None:
        """(Re)build the optimizers and loss from the settings; keeps the networks."""
        s = self.s
        if s.optimizer == "adam":
            make = lambda params, lr: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.99))  # noqa: E731
        else:
            make = lambda params, lr: torch.optim.SGD(params, lr=lr)  # noqa: E731
        self.opt_g, self.opt_d = make(self.G.parameters(), s.lr_g), make(self.D.parameters(), s.lr_d)
        self.loss = losses.build(s.loss, gp_weight=s.gp_weight)

    def update(self, s: LabSettings) -> None:
        """Settings that take effect without rebuilding the networks (the caller rebuilds for the rest)."""
        old, self.s = self.s, s
        if (old.optimizer, old.loss, old.gp_weight) != (s.optimizer, s.loss, s.gp_weight):
            self.set_optimizers()
        else:
            for opt, lr in ((self.opt_g, s.lr_g), (self.opt_d, s.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.s.noise == "uniform":
            return torch.rand(n, self.s.z_dim, generator=generator) * 2 - 1
        return torch.randn(n, self.s.z_dim, generator=generator)

    def real(self, n: int) -> torch.Tensor:
        return dists.sample(self.s.dist, n, self.data_gen, self.s.drawn)

    # ---- one step of each player ------------------------------------------------------------------
    def d_step(self) -> float:
        s, n = self.s, self.s.batch_size
        real = self.real(n)
        with torch.no_grad():
            fake = self.G(self.noise(n))
        loss = self.loss.d_real(self.D(real)) + self.loss.d_fake(self.D(fake))
        gp = self.loss.penalty(self.D, real, fake, None)
        if gp is not None:
            loss = loss + gp
        if s.r1 > 0:
            loss = loss + losses.r1_penalty(self.D, real, gamma=s.r1)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.d_loss = self._watch("D", float(loss.detach()))
        return self.d_loss

    def g_step(self) -> float:
        self.D.requires_grad_(False)
        try:
            loss = self.loss.g(self.D(self.G(self.noise(self.s.batch_size))))
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        self.g_loss = self._watch("G", float(loss.detach()))
        return self.g_loss

    def phase_step(self) -> bool:
        """The next phase of the current iteration (``d_steps`` D steps, then ``g_steps`` G steps); True
        when it completed the iteration. A live session calls this under its lock, one phase at a time,
        so that the page is answered between phases. With ``total`` set (a headless run of known length)
        and ``anneal`` on, both learning rates fall linearly to 1% by the last step, which lets G settle
        onto the modes instead of orbiting them."""
        t = time.perf_counter()
        s = self.s
        if self.phase == 0 and self.total and s.anneal:
            f = max(0.01, 1 - self.step / self.total)
            for opt, lr in ((self.opt_g, s.lr_g), (self.opt_d, s.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr * f
        if self.phase < s.d_steps:
            self.d_step()
        else:
            self.g_step()
        self.phase += 1
        done = self.phase >= s.d_steps + s.g_steps
        if done:
            self.phase = 0
            self.step += 1
        self.seconds += time.perf_counter() - t
        return done

    def train_step(self) -> None:
        """One whole iteration."""
        while not self.phase_step():
            pass

    def _watch(self, who: str, value: float) -> float:
        """Keep the first non-finite loss: the session stops training and says so."""
        if not math.isfinite(value) and self.diverged is None:
            self.diverged = f"{who}'s loss became {value} at step {self.step}"
        return value

    def single_step(self, which: str) -> None:
        """One D step or one G step alone (counts as a step, so the counter shows it)."""
        t = time.perf_counter()
        self.d_step() if which == "d" else self.g_step()
        self.step += 1
        self.seconds += time.perf_counter() - t

    # ---- what it has learned ----------------------------------------------------------------------
    @torch.no_grad()
    def samples(self, n: int, seed: int) -> torch.Tensor:
        return self.G(self.noise(n, torch.Generator().manual_seed(seed)))

    @torch.no_grad()
    def measure(self) -> dict:
        """Distances between G's points and the data (mode measures where the modes are known)."""
        fake = self.samples(MODE_POINTS, self.s.seed + 3)
        real = dists.sample(self.s.dist, MODE_POINTS, torch.Generator().manual_seed(self.s.seed + 4), self.s.drawn)
        out = {"step": self.step, "d_loss": _num(self.d_loss), "g_loss": _num(self.g_loss),
               **grid_divergence(real, fake, self.radius)}
        if self.centers is not None:
            out.update(mode_metrics(fake, self.centers, self.std))
        return out

    def record(self) -> dict:
        m = self.measure()
        self.history.append(m)
        return m

    def frame(self) -> dict:
        """What the page draws now (plain lists; the view spans [-radius, radius]^2)."""
        r = self.radius
        with torch.no_grad():
            lin = torch.linspace(-r, r, HEAT)
            gy, gx = torch.meshgrid(lin.flip(0), lin, indexing="ij")   # row 0 is the top of the view
            logits = self.D.single(torch.stack([gx.flatten(), gy.flatten()], 1))
            heat = torch.sigmoid(logits) if self.loss.probability_outputs else \
                (logits - logits.min()) / (logits.max() - logits.min() + 1e-8)
            fake = self.G(self.show_z)
            manifold = self.G(self._noise_grid())
        # the way G's loss pushes each fake point: minus its gradient
        x = fake.clone().requires_grad_(True)
        self.D.requires_grad_(False)
        try:
            (grad,) = torch.autograd.grad(self.loss.g(self.D(x[: len(x) // self.s.pack * self.s.pack])), x)
        finally:
            self.D.requires_grad_(True)
        push = -grad
        push = push / (push.norm(dim=1).max() + 1e-12)  # the longest arrow has length 1
        return {"step": self.step, "radius": r, "heat": [round(v, 3) for v in heat.tolist()], "heat_size": HEAT,
                "real": _round(self.show_real), "fake": _round(fake), "push": _round(push),
                "manifold": _round(manifold), "manifold_shape": self._grid_shape(),
                "d_loss": _num(self.d_loss), "g_loss": _num(self.g_loss), "seconds": round(self.seconds, 3)}

    def _grid_shape(self) -> list[int]:
        return [1, 101] if self.s.z_dim == 1 else [21, 21]

    def _noise_grid(self) -> torch.Tensor:
        lo, hi = (-1.0, 1.0) if self.s.noise == "uniform" else (-2.0, 2.0)
        if self.s.z_dim == 1:
            return torch.linspace(lo, hi, 101)[:, None]
        v = torch.linspace(lo, hi, 21)
        a, b = torch.meshgrid(v, v, indexing="ij")
        return torch.stack([a.flatten(), b.flatten()], 1)


def _round(t: torch.Tensor) -> list:
    return [[round(a, 4), round(b, 4)] for a, b in t.tolist()]


def _num(v: float):
    return None if math.isnan(v) or math.isinf(v) else round(v, 5)
