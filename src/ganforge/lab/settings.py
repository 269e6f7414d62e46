"""The lab's settings: one dataclass, like the training configs, validated with one-line errors that
name the field (the page shows each beside its control)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from ganforge.errors import GanforgeError
from ganforge.lab.dists import DISTS, check_drawn
from ganforge.losses import LOSSES


class SettingError(GanforgeError):
    """A bad value for one field; ``field`` names it so that a page can show the message beside it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class LabSettings:
    dist: str = "ring"                 # see ganforge.lab.dists.DISTS; "drawn" uses ``drawn``
    steps: int = 12000                 # headless: training iterations (about 50 s on one CPU thread)
    seed: int = 0
    batch_size: int = 256              # points per D and G step
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    optimizer: str = "adam"            # adam (betas 0.5, 0.99) | sgd
    loss: str = "bce"                  # the losses of ganforge.losses: bce | hinge | wgan-gp | lsgan
    d_steps: int = 1                   # D steps per iteration
    g_steps: int = 1                   # G steps per iteration
    layers: int = 3                    # hidden layers in G and in D
    neurons: int = 128                 # units per hidden layer
    z_dim: int = 2                     # noise dimension: 1 or 2
    noise: str = "uniform"             # uniform on [-1, 1]^z_dim (GAN Lab's) | normal
    pack: int = 2                      # PacGAN: D judges this many points at once (1 = a plain GAN)
    r1: float = 0.0                    # zero-centred gradient penalty on real points (gamma); 0 = off
    spectral_norm: bool = False        # spectral normalisation of D's layers
    gp_weight: float = 1.0             # wgan-gp's penalty weight
    anneal: bool = True                # headless: learning rates fall linearly to 1% over ``steps``
    drawn: list | None = None          # the user's points [[x, y], ...] for dist=drawn

    def to_dict(self) -> dict:
        return asdict(self)


CHOICES = {"optimizer": ("adam", "sgd"), "loss": tuple(LOSSES), "noise": ("uniform", "normal"),
           "dist": tuple(DISTS)}
# fields whose change rebuilds the networks (the rest take effect on the next step)
REBUILD = {"dist", "seed", "layers", "neurons", "z_dim", "noise", "pack", "spectral_norm", "drawn"}


def plain(dist: str = "ring") -> LabSettings:
    """A plain GAN for comparison: the defaults without packing or R1 (one D, one point at a time)."""
    return LabSettings(dist=dist, pack=1, r1=0.0)


def validate(s: LabSettings) -> None:
    for key, options in CHOICES.items():
        if getattr(s, key) not in options:
            raise SettingError(key, f"{key} must be one of {', '.join(options)}, not '{getattr(s, key)}'")
    for key in ("lr_g", "lr_d"):
        if not getattr(s, key) > 0:
            raise SettingError(key, f"{key} must be a positive learning rate, not {getattr(s, key)}")
    for key, lo, hi in (("layers", 1, 8), ("neurons", 1, 1024), ("d_steps", 1, 20), ("g_steps", 1, 20),
                        ("batch_size", 2, 8192), ("steps", 1, 10_000_000), ("pack", 1, 16)):
        v = getattr(s, key)
        if not lo <= v <= hi:
            raise SettingError(key, f"{key} must be from {lo} to {hi}, not {v}")
    if s.z_dim not in (1, 2):
        raise SettingError("z_dim", f"z_dim must be 1 or 2, not {s.z_dim}")
    if s.batch_size % s.pack:
        raise SettingError("pack", f"pack {s.pack} must divide the batch size {s.batch_size}")
    if s.r1 < 0 or s.gp_weight < 0:
        raise SettingError("r1", "r1 and gp_weight must be zero or positive")
    if s.dist == "drawn":
        try:
            s.drawn = check_drawn(s.drawn if s.drawn is not None else []).tolist()
        except GanforgeError as err:
            raise SettingError("drawn", str(err)) from None


def _coerce(key: str, value, current):
    """A value from the page or the command line, as the field's type."""
    kind = type(current) if current is not None else None
    try:
        if key == "drawn":
            return value
        if isinstance(current, bool):
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind is int:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingError(key, f"{key} must be a {kind.__name__ if kind else 'value'}, not {value!r}") from None


def updated(s: LabSettings, changes: dict) -> LabSettings:
    """A validated copy of ``s`` with ``changes`` applied; unknown keys and bad values are SettingErrors."""
    names = {f.name for f in dataclasses.fields(LabSettings)}
    new = dataclasses.replace(s)
    for key, value in changes.items():
        if key not in names:
            raise SettingError(key, f"unknown lab setting '{key}'; settings: {', '.join(sorted(names))}")
        setattr(new, key, _coerce(key, value, getattr(s, key)))
    validate(new)
    return new
