"""Files written so that a reader never sees half of one: temp file then rename; and JSON-lines logs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


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


# what the writers above (and grid.atomic_save, the logger's loss curve) name their temp files
TEMP_RE = re.compile(r"^\..+\.tmp(?:-(\d+))?(?:\.|$)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(folder: Path) -> list[Path]:
    """Temp files in ``folder`` (and below) that a writer which died mid-write left behind: their process
    is gone (or unnamed), so no rename will ever come for them."""
    out = []
    for p in sorted(Path(folder).rglob(".*")):
        m = TEMP_RE.match(p.name)
        if m and p.is_file():
            pid = int(m.group(1)) if m.group(1) else None
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue
            out.append(p)
    return out
