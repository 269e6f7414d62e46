"""What to train on: the data section of a run's config (``data.*`` keys), read by every data source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    name: str = "digits"              # digits | mnist | fashion-mnist | cifar10 | folder
    path: str | None = None           # image folder (name=folder)
    data_dir: str | None = None       # where a named dataset's files are; None = the lookup order
    split: str = "train"              # train | test
    resolution: int = 32              # side of the square training images, pixels
    channels: int | None = None       # 1 or 3; None = decided from the data
    crop: int | None = None           # centre-crop side before resizing; None = largest centred square
    pattern: str | None = None        # glob on file names (folder), e.g. "*.jpg"
    labels: bool = False              # folder: class labels from first-level subfolder names
    max_memory_gb: float = 4.0        # decoded folders larger than this stream from disk
    workers: int = 2                  # decoding processes
    download: bool = True             # fetch named datasets that are not found locally
    limit: int | None = None          # train on this many images: a fixed, seeded, class-balanced subset
    limit_seed: int = 0               # which subset data.limit picks (independent of train.seed)
