"""Run folders: ``runs/NNNNN-<name>/`` with config.yaml, samples/, checkpoints/, metrics.jsonl,
TensorBoard events and a loss-curve PNG. Numbers only grow, so a run is never overwritten."""

from __future__ import annotations

import re
from pathlib import Path

from ganforge import checkpoint
from ganforge.errors import GanforgeError
from ganforge.files import write_text_atomic

RUN_RE = re.compile(r"^(\d{5,})-")


def new_run(runs_dir: str | Path, name: str) -> Path:
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    nums = [int(m.group(1)) for p in root.iterdir() if (m := RUN_RE.match(p.name))]
    n = max(nums, default=-1) + 1
    while True:
        path = root / f"{n:05d}-{safe}"
        try:
            path.mkdir()  # atomic: two runs started together get different numbers
            break
        except FileExistsError:
            n += 1
    (path / "samples").mkdir()
    (path / "checkpoints").mkdir()
    return path


def make_run(path: Path) -> Path:
    """The run folder ``path`` with its samples/ and checkpoints/, made if missing (``--run-dir``)."""
    path = Path(path)
    for p in (path, path / "samples", path / "checkpoints"):
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GanforgeError(f"cannot make the run folder {path}: {err.strerror}; pass another --run-dir") from None
    return path


def is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / "checkpoints").is_dir()


def find_run(arg: str | Path, runs_dir: str | Path = "runs") -> Path:
    """A run folder from its path, or from its number or full name under ``runs_dir``."""
    p = Path(arg)
    if p.is_dir():
        if not is_run(p):
            raise GanforgeError(f"{p} is not a run folder (no config.yaml and checkpoints/); "
                                "pass a folder made by `ganforge train`, like runs/00000-quick")
        return p
    root = Path(runs_dir)
    if root.is_dir() and not p.exists():
        hits = sorted(c for c in root.iterdir() if c.name == str(arg) or
                      (str(arg).isdigit() and (m := RUN_RE.match(c.name)) and int(m.group(1)) == int(arg)))
        if len(hits) == 1 and is_run(hits[0]):
            return hits[0]
    raise GanforgeError(f"run {arg} not found; pass a run folder such as {root}/00000-quick")


def resolve_checkpoint(arg: str | Path, which: str = "latest", warn=None) -> Path:
    """A weights file from a run folder (its newest complete checkpoint, or ``best``) or a
    ``.safetensors`` path. Newer damaged checkpoints are passed over with a one-line warning."""
    p = Path(arg)
    if p.is_file():
        why = checkpoint.weights_problem(p)
        if why:
            raise GanforgeError(f"{p} cannot be read ({why}); pass a complete checkpoint or its run folder")
        return p
    if p.is_dir():
        if not is_run(p):
            raise GanforgeError(f"{p} is not a run folder or checkpoint; pass runs/NNNNN-name or a .safetensors file")
        best = p / "checkpoints" / "best.safetensors"
        if which == "best" and best.is_file() and checkpoint.weights_problem(best) is None:
            return best
        found = checkpoint.newest_complete(p / "checkpoints", warn=warn)
        if found is None:
            raise GanforgeError(f"run {p} has no checkpoint yet; train longer or pass another run")
        return found
    raise GanforgeError(f"{arg} not found; pass a run folder or a .safetensors checkpoint")


def write_config(run: Path, cfg) -> None:
    """The resolved config as ``config.yaml`` in the run folder (atomically)."""
    from ganforge.config import to_yaml

    write_text_atomic(run / "config.yaml", to_yaml(cfg))
