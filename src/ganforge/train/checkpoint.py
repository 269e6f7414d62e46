"""Checkpoints that resume exactly, written atomically, never pickling code.

A checkpoint ``ckpt-SSSSSSSS`` is two files:

- ``.safetensors``: weights (``G.*``, ``D.*``, ``G_ema.*``) as plain tensors, with metadata
  holding the architecture and constructor arguments as JSON (enough to rebuild G alone);
- ``.state.pt``: optimizers, step counters, data position, RNG states and fixed noise; loaded
  with ``weights_only=True``.

The state file is written first and the weights file last, each to a temp name then renamed, so
a checkpoint whose weights file exists is complete. Generator snapshots (``generator-*.safetensors``)
hold G alone, like the Keras program's saved generator.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.errors import GanforgeError

CKPT_RE = re.compile(r"^ckpt-(\d+)\.safetensors$")


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def unwrap(m: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP / torch.compile wrappers (their keys carry prefixes)."""
    while True:
        if hasattr(m, "module") and isinstance(m.module, torch.nn.Module):  # DDP
            m = m.module
        elif hasattr(m, "_orig_mod"):  # torch.compile
            m = m._orig_mod
        else:
            return m


def save_weights(path: Path, modules: dict[str, torch.nn.Module], meta: dict) -> None:
    tensors = {}
    for prefix, m in modules.items():
        for k, v in unwrap(m).state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().to("cpu").contiguous()
    _atomic(path, lambda p: save_file(tensors, p, metadata={"ganforge": json.dumps(meta)}))


def save(ckpt_dir: Path, step: int, modules: dict[str, torch.nn.Module], meta: dict, state: dict,
         name: str | None = None) -> Path:
    """Write checkpoint ``ckpt-<step>`` (or ``name``, e.g. ``best``, which pruning leaves alone)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = ckpt_dir / (name or f"ckpt-{step:08d}")
    _atomic(stem.with_suffix(".state.pt"), lambda p: torch.save(state, p))
    weights = stem.with_suffix(".safetensors")
    save_weights(weights, modules, {**meta, "step": step})
    return weights


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := CKPT_RE.match(p.name))]
    return sorted(found)


def latest(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def prune(ckpt_dir: Path, keep: int, protect: set[Path] = frozenset()) -> None:
    for _, p in list_checkpoints(ckpt_dir)[:-keep]:
        if p in protect:
            continue
        p.unlink(missing_ok=True)
        p.with_name(p.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)


def read_meta(path: Path) -> dict:
    try:
        with safe_open(path, "pt") as f:
            return json.loads((f.metadata() or {})["ganforge"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as err:
        raise GanforgeError(f"{path} is not a ganforge checkpoint ({type(err).__name__}); "
                            "pass a .safetensors file written by ganforge train, or its run folder") from None


def load_weights(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """State dict of one network (``G``, ``D`` or ``G_ema``) from a weights file."""
    out = {}
    with safe_open(path, "pt") as f:
        for k in f.keys():
            if k.startswith(prefix + "."):
                out[k[len(prefix) + 1:]] = f.get_tensor(k)
    return out


def load_state(weights_path: Path) -> dict:
    p = weights_path.with_name(weights_path.name.replace(".safetensors", ".state.pt"))
    if not p.is_file():
        raise GanforgeError(f"{p} is missing, so {weights_path.name} cannot resume training; "
                            "use an earlier checkpoint or --init-from for weights only")
    return torch.load(p, map_location="cpu", weights_only=True)
