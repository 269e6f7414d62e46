"""What ``ganforge data`` shows of a dataset: where each named one was found, and a grid of real images
(a row per class when it has classes)."""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.data import DATASETS, ImageData, cifar, emoji, idx
from ganforge.data.paths import candidate_dirs
from ganforge.errors import GanforgeError

_HAS_FILES = {"mnist": lambda d: idx.has_split(d, "train"), "fashion-mnist": lambda d: idx.has_split(d, "train"),
              "cifar10": cifar.has_files}


def where_found(name: str) -> str:
    """Where ``name``'s files are on this machine, in words."""
    if name == "digits":
        return "bundled"
    if name == "folder":
        return "your folder"
    if name == "emoji":
        try:
            return str(emoji.find(None))
        except GanforgeError:
            return f"not found locally (npm install {emoji.PACKAGE}@16, then --data-dir or GANFORGE_DATA)"
    check = _HAS_FILES.get(name)
    hit = next((d for d in candidate_dirs(name, None) if d.is_dir() and check(d)), None) if check else None
    return str(hit) if hit else "not found locally (downloaded on first use)"


def listing() -> list[tuple[str, str, str]]:
    """(name, description, where found) of every dataset."""
    return [(name, desc, where_found(name)) for name, desc in DATASETS.items()]


def preview_images(data: ImageData, per: int = 8) -> tuple[torch.Tensor, list[str] | None]:
    """Real images for a grid of ``per`` columns: a row per class (short classes padded with white), or
    64 seeded random ones, and the row labels."""
    if data.images is None:  # streamed from disk: the first decodable ones
        items = [data.stream[i] for i in range(min(len(data), 64))]
        return torch.stack([it[0] for it in items if it is not None]), None
    if data.labels is not None and data.classes:
        picks, row_labels = [], []
        for c, name in enumerate(data.classes):
            found = (data.labels == c).nonzero().flatten()[:per]
            if len(found):
                row = data.images[found]
                if len(found) < per:
                    row = torch.cat([row, torch.full((per - len(found), *row.shape[1:]), 255, dtype=torch.uint8)])
                picks.append(row)
                row_labels.append(name if name == str(c) else f"{c}: {name}")
        return torch.cat(picks), row_labels
    g = torch.Generator().manual_seed(0)
    return data.images[torch.randperm(len(data), generator=g)[:64]], None


def default_preview_path(data: ImageData) -> Path:
    return Path(f"{data.name}-preview.png")
