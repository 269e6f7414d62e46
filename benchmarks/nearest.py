"""Copying check: each of 64 samples of a run beside its nearest training image in the data judge's features.

    python benchmarks/nearest.py RUN --out docs/nearest.png

Writes a grid of pairs (sample, nearest training image; 8 pairs a row) and prints, as JSON, the samples'
distances to their nearest training image against the same for real images the run did not train on (those
``data.limit`` left out; without a limit, each training image to its nearest other one): a G that copies its
training images sits far closer to them than other real images do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganforge import checkpoint  # noqa: E402
from ganforge.data import data_from_record, load_dataset, subset  # noqa: E402
from ganforge.generate import load_generator  # noqa: E402
from ganforge.grid import save_grid, to_uint8  # noqa: E402
from ganforge.metrics import load_data_judge  # noqa: E402
from ganforge.sampling import generate, seeded_z  # noqa: E402


def nearest(feats: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to, and index of, the nearest row of ``ref`` for each row of ``feats`` (Euclidean)."""
    d = torch.cdist(feats.float(), ref.float())
    return d.min(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, default=Path("nearest.png"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    gen = load_generator(args.run)
    record = checkpoint.read_meta(gen.path).get("data")
    if not record:
        raise SystemExit(f"{args.run} does not record its data; train it with this ganforge")
    cfg = data_from_record(record)
    train = load_dataset(cfg)                                  # what the run trained on (data.limit included)
    judge = load_data_judge(cfg)
    samples = to_uint8(generate(gen, seeded_z(gen, 64, args.seed)))
    f_s, _ = judge.run(samples)
    f_t, _ = judge.run(train.images)
    d_s, idx = nearest(f_s, f_t)
    if cfg.limit is not None:                                  # real images the run never saw
        whole = load_dataset(data_from_record({**record, "limit": None}))
        kept = set(subset.pick(len(whole), cfg.limit, whole.labels, cfg.limit_seed).tolist())
        unseen = torch.tensor([i for i in range(len(whole)) if i not in kept][:2000])
        f_h, _ = judge.run(whole.images[unseen])
        d_h, _ = nearest(f_h, f_t)
    else:                                                      # each training image to its nearest other one
        d = torch.cdist(f_t[:2000].float(), f_t.float())
        d[torch.arange(len(d)), torch.arange(len(d))] = float("inf")
        d_h = d.min(1).values
    pairs = torch.stack([samples, train.images[idx]], 1).flatten(0, 1)   # sample, nearest, sample, nearest ...
    save_grid(pairs.float() / 127.5 - 1, args.out, nrow=16)
    print(json.dumps({"run": str(args.run), "step": gen.step, "training_images": len(train),
                      "sample_to_nearest_median": round(float(d_s.median()), 3),
                      "unseen_real_to_nearest_median": round(float(d_h.median()), 3),
                      "samples_closer_than_any_unseen_real": int((d_s < d_h.min()).sum()),
                      "out": str(args.out)}))


if __name__ == "__main__":
    main()
