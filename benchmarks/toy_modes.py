"""The mode-collapse benchmarks of VEEGAN and PacGAN, run by the lab as users run it: ring of 8 and grid of 25
Gaussians.

Each row is run on seeds 0-19 (``--seeds``) and reports, beside the mean, how many seeds meet the README's
record (ring 8 modes / 98% high quality / reverse KL 0.02; grid 25 / 95% / 0.03) and the worst seed: a
user runs one seed, and a mean can hide the one that collapses.

Every trial is the command as typed, ``ganforge lab --headless --dist D --seed S [settings]``, timed from
start to exit, and scored from its ``metrics.json`` (2,500 points: modes captured, share of high-quality
points within 3 std of a mode, reverse KL of the mode shares). Rows, 10 seeds each, mean +- standard error:

- a plain GAN (one point per D input, GAN Lab's uniform noise, no sampler);
- the defaults with uniform noise (the noise space's part);
- the defaults, G alone and with each sampler: the default sampler from the trial's own metrics, the others
  from its saved ``model.safetensors`` with the same calibration and seed the command would use (``--set
  KEY=VALUE`` adds settings to these trials, to measure a candidate default as typed);
- PacGAN's own setup (its networks, N(0, I) noise, Adam 1e-4 / beta1 0.8, batches of 100; PacGAN2 on the
  ring, PacGAN4 on the grid), trained for the defaults' mean training seconds on that distribution.

Two trials run side by side (one thread each, the lab's default, on this machine's two cores). Then, with the
page open in headless Chromium while it trains, the frames per second the page draws.

    python benchmarks/toy_modes.py            # writes benchmarks/results/toy_modes.json
    python benchmarks/toy_modes.py --rows default --no-browser --out benchmarks/results/toy_modes-default.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ganforge.lab2d.settings import LabSettings, pacgan, plain

# PacGAN (Lin et al. 2018), Table 1: 10 trials each, 400 epochs of 100,000 points on a GPU (None: not quoted)
PUBLISHED = [
    ("GAN", (6.3, 98.2, 0.45), (17.3, 94.8, 0.70)),
    ("ALI", None, (24.1, 95.7, 0.14)),
    ("PacGAN2", (7.9, 95.6, 0.07), (23.8, 91.3, 0.13)),
    ("PacGAN3", None, (24.6, 94.2, 0.06)),
    ("PacGAN4", (7.8, 95.9, 0.07), (24.8, 93.6, 0.04)),
]
PACK = {"ring": 2, "grid": 4}  # PacGAN's setup: its row with the fewest misses on each
OTHER_SAMPLERS = ("plain", "rejection", "refine", "both")


def as_words(s: LabSettings) -> list[str]:
    """KEY=VALUE words for the fields of ``s`` that differ from the defaults (what a user types)."""
    base = LabSettings(dist=s.dist).to_dict()
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in s.to_dict().items()
            if v != base[k] and k not in ("dist", "seed")]


def settings_for(kind: str, dist: str, seconds: float | None) -> list[str]:
    if kind == "plain":
        return as_words(plain(dist))
    if kind == "uniform":
        return ["noise=uniform"]
    if kind == "pacgan":
        return [*as_words(pacgan(dist, PACK[dist])), "sampler=plain", "steps=10000000", f"seconds={seconds:.2f}"]
    return []


def trial(job: tuple[str, str, int, list[str]]) -> dict:
    """One command as typed, timed; for the defaults also the samplers it did not use, from its model file."""
    kind, dist, seed, words = job
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "ganforge", "lab", "--headless", "--dist", dist, "--seed", str(seed), *words,
                "--out", tmp]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        m = json.loads((Path(tmp) / "metrics.json").read_text())
        row = {"kind": kind, "dist": dist, "seed": seed, "argv": argv[3:-2], "wall_seconds": round(wall, 2),
               "steps": m["steps"], "train_seconds": m["seconds"], "samplers": {"plain": score(m["final"])}}
        if "sampler" in m:
            row["samplers"][m["sampler"]["name"]] = {**score(m["sampler"]["final"]),
                                                     "seconds": m["sampler"]["seconds"]}
        if kind == "default":
            row["samplers"].update(other_samplers(Path(tmp) / "model.safetensors", row["samplers"]))
    return row


def other_samplers(path: Path, done: dict) -> dict:
    from ganforge.lab2d.modelfile import from_bytes
    from ganforge.lab2d.samplers import calibrate, draw
    from ganforge.lab2d.trainer import MODE_POINTS

    torch.set_num_threads(1)
    trainer = from_bytes(path.read_bytes())
    out = {}
    for name in OTHER_SAMPLERS:
        if name in done:
            continue
        t0 = time.perf_counter()
        cals = calibrate(trainer, name)
        drawn = draw(trainer, cals, MODE_POINTS, trainer.s.seed + 3, name)  # the points headless scores
        m = {**trainer.measure_points(drawn.points), **drawn.summary()}
        out[name] = {**score(m), "seconds": round(time.perf_counter() - t0, 2)}
    return out


def score(m: dict) -> dict:
    keys = ("modes", "high_quality", "reverse_kl", "kept_share", "mean_move")
    return {k: round(float(m[k]), 4) for k in keys if k in m}


def mean_se(values: list[float]) -> dict:
    v = torch.tensor(values, dtype=torch.float64)
    se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "se": se, "min": float(v.min()), "max": float(v.max())}


ROWS = [  # (label, kind, sampler)
    ("plain GAN (pack 1, uniform noise)", "plain", "plain"),
    ("defaults with uniform noise, G alone", "uniform", "plain"),
    ("defaults with uniform noise, refine", "uniform", "refine"),
    ("defaults, G alone (the default sampler)", "default", "plain"),
    ("defaults + rejection", "default", "rejection"),
    ("defaults + refine", "default", "refine"),
    ("defaults + rejection and refine", "default", "both"),
    ("PacGAN's setup, same seconds", "pacgan", "plain"),
]


# what a seed must reach to meet the README's record (modes, high-quality share at least, reverse KL at most)
RECORD = {"ring": (8, 0.98, 0.02), "grid": (25, 0.95, 0.03)}


def meets(m: dict, dist: str) -> bool:
    modes, hq, rkl = RECORD[dist]
    return m["modes"] >= modes and m["high_quality"] >= hq and m["reverse_kl"] <= rkl


def worst(rows: list[dict], sampler: str) -> dict:
    """The seed a user would least like to have run: fewest modes, then the lowest high-quality share."""
    t = min(rows, key=lambda t: (t["samplers"][sampler]["modes"], t["samplers"][sampler]["high_quality"]))
    return {"seed": t["seed"], **{k: t["samplers"][sampler][k] for k in ("modes", "high_quality", "reverse_kl")}}


def summarise(trials: list[dict]) -> dict:
    out = {}
    for label, kind, sampler in ROWS:
        for dist in ("ring", "grid"):
            rows = [t for t in trials if t["kind"] == kind and t["dist"] == dist and sampler in t["samplers"]]
            if not rows:
                continue
            cell = {k: mean_se([t["samplers"][sampler][k] for t in rows])
                    for k in ("modes", "high_quality", "reverse_kl")}
            cell["wall_seconds"] = mean_se([t["wall_seconds"] for t in rows])
            cell["steps"] = mean_se([t["steps"] for t in rows])
            cell["seeds"] = len(rows)
            cell["meet_record"] = sum(meets(t["samplers"][sampler], dist) for t in rows)
            cell["missed"] = [t["seed"] for t in rows if not meets(t["samplers"][sampler], dist)]
            cell["worst"] = worst(rows, sampler)
            out.setdefault(label, {})[dist] = cell
    return out


def table(summary: dict) -> str:
    lines = ["| | ring modes (of 8) | ring high quality | ring reverse KL | ring seeds meeting 8 / 98% / 0.02; worst "
             "| grid modes (of 25) | grid high quality | grid reverse KL | grid seeds meeting 25 / 95% / 0.03; worst "
             "| seconds per trial (ring, grid) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, ring, grid in PUBLISHED:
        cells = []
        for r in (ring, grid):
            cells += ["-", "-", "-", "-"] if r is None else [f"{r[0]}", f"{r[1]}%", f"{r[2]}", "-"]
        lines.append(f"| {name} (published) | " + " | ".join(cells) + " | |")
    for label, cell in summary.items():
        cells = []
        for dist in ("ring", "grid"):
            s = cell.get(dist)
            if s is None:
                cells += ["-"] * 4
                continue
            w = s["worst"]
            cells += [f"{s['modes']['mean']:.1f} ± {s['modes']['se']:.1f}",
                      f"{100 * s['high_quality']['mean']:.1f}% ± {100 * s['high_quality']['se']:.1f}",
                      f"{s['reverse_kl']['mean']:.3f} ± {s['reverse_kl']['se']:.3f}",
                      f"{s['meet_record']} of {s['seeds']}; seed {w['seed']}: {w['modes']}, "
                      f"{100 * w['high_quality']:.1f}%, {w['reverse_kl']:.3f}"]
        secs = ", ".join(f"{cell[d]['wall_seconds']['mean']:.0f}" if d in cell else "-" for d in ("ring", "grid"))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {secs} |")
    return "\n".join(lines)


def run_jobs(jobs: list, parallel: int) -> list[dict]:
    out = []
    with ProcessPoolExecutor(parallel) as pool:
        for r in pool.map(trial, jobs):
            out.append(r)
            print(json.dumps({k: r[k] for k in ("kind", "dist", "seed", "wall_seconds", "steps")} |
                             {"plain_hq": r["samplers"]["plain"]["high_quality"]}), flush=True)
    return out


def main() -> None:
    from page_speed import page_speed

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per distribution and row (default 20)")
    ap.add_argument("--rows", nargs="+", default=["default", "plain", "uniform", "pacgan"],
                    choices=["default", "plain", "uniform", "pacgan"], help="which rows to run (pacgan needs default)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="lab settings added to the default row's trials (a candidate default, measured as typed)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--page-only", action="store_true", help="measure the page again into the existing JSON")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "toy_modes.json")
    args = ap.parse_args()
    if args.page_only:
        out = json.loads(args.out.read_text())
        out["page"] = page_speed()
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print("page:", json.dumps(out["page"]))
        return
    seeds = range(args.seeds)
    started = time.perf_counter()
    if "pacgan" in args.rows and "default" not in args.rows:
        ap.error("the pacgan row trains for the default row's seconds: add --rows default")
    trials = run_jobs([("default", d, s, list(args.set)) for d in ("ring", "grid") for s in seeds], args.parallel) \
        if "default" in args.rows else []
    budget = {d: mean_se([t["train_seconds"] for t in trials if t["dist"] == d])["mean"] for d in ("ring", "grid")} \
        if trials else {}
    trials += run_jobs([(k, d, s, settings_for(k, d, budget.get(d))) for k in ("plain", "uniform", "pacgan")
                        if k in args.rows for d in ("ring", "grid") for s in seeds], args.parallel)
    summary = summarise(trials)
    page = {"skipped": "--no-browser"} if args.no_browser else page_speed()
    out = {"benchmark": "toy_modes", "seeds": args.seeds, "parallel": args.parallel, "rows": args.rows,
           "default_row_settings": args.set, "record": RECORD,
           "note": f"{args.parallel} trials side by side, one thread each", "summary": summary, "page": page,
           "pacgan_seconds": budget, "published": PUBLISHED, "trials": trials,
           "benchmark_seconds": round(time.perf_counter() - started), "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(table(summary))
    print("page:", json.dumps(page))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
