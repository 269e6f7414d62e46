"""Run folders: ``runs/NNNNN-<name>/`` with config.yaml, samples/, checkpoints/, metrics.jsonl,
TensorBoard events and a loss-curve PNG. Numbers only grow, so a run is never overwritten."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ganforge.errors import GanforgeError

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


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary name beside ``path`` (same suffix, so format-by-name writers such
    as np.save keep it), then rename: readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write
    return out
