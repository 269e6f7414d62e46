"""``ganforge lab``: the 2-D lab, live in the browser (``ganforge.lab.server``) or headless, writing its
results (``ganforge.lab.headless``)."""

from __future__ import annotations

import json
from pathlib import Path

from ganforge.errors import GanforgeError

KEY_VALUES = "settings"  # where ``key=value`` words anywhere on the line go


def add_parser(sub) -> None:
    la = sub.add_parser("lab", help="the 2-D lab: watch G and D play on points, live in the browser",
                        description="Train a GAN on 2-D points and watch it (or --headless: write the results). "
                                    "Any lab setting can be given as KEY=VALUE (see --dry-run).")
    la.add_argument("settings", nargs="*", metavar="KEY=VALUE", help="lab settings, e.g. lr_d=3e-4 pack=1")
    la.add_argument("--dist", help="data: ring, grid, moons, spiral, line, two-clusters, disjoint (default ring)")
    la.add_argument("--steps", type=int, help="training iterations of a headless run (default 12000)")
    la.add_argument("--seed", type=int, help="random seed: the same seed gives the same points (default 0)")
    la.add_argument("--headless", action="store_true", help="train without a page and write --out")
    la.add_argument("--out", metavar="DIR", default="lab-out", help="headless: folder for the four result files")
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
    settings = updated(LabSettings(), changes)
    import torch

    torch.set_num_threads(1)  # layers of 128 units: a second thread only adds synchronisation (3x slower here)
    if args.dry_run:
        print(json.dumps(settings.to_dict(), indent=1))
        return 0
    if args.headless:
        from ganforge.lab.headless import run as run_headless

        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise GanforgeError(f"--out {out} is a file; pass a folder")
        run_headless(settings, out)
        return 0
    from ganforge.lab.server import make_lab_server
    from ganforge.lab.session import LabSession
    from ganforge.web.httpbase import serve_until_interrupted

    server = make_lab_server(None, args.host, args.port)  # the port first: a busy one fails before training
    session = LabSession(settings)
    server.bind_session(session)
    return serve_until_interrupted(server, "lab", on_close=session.close)
