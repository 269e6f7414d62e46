"""Held-out images: a slice of real images D never trains on, so that ADA can tell overfitting
(D scores its training images higher than unseen ones) from mere confidence.

Where ``data.limit`` leaves images of a named dataset unused, the held-out slice comes from those and
training keeps every image it asked for; otherwise the slice is lent from the training images
(class-balanced where there are labels), and the run trains on the rest.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ganforge.data import ImageData, subset
from ganforge.errors import GanforgeError


@dataclasses.dataclass
class HeldOut:
    """The held-out images (uint8, N C H W) and their labels (None when unlabelled)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    note: str  # where they came from, for the run's first lines


def size(n: int, share: float) -> int:
    """How many of ``n`` images a held-out share of ``share`` sets aside (at least one)."""
    return max(1, math.ceil(share * n))


def split(data: ImageData, cfg, share: float, batch_size: int) -> tuple[ImageData, HeldOut]:
    """(the images to train on, the held-out ones) for a dataset loaded with ``DataConfig`` ``cfg``.

    The choice is seeded by ``data.limit_seed``, so a resumed run and runs with other training
    seeds hold out the same images."""
    if data.images is None:
        raise GanforgeError("train.ada_signal=rv needs the images in memory, and this folder is streamed from disk; "
                            "raise data.max_memory_gb, or use train.ada_signal=rt")
    n, h = len(data), size(len(data), share)
    spare = _outside_limit(data, cfg, h)
    if spare is not None:
        return data, spare
    if n - h < batch_size:
        raise GanforgeError(f"train.ada_holdout={share} holds out {h} of {n} images and leaves {n - h} to train on, "
                            f"fewer than the batch size {batch_size}; lower train.ada_holdout or the batch size")
    pick = subset.pick(n, h, data.labels, cfg.limit_seed)
    keep = torch.ones(n, dtype=torch.bool)
    keep[pick] = False
    train = dataclasses.replace(data, images=data.images[keep],
                                labels=data.labels[keep] if data.labels is not None else None)
    held = HeldOut(data.images[pick], data.labels[pick] if data.labels is not None else None,
                   f"{h:,} of the {n:,} images held out of training for ADA's rv signal (train.ada_holdout={share})")
    return train, held


def _outside_limit(data: ImageData, cfg, h: int) -> HeldOut | None:
    """``h`` images of a named dataset that ``data.limit`` left out, or None where there are not enough."""
    if cfg.limit is None or cfg.name == "folder":
        return None
    from ganforge.data import load_dataset  # the whole split again: one read of the cache

    full = load_dataset(dataclasses.replace(cfg, limit=None))
    if len(full) - len(data) < h:
        return None
    used = torch.zeros(len(full), dtype=torch.bool)
    used[subset.pick(len(full), cfg.limit, full.labels, cfg.limit_seed)] = True
    rest = torch.nonzero(~used).flatten()
    labels = full.labels[rest] if full.labels is not None else None
    chosen = rest[subset.pick(len(rest), h, labels, cfg.limit_seed + 1)]
    return HeldOut(full.images[chosen], full.labels[chosen] if full.labels is not None else None,
                   f"{h:,} images outside data.limit's {len(data):,} held out for ADA's rv signal")
