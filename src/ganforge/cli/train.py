"""``ganforge train``: a preset, a YAML file, flags and ``key=value`` overrides, then training
(``ganforge.training.launch``), optionally with the live page."""

from __future__ import annotations

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
    from ganforge.api.session import fit

    flags = {k: getattr(args, k) for k in C.FLAG_KEYS}
    page = None
    if args.serve and not args.dry_run and _main_rank():
        from ganforge.web.server import LivePage

        page = LivePage(args.serve_port)  # binds now: a busy port fails before a run folder exists
    try:
        done = fit(args.preset, args.config, args.overrides, flags, resume=args.resume, run_dir=args.run_dir,
                   init_from=args.init_from, quiet=args.quiet, page=page, dry_run=args.dry_run)
    finally:
        if page is not None:  # the page stops with training; `ganforge serve RUN` keeps it up
            page.close()
    if args.dry_run:
        print(done, end="")
        return 0
    return done.exit_code if done is not None else 0


def _main_rank() -> bool:
    """Rank 0, or no torchrun: the process that serves the page."""
    import os

    return os.environ.get("RANK", "0") == "0"
