"""Defaults that depend on the data: the small-data recipe.

A run that names no preset and trains on fewer than ``SMALL`` images gets the recipe that won
``benchmarks/small_data.py`` (see the README's small-data table) for every key of it the user did not
set, and one line says so. Presets are left alone: each reproduces its program as published.
"""

from __future__ import annotations

from ganforge import config as C

SMALL = 10_000  # images
# the winner of benchmarks/small_data.py at 500 and 2,000 Fashion-MNIST images: adaptive augmentation
# without cutout (FD 22.5 against 49.9 with no augmentation at 500 images; 19.3 at 2,000)
SMALL_DATA = {"train.augment": "ada", "train.augment_policy": "translation,color"}


def small_data(cfg: C.Config, images: int) -> str | None:
    """Apply the small-data recipe where it is due; returns the line that says so, or None."""
    if getattr(cfg, "preset_named", True) or images >= SMALL:
        return None
    applied = _due(cfg)
    if not applied:
        return None
    for key, value in applied.items():
        C.set_key(cfg, key, value)
    C.validate(cfg)
    what = " ".join(f"{k}={v}" for k, v in applied.items())
    return (f"{images:,} images (fewer than {SMALL:,}) and no preset named: training with the small-data recipe "
            f"{what}; set these keys, or name a preset, to train otherwise")


def dry_run_note(cfg: C.Config) -> str | None:
    """A YAML comment for ``--dry-run``, which does not read the data: what a small dataset would add."""
    if getattr(cfg, "preset_named", True):
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
