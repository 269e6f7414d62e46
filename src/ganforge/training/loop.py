"""The GAN training loop: D phase, G phase and EMA, driven by one loop.

The loss object (``ganforge.losses``) supplies one method per phase; everything the loop
measures goes through ``stats.report`` and reaches the progress bar, metrics.jsonl and
TensorBoard from ``RunLogger`` at the log interval.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from ganforge import checkpoint, losses, stats
from ganforge.augment import augment, parse_policy
from ganforge.config import Config
from ganforge.data import ImageData, check_batch, data_record
from ganforge.data.batches import Batches
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError
from ganforge.grid import save_grid
from ganforge.models import (
    build_discriminator,
    build_generator,
    has_convolutions,
    is_conditional,
    model_kwargs,
)
from ganforge.sampling import generate, sample_z
from ganforge.threads import CpuShare
from ganforge.training import distributed, evaluation, state
from ganforge.training.ada import Ada
from ganforge.training.distributed import World
from ganforge.training.logger import NullLogger, RunLogger
from ganforge.training.schedule import Schedule
from ganforge.training.signals import STOPPING, StopSignals, code_for


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGUSR1: a checkpoint was saved; the message says how to resume, ``exit_code``
    is the signal's (``signals.EXIT_CODES``)."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Trainer:
    def __init__(self, cfg: Config, run: Path, data: ImageData, device: torch.device | None = None,
                 quiet: bool = False, world: World | None = None):
        t, m, o = cfg.train, cfg.model, cfg.optim
        self.cfg, self.run, self.data = cfg, Path(run), data
        self.world = world or World()
        self.quiet = quiet or not self.world.main
        self.device = device or resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(t.threads)
        if is_conditional(m.arch) and not data.num_classes:
            raise GanforgeError(f"model {m.arch} is label-conditioned but dataset {data.name} has no labels; "
                                "use a labelled dataset, or data.labels=true for a folder of class subfolders")
        self.ada = None  # what D sees: augmented reals and fakes alike (diffaug: always; ada: with probability p)
        if t.augment == "ada":  # with the rv signal, ADA holds some images out of training
            self.ada = Ada(cfg, data, self.device, self.world.rank)
            self.data = data = self.ada.data
        check_batch(data, t.batch_size)
        self.local_batch = distributed.check_batch(t.batch_size, self.world)  # this rank's share
        if t.sync_bn and self.world.active and self.device.type != "cuda":
            raise GanforgeError("train.sync_bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU path); "
                                "drop it, or use a model without BatchNorm (mlp, keras-cifar) on CPU")
        torch.manual_seed(t.seed)
        self.conditional = is_conditional(m.arch)
        k = data.num_classes if self.conditional else 0
        self.kwargs = model_kwargs(m, data.resolution, data.channels, k)
        # G_raw / D_raw are the plain networks (sampling, EMA, checkpoints, G's phase uses D_raw);
        # G / D are the same networks wrapped for gradient averaging when several processes train.
        self.G_raw = build_generator(m.arch, self.kwargs).to(self.device)
        self.D_raw = build_discriminator(m.arch, self.kwargs, m.spectral_norm).to(self.device)
        if t.sync_bn and self.world.active:
            self.G_raw = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.G_raw)
            self.D_raw = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.D_raw)
        self.G_ema = copy.deepcopy(self.G_raw).eval().requires_grad_(False) if t.ema > 0 or t.ema_kimg > 0 else None
        self.channels_last = t.channels_last and has_convolutions(m.arch)
        if self.channels_last:
            self.G_raw.to(memory_format=torch.channels_last)
            self.D_raw.to(memory_format=torch.channels_last)
        self._fake = None
        self.G, self.D = self.G_raw, self.D_raw
        if self.world.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G, self.D = DDP(self.G_raw, device_ids=ids), DDP(self.D_raw, device_ids=ids)
        self.D_g = self.D_raw  # the D of G's phase
        if t.compile:  # the training forwards only; checkpoints and sampling use the plain modules
            self.G, self.D, self.D_g = torch.compile(self.G), torch.compile(self.D), torch.compile(self.D_raw)
        # fused Adam on CUDA: one kernel per optimizer step instead of several per parameter group
        adam = {"betas": (o.beta1, o.beta2), **({"fused": True} if self.device.type == "cuda" else {"foreach": True})}
        self.opt_g = torch.optim.Adam(self.G_raw.parameters(), lr=o.lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.D_raw.parameters(), lr=o.lr_d, **adam)
        self.loss = losses.build(t.loss, t.label_smoothing, t.gp_weight)
        self.policy = parse_policy(t.augment_policy) if t.augment != "none" else []
        # mixed precision: bf16 where the GPU has it, else fp16 with gradient scaling; off on CPU
        amp = t.amp
        if amp == "auto":
            bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            amp = "off" if self.device.type != "cuda" else ("bf16" if bf16 else "fp16")
        self.amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=amp == "fp16")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = t.cudnn_benchmark
        # the Keras program updates D on half a batch of real, then half a batch of fake
        self.d_batch = t.batch_size // 2 if t.d_update == "separate" else t.batch_size  # global
        if self.d_batch % self.world.size:
            raise GanforgeError(f"half batches of {self.d_batch} do not split over {self.world.size} processes; "
                                f"use a batch size that is a multiple of {2 * self.world.size}")
        self.batches = Batches(data, self.d_batch // self.world.size, self.device, seed=t.seed,
                               rank=self.world.rank, world=self.world.size, workers=cfg.data.workers)
        if self.batches.steps_per_epoch < 1:
            raise GanforgeError(f"dataset has {len(data)} images, fewer than one batch of {self.d_batch}")
        self.steps_per_epoch = self.batches.steps_per_epoch / t.d_steps
        # None: a time budget alone sets the length (``train.minutes``)
        self.total_steps = t.steps if t.epochs is None else max(1, math.ceil(t.epochs * self.steps_per_epoch))
        self.schedule = Schedule(cfg, self.total_steps)
        self.step, self.images_seen = 0, 0
        g = torch.Generator().manual_seed(t.seed + 1)
        if self.conditional:  # one row of 8 per class
            self.y_fixed = torch.arange(k).repeat_interleave(8)
        else:
            self.y_fixed = None
        n_fixed = len(self.y_fixed) if self.conditional else 64
        self.z_fixed = sample_z(n_fixed, m.z_dim, m.z_dist, generator=g)
        self._bad = torch.full((), -1, dtype=torch.long, device=self.device)  # first step with a NaN loss
        self.evaluator, self.best_value = None, None
        if t.eval_every and self.world.main:  # built now: a missing judge or Inception file fails early
            from ganforge.metrics import Evaluator, parse_metrics

            self.evaluator = Evaluator(data.name, parse_metrics(t.eval_metrics), device=self.device, data=cfg.data)
        self._stop = False
        self.meta = {"arch": m.arch, "kwargs": self.kwargs, "z_dist": m.z_dist, "classes": data.classes
                     if self.conditional else None, "dataset": data.name, "resolution": data.resolution,
                     "data": data_record(cfg.data)}

    # ---- phases -------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _d_update(self, loss: torch.Tensor) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()  # scaling is a no-op unless fp16
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        """The images as D is shown them (differentiable: G's gradient passes through)."""
        if not self.policy:
            return x
        x = augment(x, self.policy, self.ada.p if self.ada is not None else 1.0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _r1(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """R1 on the (augmented) reals, every ``r1_every`` steps weighted that many times (lazy R1)."""
        t = self.cfg.train
        if t.r1 <= 0 or self.step % t.r1_every:
            return None
        r1 = losses.r1_penalty(self.D, x.float(), y, gamma=t.r1 * t.r1_every)  # fp32: a gradient of a gradient
        stats.report("r1", r1)
        return r1

    def _z(self, n: int) -> torch.Tensor:
        """This rank's ``n`` latents: its slice of the global batch's noise, so that the ranks together
        draw what one process would (every rank keeps the same RNG state)."""
        w = self.world
        z = sample_z(n * w.size, self.cfg.model.z_dim, self.cfg.model.z_dist, self.device)
        return z[w.rank * n:(w.rank + 1) * n] if w.active else z

    def d_phase(self, x: torch.Tensor, y: torch.Tensor | None, keep_fake: bool = False) -> None:
        """One D step. With ``keep_fake`` the fakes are made with G's graph kept, and G's next step
        reuses them instead of running G again (one G forward per iteration instead of two)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            if keep_fake:
                self._fake = self.G(self._z(len(x)), y)
                fake = self._fake.detach()
            else:
                with torch.no_grad():  # no graph through G while D learns
                    fake = self.G_raw(self._z(len(x)), y)
        x, fake = self._aug(x), self._aug(fake)
        r1 = self._r1(x, y)
        if self.cfg.train.d_update == "separate":
            with self._autocast():
                real_logits = self.D(x, y).float()
            l_real = self.loss.d_real(real_logits)
            self._d_update(l_real if r1 is None else l_real + r1)
            with self._autocast():
                fake_logits = self.D(fake, y).float()
            l_fake = self.loss.d_fake(fake_logits)
            self._d_update(l_fake)
            d_loss = l_real.detach() + l_fake.detach()
        else:
            with self._autocast():
                real_logits, fake_logits = self.D(x, y).float(), self.D(fake, y).float()
            d_loss = self.loss.d_real(real_logits) + self.loss.d_fake(fake_logits)
            gp = self.loss.penalty(self.D, x, fake.float(), y)  # in fp32: a gradient of a gradient
            if gp is not None:
                stats.report("gp", gp)
                d_loss = d_loss + gp
            self._d_update(d_loss if r1 is None else d_loss + r1)
        self._last_logits = (real_logits.detach(), fake_logits.detach())
        if self.ada is not None:
            self.ada.observe(real_logits, fake_logits)
        stats.report("d_loss", d_loss)
        prob = torch.sigmoid if self.loss.probability_outputs else (lambda v: v)
        stats.report("D(x)", prob(real_logits.detach()))
        stats.report("D(G(z))", prob(fake_logits.detach()))
        self._d_loss = d_loss.detach()

    def g_phase(self, y: torch.Tensor | None, fake: torch.Tensor | None = None) -> None:
        n = self.local_batch
        if y is not None and len(y) != n:
            y = y.repeat(math.ceil(n / len(y)))[:n]
        self.D_raw.requires_grad_(False)  # D's weight gradients are not needed for G's step
        try:  # the plain D: nothing of D's is synchronised in G's phase
            with self._autocast():
                if fake is None:
                    fake = self.G(self._z(n), y)
                logits = self.D_g(self._aug(fake), y).float()
            g_loss = self.loss.g(logits)
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(g_loss).backward()
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        finally:
            self.D_raw.requires_grad_(True)
        stats.report("g_loss", g_loss)
        self._g_loss = g_loss.detach()

    @torch.no_grad()
    def update_ema(self, seen: int) -> None:
        """G_ema moves toward G; ``seen``: the images before this step (StyleGAN2-ADA's ramp counts those)."""
        beta = self.schedule.ema(self.images_seen - seen, seen)  # this step's images, after the ones before
        for pe, p in zip(self.G_ema.parameters(), self.G_raw.parameters()):
            pe.lerp_(p, 1 - beta)
        for be, b in zip(self.G_ema.buffers(), self.G_raw.buffers()):
            be.copy_(b)

    def set_lrs(self) -> None:
        """The learning rates the schedule gives for this step (unchanged without a decay)."""
        if self.schedule.decay == "none":
            return
        lrs = self.schedule.lrs(self.step)
        for opt, lr in ((self.opt_g, lrs["G"]), (self.opt_d, lrs["D"])):
            for group in opt.param_groups:
                group["lr"] = lr
        stats.report("lr_g", lrs["G"])

    def train_step(self) -> None:
        t = self.cfg.train
        y, seen = None, self.images_seen
        self.set_lrs()
        reuse = t.d_steps == 1 and t.g_steps == 1 and t.d_update == "joint"
        for i in range(t.d_steps):
            x, y = self.batches.next()
            self.d_phase(x, y if self.conditional else None, keep_fake=reuse)
            self.images_seen += len(x) * self.world.size  # global count
            if self.ada is not None:
                self.ada.after_d_step(self, self.step * t.d_steps + i + 1, len(x) * self.world.size)
        for _ in range(t.g_steps):
            self.g_phase(y if self.conditional else None, self._fake if reuse else None)
        self._fake = None
        if self.G_ema is not None:
            self.update_ema(seen)
        self.step += 1
        finite = torch.isfinite(self._d_loss) & torch.isfinite(self._g_loss)
        self._bad = torch.where((self._bad < 0) & ~finite, self.step, self._bad)

    # ---- state --------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Whether the run has reached its length: its steps, or its time budget."""
        return (self.total_steps is not None and self.step >= self.total_steps) or self.schedule.over()

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    def modules(self) -> dict:
        mods = {"G": self.G_raw, "D": self.D_raw}
        if self.G_ema is not None:
            mods["G_ema"] = self.G_ema
        return mods

    def state(self) -> dict:
        """Everything beside the weights that a resume needs (``ganforge.training.state``)."""
        return state.of(self)

    def save_checkpoint(self) -> Path:
        self.check_finite()
        if not self.world.main:  # only rank 0 writes
            return None
        path = checkpoint.save(self.run / "checkpoints", self.step, self.modules(), self.meta, self.state())
        checkpoint.prune(self.run / "checkpoints", self.cfg.train.keep_ckpts)
        return path

    def load_checkpoint(self, weights: Path, full: bool = True) -> None:
        """The networks from ``weights``; with ``full``, everything else too, to go on exactly."""
        state.load(self, weights, full)

    def check_finite(self) -> None:
        bad = int(distributed.any_true(self._bad, self.world))
        if bad >= 0:
            try:
                last = checkpoint.newest_complete(self.run / "checkpoints", warn=lambda msg: None)
            except GanforgeError:
                last = None
            kept = f"the last good checkpoint {last} is kept" if last else "no checkpoint was written"
            raise GanforgeError(f"a loss became NaN or infinite at step {bad}; training stopped and {kept}; "
                                "lower optim.lr_d/optim.lr_g or try --loss hinge")

    # ---- outputs ------------------------------------------------------------------------------
    def sample_grid(self, path: Path) -> torch.Tensor:
        """A grid from the fixed noise, drawn by the EMA generator when there is one."""
        imgs = generate(self.G_ema if self.G_ema is not None else self.G_raw, self.z_fixed, self.y_fixed)
        labels = [self.data.classes[i] for i in range(self.data.num_classes)] if self.conditional else None
        save_grid(imgs, path, nrow=8, row_labels=labels)
        return imgs

    # ---- the loop -----------------------------------------------------------------------------

    def _cpu_share(self) -> CpuShare | None:
        """On a CPU with no ``train.threads`` set: threads that follow what other programs leave free."""
        if self.device.type != "cpu" or self.cfg.train.threads:
            return None
        share = CpuShare(torch.get_num_threads())
        return share if share.available else None

    def fit(self, logger: RunLogger | None = None) -> Path:
        t = self.cfg.train
        main = self.world.main
        if logger is None:
            logger = RunLogger(self.run, self.total_steps, self.step, quiet=self.quiet) if main else NullLogger()
        sched = self.schedule
        if sched.budget_s:
            logger.remaining = lambda: max(0.0, sched.budget_s - sched.trained_s())
        stop = self.signals = StopSignals().__enter__()
        last_ckpt, signum = None, 0
        epoch_steps = max(1, round(self.steps_per_epoch * t.eval_every_epochs)) if t.eval_every_epochs else 0
        share = self._cpu_share()
        try:
            logger.start(self.step, self.images_seen)
            sched.start()
            while not self.finished and not self._stop:
                self.train_step()
                if share is not None and (n := share.poll()) is not None:
                    torch.set_num_threads(n)
                    logger.say(share.message())
                over = sched.over()
                signum = int(stop.received or 0)
                if self.world.active:  # every rank stops at the same step (a signal, the time limit)
                    flags = distributed.any_true(torch.tensor([signum, int(over)]), self.world)
                    signum, over = int(flags[0]), bool(flags[1])
                self._stop = signum > 0
                last = self.step == self.total_steps or over
                if self.step % t.log_every == 0 or last:
                    self.check_finite()
                    logger.log(self.step, self.epoch, self.images_seen, stats.flush())
                if main and (self.step % t.sample_every == 0 or last):
                    imgs = self.sample_grid(self.run / "samples" / f"step-{self.step:08d}.png")
                    logger.samples(self.step, imgs, self._last_logits, self.z_fixed)
                if main and epoch_steps and self.step % epoch_steps == 0:
                    evaluation.keras_check(self, logger)
                if main and t.eval_every and (self.step % t.eval_every == 0 or last):
                    evaluation.quality(self, logger)
                if self.step % t.ckpt_every == 0 or last:
                    last_ckpt = self.save_checkpoint()
                if over:
                    logger.say(f"time budget of {t.minutes:g} minutes reached at step {self.step}")
                    break
            if self._stop:
                if self.step % t.log_every:  # the steps since the last record are logged, not dropped
                    self.check_finite()
                    logger.log(self.step, self.epoch, self.images_seen, stats.flush())
                last_ckpt = self.save_checkpoint()
                said = STOPPING.get(signum, "a stop request") if signum else "a stop request"
                raise Interrupted(f"stopped by {said} at step {self.step}; checkpoint {last_ckpt} saved; "
                                  f"continue with: ganforge train --resume {self.run}", code_for(signum))
        finally:
            stop.__exit__()
            if share is not None:
                torch.set_num_threads(share.most)
            logger.close()
        return last_ckpt or checkpoint.latest(self.run / "checkpoints")


