"""Restarted and requeued jobs continue their run: the same command line finds the same run folder.

Two ways to name it:

- ``--run-dir DIR``: the run lives in DIR. A DIR with a complete checkpoint is resumed from its newest one;
  a DIR without one (a job killed before its first checkpoint) starts from step 0 in that same folder; a
  DIR that does not exist is made. A requeued job script can always pass the same ``--run-dir``.
- Under torchrun (``TORCHELASTIC_RUN_ID``: the ``--rdzv-id``, or a fresh id per ``--standalone`` launch),
  the run folder records the job's id (``elastic.json``); when torchrun restarts the processes after a
  failure, or starts a node's agent again, or a requeued job launches with the same ``--rdzv-id``, the
  processes find that folder and continue it. torchrun's default id ``none`` names no job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ganforge import checkpoint
from ganforge.errors import GanforgeError
from ganforge.files import write_text_atomic
from ganforge.training.run_dir import RUN_RE, is_run

ELASTIC_FILE = "elastic.json"  # in a run folder made under torchrun: {"run_id": ...}


def elastic_id() -> str | None:
    """The torchrun job's id, or None outside torchrun or with its default id 'none'."""
    rid = os.environ.get("TORCHELASTIC_RUN_ID", "").strip()
    return rid if rid and rid.lower() != "none" else None


def restart_count() -> int:
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def mark(run: Path, rid: str | None) -> None:
    """Record the torchrun job that made ``run`` (rank 0, as it makes the folder)."""
    if rid:
        write_text_atomic(Path(run) / ELASTIC_FILE, json.dumps({"run_id": rid}) + "\n")


def find_elastic(runs_dir: str | Path, rid: str) -> Path | None:
    """The newest run folder under ``runs_dir`` made by torchrun job ``rid``."""
    root = Path(runs_dir)
    if not root.is_dir():
        return None
    found = []
    for p in root.iterdir():
        if not RUN_RE.match(p.name):
            continue
        try:
            if json.loads((p / ELASTIC_FILE).read_text()).get("run_id") == rid:
                found.append(p)
        except (OSError, ValueError, AttributeError):
            continue
    return max(found, key=lambda p: int(RUN_RE.match(p.name).group(1))) if found else None


@dataclass
class Plan:
    """What this command does with its run folder."""
    action: str              # "new": make a folder; "resume": continue ``run``; "restart": step 0 in ``run``
    run: Path | None = None  # the folder (None for "new" without --run-dir: a numbered one is made)
    why: str = ""            # a line for the user


def plan(run_dir: str | None, runs_dir: str | Path) -> Plan:
    """Where this command's run lives and whether it continues one, from ``--run-dir`` or torchrun's job id."""
    rid = elastic_id()
    if run_dir:
        run = Path(run_dir)
        if run.exists() and not run.is_dir():
            raise GanforgeError(f"--run-dir {run} is a file; pass a folder for the run")
        if run.is_dir() and any(run.iterdir()) and not is_run(run):
            raise GanforgeError(f"--run-dir {run} holds other files and no run (config.yaml, checkpoints/); "
                                "pass a new or empty folder, or a run folder")
        via = f"--run-dir {run}"
    else:
        run = find_elastic(runs_dir, rid) if rid else None
        via = f"torchrun job {rid}" + (f", restart {restart_count()}" if restart_count() else "")
        if run is None:
            return Plan("new")
    if not is_run(run):
        return Plan("new", run)
    ckpt = checkpoint.newest_complete(run / "checkpoints", warn=lambda msg: None)
    if ckpt is None:
        return Plan("restart", run, f"{run} ({via}) has no complete checkpoint yet: starting it again from step 0")
    return Plan("resume", run, f"continuing {run} ({via})")
