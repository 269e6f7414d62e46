"""The lab's GAN: small networks on 2-D points (``nets``), trained step by step from a noise space
(``noise``), and what the page draws of them.

D may judge packs of points (PacGAN), which lets it see a batch's spread and so punishes G for dropping
modes; R1 keeps D flat on the data. The losses are ``ganforge.losses``. ``frame()`` returns everything the
view shows: real and fake points, D's verdict over the plane, the direction G's loss pushes each fake
point, G's image of the noise space (the manifold), and the noise itself.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ganforge import losses
from ganforge.lab2d import dists
from ganforge.lab2d.explain import explain
from ganforge.lab2d.metrics import grid_divergence, mode_metrics, precision_recall, real_radii
from ganforge.lab2d.nets import PacGANDiscriminator, PackedD, generator, pacgan_generator
from ganforge.lab2d.noise import Noise
from ganforge.lab2d.settings import LabSettings, validate

HEAT = 48          # heatmap cells per side
SHOW = 500         # real and fake points shown
MODE_POINTS = 2500  # generated points the mode measures use (as VEEGAN and PacGAN do)


class LabTrainer:
    def __init__(self, s: LabSettings):
        validate(s)
        self.s = s
        torch.manual_seed(s.seed)
        self.data_gen = torch.Generator().manual_seed(s.seed + 1)
        # the user's points as a tensor once (checked by ``validate``): every batch draws from it
        self.drawn = torch.tensor(s.drawn, dtype=torch.float32).reshape(-1, 2) if s.drawn is not None else None
        self.centers, self.std = dists.modes(s.dist, self.drawn)
        layout_data = (dists.sample(s.dist, 4000, torch.Generator().manual_seed(s.seed + 6), self.drawn), self.std) \
            if s.noise == "data" else None
        self.noise_space = Noise(s.noise, s.z_dim, s.components, s.component_std, layout_data)
        self.radius = dists.view_radius(s.dist, self.drawn)
        if s.model == "pacgan":  # PacGAN's networks as published, on the data's own coordinates
            self.G, self.D = pacgan_generator(s.z_dim), PacGANDiscriminator(s.pack)
            with torch.no_grad():  # start G around the data's scale, not at a point
                self.G[-1].weight.mul_(self.radius / 2)
        else:
            self.G = generator(s.z_dim, s.layers, s.neurons, self.radius)
            self.D = PackedD(s.pack, s.layers, s.neurons, s.spectral_norm, self.radius)
        self.step, self.phase, self.d_loss, self.g_loss = 0, 0, float("nan"), float("nan")
        self.diverged: str | None = None  # what blew up first (a loss that became NaN or infinite)
        self.last_phase = None  # "D" or "G": the network the last step updated (the overview lights it)
        self.total = None  # a headless run's length (for ``anneal``); None while live
        self.history: list[dict] = []
        self.seconds = 0.0
        fixed = torch.Generator().manual_seed(s.seed + 2)
        self.show_real = dists.sample(s.dist, SHOW, fixed, self.drawn)
        self._show_noise = fixed.get_state()  # a learned noise is drawn again from here for each frame
        self.show_z, self.show_component = self.noise_space.sample(SHOW, fixed)
        self._shown = None
        self._real = None  # (real points, their balls) that the measures compare with
        self.set_optimizers()

    def set_optimizers(self) -> None:
        """(Re)build the optimizers and loss from the settings; keeps the networks."""
        s = self.s

        def make(kind, params, lr):
            if kind == "adam":  # fused: one kernel per step, a fifth of a step's time less here
                return torch.optim.Adam(params, lr=lr, betas=(s.beta1, s.beta2), fused=True)
            return torch.optim.SGD(params, lr=lr)

        self.opt_g = make(s.optimizer_g, [*self.G.parameters(), *self.noise_space.parameters()], s.lr_g)
        self.opt_d = make(s.optimizer_d, self.D.parameters(), s.lr_d)
        self.loss = losses.build(s.loss, gp_weight=s.gp_weight)

    def update(self, s: LabSettings) -> None:
        """Settings that take effect without rebuilding the networks (the caller rebuilds for the rest)."""
        old, self.s = self.s, s
        keys = ("optimizer_g", "optimizer_d", "beta1", "loss", "gp_weight")
        if any(getattr(old, k) != getattr(s, k) for k in keys):
            self.set_optimizers()
        else:
            for opt, lr in ((self.opt_g, s.lr_g), (self.opt_d, s.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.noise_space(n, generator)

    @torch.no_grad()
    def sample_points(self, z: torch.Tensor) -> torch.Tensor:
        """G's points for noise ``z``, its BatchNorm (PacGAN's G) in eval mode: each point on its own."""
        was = self.G.training
        self.G.eval()
        try:
            return self.G(z)
        finally:
            self.G.train(was)

    def real(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return dists.sample(self.s.dist, n, generator or self.data_gen, self.drawn)

    # ---- one step of each player ------------------------------------------------------------------
    def d_step(self) -> float:
        s, n = self.s, self.s.batch_size
        real = self.real(n)
        with torch.no_grad():
            fake = self.G(self.noise(n))
        logits = self.D(torch.cat([real, fake]))  # one pass: packs never straddle the two halves
        half = len(logits) // 2
        loss = self.loss.d_real(logits[:half]) + self.loss.d_fake(logits[half:])
        gp = self.loss.penalty(self.D, real, fake, None)
        if gp is not None:
            loss = loss + gp
        if s.r1 > 0:
            loss = loss + losses.r1_penalty(self.D, real, gamma=s.r1)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        self.d_loss = self._watch("D", float(loss.detach()))
        self.last_phase = "D"
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
        self.last_phase = "G"
        return self.g_loss

    def phase_step(self) -> bool:
        """The next phase of the current iteration (``d_steps`` D steps, then ``g_steps`` G steps); True
        when it completed the iteration. A live session calls this under its lock, one phase at a time,
        so that the page is answered between phases. With ``total`` set (a headless run of known length)
        and ``anneal`` on, both learning rates fall linearly to 1% by the last step, which lets G settle
        onto the modes instead of orbiting them."""
        t = time.perf_counter()
        s = self.s
        if self.phase == 0 and s.anneal:
            f = self.lr_factor()
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

    def lr_factor(self) -> float:
        """What ``anneal`` multiplies the learning rates by now: falling linearly from 1 to 0.01 over the
        run's ``steps`` (a headless run's length; live, the page's settings), then staying there."""
        if not self.s.anneal:
            return 1.0
        return max(0.01, 1 - self.step / (self.total or self.s.steps))

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
    def samples(self, n: int, seed: int) -> torch.Tensor:
        return self.sample_points(self.noise(n, torch.Generator().manual_seed(seed)))

    @torch.no_grad()
    def measure(self) -> dict:
        """Distances between G's points and the data (mode measures where the modes are known)."""
        return self.measure_points(self.samples(MODE_POINTS, self.s.seed + 3))

    @torch.no_grad()
    def measure_points(self, fake: torch.Tensor) -> dict:
        """The measures of any points (a sampler's), against ``MODE_POINTS`` real ones (drawn, with their
        k-nearest-neighbour balls, once per trainer)."""
        if self._real is None:
            real = dists.sample(self.s.dist, MODE_POINTS, torch.Generator().manual_seed(self.s.seed + 4), self.drawn)
            self._real = (real, real_radii(real))
        real, radius = self._real
        out = {"step": self.step, "d_loss": _num(self.d_loss), "g_loss": _num(self.g_loss),
               **grid_divergence(real, fake, self.radius), **precision_recall(real, fake, radius=radius)}
        if self.centers is not None:
            out.update(mode_metrics(fake, self.centers, self.std))
        return out

    @torch.no_grad()
    def explained(self) -> dict:
        """Which modes G leaves empty and which noise pieces it strands (``explain``), on ``MODE_POINTS``
        points drawn as the measures draw them; empty where the data has no known modes."""
        if self.centers is None:
            return {"empty": [], "stranded": [], "lines": []}
        z, piece = self.noise_space.sample(MODE_POINTS, torch.Generator().manual_seed(self.s.seed + 3))
        return explain(self.sample_points(z), piece, self.centers, self.std)

    def record(self) -> dict:
        m = self.measure()
        self.history.append(m)
        return m

    def frame(self) -> dict:
        """What the page draws now (plain lists; the view spans [-radius, radius]^2, the noise view
        [-noise_extent, noise_extent]^z_dim)."""
        r = self.radius
        learns = any(True for _ in self.noise_space.parameters())
        if learns:  # the same draw, through the noise's parameters as they are now
            with torch.no_grad():
                self.show_z, self.show_component = self.noise_space.sample(
                    SHOW, torch.Generator().set_state(self._show_noise))
        grid, shape = self.noise_space.grid()
        with torch.no_grad():
            lin = torch.linspace(-r, r, HEAT)
            gy, gx = torch.meshgrid(lin.flip(0), lin, indexing="ij")   # row 0 is the top of the view
            logits = self.D.single(torch.stack([gx.flatten(), gy.flatten()], 1))
            heat = torch.sigmoid(logits) if self.loss.probability_outputs else \
                (logits - logits.min()) / (logits.max() - logits.min() + 1e-8)
            fake = self.sample_points(self.show_z)
            manifold = self.sample_points(grid)
        # the way G's loss pushes each fake point: minus its gradient
        x = fake.clone().requires_grad_(True)
        self.D.requires_grad_(False)
        try:
            (grad,) = torch.autograd.grad(self.loss.g(self.D(x[: len(x) // self.s.pack * self.s.pack])), x)
        finally:
            self.D.requires_grad_(True)
        push = -grad
        push = push / (push.norm(dim=1).max() + 1e-12)  # the longest arrow has length 1
        z = self.show_z if self.s.z_dim == 2 else torch.cat([self.show_z, torch.zeros_like(self.show_z)], 1)
        if self._shown is None or learns:  # what never changes for this trainer, made into lists once
            self._shown = {"real": as_lists(self.show_real), "noise": as_lists(z),
                           "noise_component": self.show_component.tolist()}
        return {"step": self.step, "radius": r, "heat": np.round(heat.numpy().astype(np.float64), 3).tolist(),
                "heat_size": HEAT, **self._shown, "fake": as_lists(fake), "push": as_lists(push),
                "manifold": as_lists(manifold), "manifold_shape": shape, "noise_extent": self.noise_space.extent(),
                "noise_components": self.noise_space.components, "noise_why": self.noise_space.why,
                "phase": self.last_phase, "lr_factor": round(self.lr_factor(), 4),
                "explain": explain(fake, self.show_component, self.centers, self.std)["lines"]
                if self.centers is not None else [],
                "d_loss": _num(self.d_loss), "g_loss": _num(self.g_loss), "seconds": round(self.seconds, 3)}


def as_lists(t: torch.Tensor) -> list:
    """Points as lists of 4-decimal numbers (what the page needs; a fifth of the JSON)."""
    return np.round(t.detach().numpy().astype(np.float64), 4).tolist()


def _num(v: float):
    return None if math.isnan(v) or math.isinf(v) else round(v, 5)
