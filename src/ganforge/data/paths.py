"""Where datasets and caches live.

Named datasets are looked up in this order (first hit wins):

1. an explicit ``--data-dir`` (the dataset's own folder, or a root holding ``<name>/``),
2. the ``GANFORGE_DATA`` environment variable (same two forms),
3. the user cache directory (``<cache>/datasets/<name>``, where downloads land),
4. ``/usr/share/datasets/<name>`` (Debian's ``dataset-*`` packages install there).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

SYSTEM_DATA_ROOT = Path("/usr/share/datasets")


def cache_root() -> Path:
    """Root of ganforge's cache (decoded tensors, downloads). ``GANFORGE_CACHE`` overrides."""
    env = os.environ.get("GANFORGE_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("ganforge"))


def download_dir(name: str) -> Path:
    return cache_root() / "datasets" / name


def candidate_dirs(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Folders that may hold dataset ``name``, in lookup order."""
    out: list[Path] = []
    for root in (data_dir, os.environ.get("GANFORGE_DATA")):
        if root:
            root = Path(root).expanduser()
            out += [root / name, root]
    out += [download_dir(name), SYSTEM_DATA_ROOT / name]
    return out
