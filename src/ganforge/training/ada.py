"""ADA inside the training loop: the controller of p (``augment.AdaptiveP``), fed with D's outputs on
each step's real and generated images and, for the ``rv`` signal, on a batch of held-out real images
scored just before each move of p (``data.heldout``: images D never trains on)."""

from __future__ import annotations

import torch

from ganforge import stats
from ganforge.augment import AdaptiveP
from ganforge.data import ImageData, heldout
from ganforge.data.batches import to_unit_range


class Ada:
    def __init__(self, cfg, data: ImageData, device: torch.device, rank: int = 0):
        """``self.data`` is what the run trains on: ``data`` less the held-out slice, if one is lent."""
        t = cfg.train
        self.control = AdaptiveP(t.ada_target, t.ada_kimg, t.ada_interval, t.augment_p, t.ada_signal)
        self.threshold = 0.5 if t.loss == "lsgan" else 0.0  # LSGAN's real and fake targets are 1 and 0
        self.data, self.heldout = data, None
        if t.ada_signal == "rv":
            self.data, self.heldout = heldout.split(data, cfg.data, t.ada_holdout, t.batch_size)
            self.gen = torch.Generator().manual_seed(t.seed + 7919 * (rank + 1))  # each rank its own batches
            self.images = self.heldout.images.to(device)
            self.labels = self.heldout.labels.to(device) if self.heldout.labels is not None else None

    @property
    def p(self) -> float:
        return self.control.p

    @property
    def note(self) -> str | None:
        return self.heldout.note if self.heldout is not None else None

    def observe(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> None:
        self.control.observe(real_logits, self.threshold, fake_logits)

    def after_d_step(self, trainer, k: int, images: int) -> None:
        """After D step number ``k`` (counted from 1) of ``images`` images over all ranks: score held-out
        images when p is about to move, move it, and report p and the signal."""
        if self.heldout is not None and self.control.due(k):
            self.score_heldout(trainer)
        self.control.update(k, images, trainer.world, trainer.device)
        stats.report("augment_p", self.control.p)
        if self.control.r is not None:
            stats.report(f"ada_{self.control.signal}", self.control.r)

    @torch.no_grad()
    def score_heldout(self, trainer) -> None:
        """D's verdict on a batch of held-out real images, augmented as training images are. D's buffers
        (BatchNorm's running statistics, spectral norm's vectors) are put back afterwards: looking must
        not change what D has learnt."""
        n = trainer.batches.batch_size
        idx = torch.randint(len(self.images), (n,), generator=self.gen).to(self.images.device)
        x = to_unit_range(self.images.index_select(0, idx))
        y = self.labels.index_select(0, idx) if trainer.conditional else None
        D = trainer.D_raw
        saved = [b.clone() for b in D.buffers()]
        try:
            with trainer._autocast():
                logits = D(trainer._aug(x), y).float()
        finally:
            for b, v in zip(D.buffers(), saved):
                b.copy_(v)
        self.control.observe_heldout(logits)

    def state_dict(self) -> dict:
        s = self.control.state_dict()
        if self.heldout is not None:
            s["heldout_gen"] = self.gen.get_state()
        return s

    def load_state_dict(self, s: dict) -> None:
        self.control.load_state_dict(s)
        if self.heldout is not None and "heldout_gen" in s:
            self.gen.set_state(s["heldout_gen"])
