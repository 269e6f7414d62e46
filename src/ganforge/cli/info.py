"""``ganforge info``: what a run folder holds (data, model, length, newest checkpoint, samples), read by
``ganforge.training.run_dir.read_run`` as every command and the Python API read it."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    inf = sub.add_parser("info", help="what a run folder holds: data, model, length, newest checkpoint",
                         description="Show a run: its data, model family, length, newest complete checkpoint and "
                                     "sample grids.")
    inf.add_argument("run", metavar="RUN", help="a run folder, or its number or name under --runs-dir")
    inf.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    inf.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")


def run(args) -> int:
    from ganforge.training.run_dir import read_run

    info = read_run(args.run, args.runs_dir)
    if args.json:
        print(json.dumps({"path": str(info.path), "data": info.data, "dataset": info.dataset, "arch": info.arch,
                          "resolution": info.resolution, "length": info.length, "step": info.step,
                          "checkpoint": str(info.checkpoint) if info.checkpoint else None,
                          "best": str(info.best) if info.best else None, "samples": len(info.samples),
                          "job": info.job}))
    else:
        print("\n".join(info.lines()))
    return 0
