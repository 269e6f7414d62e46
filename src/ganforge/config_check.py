"""Validation of a run's config: every value in range and every combination that cannot train refused,
each with a one-line error that names the key and the fix (``config.validate``)."""

from __future__ import annotations

from ganforge.errors import GanforgeError

# Fields with a fixed set of words. YAML 1.1 reads on/off/yes/no as booleans; ganforge reads YAML with
# only true/false as booleans (``StrictLoader``), so a word like ``off`` stays the word it is.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.split": ("train", "test"),
    "model.z_dist": ("normal", "uniform"),
    "train.d_update": ("joint", "separate"),
    "train.amp": ("auto", "off", "bf16", "fp16"),
    "train.augment": ("none", "diffaug", "ada"),
    "train.ada_signal": ("rt", "rv"),
    "train.lr_decay": ("none", "linear", "cosine"),
}


def _choice(value, options, key):
    if value not in options:
        raise GanforgeError(f"{key} must be one of {', '.join(options)}, not '{value}'")


def validate(cfg) -> None:
    """Every value of a built config in range, with a one-line error naming the key and the fix."""
    from ganforge.data import DATASETS
    from ganforge.losses import LOSSES
    from ganforge.models import ARCHS

    d, m, o, t = cfg.data, cfg.model, cfg.optim, cfg.train
    if d.name not in DATASETS:
        from ganforge.data import unknown_dataset
        raise unknown_dataset(d.name)
    if d.name == "folder" and not d.path:
        raise GanforgeError("data.name=folder needs a folder: add --path DIR (or data.path=DIR)")
    _choice(m.arch, ARCHS, "model.arch")
    _choice(t.loss, LOSSES, "train.loss")
    for key, options in CHOICES.items():
        section, name = key.split(".")
        _choice(getattr(getattr(cfg, section), name), options, key)
    positive = {"data.resolution": d.resolution, "model.z_dim": m.z_dim, "model.ngf": m.ngf, "model.ndf": m.ndf,
                "model.hidden": m.hidden, "train.batch_size": t.batch_size, "train.d_steps": t.d_steps,
                "train.g_steps": t.g_steps, "train.sample_every": t.sample_every, "train.ckpt_every": t.ckpt_every,
                "train.log_every": t.log_every, "train.keep_ckpts": t.keep_ckpts}
    for k, v in positive.items():
        if v < 1:
            raise GanforgeError(f"{k} must be at least 1, not {v}")
    if d.resolution < 8:
        raise GanforgeError(f"data.resolution must be at least 8 pixels, not {d.resolution}")
    if t.steps is None and t.epochs is None and not t.minutes:
        raise GanforgeError("set train.steps, train.epochs or train.minutes (how long to train)")
    if (t.steps is not None and t.steps < 1) or (t.epochs is not None and t.epochs <= 0):
        raise GanforgeError("train.steps and train.epochs must be positive")
    if t.eval_every < 0 or t.eval_samples < 2:
        raise GanforgeError("train.eval_every must be >= 0 and train.eval_samples >= 2")
    if t.eval_every:
        from ganforge.metrics.names import parse_metrics

        parse_metrics(t.eval_metrics)
    if t.minutes is not None and t.minutes <= 0:
        raise GanforgeError(f"train.minutes must be positive, not {t.minutes}")
    for k, v in {"optim.lr_g": o.lr_g, "optim.lr_d": o.lr_d}.items():
        if not v > 0:
            raise GanforgeError(f"{k} must be positive, not {v}")
    for k, v in {"optim.beta1": o.beta1, "optim.beta2": o.beta2, "train.ema": t.ema,
                 "train.label_smoothing": t.label_smoothing, "model.dropout": m.dropout}.items():
        if not 0 <= v < 1:
            raise GanforgeError(f"{k} must be in [0, 1), not {v}")
    if t.ema_kimg < 0 or (t.ema_rampup is not None and t.ema_rampup <= 0):
        raise GanforgeError(f"train.ema_kimg must be >= 0 and train.ema_rampup positive or none, not {t.ema_kimg} "
                            f"and {t.ema_rampup}")
    if t.ema > 0 and t.ema_kimg > 0:
        raise GanforgeError("train.ema (a fixed decay) and train.ema_kimg (a half-life in images) both ask for "
                            "an EMA of G; set one of them, the other to 0")
    if d.limit is not None and d.limit < 1:
        raise GanforgeError(f"data.limit must be at least 1 image, not {d.limit}")
    _check_regularisers(t)
    if t.d_update == "separate" and t.batch_size % 2:
        raise GanforgeError(f"train.d_update=separate splits the batch in halves; use an even batch size, not {t.batch_size}")


def _check_regularisers(t) -> None:
    if t.r1 < 0 or t.r1_every < 1:
        raise GanforgeError(f"train.r1 must be >= 0 and train.r1_every >= 1, not {t.r1} and {t.r1_every}")
    if t.r1 > 0 and t.loss == "wgan-gp":
        raise GanforgeError("train.r1 and wgan-gp's gradient penalty both constrain D's gradient; "
                            "use train.r1=0 with wgan-gp, or another loss (bce, hinge) with R1")
    if t.augment != "none":
        from ganforge.augment import parse_policy

        parse_policy(t.augment_policy)
    if t.augment == "ada":
        if t.loss == "wgan-gp":
            raise GanforgeError("train.augment=ada steers by the sign of D's verdict, which a WGAN critic does "
                                "not have; use train.augment=diffaug with wgan-gp, or loss bce or hinge")
        if not 0 <= t.augment_p <= 1:
            raise GanforgeError(f"train.augment_p is a probability, from 0 to 1, not {t.augment_p}")
        if not 0 < t.ada_target < 1 or t.ada_kimg <= 0 or t.ada_interval < 1:
            raise GanforgeError("train.ada_target must be in (0, 1), train.ada_kimg > 0 and train.ada_interval "
                                f">= 1, not {t.ada_target}, {t.ada_kimg} and {t.ada_interval}")
        if t.ada_signal == "rv" and not 0 < t.ada_holdout <= 0.5:
            raise GanforgeError(f"train.ada_holdout is the share of images held out for ADA's rv signal, above 0 "
                                f"and at most 0.5, not {t.ada_holdout}; try train.ada_holdout=0.1")
