"""The settings x budgets grid of ``time_to_quality.py --grid``: which training settings give the best samples
in M CPU minutes. Each run is ``ganforge train`` in its own process; each is scored as time_to_quality scores
its marks (FD on the dataset's judge, -n generated images against -n training images, and class coverage).
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

EMA = ["train.ema_kimg=10", "train.ema_rampup=0.05"]  # StyleGAN2-ADA's half-life and ramp
SETTINGS: dict[str, list[str]] = {  # name -> keys beyond the command as typed
    "today": ["train.ema_kimg=0", "train.lr_decay=none"],   # the defaults before the budget schedule
    "ema": [*EMA, "train.lr_decay=none"],
    "ema-linear": [*EMA, "train.lr_decay=linear"],
    "ema-cosine": [*EMA, "train.lr_decay=cosine"],
    "ema-linear-w64": [*EMA, "train.lr_decay=linear", "model.ngf=64", "model.ndf=64"],
    "ema-linear-b128": [*EMA, "train.lr_decay=linear", "train.batch_size=128"],
    "ema-linear-ttur": [*EMA, "train.lr_decay=linear", "optim.lr_d=4e-4"],
    "ema-linear-hinge": [*EMA, "train.lr_decay=linear", "--loss", "hinge"],
    "ema-linear-lr2": [*EMA, "train.lr_decay=linear", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-lr2": [*EMA, "train.lr_decay=none", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-w16": [*EMA, "train.lr_decay=none", "model.ngf=16", "model.ndf=16"],
    "ema-w16-lr2": [*EMA, "train.lr_decay=none", "model.ngf=16", "model.ndf=16", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-k5": ["train.ema_kimg=5", "train.ema_rampup=0.05", "train.lr_decay=none"],
    "ema-k5-linear": ["train.ema_kimg=5", "train.ema_rampup=0.05", "train.lr_decay=linear"],
    "ema-k20-linear": ["train.ema_kimg=20", "train.ema_rampup=0.05", "train.lr_decay=linear"],
    "defaults": [],                                          # whatever the defaults are now
}
QUIET = ["train.sample_every=100000", "train.ckpt_every=100000", "train.log_every=100", "--quiet"]


def parse_cell(text: str) -> tuple[str, float]:
    name, _, minutes = text.partition(":")
    if name not in SETTINGS or not minutes.replace(".", "", 1).isdigit():
        raise SystemExit(f"--grid cell {text!r}: write SETTING:MINUTES, settings {', '.join(SETTINGS)}")
    return name, float(minutes)


def train(args, setting: str, minutes: float, seed: int, runs: Path) -> dict:
    name = f"{setting}-{minutes:g}m-s{seed}"
    length = ["--steps", "10000000"] if args.ctrl_c else ["--minutes", str(minutes)]
    argv = [sys.executable, "-m", "ganforge", "train", "--data", args.dataset, "--resolution", str(args.resolution),
            *length, "--runs-dir", str(runs / name), "--seed", str(seed), *QUIET, *SETTINGS[setting],
            *([] if args.typed else ["train.threads=1", "--device", "cpu"])]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if args.ctrl_c:  # Ctrl-C at M minutes of the process's life, as a user presses it
        try:
            p.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate()
    wanted = (130,) if args.ctrl_c else (0,)
    if p.returncode not in wanted:
        raise SystemExit(f"{name} failed ({p.returncode}): {err.strip()[-400:]}")
    run = next((runs / name).iterdir())
    return {"name": name, "setting": setting, "minutes": minutes, "seed": seed, "run": str(run),
            "wall_s": round(time.perf_counter() - t0, 1), "train_args": argv[3:]}


def score(trained: list[dict], dataset: str, n: int) -> list[dict]:
    from ganforge.generate import load_generator
    from ganforge.grid import to_uint8
    from ganforge.metrics import Evaluator
    from ganforge.sampling import generate, seeded_z

    evaluator = Evaluator(dataset, ["fd", "coverage"], n_ref=n)
    rows = []
    for t in trained:
        gen = load_generator(t["run"])  # the EMA generator where the run has one
        samples = to_uint8(generate(gen, seeded_z(gen, n, 1)))
        res = {r.metric: r.value for r in evaluator(samples)}
        fd = next(k for k in res if k.startswith("fd-"))
        rows.append({**{k: t[k] for k in ("name", "setting", "minutes", "seed", "wall_s")}, "step": gen.step,
                     "ema": gen.ema, "fd": round(res[fd], 3), "coverage": round(res["coverage"], 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["mode"], r["minutes"], r["setting"]), []).append(r)
    out = []
    for (dataset, mode, minutes, setting), rs in sorted(groups.items()):
        cell = {"dataset": dataset, "mode": mode, "minutes": minutes, "setting": setting, "seeds": len(rs)}
        for k in ("fd", "coverage", "step"):
            v = [r[k] for r in rs]
            m = sum(v) / len(v)
            se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v)) if len(v) > 1 else 0.0
            cell[k] = {"mean": round(m, 4), "se": round(se, 4)}
        out.append(cell)
    return out


def table(cells: list[dict]) -> str:
    lines = ["| data | mode | minutes | setting | seeds | steps | FD | coverage |", "|---|---|---|---|---|---|---|---|"]
    for c in cells:
        lines.append(f"| {c['dataset']} | {c['mode']} | {c['minutes']:g} | {c['setting']} | {c['seeds']} | {c['step']['mean']:.0f} | "
                     f"{c['fd']['mean']:.2f} ± {c['fd']['se']:.2f} | {c['coverage']['mean']:.3f} |")
    return "\n".join(lines)


def run_grid(args) -> None:
    from ganforge.metrics.train_judge import load_judge

    args.resolution = args.resolution or load_judge(args.dataset).resolution
    cells = [parse_cell(c) for c in args.grid]
    jobs = sorted([(s, m, seed) for s, m in cells for seed in range(args.seeds)], key=lambda j: -j[1])
    runs = Path(tempfile.mkdtemp(prefix="ttq-grid-"))
    parallel = 1 if args.typed else args.parallel
    mode = "ctrl-c" if args.ctrl_c else "typed" if args.typed else f"{parallel} side by side, 1 thread each"
    print(f"{len(jobs)} runs, {parallel} at a time ({mode}), in {runs}", flush=True)
    with ThreadPoolExecutor(parallel) as pool:
        trained = list(pool.map(lambda j: train(args, *j, runs), jobs))
    rows = [{**r, "mode": mode, "dataset": args.dataset} for r in score(trained, args.dataset, args.n)]
    if args.append and args.out.is_file():
        rows = json.loads(args.out.read_text())["rows"] + rows
    result = {"benchmark": "time_to_quality_grid", "n": args.n, "settings": SETTINGS, "rows": rows,
              "summary": summary(rows), "torch": torch.__version__, "cpus": os.cpu_count(),
              "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result["summary"]))
    print(f"wrote {args.out}")
