"""Defaults that depend on the data: the resolution a folder trains at, and the small-data recipe.

Both apply only where the user chose nothing: a key set by a flag, an override or a YAML file wins, and
presets are left as published (each reproduces its program). Each says what it did in one line, and a
run's config.yaml records the recipe applied.
"""

from __future__ import annotations

from pathlib import Path

from ganforge import config as C

# ---- a folder at its own size ------------------------------------------------------------------------
SIZES = (16, 28, 32, 64, 128, 256)  # resolutions a folder trains at unless one is chosen


def folder_resolution(cfg: C.Config) -> str | None:
    """Set ``data.resolution`` of a folder to the largest of ``SIZES`` not above its images' common size, and
    of a named dataset drawn larger than the default 32 px (emoji: 64) to its own size, unless the user or the
    preset chose one; returns the line that says so, or None."""
    from ganforge.data import NATIVE_RESOLUTION

    d = cfg.data
    chosen = getattr(cfg, "user_keys", set())
    preset_data = C.PRESETS[cfg.preset].get("data", {}) if cfg.preset else {}
    if "data.resolution" in chosen or preset_data.get("name") == d.name:
        return None
    if NATIVE_RESOLUTION.get(d.name, 0) > d.resolution:
        d.resolution = NATIVE_RESOLUTION[d.name]
        return f"training at {d.resolution} px, {d.name}'s own size; --resolution N chooses another"
    if d.name != "folder":
        return None
    from ganforge.data.folder import common_side, list_images

    root = Path(d.path or ".").expanduser()
    files = list_images(root, d.pattern) if root.is_dir() else []
    side = common_side(files, d.crop) if files else None
    if side is None:
        return None  # nothing readable: loading the folder says why
    d.resolution = max([s for s in SIZES if s <= side], default=SIZES[0])
    why = "its images are" if d.resolution == side else f"the largest of {', '.join(map(str, SIZES))} not above"
    return (f"training at {d.resolution} px: {why} {side} px (most common shorter side"
            f"{f', cropped to {d.crop}' if d.crop else ''}); --resolution N chooses another")


# ---- few images ---------------------------------------------------------------------------------------
SMALL = 1_000  # images
# chosen by benchmarks/small_data.py (Fashion-MNIST at 28 px, DCGAN, 3 seeds a cell, two runs side by side on one
# thread each; FD with the Fashion-MNIST judge, mean +- se). At 500 images adaptive augmentation without cutout,
# p moving at StyleGAN2-ADA's speed (500 kimg from 0 to 1), is the only recipe ahead of none: 43.5 +- 1.0 against
# 48.1 +- 1.6 in 4 minutes. At 2,000 images nothing wins: 40.1 +- 1.3 against 42.2 +- 0.7 in 4 minutes, but
# 24.2 +- 0.8 against 22.8 +- 0.3 in 10 minutes (ADA steered by held-out images, train.ada_signal=rv: 24.3 +- 1.0).
# So from 1,000 images (between the two sizes measured) the default is no augmentation.
SMALL_DATA = {"train.augment": "ada", "train.augment_policy": "translation,color", "train.ada_kimg": 500.0}
SMALL_DATA_TAG = "ada"  # in the name of a run that got it


def small_data(cfg: C.Config, images: int) -> str | None:
    """Apply the small-data recipe where it is due; returns the line that says so, or None."""
    if cfg.preset is not None or images >= SMALL:
        return None
    applied = _due(cfg)
    if not applied:
        return None
    for key, value in applied.items():
        C.set_key(cfg, key, value)
    C.validate(cfg)
    what = " ".join(f"{k}={v}" for k, v in applied.items())
    cfg.recipe = f"small data ({images:,} images, fewer than {SMALL:,}): {what}"
    return (f"{images:,} images (fewer than {SMALL:,}) and no preset named: training with the small-data recipe "
            f"{what}; set these keys, or name a preset, to train otherwise")


def dry_run_note(cfg: C.Config) -> str | None:
    """A YAML comment for ``--dry-run``, which does not read the data: what a small dataset would add."""
    if cfg.preset is not None:
        return None
    applied = _due(cfg)
    if not applied:
        return None
    what = " ".join(f"{k}={v}" for k, v in applied.items())
    return f"# no preset named: if the data has fewer than {SMALL:,} images, training adds {what}"


def _due(cfg: C.Config) -> dict:
    """The recipe's keys the user did not set and that would change something."""
    chosen = getattr(cfg, "user_keys", set())
    out = {}
    for key, value in SMALL_DATA.items():
        section, name = key.split(".")
        if key not in chosen and getattr(getattr(cfg, section), name) != value:
            out[key] = value
    return out


def run_name(cfg: C.Config) -> str:
    """A new run's name: the preset's (with the dataset's when it is not the preset's own), or without a
    preset, what it trains: data, architecture and the recipe applied."""
    if cfg.preset is None:
        tag = f"-{SMALL_DATA_TAG}" if cfg.recipe and cfg.recipe.startswith("small data") else ""
        return f"{cfg.data.name}-{cfg.model.arch}{tag}"
    preset_data = C.PRESETS[cfg.preset].get("data", {}).get("name", "digits")
    return cfg.preset if cfg.data.name == preset_data else f"{cfg.preset}-{cfg.data.name}"
