"""Run folders: ``runs/NNNNN-<name>/`` with config.yaml, samples/, checkpoints/, metrics.jsonl,
TensorBoard events and a loss-curve PNG. Numbers only grow, so a run is never overwritten."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


def locate(source: str | Path, runs_dir: str | Path = "runs") -> str:
    """``source`` as given when it exists; else a run by its number or name under ``runs_dir`` (``0`` or
    ``00000-quick`` for runs/00000-quick); else unchanged, for the caller to say what is missing."""
    root, source = Path(runs_dir), str(source)
    if Path(source).exists() or not root.is_dir():
        return source
    if source.isdigit() or any(RUN_RE.match(c.name) and c.name == source for c in root.iterdir()):
        return str(find_run(source, runs_dir))
    return source


@dataclass
class RunInfo:
    """What a run folder holds, read from its files (``read_run``): every command and the Python API ask this."""
    path: Path
    config: dict                 # config.yaml as the run wrote it
    checkpoint: Path | None      # the newest complete checkpoint (None: the run never reached one)
    step: int                    # the step of that checkpoint (0 without one)
    best: Path | None            # checkpoints/best.safetensors when --eval-every kept one
    samples: list[Path] = field(default_factory=list)  # the sample grids, oldest first
    job: str | None = None       # the torchrun job that made the folder
    config_text: str = ""        # config.yaml as written ("" when it cannot be read)
    notes: list[str] = field(default_factory=list)  # what was passed over and why (damaged files; strict=False)

    def _section(self, name: str) -> dict:
        value = self.config.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def data(self) -> str:
        """The dataset's name as the config gives it (digits, emoji, folder, ...)."""
        return str(self._section("data").get("name") or "unknown data")

    @property
    def dataset(self) -> str:
        """The data in words: a named dataset, or 'the image folder NAME'."""
        path = self._section("data").get("path")
        return f"the image folder {Path(path).name}" if self.data == "folder" and path else self.data

    @property
    def arch(self) -> str:
        return str(self._section("model").get("arch") or "unknown")

    @property
    def resolution(self) -> int | None:
        return self._section("data").get("resolution")

    @property
    def length(self) -> str:
        """How long the run was asked to train: steps, epochs and/or minutes."""
        t = self._section("train")
        parts = [f"{t[k]:g} {k}" for k in ("steps", "epochs", "minutes") if t.get(k)]
        return " or ".join(parts) or "its preset's length"

    def lines(self) -> list[str]:
        """A few lines for a person (``ganforge info``)."""
        out = [f"run         {self.path}",
               f"data        {self.dataset}" + (f" at {self.resolution} px" if self.resolution else ""),
               f"model       {self.arch}" + (f" (preset {self.config['preset']})" if self.config.get("preset") else ""),
               f"length      {self.length}",
               f"checkpoint  {self.checkpoint or 'none yet'}" + (f" (step {self.step})" if self.checkpoint else "")]
        if self.best:
            out.append(f"best        {self.best}")
        if self.samples:
            out.append(f"samples     {len(self.samples)} grids, newest {self.samples[-1].name}")
        if self.job:
            out.append(f"torchrun    job {self.job}")
        return out


def read_run(arg: str | Path, runs_dir: str | Path = "runs", strict: bool = True) -> RunInfo:
    """The run folder ``arg`` (a path, or a number or name under ``runs_dir``), read. ``strict=False`` (the
    live page, which shows a run while it is being written or after damage) reads what it can and says in
    ``notes`` what it could not, instead of raising."""
    import json

    import yaml

    path, notes, config, text = (find_run(arg, runs_dir) if strict else Path(arg)), [], {}, ""
    try:
        text = (path / "config.yaml").read_text()
        config = yaml.safe_load(text) or {}
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
        if strict:
            raise GanforgeError(f"{path / 'config.yaml'} cannot be read ({err.__class__.__name__}); "
                                "the run folder is damaged: restore config.yaml or start a new run") from None
        config, text = {}, text if isinstance(err, (ValueError, yaml.YAMLError)) else ""
        notes.append(f"config.yaml cannot be read: {type(err).__name__}")
    ckpt, step = None, 0
    try:
        ckpt = checkpoint.newest_complete(path / "checkpoints", warn=(lambda msg: None) if strict else notes.append)
        step = int(checkpoint.read_meta(ckpt).get("step", 0)) if ckpt else 0
    except GanforgeError as err:
        if strict:
            raise
        notes.append(str(err))
    best = path / "checkpoints" / "best.safetensors"
    job = None
    try:
        job = json.loads((path / "elastic.json").read_text()).get("run_id")
    except (OSError, ValueError, AttributeError):
        pass
    return RunInfo(path, config, ckpt, step, best if best.is_file() else None,
                   sorted((path / "samples").glob("*.png")), job, text, notes)
