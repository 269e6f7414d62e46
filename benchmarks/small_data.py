"""Small data: which recipe trains best on a few hundred or a few thousand images, for equal CPU time.

Fashion-MNIST at 28 px, on fixed class-balanced subsets (``data.limit``) and on the full set as the
reference, each run trained for the same minutes on one CPU thread (two runs side by side), then
scored on 5,000 samples with the project's Fashion-MNIST judge: FD against the test split,
precision and recall (k = 3) against test images, class coverage, and copying (median distance to
the nearest training image, generated over held-out test images: near 1 is new images, well below
1 is copies of the training set).

    python benchmarks/small_data.py --minutes 4     # writes benchmarks/results/small_data.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.generate import load_generator
from ganforge.grid import to_uint8
from ganforge.metrics import frechet, manifold
from ganforge.metrics.train_judge import load_judge
from ganforge.sampling import generate, seeded_z

RECIPES = {
    "none": [],
    "diffaug": ["train.augment=diffaug"],
    "ada": ["train.augment=ada"],
    "diffaug+r1+sn": ["train.augment=diffaug", "train.r1=0.1", "model.spectral_norm=true"],
    "ada-tc": ["train.augment=ada", "train.augment_policy=translation,color"],   # ADA without cutout
    # the same, with p moving at StyleGAN2-ADA's speed (500 kimg for 0 -> 1, not 100)
    "ada-tc-slow": ["train.augment=ada", "train.augment_policy=translation,color", "train.ada_kimg=500"],
    # p steered by overfitting itself: D on training images against held-out ones (rv), at 100 kimg
    "ada-rv": ["train.augment=ada", "train.augment_policy=translation,color", "train.ada_signal=rv"],
}
BASE = ["--preset", "quick", "--data", "fashion-mnist", "--resolution", "28", "--arch", "dcgan",
        "--steps", "10000000", "train.sample_every=100000", "train.ckpt_every=100000", "train.log_every=100",
        "train.threads=1", "--device", "cpu", "--quiet"]


def train(name: str, limit: int | None, recipe: str, seed: int, minutes: float, runs: Path) -> dict:
    args = [*BASE, "--minutes", str(minutes), "--name", name, "--runs-dir", str(runs / name), f"train.seed={seed}",
            *(["data.limit=" + str(limit)] if limit else []), *RECIPES[recipe]]
    t0 = time.perf_counter()
    run, final_p = _train(name, args, runs)
    return {"name": name, "limit": limit, "recipe": recipe, "seed": seed, "wall_s": round(time.perf_counter() - t0, 1),
            "run": str(run), "train_args": args, "final_p": final_p}


def _train(name: str, args: list[str], runs: Path) -> tuple[Path, float | None]:
    """``ganforge train ARGS`` in its own process: the run folder and ADA's last p (None without ADA)."""
    p = subprocess.run([sys.executable, "-m", "ganforge", "train", *args], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{name} failed: {p.stderr.strip()}")
    run = next((runs / name).iterdir())
    p_last = [r["augment_p"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if "augment_p" in r]
    return run, p_last[-1] if p_last else None


# the bundled digits (1,797 images): ``ganforge train`` as typed (the small-data recipe applies) against
# the quick preset it otherwise follows, scored by ``ganforge eval``'s digits judge (FD-digits, coverage)
DIGITS = {"bare": [], "quick": ["--preset", "quick"]}
DIGITS_LABEL = {"bare": "bare (recipe)", "quick": "quick preset"}


def train_digits(variant: str, seed: int, minutes: float, runs: Path) -> dict:
    name = f"digits-{variant}-{minutes:g}m-s{seed}"
    args = ["--minutes", str(minutes), "--steps", "10000000", "--runs-dir", str(runs / name), f"train.seed={seed}",
            "train.sample_every=100000", "train.ckpt_every=100000", "train.log_every=100", "train.threads=1",
            "--device", "cpu", "--quiet", *DIGITS[variant]]
    run, final_p = _train(name, args, runs)
    return {"name": name, "dataset": "digits", "recipe": DIGITS_LABEL[variant], "seed": seed, "run": str(run),
            "train_args": args, "final_p": final_p, "minutes": minutes}


def parse_cell(text: str, minutes: float) -> tuple[str, str, float]:
    """``SIZE:RECIPE[:MINUTES]`` (SIZE a number of images, ``full`` or ``digits``) -> (size, recipe, minutes)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"--grid cell {text!r}: write SIZE:RECIPE or SIZE:RECIPE:MINUTES, e.g. 2000:none:10")
    size, recipe = parts[:2]
    known = DIGITS if size == "digits" else RECIPES
    if recipe not in known or not (size in ("full", "digits") or size.isdigit()):
        raise SystemExit(f"--grid cell {text!r}: size is a number, full or digits; recipes: {', '.join(known)}")
    return size, recipe, float(parts[2]) if len(parts) == 3 else minutes


def run_job(size: str, recipe: str, minutes: float, seed: int, runs: Path) -> dict:
    if size == "digits":
        return train_digits(recipe, seed, minutes, runs)
    limit = None if size == "full" else int(size)
    out = train(f"{size}-{recipe}-{minutes:g}m-s{seed}", limit, recipe, seed, minutes, runs)
    return {**out, "dataset": "fashion-mnist", "minutes": minutes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0, help="training minutes per run (one thread each)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--full", nargs="*", default=["none"], help="recipes also run on the full set")
    ap.add_argument("--digits", action="store_true", help="also the bundled digits: bare train against --preset quick")
    ap.add_argument("--grid", nargs="+", metavar="SIZE:RECIPE[:MINUTES]",
                    help="exactly these cells instead of sizes x recipes (e.g. 2000:none:10 full:ada-rv digits:bare)")
    ap.add_argument("-n", type=int, default=5000, help="generated and test images per score")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=1, help="training seeds per (size, recipe): train.seed 0..N-1")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "small_data.json")
    ap.add_argument("--append", action="store_true", help="add these rows to the rows already in --out")
    args = ap.parse_args()

    if args.grid:
        cells = [parse_cell(c, args.minutes) for c in args.grid]
    else:
        cells = [("full", r, args.minutes) for r in args.full]
        cells += [(str(n), r, args.minutes) for n in args.sizes for r in args.recipes]
        cells += [("digits", v, args.minutes) for v in DIGITS] if args.digits else []
    # the longest runs first, so that runs side by side end together
    jobs = sorted([(*c, s) for c in cells for s in range(args.seeds)], key=lambda j: -j[2])
    runs = Path(tempfile.mkdtemp(prefix="small-data-"))
    print(f"{len(jobs)} runs, {args.parallel} at a time, in {runs}", flush=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        trained = list(pool.map(lambda j: run_job(*j, runs), jobs))
    rows = score_fashion([t for t in trained if t["dataset"] == "fashion-mnist"], args.n)
    rows += score_digits([t for t in trained if t["dataset"] == "digits"], args.n)
    if args.append and args.out.is_file():
        rows = json.loads(args.out.read_text())["rows"] + rows
    result = {"benchmark": "small_data", "dataset": "fashion-mnist", "resolution": 28, "n": args.n,
              "parallel": args.parallel, "reference": "test split", "rows": rows, "summary": summary(rows),
              "base_args": BASE, "recipes": RECIPES, "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(summary_table(result["summary"]))
    print(f"wrote {args.out}")


def score_fashion(trained: list[dict], n: int) -> list[dict]:
    if not trained:
        return []
    judge = load_judge("fashion-mnist")
    full = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution))
    test = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution, split="test"))
    f_test, _ = judge.run(test.images[:n])
    held_out = judge.run(test.images[n:2 * n])[0]  # other test images: what "new" looks like
    mu_t, sig_t = frechet.mean_cov(f_test)
    train_feats, rows = {}, []
    for t in trained:
        if t["limit"] not in train_feats:
            data = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution, limit=t["limit"]))
            train_feats[t["limit"]] = judge.run(data.images)[0]
        gen = load_generator(t["run"])
        fake, logits = judge.run(to_uint8(generate(gen, seeded_z(gen, n, 1))))
        row = {**{k: t[k] for k in ("name", "limit", "recipe", "seed", "wall_s", "final_p", "minutes")},
               "images": t["limit"] or len(full), "judge_sha256": judge.sha256,
               "step": gen.step, "fd": frechet.frechet_distance(*frechet.mean_cov(fake), mu_t, sig_t),
               "coverage": frechet.coverage(logits, len(judge.classes)),
               **manifold.precision_recall(f_test, fake), **manifold.copying(fake, held_out, train_feats[t["limit"]])}
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def score_digits(trained: list[dict], n: int) -> list[dict]:
    from ganforge.scoring import score

    rows = []
    for t in trained:
        results = {r.metric: r.value for r in score(t["run"], "fd,coverage", n=n).results}
        fd = next(v for k, v in results.items() if k.startswith("fd"))
        row = {"name": t["name"], "images": 1797, "dataset": "digits", "recipe": t["recipe"], "seed": t["seed"],
               "minutes": t["minutes"], "fd": round(fd, 4), "coverage": round(results["coverage"], 4),
               "final_p": t["final_p"], "step": load_generator(t["run"]).step}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    head = "| images | recipe | steps | FD | precision | recall | coverage | copy ratio |\n|---|---|---|---|---|---|---|---|"
    f = lambda r, k, d: f"{r[k]:.{d}f}" if r.get(k) is not None else "-"  # noqa: E731
    lines = [f"| {r['images']:,} | {r['recipe']} | {r['step']:,} | {f(r, 'fd', 2)} | {f(r, 'precision', 3)} | "
             f"{f(r, 'recall', 3)} | {f(r, 'coverage', 3)} | {f(r, 'copy_ratio', 2)} |" for r in rows]
    return "\n".join([head, *lines])


KEYS = ("fd", "precision", "recall", "coverage", "copy_ratio", "final_p")


def summary(rows: list[dict]) -> list[dict]:
    """Mean and standard error over seeds for each (images, recipe, minutes)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["images"], r["recipe"], r.get("minutes")), []).append(r)
    out = []
    for (images, recipe, minutes), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][2]), kv[0][1])):
        cell = {"images": images, "recipe": recipe, "minutes": minutes, "seeds": len(rs)}
        for k in KEYS:
            v = [r[k] for r in rs if r.get(k) is not None]
            if v:
                m = sum(v) / len(v)
                se = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 / len(v) ** 0.5 if len(v) > 1 else 0.0
                cell[k] = {"mean": round(m, 4), "se": round(se, 4)}
        out.append(cell)
    return out


def summary_table(cells: list[dict]) -> str:
    head = ("| images | minutes | recipe | seeds | FD | precision | recall | coverage | copy ratio | final p |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda c, k, d: f"{c[k]['mean']:.{d}f} ± {c[k]['se']:.{d}f}" if k in c else "-"  # noqa: E731
    lines = [f"| {c['images']:,} | {c['minutes']} | {c['recipe']} | {c['seeds']} | {fmt(c, 'fd', 2)} | "
             f"{fmt(c, 'precision', 3)} | {fmt(c, 'recall', 3)} | {fmt(c, 'coverage', 3)} | "
             f"{fmt(c, 'copy_ratio', 2)} | {fmt(c, 'final_p', 2)} |" for c in cells]
    return "\n".join([head, *lines])


if __name__ == "__main__":
    main()
