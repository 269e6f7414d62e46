"""Checkpoints that resume exactly, written atomically, never pickling code.

A checkpoint ``ckpt-SSSSSSSS`` is two files:

- ``.safetensors``: weights (``G.*``, ``D.*``, ``G_ema.*``) as plain tensors, with metadata
  holding the architecture and constructor arguments as JSON (enough to rebuild G alone);
- ``.state.pt``: optimizers, step counters, data position, RNG states and fixed noise; loaded
  with ``weights_only=True``.

The state file is written first and the weights file last, each to a temp name then renamed, so
a checkpoint whose weights file exists was complete when written. Files still get damaged after the
fact (a copy that broke off, a full disk, a lost power), so readers ask ``newest_complete``, which
checks both files cheaply (the safetensors header against the file's size, the state file's zip
directory) and passes over damaged ones, saying which and why. Generator snapshots
(``generator-*.safetensors``) hold G alone, like the Keras program's saved generator.
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.errors import GanforgeError
from ganforge.files import atomic_write

CKPT_RE = re.compile(r"^ckpt-(\d+)\.safetensors$")


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
    atomic_write(path, lambda p: save_file(tensors, p, metadata={"ganforge": json.dumps(meta)}))


def save(ckpt_dir: Path, step: int, modules: dict[str, torch.nn.Module], meta: dict, state: dict,
         name: str | None = None) -> Path:
    """Write checkpoint ``ckpt-<step>`` (or ``name``, e.g. ``best``, which pruning leaves alone)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = ckpt_dir / (name or f"ckpt-{step:08d}")
    atomic_write(stem.with_suffix(".state.pt"), lambda p: torch.save(state, p))
    weights = stem.with_suffix(".safetensors")
    save_weights(weights, modules, {**meta, "step": step})
    return weights


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := CKPT_RE.match(p.name))]
    return sorted(found)


def latest(ckpt_dir: Path) -> Path | None:
    """The newest checkpoint by name, complete or not (see ``newest_complete``)."""
    found = list_checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def state_path(weights: Path) -> Path:
    return weights.with_name(weights.name.replace(".safetensors", ".state.pt"))


def weights_problem(path: Path) -> str | None:
    """Why a .safetensors file cannot be read whole, or None. Reads only the header: its 8-byte length,
    the JSON, and the end of the last tensor's bytes, which must be the end of the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "empty file" if size == 0 else f"cut short ({size} bytes)"
            n = struct.unpack("<Q", head)[0]
            starts_json = f.read(1) == b"{"
            if not starts_json or n > 100_000_000:
                return "not a safetensors file"
            if n > size - 8:
                return f"cut short ({size} bytes, less than its {n}-byte header)"
            f.seek(8)
            header = json.loads(f.read(n))
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as err:
        return f"unreadable header ({type(err).__name__})"
    if not isinstance(header, dict):
        return "unreadable header"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
            and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2]
    expected = 8 + n + max(ends, default=0)
    if expected != size:
        return f"cut short ({size} of {expected} bytes)" if size < expected else f"{size - expected} bytes too long"
    if "ganforge" not in (header.get("__metadata__") or {}):
        return "not written by ganforge (no ganforge metadata)"
    return None


def state_problem(path: Path) -> str | None:
    """Why a .state.pt file cannot be loaded, or None: torch.save writes a zip archive, whose
    directory sits at the end, so a file cut short or of another format fails to open."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with zipfile.ZipFile(path) as z:
            size = path.stat().st_size
            if any(i.header_offset + i.compress_size > size for i in z.infolist()):
                return "cut short"
    except FileNotFoundError:
        return "missing"
    except (OSError, zipfile.BadZipFile, ValueError):
        return "not a PyTorch state file, or cut short"
    return None


def problem(weights: Path, need_state: bool = True) -> str | None:
    """Why this checkpoint is incomplete (naming the file at fault), or None."""
    why = weights_problem(weights)
    if why:
        return f"{weights.name}: {why}"
    if need_state:
        sp = state_path(weights)
        why = state_problem(sp)
        if why:
            return f"{sp.name}: {why}"
    return None


def newest_complete(ckpt_dir: Path, need_state: bool = True, warn=None) -> Path | None:
    """The newest checkpoint whose files are complete. Each newer damaged one is reported in one line
    (to ``warn``, default stderr) naming the file and what is wrong with it. With checkpoints present
    but none complete, a one-line error names them all."""
    found = list_checkpoints(ckpt_dir)
    skipped = []
    for _, p in reversed(found):
        why = problem(p, need_state)
        if why is None:
            for line in skipped:
                (warn or _stderr)(f"warning: skipped newer checkpoint {line}; using {p.name}")
            return p
        skipped.append(why)
    if skipped:
        raise GanforgeError(f"no complete checkpoint in {ckpt_dir}: " + "; ".join(skipped)
                            + "; start the run again, or restore the files from a copy")
    return None


def set_aside_newer(ckpt_dir: Path, resumed: Path) -> list[Path]:
    """Rename the files of checkpoints newer than ``resumed`` (damaged ones: ``newest_complete`` chose
    ``resumed``) to ``*.damaged``, so that training from ``resumed`` rewrites those steps cleanly and
    pruning counts only real checkpoints. Nothing is deleted."""
    moved = []
    for _, p in list_checkpoints(ckpt_dir):
        if p.name > resumed.name:
            for f in (p, state_path(p)):
                if f.exists():
                    dst = f.with_name(f.name + ".damaged")
                    os.replace(f, dst)
                    moved.append(dst)
    return moved


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prune(ckpt_dir: Path, keep: int, protect: set[Path] = frozenset()) -> None:
    for _, p in list_checkpoints(ckpt_dir)[:-keep]:
        if p in protect:
            continue
        p.unlink(missing_ok=True)
        state_path(p).unlink(missing_ok=True)


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
    try:
        with safe_open(path, "pt") as f:
            for k in f.keys():
                if k.startswith(prefix + "."):
                    out[k[len(prefix) + 1:]] = f.get_tensor(k)
    except (SafetensorError, OSError) as err:
        raise GanforgeError(f"{path} cannot be read ({weights_problem(path) or err}); "
                            "use an earlier checkpoint or restore the file") from None
    return out


def load_state(weights_path: Path) -> dict:
    p = state_path(weights_path)
    if not p.is_file():
        raise GanforgeError(f"{p} is missing, so {weights_path.name} cannot resume training; "
                            "use an earlier checkpoint or --init-from for weights only")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises many kinds for a damaged archive)
        raise GanforgeError(f"{p} cannot be loaded ({state_problem(p) or type(err).__name__}); "
                            "use an earlier checkpoint or --init-from for weights only") from None
