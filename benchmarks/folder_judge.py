"""The judge trained on any data: how long it takes, its floor, and whether it ranks corrupted real images in
order (5 levels of blur, 5 of noise, fewer distinct images), on several data sets.

    python benchmarks/folder_judge.py                       # emoji 64 px, Fashion-MNIST 64 px RGB, digits 64 px
    python benchmarks/folder_judge.py --sets emoji --out benchmarks/results/folder_judge-emoji.json

Each corrupted set is the judge's held-out-sized sample of its training part, corrupted, scored against the
judge's reference (FD-<data>); the untouched sample is the baseline. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganforge.data import DataConfig, load_dataset  # noqa: E402
from ganforge.metrics import data_judge, frechet, judge_name, load_data_judge  # noqa: E402
from ganforge.metrics.corrupt import blur, fewer, noise  # noqa: E402

SETS = {
    "emoji": lambda: DataConfig(name="emoji", resolution=64),
    "fashion-64-rgb": lambda: DataConfig(name="fashion-mnist", resolution=64, channels=3),
    "digits-64": lambda: DataConfig(name="digits", resolution=64),
}
BLUR = [1.0, 1.5, 2.0, 3.0, 4.0]          # pixels at the data's resolution (the judge looks at 32 px)
NOISE = [0.02, 0.05, 0.1, 0.2, 0.4]       # of the full range
DISTINCT = [1000, 300, 100, 30, 10]


def fd(judge, images: torch.Tensor) -> float:
    feats, _ = judge.run(images)
    return frechet.frechet_distance(*frechet.mean_cov(feats), judge.mu, judge.sigma)


def in_order(values: list[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def measure(name: str, cfg: DataConfig, n: int) -> dict:
    data = load_dataset(cfg)
    t0 = time.time()
    judge = load_data_judge(cfg)
    took = time.time() - t0
    tr, _ = data_judge.split(len(data))
    sample = data.images[tr[torch.randperm(len(tr), generator=torch.Generator().manual_seed(1))[:n]]]
    base = fd(judge, sample)
    rows = {"blur": [fd(judge, blur(sample, s)) for s in BLUR],
            "noise": [fd(judge, noise(sample, s)) for s in NOISE],
            "distinct": [fd(judge, fewer(sample, k)) for k in DISTINCT if k < len(sample)]}
    out = {"set": name, "judge": judge_name(cfg), "images": len(data), "resolution": cfg.resolution,
           "judge_seconds_this_run": round(took, 1), "record": judge.record, "sample": len(sample),
           "untouched": round(base, 4), "blur_sigma": BLUR, "noise_sigma": NOISE,
           "distinct": [k for k in DISTINCT if k < len(sample)],
           **{k: [round(v, 4) for v in vs] for k, vs in rows.items()},
           **{f"{k}_in_order": in_order([base, *vs]) for k, vs in rows.items()}}
    print(f"{name}: judge {judge.record['train_seconds']}s, floor {judge.record['floor']} at "
          f"{judge.record['floor_images']}, untouched {base:.3f} at {len(sample)}; blur {rows['blur']}; "
          f"noise {rows['noise']}; distinct {rows['distinct']}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("-n", type=int, default=2000, help="images in each scored set (at most the training part)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "folder_judge.json")
    args = ap.parse_args()
    results = [measure(s, SETS[s](), args.n) for s in args.sets]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                    "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
