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

from ganforge.config_check import CHOICES, validate  # noqa: F401 (part of this module's interface)
from ganforge.data.spec import DataConfig
from ganforge.errors import GanforgeError
from ganforge.presets import PRESETS


@dataclass
class ModelConfig:
    arch: str = "dcgan"               # a model family of ganforge.models.families.FAMILIES
    z_dim: int = 100                  # latent size
    z_dist: str = "normal"            # normal (N(0, 1)) | uniform (U[-1, 1])
    ngf: int = 64                     # G width: channels of the last hidden layer (the DCGAN families)
    ndf: int = 64                     # D width: channels of the first layer (the DCGAN families)
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
    augment_policy: str = "translation,cutout,color"  # comma-separated: translation, cutout, color (DiffAugment's);
    # xflip, rotate90, xint, scale, adacolor (StyleGAN2-ADA's; with ada keep p under about 0.8, where they start to leak)
    augment_p: float = 0.0            # ada: the probability p starts at (StyleGAN2-ADA's --p)
    ada_signal: str = "rt"            # ada: what steers p: rt (D's confidence on training images, E[sign(D(x))])
    # | rv (how much better D scores training images than held-out ones: overfitting itself)
    ada_holdout: float = 0.1          # ada with rv: share of images held out of training to measure it on
    ada_target: float = 0.6           # ada: the signal's target; above it p rises, below it p falls
    ada_kimg: float = 100.0           # ada: thousands of images for p to move from 0 to 1 at most
    ada_interval: int = 4             # ada: steps between adjustments of p
    batch_size: int = 64              # images per D step (global across processes)
    steps: int | None = 1000          # iterations (one iteration = d_steps D steps + g_steps G steps)
    epochs: float | None = None       # alternative to steps: passes over the data; wins when set
    minutes: float | None = None      # a budget: this much training time in all (earlier segments count); without
    # steps or epochs set, the run's length; the learning-rate decay ends with it (``ganforge.training.schedule``)
    lr_decay: str = "none"            # learning rates over the run: none | linear (to 0 at the end) | cosine
    d_steps: int = 1                  # D steps per iteration (5 is usual for wgan-gp)
    g_steps: int = 1                  # G steps per iteration (2 is the TensorFlow DCGAN's trick)
    d_update: str = "joint"           # joint: one D step on real+fake | separate: one on real, one on fake
    ema: float = 0.0                  # a fixed decay of an EMA copy of G (e.g. 0.999); 0 = none (or ema_kimg's)
    ema_kimg: float = 0.0             # EMA of G with this half-life in thousands of images (StyleGAN2-ADA: 10); 0 = none
    ema_rampup: float | None = None   # the EMA's half-life at most this times the images seen (StyleGAN2-ADA: 0.05)
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
    preset: str | None = None         # the preset named; None: none (ganforge's defaults: BASE's sizes)
    recipe: str | None = None         # a default that depends on the data, applied (``ganforge.recipes``)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)


SECTIONS = ("data", "model", "optim", "train")
BASE = "fast"  # the preset whose values a run without a preset starts from

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
    close = similar_keys(key)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise GanforgeError(f"unknown config key '{key}'; {hint}see `ganforge train --dry-run` for all keys")


def similar_keys(key: str) -> list[str]:
    """Full keys whose field name is close to ``key``'s (``train.lr`` -> optim.lr_g, optim.lr_d): the field
    is what people misremember; the section they write may be the wrong one."""
    section, _, name = key.rpartition(".")
    fields = {f: s for s in SECTIONS for f in _fields(s)}
    by_name = [f"{fields[f]}.{f}" for f in difflib.get_close_matches(name, fields, n=3, cutoff=0.6)]
    if by_name:
        best = difflib.SequenceMatcher(None, name, by_name[0].split(".")[1]).ratio()
        return [k for k in by_name if difflib.SequenceMatcher(None, name, k.split(".")[1]).ratio() >= best - 0.05]
    return difflib.get_close_matches(key, all_keys(), n=1)


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
        if section in ("_doc", "preset", "recipe"):
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
    named = preset or (tree.get("preset") if isinstance(tree, dict) else None)
    cfg = from_preset(named or BASE)
    cfg.preset = named or None
    if tree:
        apply_tree(cfg, tree, f"config file {yaml_file}")
    apply_overrides(cfg, flags, overrides)
    cfg.user_keys = user_keys(tree, flags, overrides)  # what the user chose, for ``ganforge.recipes``
    t = cfg.train
    if t.minutes and not cfg.user_keys & {"train.steps", "train.epochs"}:
        t.steps = t.epochs = None  # a budget with no length asked for: the minutes are the length
    if "train.ema" in cfg.user_keys and "train.ema_kimg" not in cfg.user_keys:
        t.ema_kimg = 0.0  # a fixed decay asked for replaces the default half-life
    validate(cfg)
    return cfg


def user_keys(tree: dict, flags: dict | None, overrides: list[str]) -> set[str]:
    """'section.field' of every key a YAML file, a flag or an override set."""
    keys = {FLAG_KEYS[f] for f, v in (flags or {}).items() if v is not None and f in FLAG_KEYS}
    keys |= {".".join(resolve_key(split_override(item)[0])) for item in overrides}
    for section, values in (tree.items() if isinstance(tree, dict) else ()):
        if section in SECTIONS and isinstance(values, dict):
            keys |= {f"{section}.{name}" for name in values}
        elif section not in ("_doc", "preset", "recipe"):
            keys.add(".".join(resolve_key(section)))
    return keys


def split_override(item) -> tuple[str, object]:
    """An override as (key, value): from ``'key=value'`` (the command line; the value is read as YAML) or a
    ``(key, value)`` pair (the Python API; the value as given)."""
    if isinstance(item, tuple) and len(item) == 2:
        return str(item[0]).strip(), item[1]
    if not isinstance(item, str) or "=" not in item:
        raise GanforgeError(f"override '{item}' is not key=value (e.g. train.steps=500)")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def requested_device(flag: str | None, overrides: list[str], config_file: str | None) -> str:
    """``train.device`` as a command asks for it (flag, override, config file), read before anything is
    built: several processes need to know whether to take a GPU each before they join their group."""
    if flag:
        return flag
    for item in reversed(overrides):
        try:
            key, value = split_override(item)
            if resolve_key(key) == ("train", "device"):
                return str(value)
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
        key, value = split_override(item)
        set_key(cfg, key, value)


def to_yaml(cfg: Config) -> str:
    """The resolved config; a run without a preset says so (and what a recipe changed) in a comment."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    if cfg.preset is None:
        head = f"# no preset named: ganforge's defaults (the {BASE} preset's values) with the keys set below"
        if cfg.recipe:
            head += f"\n# and a recipe for this data: {cfg.recipe}"
        text = head + "\n" + text
    return text


def from_dict(tree: dict) -> Config:
    """Rebuild a Config from ``to_dict()`` output (a run's config.yaml); unknown keys are an error."""
    cfg = Config(preset=tree.get("preset"), recipe=tree.get("recipe"))
    apply_tree(cfg, {k: v for k, v in tree.items() if k not in ("preset", "recipe")}, "saved config")
    return cfg
