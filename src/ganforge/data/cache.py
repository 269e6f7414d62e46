"""Decoded datasets cached on disk as uint8 safetensors, keyed by source and options.

A cache file is written to a temp name and renamed, so an interrupted write is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganforge.data.paths import cache_root

CACHE_VERSION = 1  # bump when decoding changes, so old caches are not reused


def key(parts: dict) -> str:
    blob = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def files_fingerprint(files: list[Path]) -> str:
    """Hash of names, sizes and modification times: changes when any file does."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def path_for(name: str, k: str) -> Path:
    return cache_root() / "decoded" / f"{name}-{k}.safetensors"


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    if not path.is_file():
        return None
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, "pt") as f:
            meta = json.loads((f.metadata() or {}).get("info", "{}"))
        return tensors, meta
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError):
        return None  # damaged cache: decode again and overwrite


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata={"info": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
