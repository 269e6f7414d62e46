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
# the defaults before the budget recipe (the quick preset's values): the first round's settings start from them
BEFORE = ["model.ngf=32", "model.ndf=32", "optim.lr_g=5e-4", "optim.lr_d=2e-4", "train.ema_kimg=0", "train.lr_decay=none"]
SETTINGS: dict[str, list[str]] = {  # name -> keys beyond the command as typed
    "today": BEFORE,                                         # the defaults before the budget recipe
    "ema": [*BEFORE, *EMA, "train.lr_decay=none"],
    "ema-linear": [*BEFORE, *EMA, "train.lr_decay=linear"],
    "ema-cosine": [*BEFORE, *EMA, "train.lr_decay=cosine"],
    "ema-linear-w64": [*BEFORE, *EMA, "train.lr_decay=linear", "model.ngf=64", "model.ndf=64"],
    "ema-linear-b128": [*BEFORE, *EMA, "train.lr_decay=linear", "train.batch_size=128"],
    "ema-linear-ttur": [*BEFORE, *EMA, "train.lr_decay=linear", "optim.lr_d=4e-4"],
    "ema-linear-hinge": [*BEFORE, *EMA, "train.lr_decay=linear", "--loss", "hinge"],
    "ema-linear-lr2": [*BEFORE, *EMA, "train.lr_decay=linear", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-lr2": [*BEFORE, *EMA, "train.lr_decay=none", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-w16": [*BEFORE, *EMA, "train.lr_decay=none", "model.ngf=16", "model.ndf=16"],
    "ema-w16-lr2": [*BEFORE, *EMA, "train.lr_decay=none", "model.ngf=16", "model.ndf=16", "optim.lr_g=1e-3", "optim.lr_d=4e-4"],
    "ema-k5": [*BEFORE, "train.ema_kimg=5", "train.ema_rampup=0.05", "train.lr_decay=none"],
    "ema-k5-linear": [*BEFORE, "train.ema_kimg=5", "train.ema_rampup=0.05", "train.lr_decay=linear"],
    "ema-k20-linear": [*BEFORE, "train.ema_kimg=20", "train.ema_rampup=0.05", "train.lr_decay=linear"],
    "defaults": [],                                          # whatever the defaults are now
}
LR2, LR3 = ["optim.lr_g=1e-3", "optim.lr_d=4e-4"], ["optim.lr_g=2e-3", "optim.lr_d=8e-4"]
W = {w: [f"model.ngf={w}", f"model.ndf={w}"] for w in (12, 16, 24, 32)}
K5 = ["train.ema_kimg=5", "train.ema_rampup=0.05", "train.lr_decay=none"]
SETTINGS.update({  # the second round: around the first round's best (narrow nets, faster rates, a shorter EMA)
    "w16-lr2-k5": [*K5, *W[16], *LR2],
    "w16-lr3-k5": [*K5, *W[16], *LR3],
    "w12-lr2-k5": [*K5, *W[12], *LR2],
    "w24-lr2-k5": [*K5, *W[24], *LR2],
    "w16-lr2-k5-b32": [*K5, *W[16], *LR2, "train.batch_size=32"],
    "w16-lr2-k5-hinge": [*K5, *W[16], *LR2, "--loss", "hinge"],
    "w16-lr2-k5-cosine": [*K5[:2], "train.lr_decay=cosine", *W[16], *LR2],
    "w16-lr2-k2": ["train.ema_kimg=2", "train.ema_rampup=0.05", "train.lr_decay=none", *W[16], *LR2],
    # the third: wider nets at the faster rates (at 16 and 12 channels a step costs the same: overhead-bound)
    "w24-lr3-k5": [*K5, *W[24], *LR3],
    "w32-lr2-k5": [*K5, *W[32], *LR2],
    "w32-lr3-k5": [*K5, *W[32], *LR3],
    "w24-lr4-k5": [*K5, *W[24], "optim.lr_g=4e-3", "optim.lr_d=1.6e-3"],
    "w24-lr3-k5-hinge": [*K5, *W[24], *LR3, "--loss", "hinge"],
    "w32-lr4-k5": [*K5, *W[32], "optim.lr_g=4e-3", "optim.lr_d=1.6e-3"],
})
LITE = {w: ["--arch", "lite", f"model.ngf={w}", f"model.ndf={w}"] for w in (8, 16, 24, 32)}
SETTINGS.update({  # folders at 64 px and up (emoji): the lite family against the DCGAN default
    "lite-w16": LITE[16], "lite-w24": LITE[24], "lite-w32": LITE[32], "lite-w8": LITE[8],
    "lite-w16-hinge": [*LITE[16], "--loss", "hinge"],
    "lite-w16-lr2": [*LITE[16], "optim.lr_g=2e-4", "optim.lr_d=2e-4"],
    "lite-w16-diffaug": [*LITE[16], "train.augment=diffaug", "train.augment_policy=translation,color"],
    "dcgan-w16": W[16],
})
SETTINGS.update({  # the default DCGAN at 64 px: smaller batches (more steps a minute), augmentation
    "b64": ["train.batch_size=64"], "b32": ["train.batch_size=32"], "b16": ["train.batch_size=16"],
    "diffaug": ["train.augment=diffaug", "train.augment_policy=translation,color"],
})
QUIET = ["train.sample_every=100000", "train.ckpt_every=100000", "train.log_every=100", "--quiet"]
# --typed and --ctrl-c: the command as typed, its sample grids, checkpoints and records included (only the
# progress line is off: its output would go to a pipe)


def parse_cell(text: str) -> tuple[str, float]:
    name, _, minutes = text.partition(":")
    if name not in SETTINGS or not minutes.replace(".", "", 1).isdigit():
        raise SystemExit(f"--grid cell {text!r}: write SETTING:MINUTES, settings {', '.join(SETTINGS)}")
    return name, float(minutes)


def also_keys(args) -> list[str]:
    """--also: every checkpoint kept (the command as typed saves one each 500 steps; the quiet grid runs too)."""
    if not args.also:
        return []
    return ["train.keep_ckpts=100000", *([] if args.typed or args.ctrl_c else ["train.ckpt_every=500"])]


def train(args, setting: str, minutes: float, seed: int, runs: Path) -> dict:
    name = f"{setting}-{minutes:g}m-s{seed}"
    length = ["--steps", "10000000"] if args.ctrl_c else ["--minutes", str(minutes)]
    data = ["--data", "folder", "--path", str(args.path)] if args.path else ["--data", args.dataset]
    argv = [sys.executable, "-m", "ganforge", "train", *data,
            *(["--resolution", str(args.resolution)] if args.resolution else []),
            *length, "--runs-dir", str(runs / name), "--seed", str(seed),
            *(["--quiet"] if args.typed or args.ctrl_c else QUIET), *SETTINGS[setting], *args.overrides,
            *([] if args.typed else ["train.threads=1", "--device", "cpu"]), *also_keys(args)]
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
    done = {"name": name, "setting": setting, "minutes": minutes, "seed": seed, "run": str(run),
            "wall_s": round(time.perf_counter() - t0, 1), "train_args": argv[3:]}
    return [done, *(at_minutes(done, m) for m in args.also if m < minutes)]


def at_minutes(done: dict, minutes: float) -> dict:
    """The run as it stood after ``minutes`` of training: its checkpoint whose training seconds are nearest.
    Only where nothing in the run depends on its length (no learning-rate decay: the EMA ramp counts images
    seen), so a longer run up to then is the shorter run."""
    from ganforge import checkpoint

    kept = sorted((Path(done["run"]) / "checkpoints").glob("ckpt-*.safetensors"))
    points = [(float(checkpoint.load_state(c)["schedule"]["trained_s"]), c) for c in kept]
    s, ckpt = min(points, key=lambda p: abs(p[0] - minutes * 60))
    return {**done, "name": f"{done['setting']}-{minutes:g}m-s{done['seed']} (of {done['name']})",
            "minutes": minutes, "run": str(ckpt), "trained_s": round(s, 1), "of_minutes": done["minutes"]}


EVALUATORS: dict = {}


def make_evaluator(dataset: str, n: int, resolution: int | None):
    """The dataset's shipped judge, or one trained on the dataset at the runs' resolution (emoji)."""
    from ganforge.data import NATIVE_RESOLUTION, DataConfig
    from ganforge.metrics import Evaluator, has_shipped_judge

    if has_shipped_judge(dataset):
        return Evaluator(dataset, ["fd", "coverage"], n_ref=n)
    data = DataConfig(name=dataset, resolution=resolution or NATIVE_RESOLUTION.get(dataset, 64))
    return Evaluator(dataset, ["fd", "coverage"], data=data)


def score(trained: list[dict], dataset: str, n: int, resolution: int | None = None) -> list[dict]:
    from ganforge.generate import load_generator
    from ganforge.grid import to_uint8
    from ganforge.sampling import generate, seeded_z

    if (dataset, n) not in EVALUATORS:  # its reference features are computed once for the whole grid
        EVALUATORS[(dataset, n)] = make_evaluator(dataset, n, resolution)
    evaluator = EVALUATORS[(dataset, n)]
    rows = []
    for t in trained:
        gen = load_generator(t["run"])  # the EMA generator where the run has one
        samples = to_uint8(generate(gen, seeded_z(gen, n, 1)))
        res = {r.metric: r.value for r in evaluator(samples)}
        fd = next(k for k in res if k.startswith("fd-"))
        rows.append({**{k: t[k] for k in ("name", "setting", "minutes", "seed", "wall_s", "trained_s", "of_minutes")
                        if k in t},
                     "step": gen.step,
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
    from ganforge.metrics import has_shipped_judge
    from ganforge.metrics.train_judge import load_judge

    if not args.path and has_shipped_judge(args.dataset):  # a named dataset trains at its judge's resolution
        args.resolution = args.resolution or load_judge(args.dataset).resolution  # (a folder at its own unless told)
    data = f"{args.path.name} (folder)" if args.path else args.dataset
    if args.overrides:  # keys added to every run are part of what the rows measured
        data += " " + " ".join(args.overrides)
    cells = [parse_cell(c) for c in args.grid]
    decays = [k for s, _ in cells for k in SETTINGS[s] + args.overrides if k.startswith("train.lr_decay=")]
    if args.also and any(not k.endswith("=none") for k in decays):
        raise SystemExit("--also reads shorter budgets from a longer run: only for settings without train.lr_decay")
    # seed by seed, so each round sets settings side by side on the same seed (a grid cut short stays paired)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = sorted([(s, m, seed) for seed in seeds for s, m in cells], key=lambda j: -j[1])
    runs = Path(tempfile.mkdtemp(prefix="ttq-grid-"))
    parallel = 1 if args.typed else args.parallel
    mode = "ctrl-c" if args.ctrl_c else "typed" if args.typed else f"{parallel} side by side, 1 thread each"
    print(f"{len(jobs)} runs, {parallel} at a time ({mode}), in {runs}", flush=True)
    rows = json.loads(args.out.read_text())["rows"] if args.append and args.out.is_file() else []
    # a round of ``parallel`` runs trains side by side, then is scored with nothing else running; the file is
    # written after every round, so a grid cut short keeps what it measured
    for i in range(0, len(jobs), parallel):
        with ThreadPoolExecutor(parallel) as pool:
            trained = [t for ts in pool.map(lambda j: train(args, *j, runs), jobs[i:i + parallel]) for t in ts]
        rows += [{**r, "mode": mode + (f", read in {r['of_minutes']:g}-minute runs" if "of_minutes" in r else ""),
                  "dataset": data} for r in score(trained, args.dataset, args.n, args.resolution)]
        result = {"benchmark": "time_to_quality_grid", "n": args.n, "settings": SETTINGS, "rows": rows,
                  "summary": summary(rows), "torch": torch.__version__, "cpus": os.cpu_count(),
                  "cpu": platform.processor() or platform.machine()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(args.out)
    print(table(result["summary"]))
    print(f"wrote {args.out}")
