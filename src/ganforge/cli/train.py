"""``ganforge train``: a preset, a YAML file, flags and ``key=value`` overrides, then training
(``ganforge.train.launch``), optionally with the live page."""

from __future__ import annotations

import sys

from ganforge.cli.common import say
from ganforge.config import BASE
from ganforge.losses import loss_help
from ganforge.models.families import arch_help
from ganforge.recipes import SMALL

KEY_VALUES = "overrides"  # where ``key=value`` words anywhere on the line go

# short flags -> (type, help); each sets the config key ``ganforge.config.FLAG_KEYS`` names
FLAGS = {
    "data": (str, "dataset: digits (bundled), mnist, fashion-mnist, cifar10 or folder (default digits)"),
    "path": (str, "image folder, with --data folder"),
    "data-dir": (str, "folder holding the dataset's files (else $GANFORGE_DATA, the cache, /usr/share/datasets)"),
    "resolution": (int, "side of the square training images in pixels (default: the preset's; a folder: its "
                        "images' own size, up to 256)"),
    "arch": (str, arch_help()),
    "steps": (int, "training iterations, each d-steps D steps and g-steps G steps (default 1000)"),
    "epochs": (float, "length in passes over the data instead of steps"),
    "batch-size": (int, "images per D step, across all processes (default 64)"),
    "g-steps": (int, "G steps per iteration (default 1; 2 as the TensorFlow DCGAN)"),
    "d-steps": (int, "D steps per iteration (default 1; 5 is usual for wgan-gp)"),
    "loss": (str, loss_help()),
    "seed": (int, "random seed of weights, noise and batch order (default 0)"),
    "device": (str, "auto, cpu, cuda, cuda:N or mps (default auto: a GPU when there is one)"),
    "name": (str, "run folder name after its number (default: the preset's, or data-arch without one)"),
    "runs-dir": (str, "parent folder of run folders (default runs)"),
    "ema": (float, "decay of an EMA copy of G, e.g. 0.999 (default 0: none)"),
    "minutes": (float, "a time budget: train this many minutes in all (a resumed run counts its earlier ones); "
                       "without --steps or --epochs it is the run's length, and train.lr_decay ends with it"),
    "eval-every": (int, "steps between quality evaluations; the best is kept as checkpoints/best (default 0)"),
    "eval-metrics": (str, "comma-separated metrics for --eval-every, e.g. fd,coverage (default fd)"),
}


def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="train a GAN (a preset, a YAML file and key=value overrides)",
                        description="Train a GAN. Config = preset -> --config YAML -> flags -> key=value overrides.")
    tr.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.steps=500 lr_g=1e-4")
    tr.add_argument("--preset", help="named setup (see `ganforge presets`). Without one, a run starts from the "
                    f"{BASE} preset's values (DCGAN with an EMA generator on the digits, 1,000 steps or "
                    "--minutes), a folder trains at its images' own size, and data of fewer than "
                    f"{SMALL:,} images gets the small-data recipe; the run is named after its data and model")
    tr.add_argument("--config", help="YAML file with data/model/optim/train sections")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    tr.add_argument("--resume", metavar="RUN", help="continue a run (its folder, or its number under --runs-dir) "
                    "exactly where it stopped")
    tr.add_argument("--run-dir", metavar="DIR", help="the run's folder: made if missing, resumed from its newest "
                    "checkpoint if it has one, started from step 0 if not (the same command line serves a first start, "
                    "a restart and a requeued job)")
    tr.add_argument("--init-from", metavar="CKPT", help="start from these weights (fresh optimizers and counters)")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("--serve", action="store_true", help="serve the live page (as `ganforge serve`) while training")
    tr.add_argument("--serve-port", type=int, default=8000, help="its port on 127.0.0.1 (0 picks a free one)")
    for flag, (typ, text) in FLAGS.items():
        tr.add_argument(f"--{flag}", type=typ, default=None, help=text)


def run(args) -> int:
    from ganforge import config as C
    from ganforge.train import distributed

    flags = {k: getattr(args, k) for k in C.FLAG_KEYS}
    asked = C.requested_device(args.device, args.overrides, None if args.resume else args.config)
    world, device = distributed.setup(asked)
    if world.active:
        args.quiet = args.quiet or not world.main
    page = None
    try:
        if args.serve and world.main:
            from ganforge.web.server import LivePage

            page = LivePage(args.serve_port)  # binds now: a busy port fails before a run folder exists
        rc = _train(args, C, flags, world, device, page)
    except BaseException:
        distributed.shutdown(world, finished=False)
        raise
    finally:
        if page is not None:  # the page stops with training; `ganforge serve RUN` keeps it up
            page.close()
    distributed.shutdown(world)
    return rc


def _train(args, C, flags, world, device, page) -> int:
    from ganforge import recipes
    from ganforge.train import launch, restart
    from ganforge.train.loop import Interrupted

    def tell(msg):
        say(args, msg)

    plan = None
    if not args.resume:
        cfg = C.build(args.preset, args.config, args.overrides, flags)
        plan = restart.plan(args.run_dir, cfg.train.runs_dir)
    if args.resume or plan.action == "resume":
        run, cfg = launch.resume_config(args.resume or plan.run, flags, args.overrides)
        if args.dry_run:
            print(C.to_yaml(cfg), end="")
            return 0
        if plan is not None and world.main:
            tell(plan.why)
        trainer = launch.resume(run, cfg, world, device, quiet=args.quiet, say=tell)
        if trainer.finished:
            print(f"run {run} already reached step {trainer.step} of {launch.length(trainer)}; "
                  "raise --minutes, --steps or --epochs "
                  "to train further")
            return 0
        tell(f"resuming {run} at step {trainer.step} of {launch.length(trainer)}")
    else:
        if args.dry_run:
            notes = [n for n in (recipes.folder_resolution(cfg), recipes.dry_run_note(cfg)) if n]
            print(C.to_yaml(cfg) + "".join(("" if n.startswith("#") else "# ") + n + "\n" for n in notes), end="")
            return 0
        if plan.why and world.main:
            tell(plan.why)
        trainer = launch.start(cfg, world, device, quiet=args.quiet, init_from=args.init_from, run_dir=plan.run)
        run = trainer.run
        if world.main:
            for line in [launch.describe(trainer), *trainer.notes]:
                tell(line)
    if page is not None:
        page.start(run)
    try:
        last = trainer.fit()
    except Interrupted as err:
        if world.main:
            print(str(err), file=sys.stderr)
        return err.exit_code
    tell(f"done: step {trainer.step}; samples in {run / 'samples'}; checkpoint {last}\n"
         f"generate with: ganforge generate {run} --grid samples.png")
    return 0
