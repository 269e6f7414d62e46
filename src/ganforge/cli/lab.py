"""``ganforge lab``: the 2-D lab, live in the browser (``ganforge.lab.server``) or headless, writing its
results (``ganforge.lab.headless``)."""

from __future__ import annotations

import json
from pathlib import Path

from ganforge.errors import GanforgeError

STEPS = 5000  # LabSettings.steps, kept here so that --help needs no torch (a test holds the two equal)
KEY_VALUES = "settings"  # where ``key=value`` words anywhere on the line go


def add_parser(sub) -> None:
    la = sub.add_parser("lab", help="the 2-D lab: watch G and D play on points, live in the browser",
                        description="Train a GAN on 2-D points and watch it (or --headless: write the results). "
                                    "Any lab setting can be given as KEY=VALUE (see --dry-run).")
    la.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="lab settings, e.g. lr_d=3e-4 pack=1")
    la.add_argument("--dist", help="data: ring, grid, moons, spiral, line, two-clusters, disjoint (default ring); "
                    "see also --points")
    la.add_argument("--steps", type=int, help=f"training iterations of a headless run, and the steps over which the learning "
                    f"rates fall to 1%% on the page (default {STEPS})")
    la.add_argument("--seed", type=int, help="random seed: the same seed gives the same points (default 0)")
    la.add_argument("--points", metavar="CSV", help="train on the points of a CSV file (x,y per line; dist=points)")
    la.add_argument("--model", metavar="FILE", help="open the page on a model saved from the lab (.safetensors)")
    la.add_argument("--headless", action="store_true", help="train without a page and write --out")
    la.add_argument("--out", metavar="DIR", default="lab-out", help="headless: folder for the result files (points, "
                    "measures, pictures, model)")
    la.add_argument("--dry-run", action="store_true", help="print the resolved settings and exit")
    la.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                    "0.0.0.0: every interface, so anyone who can reach the machine can drive the lab)")
    la.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001; 0 picks a free one)")


def run(args) -> int:
    from ganforge.lab.settings import LabSettings, updated

    changes = {k: v for k, v in (("dist", args.dist), ("steps", args.steps), ("seed", args.seed)) if v is not None}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise GanforgeError(f"lab setting '{item}' is not KEY=VALUE (e.g. lr_d=3e-4)")
        changes[key.strip()] = value.strip()
    said = None
    if args.points:
        from ganforge.lab.dists import parse_csv

        path = Path(args.points)
        if not path.is_file():
            raise GanforgeError(f"points file {path} not found; pass a CSV file of x,y lines")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            raise GanforgeError(f"{path} cannot be read as text; pass a CSV file of x,y lines") from None
        changes["drawn"], said = parse_csv(text, int(changes.get("seed", 0) or 0))
        changes["dist"] = "points"
    settings = updated(LabSettings(), changes)
    trainer = None
    if args.model:
        from ganforge.lab.modelfile import from_bytes

        path = Path(args.model)
        if not path.is_file():
            raise GanforgeError(f"model file {path} not found; pass a file saved from the lab's page")
        trainer = from_bytes(path.read_bytes())
        settings = trainer.s
    if said:
        print(f"read {said} from {args.points}")
    import torch

    torch.set_num_threads(settings.threads)  # one by default: the lab's small layers lose to synchronisation
    if args.dry_run:
        print(json.dumps(settings.to_dict(), indent=1))
        return 0
    if args.headless:
        from ganforge.lab.headless import run as run_headless

        if trainer is not None:
            raise GanforgeError("--model opens the page on a saved model; drop --headless (or --model)")

        from ganforge.train.signals import StopSignals

        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise GanforgeError(f"--out {out} is a file; pass a folder")
        with StopSignals() as stop:  # SIGTERM, SIGUSR1, Ctrl-C: the files of the step reached, then its exit code
            run_headless(settings, out, stop=stop)
        return stop.exit_code if stop.received else 0
    from ganforge.lab.server import make_lab_server
    from ganforge.lab.session import LabSession
    from ganforge.web.httpbase import serve_until_interrupted

    server = make_lab_server(None, args.host, args.port)  # the port first: a busy one fails before training
    session = LabSession(settings)
    if trainer is not None:
        session.trainer = trainer
    server.bind_session(session)
    return serve_until_interrupted(server, "lab", on_close=session.close)
