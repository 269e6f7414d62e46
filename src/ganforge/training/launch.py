"""Starting training: a new run (config -> data -> trainer -> run folder) or a resumed one (its folder's
config and newest complete checkpoint), with the small-data recipe applied where it is due. What
``ganforge train`` does after parsing, callable from a notebook or a test.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ganforge import checkpoint, recipes
from ganforge import config as C
from ganforge.data import load_dataset
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError
from ganforge.files import stale_temps
from ganforge.training import restart
from ganforge.training.distributed import World
from ganforge.training.loop import Trainer
from ganforge.training.run_dir import find_run, make_run, new_run, resolve_checkpoint, write_config


def _device(cfg: C.Config, world: World, device):
    """The process group's device when several processes train, else the config's."""
    return resolve_device(str(device) if world.active else cfg.train.device)


def resume_config(arg: str, flags: dict, overrides: list[str]) -> tuple[Path, C.Config]:
    """The run folder ``arg`` (a path, or a number under ``--runs-dir``) and its config with this
    command's flags and overrides; data and model settings cannot change in a resumed run."""
    run = find_run(arg, flags.get("runs_dir") or "runs")
    cfg = C.from_dict(C.load_yaml(run / "config.yaml"))
    before = copy.deepcopy((cfg.data, cfg.model))
    C.apply_overrides(cfg, flags, overrides)
    if (cfg.data, cfg.model) != before:
        raise GanforgeError("a resumed run keeps its data and model settings; start a new run with "
                            "--init-from to change them")
    C.validate(cfg)
    return run, cfg


def resume(run: Path, cfg: C.Config, world: World, device=None, quiet: bool = False, say=print) -> Trainer:
    """A trainer at the run's newest complete checkpoint (newer damaged ones are moved aside)."""
    ckpt = checkpoint.newest_complete(run / "checkpoints", warn=None if world.main else (lambda msg: None))
    if ckpt is None:
        raise GanforgeError(f"run {run} has no checkpoint to resume from; start it again")
    if world.main:  # the steps after ckpt are trained again; keep damaged files, out of the way
        for p in checkpoint.set_aside_newer(run / "checkpoints", ckpt):
            say(f"moved damaged {p.name.removesuffix('.damaged')} aside to {p.name}")
        for p in stale_temps(run):  # half-written files of a process that died mid-write
            p.unlink(missing_ok=True)
            say(f"removed {p.relative_to(run)}, a write cut short when the run stopped")
    trainer = Trainer(cfg, run, load_dataset(cfg.data), _device(cfg, world, device), quiet=quiet, world=world)
    trainer.load_checkpoint(ckpt)
    if world.main:
        write_config(run, cfg)
    return trainer


def start(cfg: C.Config, world: World, device=None, quiet: bool = False, init_from: str | None = None,
          run_dir: Path | None = None) -> Trainer:
    """A trainer for a new run, its run folder made (by rank 0) once the settings are known to work: a numbered
    one under ``train.runs_dir``, or ``run_dir`` (made if missing; a folder whose run never reached a checkpoint
    starts again). Under torchrun the folder records the job's id, so a restart finds it (``restart``)."""
    sized = recipes.folder_resolution(cfg)
    data = load_dataset(cfg.data)
    note = recipes.small_data(cfg, len(data))
    trainer = Trainer(cfg, Path("."), data, _device(cfg, world, device), quiet=quiet, world=world)
    trainer.resolution_note = sized  # the run's first line gives it (``describe``)
    trainer.notes = [n for n in (note, trainer.ada and trainer.ada.note) if n]  # said after that line
    if init_from:
        trainer.load_checkpoint(resolve_checkpoint(init_from), full=False)
    if world.main:  # only rank 0 writes the run folder
        trainer.run = make_run(run_dir) if run_dir else new_run(cfg.train.runs_dir, cfg.train.name or recipes.run_name(cfg))
        for p in stale_temps(trainer.run):  # an earlier start's cut writes
            p.unlink(missing_ok=True)
        write_config(trainer.run, cfg)
        restart.mark(trainer.run, restart.elastic_id())
    return trainer


def settle(preset: str | None, config_file: str | None, overrides: list[str], flags: dict,
           resume: str | Path | None = None, run_dir: str | Path | None = None) -> tuple[restart.Plan, C.Config]:
    """The run's resolved config and what becomes of its folder (``restart.Plan``): a new run; ``resume``, a
    run continued at its newest checkpoint; or ``restart``, a run that never reached a checkpoint (killed in
    its first seconds) started again from step 0 in its own folder: with its saved config when named by
    ``resume``, with this command's when named by ``run_dir``. ``flags`` are ``C.FLAG_KEYS``'s."""
    if resume:
        run, cfg = resume_config(str(resume), flags, overrides)
        if checkpoint.newest_complete(run / "checkpoints", warn=lambda msg: None) is not None:
            return restart.Plan("resume", run), cfg
        cfg.user_keys = set(C.all_keys())  # every saved key was resolved once: no recipe changes it again
        return restart.Plan("restart", run, f"{run} has no checkpoint yet (it stopped before its first): "
                                            "starting it again from step 0 with its saved config"), cfg
    cfg = C.build(preset, config_file, overrides, flags)
    plan = restart.plan(str(run_dir) if run_dir else None, cfg.train.runs_dir)
    if plan.action == "resume":
        _, cfg = resume_config(str(plan.run), flags, overrides)
    return plan, cfg


def begin(plan: restart.Plan, cfg: C.Config, world: World, device=None, quiet: bool = False,
          init_from: str | None = None, say=print) -> Trainer:
    """The trainer ``settle``'s plan asks for, its first lines said (on rank 0)."""
    if plan.action == "resume":
        if plan.why and world.main:
            say(plan.why)
        trainer = resume(plan.run, cfg, world, device, quiet=quiet, say=say)
        if not trainer.finished and world.main:
            say(f"resuming {plan.run} at step {trainer.step} of {length(trainer)}")
        return trainer
    if plan.why and world.main:
        say(plan.why)
    trainer = start(cfg, world, device, quiet=quiet, init_from=init_from, run_dir=plan.run)
    if world.main:
        for line in [describe(trainer), *trainer.notes]:
            say(line)
    return trainer


def describe(trainer: Trainer) -> str:
    """The run's first line: where, on what, how long."""
    d = trainer.data
    sized = getattr(trainer, "resolution_note", None)
    return (f"run folder {trainer.run}: {d.name} ({len(d)} images, {d.channels}x{d.resolution}x{d.resolution}"
            f"{'; ' + sized if sized else ''}), {trainer.cfg.model.arch}, {length(trainer)} on {trainer.device}")


def length(trainer: Trainer) -> str:
    """How long the run is: its steps, its minutes, or both (what ends first)."""
    t, parts = trainer.cfg.train, []
    if trainer.total_steps is not None:
        parts.append(f"{trainer.total_steps} steps")
    if t.minutes:
        done = trainer.schedule.done_s / 60
        parts.append(f"{t.minutes:g} minutes" + (f" ({done:.1f} trained)" if done else ""))
    return " or ".join(parts)
