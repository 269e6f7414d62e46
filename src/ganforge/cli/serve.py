"""``ganforge serve``: the live page for one run (``ganforge.web.server``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    se = sub.add_parser("serve", help="a live page for a run: loss curves, samples over time, fresh samples",
                        description="Serve a page that follows a run as it trains (open the printed address).")
    se.add_argument("source", metavar="RUN", help="a run folder, or its number under --runs-dir")
    se.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")
    se.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                    "0.0.0.0: every interface, so anyone who can reach the machine sees the run)")
    se.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    se.add_argument("--device", default="cpu", help="device for drawing fresh samples (default cpu)")


def run(args) -> int:
    from ganforge.device import resolve_device
    from ganforge.training.run_dir import find_run
    from ganforge.web.httpbase import serve_until_interrupted
    from ganforge.web.server import make_server

    run_dir = find_run(args.source, args.runs_dir)
    server = make_server(run_dir, args.host, args.port, str(resolve_device(args.device)))
    return serve_until_interrupted(server, f"serving {run_dir}")
