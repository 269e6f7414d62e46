"""``ganforge train``: a preset, a YAML file, flags and ``key=value`` overrides, then training
(``ganforge.train.launch``), optionally with the live page."""

from __future__ import annotations

import sys

from ganforge.cli.common import say

KEY_VALUES = "overrides"  # where ``key=value`` words anywhere on the line go

# short flags -> their type; each sets the config key ``ganforge.config.FLAG_KEYS`` names
FLAGS = (("data", str), ("path", str), ("data-dir", str), ("resolution", int), ("arch", str), ("steps", int),
         ("epochs", float), ("batch-size", int), ("g-steps", int), ("d-steps", int), ("loss", str), ("seed", int),
         ("device", str), ("name", str), ("runs-dir", str), ("ema", float), ("minutes", float),
         ("eval-every", int), ("eval-metrics", str))


def add_parser(sub) -> None:
    tr = sub.add_parser("train", help="train a GAN (a preset, a YAML file and key=value overrides)",
                        description="Train a GAN. Config = preset -> --config YAML -> flags -> key=value overrides.")
    tr.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.steps=500 lr_g=1e-4")
    tr.add_argument("--preset", help="named setup (see `ganforge presets`); default quick")
    tr.add_argument("--config", help="YAML file with data/model/optim/train sections")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    tr.add_argument("--resume", metavar="RUN", help="continue a run exactly where it stopped")
    tr.add_argument("--init-from", metavar="CKPT", help="start from these weights (fresh optimizers and counters)")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("--serve", action="store_true", help="serve the live page (as `ganforge serve`) while training")
    tr.add_argument("--serve-port", type=int, default=8000, help="its port on 127.0.0.1 (0 picks a free one)")
    for flag, typ in FLAGS:
        tr.add_argument(f"--{flag}", type=typ, default=None)


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
    from ganforge.train import launch
    from ganforge.train.loop import Interrupted

    def tell(msg):
        say(args, msg)

    if args.resume:
        run, cfg = launch.resume_config(args.resume, flags, args.overrides)
        if args.dry_run:
            print(C.to_yaml(cfg), end="")
            return 0
        trainer = launch.resume(run, cfg, world, device, quiet=args.quiet, say=tell)
        if trainer.step >= trainer.total_steps:
            print(f"run {run} already reached step {trainer.step} of {trainer.total_steps}; "
                  "raise --steps or --epochs to train further")
            return 0
        tell(f"resuming {run} at step {trainer.step} of {trainer.total_steps}")
    else:
        cfg = C.build(args.preset, args.config, args.overrides, flags)
        if args.dry_run:
            note = recipes.dry_run_note(cfg)
            print(C.to_yaml(cfg) + (note + "\n" if note else ""), end="")
            return 0
        trainer = launch.start(cfg, world, device, quiet=args.quiet, say=tell, init_from=args.init_from)
        run = trainer.run
        tell(launch.describe(trainer))
    if page is not None:
        page.start(run)
    try:
        last = trainer.fit()
    except Interrupted as err:
        if world.main:
            print(str(err), file=sys.stderr)
        return 130
    tell(f"done: step {trainer.step}; samples in {run / 'samples'}; checkpoint {last}\n"
         f"generate with: ganforge generate {run} --grid samples.png")
    return 0
