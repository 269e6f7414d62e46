"""Run configuration: small typed dataclasses per concern, named presets, validated overrides.

A config is built as: preset -> YAML file (``--config``) -> ``key=value`` overrides and flags.
Keys are ``section.field`` (``train.steps``) or a bare field name when it is unique. Unknown keys
and badly typed values are errors that name the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ganforge.data.spec import DataConfig
from ganforge.errors import GanforgeError
from ganforge.presets import PRESETS


@dataclass
class ModelConfig:
    arch: str = "dcgan"               # mlp | dcgan | cdcgan | keras-cifar
    z_dim: int = 100                  # latent size
    z_dist: str = "normal"            # normal (N(0, 1)) | uniform (U[-1, 1])
    ngf: int = 64                     # G width: channels of the last hidden layer (dcgan, cdcgan)
    ndf: int = 64                     # D width: channels of the first layer (dcgan, cdcgan)
    hidden: int = 256                 # mlp: first hidden width; cdcgan: fully connected width
    dropout: float = 0.0              # D dropout probability (mlp, keras-cifar)
    spectral_norm: bool = False       # spectral normalisation of D's convolutional and linear layers


@dataclass
class OptimConfig:
    lr_g: float = 2e-4                # Adam learning rate of G
    lr_d: float = 2e-4                # Adam learning rate of D
    beta1: float = 0.5
    beta2: float = 0.999


@dataclass
class TrainConfig:
    loss: str = "bce"                 # bce (non-saturating, on logits) | hinge | wgan-gp | lsgan
    label_smoothing: float = 0.0      # one-sided: D's real target is 1 - this (bce, lsgan)
    gp_weight: float = 10.0           # gradient-penalty weight (wgan-gp)
    r1: float = 0.0                   # R1: zero-centred gradient penalty on real images, weight gamma; 0 = off
    r1_every: int = 1                 # lazy R1: every k D steps, weighted k times (16 in StyleGAN2)
    augment: str = "none"             # what D sees: none | diffaug (always augmented) | ada (adaptive p)
    augment_policy: str = "translation,cutout,color"  # comma-separated: translation, cutout, color
    augment_p: float = 0.0            # ada: the probability p starts at (StyleGAN2-ADA's --p)
    ada_target: float = 0.6           # ada: target share of real images D scores as real, E[sign(D(x))]
    ada_kimg: float = 100.0           # ada: thousands of images for p to move from 0 to 1 at most
    ada_interval: int = 4             # ada: steps between adjustments of p
    batch_size: int = 64              # images per D step (global across processes)
    steps: int | None = 1000          # iterations (one iteration = d_steps D steps + g_steps G steps)
    epochs: float | None = None       # alternative to steps: passes over the data; wins when set
    minutes: float | None = None      # also stop after this much training time (checkpoint saved)
    d_steps: int = 1                  # D steps per iteration (5 is usual for wgan-gp)
    g_steps: int = 1                  # G steps per iteration (2 is the TensorFlow DCGAN's trick)
    d_update: str = "joint"           # joint: one D step on real+fake | separate: one on real, one on fake
    ema: float = 0.0                  # decay of an EMA copy of G (e.g. 0.999); 0 = none
    sample_every: int = 200           # steps between sample grids
    ckpt_every: int = 1000            # steps between checkpoints
    log_every: int = 20               # steps between metric records
    eval_every_epochs: int = 0        # every K epochs: D accuracy on real/fake, sample plot, G snapshot
    keep_ckpts: int = 3               # newest checkpoints kept (older ones deleted)
    eval_every: int = 0               # steps between quality evaluations (0 = none); best kept as `best`
    eval_metrics: str = "fd"          # comma-separated (see `ganforge eval --help`); the first picks `best`
    eval_samples: int = 5000          # generated images per evaluation
    seed: int = 0
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    threads: int | None = None        # CPU threads; None = PyTorch's default
    sync_bn: bool = False             # several GPUs: BatchNorm statistics over the global batch
    channels_last: bool = True        # NHWC memory layout for conv models (faster convolutions)
    amp: str = "auto"                 # mixed precision: auto (bf16/fp16 on CUDA, off on CPU) | off | bf16 | fp16
    cudnn_benchmark: bool = True      # CUDA: let cuDNN pick the fastest convolution algorithms
    compile: bool = False             # torch.compile the training forwards (first steps pay the compile)
    runs_dir: str = "runs"            # parent of run folders
    name: str | None = None           # run name; None = the preset's


@dataclass
class Config:
    preset: str = "quick"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)


SECTIONS = ("data", "model", "optim", "train")

# Fields with a fixed set of words. YAML 1.1 reads on/off/yes/no as booleans; ganforge reads YAML with
# only true/false as booleans (``StrictLoader``), so a word like ``off`` stays the word it is.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.split": ("train", "test"),
    "model.z_dist": ("normal", "uniform"),
    "train.d_update": ("joint", "separate"),
    "train.amp": ("auto", "off", "bf16", "fp16"),
    "train.augment": ("none", "diffaug", "ada"),
}


class StrictLoader(yaml.SafeLoader):
    """YAML's safe loader with the YAML 1.2 booleans (true/false) only: ``amp: off`` is the word
    'off', not False. Bool fields still accept on/off/yes/no (see ``_coerce``)."""


StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str):
    return yaml.load(text, Loader=StrictLoader)

# Short command-line flags -> config keys.
FLAG_KEYS = {
    "data": "data.name", "path": "data.path", "data_dir": "data.data_dir", "resolution": "data.resolution",
    "arch": "model.arch", "steps": "train.steps", "epochs": "train.epochs", "batch_size": "train.batch_size",
    "g_steps": "train.g_steps", "d_steps": "train.d_steps", "loss": "train.loss", "seed": "train.seed",
    "device": "train.device", "name": "train.name", "runs_dir": "train.runs_dir", "ema": "train.ema",
    "minutes": "train.minutes", "eval_every": "train.eval_every", "eval_metrics": "train.eval_metrics",
}


def _fields(section: str) -> dict[str, dataclasses.Field]:
    cls = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "train": TrainConfig}[section]
    return {f.name: f for f in dataclasses.fields(cls)}


def all_keys() -> list[str]:
    return [f"{s}.{f}" for s in SECTIONS for f in _fields(s)]


def resolve_key(key: str) -> tuple[str, str]:
    """'train.steps' or 'steps' (or 'batch-size') -> ('train', 'steps'); unknown keys are an error."""
    key = key.replace("-", "_")
    if "." in key:
        section, name = key.split(".", 1)
        if section in SECTIONS and name in _fields(section):
            return section, name
    else:
        hits = [s for s in SECTIONS if key in _fields(s)]
        if len(hits) == 1:
            return hits[0], key
        if len(hits) > 1:
            raise GanforgeError(f"'{key}' is ambiguous; write one of {', '.join(f'{h}.{key}' for h in hits)}")
    known = all_keys()
    close = difflib.get_close_matches(key, known + [k.split('.')[1] for k in known], n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise GanforgeError(f"unknown config key '{key}'; {hint}see `ganforge train --dry-run` for all keys")


def _coerce(value, annotation, where: str):
    """Check/convert ``value`` to the field's declared type (int, float, str, bool, or X | None)."""
    ann = eval(annotation, {"int": int, "float": float, "str": str, "bool": bool, "None": None}) \
        if isinstance(annotation, str) else annotation
    args = typing.get_args(ann) if isinstance(ann, types.UnionType) else (ann,)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if type(None) in args:
            return None
        if value is not None and str in args:  # a word field (train.augment=none) keeps the word
            return value
        raise GanforgeError(f"{where} cannot be empty")
    for t in args:
        if t is type(None):
            continue
        if t is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                return value.lower() in ("true", "yes", "on", "1")
        elif t is int and not isinstance(value, bool):
            if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value)
                except ValueError:
                    pass
        elif t is float and not isinstance(value, bool):
            try:
                return float(value)
            except (TypeError, ValueError):
                pass
        elif t is str:
            return str(value)
    names = " or ".join("none" if t is type(None) else t.__name__ for t in args)
    raise GanforgeError(f"{where} must be {names}, not {value!r}")


def set_key(cfg: Config, key: str, value) -> None:
    section, name = resolve_key(key)
    f = _fields(section)[name]
    if isinstance(value, str):
        try:
            value = parse_yaml(value) if value != "" else None
        except yaml.YAMLError:
            pass
    setattr(getattr(cfg, section), name, _coerce(value, f.type, f"{section}.{name}"))


def apply_tree(cfg: Config, tree: dict, where: str) -> None:
    """Apply a nested {section: {field: value}} mapping (a preset or a YAML file)."""
    if not isinstance(tree, dict):
        raise GanforgeError(f"{where} must be a mapping of sections (data, model, optim, train)")
    for section, values in tree.items():
        if section in ("_doc", "preset"):
            continue
        if section not in SECTIONS:
            if isinstance(values, dict):
                raise GanforgeError(f"{where}: unknown section '{section}'; sections are {', '.join(SECTIONS)}")
            set_key(cfg, section, values)  # a bare key at top level
            continue
        if not isinstance(values, dict):
            raise GanforgeError(f"{where}: section '{section}' must be a mapping of keys to values")
        for name, value in values.items():
            set_key(cfg, f"{section}.{name}", value)


def from_preset(name: str) -> Config:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise GanforgeError(f"unknown preset '{name}'{hint}; presets: {', '.join(PRESETS)}")
    cfg = Config(preset=name)
    apply_tree(cfg, PRESETS[name], f"preset {name}")
    return cfg


def load_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise GanforgeError(f"config file {p} not found; check the path")
    try:
        tree = parse_yaml(p.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"config file {p} is not valid YAML{at}; fix the syntax") from None
    return tree


def build(preset: str | None = None, yaml_file: str | None = None, overrides: list[str] = (),
          flags: dict | None = None) -> Config:
    """Preset -> YAML file -> flags -> ``key=value`` overrides, then validation."""
    tree = load_yaml(yaml_file) if yaml_file else {}
    cfg = from_preset(preset or tree.get("preset") or "quick")
    if tree:
        apply_tree(cfg, tree, f"config file {yaml_file}")
    apply_overrides(cfg, flags, overrides)
    validate(cfg)
    # what the user chose, for defaults that depend on the data (``ganforge.recipes``)
    cfg.preset_named = bool(preset or (isinstance(tree, dict) and tree.get("preset")))
    cfg.user_keys = user_keys(tree, flags, overrides)
    return cfg


def user_keys(tree: dict, flags: dict | None, overrides: list[str]) -> set[str]:
    """'section.field' of every key a YAML file, a flag or an override set."""
    keys = {FLAG_KEYS[f] for f, v in (flags or {}).items() if v is not None and f in FLAG_KEYS}
    keys |= {".".join(resolve_key(item.split("=", 1)[0].strip())) for item in overrides}
    for section, values in (tree.items() if isinstance(tree, dict) else ()):
        if section in SECTIONS and isinstance(values, dict):
            keys |= {f"{section}.{name}" for name in values}
        elif section not in ("_doc", "preset"):
            keys.add(".".join(resolve_key(section)))
    return keys


def requested_device(flag: str | None, overrides: list[str], config_file: str | None) -> str:
    """``train.device`` as a command asks for it (flag, override, config file), read before anything is
    built: several processes need to know whether to take a GPU each before they join their group."""
    if flag:
        return flag
    for item in reversed(overrides):
        key, _, value = item.partition("=")
        try:
            if resolve_key(key.strip()) == ("train", "device"):
                return value.strip()
        except GanforgeError:
            pass  # reported when the config is built
    if config_file:
        tree = load_yaml(config_file)
        dev = (tree.get("train") or {}).get("device") if isinstance(tree, dict) else None
        if isinstance(dev, str):
            return dev
    return "auto"


def apply_overrides(cfg: Config, flags: dict | None, overrides: list[str]) -> None:
    """Command-line flags (``FLAG_KEYS``), then ``key=value`` overrides; a length in steps clears one
    in epochs and vice versa."""
    for flag, value in (flags or {}).items():
        if value is not None:
            set_key(cfg, FLAG_KEYS[flag], value)
            if flag == "epochs":
                cfg.train.steps = None
            if flag == "steps":
                cfg.train.epochs = None
    for item in overrides:
        if "=" not in item:
            raise GanforgeError(f"override '{item}' is not key=value (e.g. train.steps=500)")
        key, value = item.split("=", 1)
        set_key(cfg, key.strip(), value.strip())


def _choice(value, options, key):
    if value not in options:
        raise GanforgeError(f"{key} must be one of {', '.join(options)}, not '{value}'")


def validate(cfg: Config) -> None:
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
    if t.steps is None and t.epochs is None:
        raise GanforgeError("set train.steps or train.epochs (how long to train)")
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
    if d.limit is not None and d.limit < 1:
        raise GanforgeError(f"data.limit must be at least 1 image, not {d.limit}")
    _check_regularisers(t)
    if t.d_update == "separate" and t.batch_size % 2:
        raise GanforgeError(f"train.d_update=separate splits the batch in halves; use an even batch size, not {t.batch_size}")


def _check_regularisers(t: TrainConfig) -> None:
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


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def from_dict(tree: dict) -> Config:
    """Rebuild a Config from ``to_dict()`` output (a run's config.yaml); unknown keys are an error."""
    cfg = Config(preset=tree.get("preset", "quick"))
    apply_tree(cfg, {k: v for k, v in tree.items() if k != "preset"}, "saved config")
    return cfg
