"""Checks made during training: the Keras program's D accuracy and snapshots every few epochs, and
quality evaluations that keep the best checkpoint. Each takes the ``Trainer``."""

from __future__ import annotations

import torch

from ganforge import checkpoint
from ganforge.data.batches import to_unit_range
from ganforge.sampling import generate, sample_z


@torch.no_grad()
def d_accuracy(trainer, n: int = 1000) -> tuple[float, float]:
    """The Keras program's check: share of real images D calls real, and of fakes it calls fake."""
    was = trainer.D_raw.training
    trainer.D_raw.eval()
    try:
        g = torch.Generator().manual_seed(trainer.step)
        idx = torch.randperm(len(trainer.data), generator=g)[:n]
        if trainer.data.images is not None:
            x = trainer.data.images[idx]
            y = trainer.data.labels[idx] if trainer.data.labels is not None else None
        else:  # streamed: decode a few hundred, leaving out unreadable files
            items = [it for it in (trainer.data.stream[int(i)] for i in idx[:256]) if it is not None]
            x = torch.stack([it[0] for it in items])
            y = torch.tensor([it[1] for it in items]) if trainer.data.labels is not None else None
        x = to_unit_range(x.to(trainer.device))
        y = y.to(trainer.device) if (y is not None and trainer.conditional) else None
        z = sample_z(len(x), trainer.cfg.model.z_dim, trainer.cfg.model.z_dist, generator=g).to(trainer.device)
        fake = generate(trainer.G_raw, z, y).to(trainer.device)
        threshold = 0.5 if trainer.cfg.train.loss == "lsgan" else 0.0
        acc_real = (trainer.D_raw(x, y) > threshold).float().mean().item()
        acc_fake = (trainer.D_raw(fake, y) <= threshold).float().mean().item()
    finally:
        trainer.D_raw.train(was)
    return acc_real, acc_fake



def quality(trainer, logger) -> None:
    """Score ``eval_samples`` images from fixed noise; keep the best checkpoint by the first metric."""
    from ganforge.grid import to_uint8
    from ganforge.metrics import better

    t = trainer.cfg.train
    z = sample_z(t.eval_samples, trainer.cfg.model.z_dim, trainer.cfg.model.z_dist,
                 generator=torch.Generator().manual_seed(t.seed + 2))
    y = torch.arange(t.eval_samples) % trainer.data.num_classes if trainer.conditional else None
    ema = trainer.G_ema is not None
    imgs = to_uint8(generate(trainer.G_ema if ema else trainer.G_raw, z, y))
    minutes = round(trainer.schedule.trained_s() / 60, 3)  # training time so far: the curve a user reads
    results = trainer.evaluator(imgs, y, step=trainer.step, ema=ema, minutes=minutes)
    for r in results:
        logger.event(trainer.step, r.record(), f"step {trainer.step}: {r.metric} {r.value:.4f}")
    head = results[0]
    if better(head.metric, head.value, trainer.best_value):
        trainer.best_value = head.value
        trainer.check_finite()
        checkpoint.save(trainer.run / "checkpoints", trainer.step, trainer.modules(),
                        {**trainer.meta, "best": {head.metric: head.value}}, trainer.state(), name="best")

def keras_check(trainer, logger) -> None:
    """Every few epochs, as the Keras program: D accuracy, a sample plot and a generator snapshot."""
    acc_real, acc_fake = d_accuracy(trainer)
    epoch = round(trainer.epoch)
    trainer.sample_grid(trainer.run / "samples" / f"epoch-{epoch:04d}.png")
    checkpoint.save_weights(trainer.run / "checkpoints" / f"generator-e{epoch:04d}.safetensors",
                            {"G": trainer.G_raw}, {**trainer.meta, "step": trainer.step})
    logger.event(trainer.step, {"kind": "d_accuracy", "epoch": epoch, "acc_real": acc_real, "acc_fake": acc_fake},
                 f"epoch {epoch}: D accuracy real {acc_real:.0%}, fake {acc_fake:.0%}")
