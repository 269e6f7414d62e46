"""Training from Python: ``ganforge.train(...)`` returns a ``Run``. ``ganforge train`` parses its command line
and calls the same ``fit``, so both write the same run folder, checkpoints and lines."""

from __future__ import annotations

import sys
from pathlib import Path

from ganforge.errors import GanforgeError


class Run:
    """A run folder (``runs/NNNNN-name``): what ``ganforge.train`` returns, or ``ganforge.Run(path_or_number)``.

    ``step``, ``checkpoint``, ``config``, ``samples`` and ``info`` are read from the folder when asked.
    ``stopped`` says why a run ended early (a Ctrl-C, a kernel interrupt, a signal), with ``exit_code``."""

    def __init__(self, path: str | Path, runs_dir: str | Path = "runs"):
        from ganforge.training.run_dir import find_run

        self.path = find_run(path, runs_dir)
        self.stopped: str | None = None   # why training stopped before its end (None: it did not)
        self.exit_code = 0                # the command line's exit status for this run

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Run('{self.path}', step {self.step}{', stopped' if self.stopped else ''})"

    @property
    def info(self):
        """What the folder holds now (``ganforge.training.run_dir.RunInfo``)."""
        from ganforge.training.run_dir import read_run

        return read_run(self.path)

    step = property(lambda self: self.info.step, doc="the step of the newest complete checkpoint (0: none yet)")
    checkpoint = property(lambda self: self.info.checkpoint, doc="the newest complete checkpoint, or None")
    config = property(lambda self: self.info.config, doc="the run's config.yaml, as a dict")
    samples = property(lambda self: self.info.samples, doc="the sample grids written while training, oldest first")

    def metrics(self, kind: str | None = None) -> list[dict]:
        """The records of metrics.jsonl (``kind``: 'train' for losses, 'eval' for quality; None: all)."""
        from ganforge.files import read_jsonl

        recs = read_jsonl(self.path / "metrics.jsonl")
        return [r for r in recs if kind is None or r.get("kind") == kind]

    def generator(self, ema: bool | None = None, device: str = "cpu"):
        """The run's generator at its newest checkpoint (``ganforge.load``)."""
        from ganforge.api.drawing import load

        return load(self.path, ema=ema, device=device)

    def _repr_html_(self) -> str:
        from ganforge.api.live import figure

        info = self.info
        pics = [p.read_bytes() for p in (info.samples[-1:] + [self.path / "loss.png"]) if p.is_file()]
        return figure(f"{self.path.name}: {info.dataset}, {info.arch}, step {info.step}", pics, self.stopped or "")


def settings(data: str | None, minutes: float | None, steps: int | None, device: str | None, keys: dict,
             overrides: dict | None) -> tuple[dict, list]:
    """The command line's flags (``config.FLAG_KEYS``) and overrides from Python arguments: a keyword that
    names a flag is one (``batch_size=32``, ``seed=1``), any other a config key (``lr_g=1e-4``);
    ``overrides`` takes full keys (``{"optim.lr_g": 1e-4}``)."""
    from ganforge.config import FLAG_KEYS

    flags = dict.fromkeys(FLAG_KEYS)
    flags.update(data=data, minutes=minutes, steps=steps, device=device)
    items = []
    for key, value in keys.items():
        if key in FLAG_KEYS:
            flags[key] = value
        else:
            items.append((key, value))
    if overrides is not None and not isinstance(overrides, dict):
        raise GanforgeError("overrides must be a dict of config keys, e.g. {'optim.lr_g': 1e-4}")
    items += list((overrides or {}).items())
    return flags, items


def train(preset: str | None = None, data: str | None = None, *, minutes: float | None = None,
          steps: int | None = None, resume: str | Path | Run | None = None, run_dir: str | Path | None = None,
          init_from: str | Path | None = None, config: str | Path | None = None, device: str | None = None,
          overrides: dict | None = None, live: bool | None = None, quiet: bool = False, **keys) -> Run:
    """Train a GAN, as ``ganforge train`` does, and return its ``Run``.

    ``preset``: a named setup (``ganforge presets``); without one, ganforge's defaults for the data.
    ``data``: digits (bundled), mnist, fashion-mnist, cifar10, emoji or folder (with ``path=``).
    ``minutes`` / ``steps``: the length (a time budget and/or iterations). ``resume``: a run (folder, number or
    ``Run``) to continue where it stopped; a run stopped before its first checkpoint starts again at step 0.
    ``run_dir``: the run's folder, resumed when it holds a checkpoint. ``init_from``: start from these weights.
    ``config``: a YAML file. ``overrides``: full config keys, e.g. ``{"optim.lr_g": 1e-4}``. Any other keyword
    is a command-line flag (``path``, ``resolution``, ``arch``, ``batch_size``, ``seed``, ``name``,
    ``runs_dir``, ``ema``, ``eval_every``, ...) or a config key (``lr_g``, ``ngf``, ``diffaug``, ...).
    ``live``: one output updated with the newest samples and loss curves (default: on in a notebook).

    Bad arguments raise ``GanforgeError`` with the command line's one-line message. An interrupt (Ctrl-C,
    the notebook's stop button) ends training at the step reached with a checkpoint and returns the ``Run``
    (its ``stopped`` says so); ``train(resume=run)`` continues it."""
    from ganforge.api.live import in_notebook

    if resume is not None:
        resume = getattr(resume, "path", resume)
    flags, items = settings(data, minutes, steps, device, keys, overrides)
    return fit(preset, str(config) if config else None, items, flags, resume=resume, run_dir=run_dir,
               init_from=str(init_from) if init_from else None, quiet=quiet,
               live=in_notebook() if live is None else live)


def fit(preset: str | None, config_file: str | None, overrides: list, flags: dict, *, resume=None, run_dir=None,
        init_from: str | None = None, quiet: bool = False, live: bool = False, page=None, dry_run: bool = False):
    """What ``ganforge train`` and ``ganforge.train`` do once their arguments are read: set up the processes,
    settle the run (new, resumed, restarted), train, and return the ``Run``. ``page``: a live page to start
    on the run (``ganforge train --serve``). ``dry_run``: return the resolved config's YAML instead."""
    from ganforge import config as C
    from ganforge import recipes
    from ganforge.training import distributed, launch
    from ganforge.training.loop import Interrupted

    asked = C.requested_device(flags.get("device"), overrides, None if resume else config_file)
    world, device = distributed.setup(asked)
    quiet = quiet or (world.active and not world.main)

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    try:
        plan, cfg = launch.settle(preset, config_file, overrides, flags, resume=resume, run_dir=run_dir)
        if dry_run:
            notes = [] if plan.action == "resume" else \
                [n for n in (recipes.folder_resolution(cfg), recipes.dry_run_note(cfg)) if n]
            distributed.shutdown(world)
            return C.to_yaml(cfg) + "".join(("" if n.startswith("#") else "# ") + n + "\n" for n in notes)
        trainer = launch.begin(plan, cfg, world, device, quiet=quiet, init_from=init_from, say=say)
        run = Run(trainer.run) if world.main else None
        if trainer.finished:
            print(f"run {trainer.run} already reached step {trainer.step} of {launch.length(trainer)}; raise "
                  "--minutes, --steps or --epochs to train further")
        else:
            if page is not None:
                page.start(trainer.run)
            logger = None
            if live and world.main:
                from ganforge.api.live import NotebookLogger

                logger = NotebookLogger(trainer.run, trainer.total_steps, trainer.step, quiet=quiet)
            try:
                last = trainer.fit(logger)
                say(f"done: step {trainer.step}; samples in {trainer.run / 'samples'}; checkpoint {last}\n"
                    f"generate with: ganforge generate {trainer.run} --grid samples.png")
            except Interrupted as err:
                if world.main:
                    print(str(err), file=sys.stderr)
                if run is not None:
                    run.stopped, run.exit_code = str(err), err.exit_code
            except KeyboardInterrupt:  # a second interrupt: stopped at once, the newest checkpoint kept
                if run is None:
                    raise
                run.stopped, run.exit_code = (f"stopped at once by a second interrupt; continue from its newest "
                                              f"checkpoint with: ganforge train --resume {trainer.run}"), 130
                print(run.stopped, file=sys.stderr)
    except BaseException:
        distributed.shutdown(world, finished=False)
        raise
    distributed.shutdown(world)
    return run
