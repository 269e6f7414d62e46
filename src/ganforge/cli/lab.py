"""``ganforge lab``: the 2-D lab, live in the browser (``ganforge.lab2d.server``) or headless, writing its
results (``ganforge.lab2d.headless``)."""

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
    from ganforge.api.actions import lab_settings

    changes = {k: v for k, v in (("dist", args.dist), ("steps", args.steps), ("seed", args.seed)) if v is not None}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise GanforgeError(f"lab setting '{item}' is not KEY=VALUE (e.g. lr_d=3e-4)")
        changes[key.strip()] = value.strip()
    settings, said = lab_settings(changes, args.points)
    trainer = None
    if args.model:
        from ganforge.lab2d.modelfile import from_bytes

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
        from ganforge.api.actions import run_lab

        if trainer is not None:
            raise GanforgeError("--model opens the page on a saved model; drop --headless (or --model)")
        return run_lab(settings, args.out)[1]  # a signal stops it with the files of the step reached
    from ganforge.lab2d.server import make_lab_server
    from ganforge.lab2d.session import LabSession
    from ganforge.web.httpbase import serve_until_interrupted

    server = make_lab_server(None, args.host, args.port)  # the port first: a busy one fails before training
    session = LabSession(settings)
    if trainer is not None:
        session.trainer = trainer
    server.bind_session(session)
    return serve_until_interrupted(server, "lab", on_close=session.close)
