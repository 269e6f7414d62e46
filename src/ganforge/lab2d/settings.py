"""The lab's settings: one dataclass, like the training configs, validated with one-line errors that
name the field (the page shows each beside its control)."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import asdict, dataclass

from ganforge.errors import GanforgeError
from ganforge.lab2d.dists import DISTS, MAX_POINTS, check_drawn
from ganforge.lab2d.noise import NOISES
from ganforge.lab2d.samplers import SAMPLERS
from ganforge.losses import LOSSES


class SettingError(GanforgeError):
    """A bad value for one field; ``field`` names it so that a page can show the message beside it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class LabSettings:
    dist: str = "ring"                 # see ganforge.lab2d.dists.DISTS; "drawn" uses ``drawn``
    steps: int = 5000                  # headless: training iterations (about 35 s on one CPU thread here)
    seconds: float | None = None       # headless: also stop after this many seconds of training (a budget)
    seed: int = 0
    batch_size: int = 192              # points per D and G step (192: a default trial within 60 s, measured)
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    optimizer_g: str = "adam"          # G's optimizer: adam | sgd
    optimizer_d: str = "adam"          # D's optimizer: adam | sgd
    beta1: float = 0.5                 # Adam's first-moment decay
    beta2: float = 0.99                # Adam's second-moment decay
    loss: str = "bce"                  # the losses of ganforge.losses: bce | hinge | wgan-gp | lsgan
    d_steps: int = 2                   # D steps per iteration (2: modes missed fell from 5 of 49 to 1, measured)
    g_steps: int = 1                   # G steps per iteration
    model: str = "lab"                 # lab: MLPs, D per point and per pack | pacgan: PacGAN's own networks
    layers: int = 3                    # hidden layers in G and in D (model lab)
    neurons: int = 96                  # units per hidden layer (model lab; 96 beat 128 at 5,000 steps, measured)
    z_dim: int = 2                     # noise dimension: 1 or 2
    noise: str = "data"                # data: a Gaussian per separate piece of the data, placed, shaped and weighted
                                       # like it (uniform for one piece or strokes) | uniform on [-1, 1]^z_dim (GAN
                                       # Lab's) | normal | mixture (separate Gaussians) | learned (DeLiGAN)
    components: int = 25               # noise=mixture or learned: Gaussians spread evenly over [-1, 1]^z_dim
    component_std: float = 0.01        # noise=mixture or learned: their standard deviation (at the start)
    pack: int = 2                      # PacGAN: D judges this many points at once (1 = a plain GAN)
    r1: float = 0.0                    # zero-centred gradient penalty on real points (gamma); 0 = off
    spectral_norm: bool = False        # spectral normalisation of D's layers (model lab)
    gp_weight: float = 1.0             # wgan-gp's penalty weight
    anneal: bool = True                # learning rates fall linearly to 1% over ``steps`` (live too), then stay
    sampler: str = "plain"             # how points are drawn from G: plain | rejection | refine | both
    threads: int = 1                   # CPU threads (one is the fastest for networks this small; measured)
    drawn: list | None = None          # the user's points [[x, y], ...]: dist=drawn (clicked) or points (a CSV)

    def to_dict(self) -> dict:
        return asdict(self)


CHOICES = {"optimizer_g": ("adam", "sgd"), "optimizer_d": ("adam", "sgd"), "loss": tuple(LOSSES),
           "noise": NOISES, "dist": tuple(DISTS), "model": ("lab", "pacgan"), "sampler": SAMPLERS}
# fields whose change rebuilds the networks (the rest take effect on the next step)
REBUILD = {"dist", "seed", "layers", "neurons", "z_dim", "noise", "components", "component_std", "pack",
           "spectral_norm", "drawn", "model"}


def plain(dist: str = "ring") -> LabSettings:
    """A plain GAN for comparison: one D judging one point at a time, GAN Lab's uniform noise, no sampler."""
    return LabSettings(dist=dist, pack=1, r1=0.0, noise="uniform", sampler="plain")


def pacgan(dist: str = "ring", pack: int = 2) -> LabSettings:
    """PacGAN's own toy setup (Lin et al. 2018): its networks, N(0, I) 2-D noise, Adam at 1e-4 with
    beta1 0.8, batches of 100, no annealing; ``pack`` points joined into D's input."""
    return LabSettings(dist=dist, model="pacgan", noise="normal", lr_g=1e-4, lr_d=1e-4, beta1=0.8, beta2=0.999,
                       batch_size=100, pack=pack, anneal=False)


# layers x neurons^2 x batch x (D steps + G steps): about 0.2 ns each on one CPU thread here, so the
# limit keeps one phase (a D or a G step) under about 0.3 s and an iteration near a second at most
COST_LIMIT = 2.5e9
COST_FIELDS = ("neurons", "layers", "batch_size", "d_steps", "g_steps")
MAX_COORD = 1e6          # |x|, |y| of a drawn or uploaded point
SEED_LIMIT = 2 ** 63


def step_cost(s: LabSettings) -> float:
    layers, neurons = (4, 400) if s.model == "pacgan" else (s.layers, s.neurons)
    return layers * neurons ** 2 * s.batch_size * (s.d_steps + s.g_steps)


def validate(s: LabSettings, changed=()) -> None:
    """Every field in range; ``changed`` (the keys just set) picks which field a combined limit names."""
    for key, options in CHOICES.items():
        if getattr(s, key) not in options:
            raise SettingError(key, f"{key} must be one of {', '.join(options)}, not '{getattr(s, key)}'")
    for key in ("lr_g", "lr_d"):
        v = getattr(s, key)
        if not (math.isfinite(v) and 0 < v <= 1):
            raise SettingError(key, f"{key} must be a positive learning rate of at most 1, not {v}")
    for key, hi in (("r1", 1000.0), ("gp_weight", 1000.0)):
        v = getattr(s, key)
        if not (math.isfinite(v) and 0 <= v <= hi):
            raise SettingError(key, f"{key} must be from 0 to {hi:g}, not {v}")
    for key, lo, hi in (("layers", 1, 8), ("neurons", 1, 1024), ("d_steps", 1, 20), ("g_steps", 1, 20),
                        ("batch_size", 2, 8192), ("steps", 1, 10_000_000), ("pack", 1, 16),
                        ("seed", 0, SEED_LIMIT - 1), ("components", 1, 256), ("threads", 1, 64)):
        v = getattr(s, key)
        if not lo <= v <= hi:
            raise SettingError(key, f"{key} must be from {lo} to {hi}, not {v}")
    for key in ("beta1", "beta2"):
        v = getattr(s, key)
        if not (math.isfinite(v) and 0 <= v < 1):
            raise SettingError(key, f"{key} must be from 0 to just under 1, not {v}")
    if not (math.isfinite(s.component_std) and 0 < s.component_std <= 1):
        raise SettingError("component_std", f"component_std must be above 0 and at most 1, not {s.component_std}")
    if s.seconds is not None and not (math.isfinite(s.seconds) and 0 < s.seconds <= 86400):
        raise SettingError("seconds", f"seconds must be a positive time budget of at most a day, not {s.seconds}")
    if s.z_dim not in (1, 2):
        raise SettingError("z_dim", f"z_dim must be 1 or 2, not {s.z_dim}")
    if s.batch_size % s.pack:
        raise SettingError("pack", f"pack {s.pack} must divide the batch size {s.batch_size}")
    cost = step_cost(s)
    if cost > COST_LIMIT:
        field = next((k for k in changed if k in COST_FIELDS), "neurons")
        others = ", ".join(k for k in COST_FIELDS if k != field)
        raise SettingError(field, f"a step would cost layers x neurons^2 x batch x (D + G steps) = {cost:.2g}, over "
                                  f"the lab's {COST_LIMIT:.2g} (about a second a step); lower {field} (or {others})")
    if s.drawn is not None or s.dist in ("drawn", "points"):
        try:
            s.drawn = check_drawn(s.drawn if s.drawn is not None else [], MAX_POINTS, MAX_COORD).tolist()
        except GanforgeError as err:
            raise SettingError("drawn", str(err)) from None


def _coerce(key: str, value, current):
    """A value from the page (JSON) or the command line (text), as the field's type, strictly: a switch
    is true/false or 1/0, a whole number is not a boolean or a fraction, a number is finite."""
    if key == "drawn":
        return value
    if key in OPTIONAL_FLOATS:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        current = 0.0
    kind = type(current)
    bad = SettingError(key, f"{key} must be {_KIND_WORDS.get(kind, 'a value')}, not {_shown(value)}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise bad
    if kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]{1,20}\s*", value):
            return int(value)
        raise bad
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad
        try:
            v = float(value)
        except ValueError:
            raise bad from None
        if not math.isfinite(v):
            raise SettingError(key, f"{key} must be a finite number, not {_shown(value)}")
        return v
    if not isinstance(value, str):
        raise bad
    return value


OPTIONAL_FLOATS = {"seconds"}  # numbers that may also be none
_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a word"}


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def updated(s: LabSettings, changes: dict) -> LabSettings:
    """A validated copy of ``s`` with ``changes`` applied; unknown keys and bad values are SettingErrors."""
    names = {f.name for f in dataclasses.fields(LabSettings)}
    new = dataclasses.replace(s)
    for key, value in changes.items():
        if key not in names:
            raise SettingError(str(key)[:40], f"unknown lab setting '{str(key)[:40]}'; settings: {', '.join(sorted(names))}")
        setattr(new, key, _coerce(key, value, getattr(s, key) if key != "drawn" else None))
    validate(new, tuple(changes))
    return new
