"""Time to quality: FD-<judge> of a DCGAN against CPU minutes, beside the real-data floor.

One run is trained in segments (5 min, resumed to 10, resumed to 20 by default); resume is exact,
so this is one unbroken run scored at those marks. Each mark scores N generated images against
N real training images; the floor is real training images against the real test split.

    python benchmarks/time_to_quality.py --marks 5 10 20     # writes benchmarks/results/time_to_quality.json

With ``--grid SETTING:MINUTES ...`` it trains settings x budgets instead: each cell is ``ganforge train --data
D --resolution R --minutes M`` with the setting's keys (``SETTINGS``), ``--seeds`` seeds a cell, two runs side
by side on one thread each (``--typed``: one at a time, the command exactly as typed, both threads), each
scored on -n generated images as above (``--path DIR``: trained on a folder, scored by ``--dataset``'s judge); ``--ctrl-c`` trains with ``--steps 10000000`` instead and stops the
run with SIGINT after M minutes, as a user's Ctrl-C does. Results: one row per run and mean +- standard error
per cell (``benchmarks/results/time_to_quality_grid.json``; ``--append`` adds to it).

    python benchmarks/time_to_quality.py --grid today:5 ema:5 ema-linear:5 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from budget_grid import SETTINGS, run_grid

from ganforge.cli import main as cli
from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.generate import load_generator
from ganforge.grid import to_uint8
from ganforge.metrics import Evaluator, frechet
from ganforge.metrics.train_judge import load_judge
from ganforge.sampling import generate, seeded_z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", nargs="+", metavar="SETTING:MINUTES", help=f"settings x budgets; settings: {', '.join(SETTINGS)}")
    ap.add_argument("--seeds", type=int, default=3, help="--grid: seeds a cell (train.seed 0..N-1)")
    ap.add_argument("--first-seed", type=int, default=0, help="--grid: seeds FIRST..FIRST+N-1 (to add seeds to a cell)")
    ap.add_argument("--parallel", type=int, default=2, help="--grid: runs side by side, one thread each")
    ap.add_argument("--typed", action="store_true", help="--grid: one run at a time, the command as typed (all threads)")
    ap.add_argument("--ctrl-c", action="store_true", help="--grid: --steps 10000000, stopped by SIGINT at M minutes")
    ap.add_argument("--resolution", type=int, help="--grid: training resolution (default: the judge's)")
    ap.add_argument("--also", type=float, nargs="+", default=[], metavar="MINUTES",
                    help="--grid: also score each run at these shorter budgets, from its checkpoint nearest them "
                         "(settings without a learning-rate decay only)")
    ap.add_argument("--append", action="store_true", help="--grid: add the rows to those already in --out")
    ap.add_argument("--dataset", default="fashion-mnist", help="the data, and the judge that scores it")
    ap.add_argument("--path", type=Path, help="--grid: train on this image folder instead (scored by --dataset's judge)")
    ap.add_argument("--marks", type=float, nargs="+", default=[5, 10, 20], help="minutes at which to score")
    ap.add_argument("-n", type=int, default=10000, help="generated and reference images per score")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "time_to_quality.json")
    ap.add_argument("overrides", nargs="*", help="train overrides, e.g. model.ngf=64 (--grid: added to every run)")
    args = ap.parse_args()
    if args.grid:
        if args.out.name == "time_to_quality.json":
            args.out = args.out.with_name("time_to_quality_grid.json")
        return run_grid(args)

    judge = load_judge(args.dataset)
    train = load_dataset(DataConfig(name=args.dataset, resolution=judge.resolution))
    test = load_dataset(DataConfig(name=args.dataset, resolution=judge.resolution, split="test"))
    g = torch.Generator().manual_seed(0)
    ref = train.images[torch.randperm(len(train), generator=g)[:args.n]]
    f_ref, _ = judge.run(ref)
    f_test, _ = judge.run(test.images[:args.n])
    floor = frechet.frechet_distance(*frechet.mean_cov(f_test), *frechet.mean_cov(f_ref))
    print(f"floor: FD-{judge.name}(test vs train) = {floor:.3f}", flush=True)

    runs = Path(tempfile.mkdtemp(prefix="ttq-"))
    train_args = ["--data", args.dataset, "--resolution", str(judge.resolution), "--arch", "dcgan",
                  "--steps", "10000000", "train.sample_every=1000", "train.ckpt_every=100000", "--quiet",
                  *args.overrides]
    evaluator = Evaluator(args.dataset, ["fd", "coverage"], n_ref=args.n)
    rows, done = [], 0.0
    for mark in args.marks:
        t0 = time.perf_counter()
        if done == 0:
            cli(["train", *train_args, "--runs-dir", str(runs), "--minutes", str(mark)])
        else:
            run = next(runs.iterdir())
            cli(["train", "--resume", str(run), "--minutes", str(mark), "--quiet"])  # minutes in all
        wall = time.perf_counter() - t0
        done = mark
        run = next(runs.iterdir())
        gen = load_generator(run)
        samples = to_uint8(generate(gen, seeded_z(gen, args.n, 1)))
        res = {r.metric: r.value for r in evaluator(samples)}
        row = {"minutes": mark, "segment_wall_s": round(wall, 1), "step": gen.step,
               f"fd-{judge.name}": round(res[f"fd-{judge.name}"], 3), "coverage": round(res["coverage"], 4)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"benchmark": "time_to_quality", "dataset": args.dataset, "judge_sha256": judge.sha256,
              "n": args.n, f"floor_fd-{judge.name}": round(floor, 3), "marks": rows, "run": str(next(runs.iterdir())),
              "train_args": train_args, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
