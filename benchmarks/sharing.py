"""Training when the CPU is shared: the command as a user types it, alone, beside one busy core, and two at
once, against the same command with its thread count pinned (what it did before the thread count
followed the load). Called by ``throughput.py`` (which records it in its JSON), or on its own:

    python benchmarks/sharing.py --rounds 2 --steps 300
    python benchmarks/sharing.py --train "--data emoji" --steps 300    # a 64 px folder of pictures

Each run is ``ganforge train --preset quick --steps N`` (``--train`` replaces ``--preset quick``) in its own
process; its speed is the median images/s of its metrics.jsonl records after step 100 (start-up and warm-up
left out). "Beside one busy
core" runs a Python busy loop alongside; "two at once" starts two trainings together, and their summed
images/s over one alone is the share of the throughput the same two get one after the other. Rounds
interleave the two variants, so slow drifts of the machine hit both alike.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {"as typed": [], "threads pinned": None}  # pinned: train.threads=<PyTorch's default count>


TRAIN = ["--preset", "quick"]  # what is trained; --train replaces it


def _start(extra: list[str], steps: int) -> subprocess.Popen:
    folder = tempfile.mkdtemp(prefix="sharing-")
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "train", *TRAIN, "--steps", str(steps),
                          "--runs-dir", folder, "train.log_every=20", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p.folder = folder
    return p


def _speed(p: subprocess.Popen) -> tuple[float, list[str]]:
    out = p.communicate()[0]
    if p.returncode:
        raise SystemExit(f"training failed:\n{out[-2000:]}")
    path = glob.glob(f"{p.folder}/*/metrics.jsonl")[0]
    rates = [r["images_per_s"] for r in map(json.loads, Path(path).read_text().splitlines())
             if r.get("kind") == "train" and r["step"] > 100]
    return statistics.median(rates), [line for line in out.splitlines() if "CPU cores" in line]


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def one_round(extra: list[str], steps: int) -> dict:
    alone, _ = _speed(_start(extra, steps))
    busy = _busy()
    time.sleep(0.5)
    try:
        beside, notes = _speed(_start(extra, steps))
    finally:
        busy.kill()
        busy.wait()
    pair = [_start(extra, steps), _start(extra, steps)]
    both = [_speed(p)[0] for p in pair]
    return {"alone": round(alone, 1), "beside_busy": round(beside, 1), "two_at_once": [round(b, 1) for b in both],
            "beside_busy_share": round(beside / alone, 3), "two_at_once_share": round(sum(both) / alone, 3),
            "notes": notes[:2]}


def _mean_se(values: list[float]) -> dict:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": round(m, 3), "se": round(se, 3)}


def measure(rounds: int = 2, steps: int = 300) -> dict:
    import torch

    pinned = [f"train.threads={torch.get_num_threads()}"]
    runs = {name: [] for name in VARIANTS}
    for r in range(rounds):
        for name, extra in VARIANTS.items():
            row = one_round(pinned if extra is None else extra, steps)
            runs[name].append(row)
            print(f"sharing round {r + 1} {name}: {json.dumps(row)}", flush=True)
    out = {"train": " ".join(TRAIN), "steps": steps, "rounds": rounds, "pinned_threads": pinned[0], "runs": runs,
           "summary": {}}
    for name, rows in runs.items():
        out["summary"][name] = {k: _mean_se([row[k] for row in rows])
                                for k in ("alone", "beside_busy_share", "two_at_once_share")}
    a, p = out["summary"]["as typed"]["alone"]["mean"], out["summary"]["threads pinned"]["alone"]["mean"]
    out["summary"]["alone_as_typed_over_pinned"] = round(a / p, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--train", default=" ".join(TRAIN), help="what ganforge train trains (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="also write the whole result here as JSON")
    args = ap.parse_args()
    TRAIN[:] = args.train.split()
    result = measure(args.rounds, args.steps)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
