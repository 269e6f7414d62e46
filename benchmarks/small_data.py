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
}
BASE = ["--preset", "quick", "--data", "fashion-mnist", "--resolution", "28", "--arch", "dcgan",
        "--steps", "10000000", "train.sample_every=100000", "train.ckpt_every=100000", "train.log_every=100",
        "train.threads=1", "--device", "cpu", "--quiet"]


def train(name: str, limit: int | None, recipe: str, minutes: float, runs: Path) -> dict:
    args = [*BASE, "--minutes", str(minutes), "--name", name, "--runs-dir", str(runs / name),
            *(["data.limit=" + str(limit)] if limit else []), *RECIPES[recipe]]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ganforge", "train", *args], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{name} failed: {p.stderr.strip()}")
    return {"name": name, "limit": limit, "recipe": recipe, "wall_s": round(time.perf_counter() - t0, 1),
            "run": str(next((runs / name).iterdir())), "train_args": args}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0, help="training minutes per run (one thread each)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--full", nargs="*", default=["none"], help="recipes also run on the full set")
    ap.add_argument("-n", type=int, default=5000, help="generated and test images per score")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "small_data.json")
    ap.add_argument("--append", action="store_true", help="add these rows to the rows already in --out")
    args = ap.parse_args()

    judge = load_judge("fashion-mnist")
    full = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution))
    test = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution, split="test"))
    f_test, _ = judge.run(test.images[:args.n])
    held_out = judge.run(test.images[args.n:2 * args.n])[0]  # other test images: what "new" looks like
    mu_t, sig_t = frechet.mean_cov(f_test)

    jobs = [(f"full-{r}", None, r) for r in args.full]
    jobs += [(f"{n}-{r}", n, r) for n in args.sizes for r in args.recipes]
    runs = Path(tempfile.mkdtemp(prefix="small-data-"))
    print(f"{len(jobs)} runs of {args.minutes} min, {args.parallel} at a time, in {runs}", flush=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        trained = list(pool.map(lambda j: train(*j, args.minutes, runs), jobs))

    train_feats = {}
    rows = []
    for t in trained:
        if t["limit"] not in train_feats:
            data = load_dataset(DataConfig(name="fashion-mnist", resolution=judge.resolution, limit=t["limit"]))
            train_feats[t["limit"]] = judge.run(data.images)[0]
        gen = load_generator(t["run"])
        fake, logits = judge.run(to_uint8(generate(gen, seeded_z(gen, args.n, 1))))
        row = {**{k: t[k] for k in ("name", "limit", "recipe", "wall_s")}, "images": t["limit"] or len(full),
               "step": gen.step, "fd": frechet.frechet_distance(*frechet.mean_cov(fake), mu_t, sig_t),
               "coverage": frechet.coverage(logits, len(judge.classes)),
               **manifold.precision_recall(f_test, fake), **manifold.copying(fake, held_out, train_feats[t["limit"]])}
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        print(json.dumps(rows[-1]), flush=True)
    if args.append and args.out.is_file():
        rows = json.loads(args.out.read_text())["rows"] + rows
    result = {"benchmark": "small_data", "dataset": "fashion-mnist", "resolution": judge.resolution,
              "judge_sha256": judge.sha256, "n": args.n, "minutes": args.minutes, "parallel": args.parallel,
              "reference": "test split", "rows": rows, "base_args": BASE, "recipes": RECIPES,
              "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.out}")


def table(rows: list[dict]) -> str:
    head = "| images | recipe | steps | FD | precision | recall | coverage | copy ratio |\n|---|---|---|---|---|---|---|---|"
    lines = [f"| {r['images']:,} | {r['recipe']} | {r['step']:,} | {r['fd']:.2f} | {r['precision']:.3f} | "
             f"{r['recall']:.3f} | {r['coverage']:.3f} | {r['copy_ratio']:.2f} |" for r in rows]
    return "\n".join([head, *lines])


if __name__ == "__main__":
    main()
