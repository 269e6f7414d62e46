"""The lab on a suite of data sets: every built-in distribution and point sets made here, split into a half
that defaults are chosen on (``TUNE``) and a half used only to report them (``REPORT``), never to tune.

Point sets are written as CSV files and trained with ``--points`` (``dist=points``: each point a small
Gaussian of 1% of the view). A set of separate points (more than 6 of those standard deviations apart) has
known modes, so the lab scores it with the mode measures as it does the ring and the grid; dense strokes
are continuous shapes, scored by precision and recall.

Every trial is the command as typed, ``ganforge lab --headless (--dist NAME | --points FILE.csv) --seed S
[KEY=VALUE]``, scored from its ``metrics.json`` (2,500 points; for the default sampler, G's own points).
Rows: the defaults, and the defaults with ``noise=`` uniform (GAN Lab's), normal, mixture (25 fixed
Gaussians, the lab's previous default) and learned (DeLiGAN), so that each row differs from the default in
its noise alone. Each cell gives the mean ± standard error over the seeds and the worst seed (fewest modes,
then lowest recall): a user runs one seed. Beside them, the data's own score: two draws of the data, 2,500 points each. For the
spiral and the moons also the fixed-radius measure the suite's first report used (a point within 0.05).
Two trials run side by side, one thread each.

    python benchmarks/lab_suite.py                 # every row, both halves, 5 seeds (~3 hours here)
    python benchmarks/lab_suite.py --rows default uniform --sets ring spiral --seeds 1
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DENSE = 2000  # points along a stroke


def grid_points(side: int, spacing: float = 2.0) -> np.ndarray:
    v = (np.arange(side) - (side - 1) / 2) * spacing
    return np.array([(x, y) for x in v for y in v])


def ring_points(k: int, radius: float = 1.0) -> np.ndarray:
    a = np.arange(k) * 2 * math.pi / k
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def blobs(k: int, seed: int, apart: float = 0.25) -> np.ndarray:
    """``k`` random centres in [-1, 1]^2, each at least ``apart`` from the others."""
    rng = np.random.default_rng(seed)
    pts = []
    while len(pts) < k:
        p = rng.uniform(-1, 1, 2)
        if all(np.hypot(*(p - q)) >= apart for q in pts):
            pts.append(p)
    return np.array(pts)


def along(segments: list[np.ndarray], n: int = DENSE) -> np.ndarray:
    """``n`` points spread evenly by length along polylines (each an (m, 2) array)."""
    pieces = [(a, b) for s in segments for a, b in zip(s[:-1], s[1:])]
    lengths = np.array([np.hypot(*(b - a)) for a, b in pieces])
    t = np.linspace(0, lengths.sum(), n, endpoint=False)
    ends = np.cumsum(lengths)
    out = []
    for u in t:
        i = int(np.searchsorted(ends, u, side="right"))
        i = min(i, len(pieces) - 1)
        a, b = pieces[i]
        f = (u - (ends[i] - lengths[i])) / lengths[i]
        out.append(a + f * (b - a))
    return np.array(out)


def curve(fn, lo: float, hi: float, n: int = 4000) -> np.ndarray:
    t = np.linspace(lo, hi, n)
    return np.stack(fn(t), 1)


def heart() -> np.ndarray:
    return along([curve(lambda t: (16 * np.sin(t) ** 3 / 16, (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t)
                                                                 - np.cos(4 * t)) / 16), 0, 2 * math.pi)])


def lemniscate() -> np.ndarray:
    return along([curve(lambda t: (np.cos(t) / (1 + np.sin(t) ** 2), np.sin(t) * np.cos(t) / (1 + np.sin(t) ** 2)),
                        0, 2 * math.pi)])


def circles() -> np.ndarray:
    """Two concentric circles, radii 1 and 0.5."""
    return along([curve(lambda t, r=r: (r * np.cos(t), r * np.sin(t)), 0, 2 * math.pi) for r in (1.0, 0.5)])


def swiss_roll() -> np.ndarray:
    return along([curve(lambda t: (t * np.cos(t) / 10, t * np.sin(t) / 10), 1.5 * math.pi, 4.5 * math.pi)])


def letters_gan() -> np.ndarray:
    """The word GAN in strokes."""
    a = np.array
    g = [curve(lambda t: (-2 + 0.6 * np.cos(t), 0.6 * np.sin(t)), 0.25 * math.pi, 2 * math.pi), a([[-1.4, 0], [-1.8, 0]])]
    ga = [a([[-0.6, -0.6], [0, 0.6], [0.6, -0.6]]), a([[-0.3, 0], [0.3, 0]])]
    n = [a([[1.2, -0.6], [1.2, 0.6], [2.2, -0.6], [2.2, 0.6]])]
    return along(g + ga + n)


def target() -> np.ndarray:
    """A circle of radius 1 around a Gaussian blob (standard deviation 0.08) at its centre: a stroke and a blob."""
    rng = np.random.default_rng(3)
    return np.concatenate([along([curve(lambda t: (np.cos(t), np.sin(t)), 0, 2 * math.pi)]),
                           0.08 * rng.standard_normal((600, 2))])


def blobs_and_arc() -> np.ndarray:
    """Four Gaussian blobs (standard deviation 0.06) and one arc: mostly blobs, one stroke."""
    rng = np.random.default_rng(4)
    clouds = [c + 0.06 * rng.standard_normal((300, 2)) for c in np.array([[-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])]
    arc = along([curve(lambda t: (0.6 * np.cos(t), 0.6 * np.sin(t) - 0.2), 0.2 * math.pi, 0.8 * math.pi)])
    return np.concatenate([*clouds, arc])


def two_spirals() -> np.ndarray:
    """Two interleaved spiral arms, one turned half a turn from the other."""
    arm = lambda turn: curve(lambda t: (t * np.cos(t + turn) / 10, t * np.sin(t + turn) / 10), 0.5 * math.pi,  # noqa: E731
                             3 * math.pi)
    return along([arm(0.0), arm(math.pi)])


def zigzag() -> np.ndarray:
    """A zigzag of six strokes with sharp corners."""
    x = np.linspace(-1, 1, 7)
    y = np.array([-0.5, 0.5] * 3 + [-0.5])
    return along([np.stack([x, y], 1)])


# name -> (half, what, maker): a maker returns the points of a CSV (None: a built-in distribution)
SUITE = {
    "ring": ("tune", "built-in: 8 Gaussians on a circle", None),
    "grid": ("tune", "built-in: 25 Gaussians on a 5 x 5 grid", None),
    "spiral": ("tune", "built-in: a two-turn spiral", None),
    "two-clusters": ("tune", "built-in: two clusters, 3:1", None),
    "grid-7x7": ("tune", "49 points, spacing 2", lambda: grid_points(7)),
    "ring-16": ("tune", "16 points on a circle", lambda: ring_points(16)),
    "blobs-20": ("tune", "20 random points, 0.25 apart", lambda: blobs(20, seed=1)),
    "heart": ("tune", "a heart-shaped stroke", heart),
    "lemniscate": ("tune", "a figure of eight", lemniscate),
    "two-spirals": ("tune", "two interleaved spiral arms", two_spirals),
    "moons": ("report", "built-in: two interleaving half circles", None),
    "line": ("report", "built-in: a line segment", None),
    "disjoint": ("report", "built-in: four clusters on two scales", None),
    "grid-10x10": ("report", "100 points, spacing 2", lambda: grid_points(10)),
    "ring-32": ("report", "32 points on a circle", lambda: ring_points(32)),
    "blobs-30": ("report", "30 random points, 0.25 apart", lambda: blobs(30, seed=2)),
    "letters-gan": ("report", "the word GAN in strokes", letters_gan),
    "circles": ("report", "two concentric circles", circles),
    "swiss-roll": ("report", "a swiss roll", swiss_roll),
    "zigzag": ("report", "a zigzag of sharp corners", zigzag),
    "target": ("report", "a circle around a blob (added after the strokes rule)", target),
    "blobs-and-arc": ("report", "four blobs and an arc (added after the strokes rule)", blobs_and_arc),
}
TUNE = [k for k, v in SUITE.items() if v[0] == "tune"]
REPORT = [k for k, v in SUITE.items() if v[0] == "report"]


def write_csv(name: str, folder: Path) -> Path | None:
    """The CSV of a made point set in ``folder`` (None for a built-in distribution)."""
    maker = SUITE[name][2]
    if maker is None:
        return None
    path = Path(folder) / f"{name}.csv"
    np.savetxt(path, maker(), delimiter=",", header="x,y", comments="", fmt="%.5f")
    return path


def args_for(name: str, folder: Path) -> list[str]:
    """What a user types to train on ``name``: ``--dist NAME`` or ``--points FILE.csv``."""
    path = write_csv(name, folder)
    return ["--dist", name] if path is None else ["--points", str(path)]


ROWS = {  # label -> what a user types beyond the data and seed
    "default": [],
    "noise=uniform": ["noise=uniform"],
    "noise=normal": ["noise=normal"],
    "noise=mixture": ["noise=mixture"],
    "noise=learned": ["noise=learned"],
}
KEYS = ("modes", "num_modes", "high_quality", "reverse_kl", "precision", "recall")


def fixed_radius(samples: np.ndarray, real: np.ndarray, r: float = 0.05) -> dict:
    """The suite's first measure: a point is covered (recall) or on the data (precision) within ``r``."""
    import torch

    d = torch.cdist(torch.as_tensor(samples[:2500]), torch.as_tensor(real))
    return {"precision_r05": float((d.min(1).values <= r).float().mean()),
            "recall_r05": float((d.min(0).values <= r).float().mean())}


CHECKED = ("spiral", "moons")  # run for real in both rows, to show the copies below are exact


def same_as_default(row: str, name: str, seed: int) -> bool:
    """Whether ``row`` trains exactly what the default trains on ``name``: the default's data noise on a set
    that is one piece, or mostly strokes, is GAN Lab's uniform square, the same draws from the same seed, so
    ``noise=uniform`` gives the same trial (checked by running the spiral and the moons in both rows)."""
    if row not in ("default", "noise=uniform") or name in CHECKED:
        return False
    from ganforge.lab2d.settings import LabSettings, updated
    from ganforge.lab2d.trainer import LabTrainer

    maker = SUITE[name][2]
    data = {"dist": name} if maker is None else {"dist": "points", "drawn": maker().tolist()}
    trainer = LabTrainer(updated(LabSettings(), {**data, "seed": seed, "neurons": 8, "layers": 1}))
    return trainer.noise_space.kind == "uniform"


def trial(job: tuple) -> dict:
    row, name, seed, folder, extra = job  # extra: --set's settings, added to every trial
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "ganforge", "lab", "--headless", *args_for(name, folder), "--seed", str(seed),
                *ROWS[row], *extra, "--out", tmp]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
        m = json.loads((Path(tmp) / "metrics.json").read_text())
        final = m.get("sampler", {}).get("final") or m["final"]
        out = {"row": row, "set": name, "seed": seed, "wall_seconds": round(wall, 2), "steps": m["steps"],
               **{k: final[k] for k in KEYS if k in final}}
        if name in ("spiral", "moons"):
            import torch

            from ganforge.lab2d import dists

            real = dists.sample(name, 2500, torch.Generator().manual_seed(seed + 4)).numpy()
            out.update(fixed_radius(np.load(Path(tmp) / "samples.npy"), real))
    return out


def own_score(name: str, folder: Path) -> dict:
    """Two draws of the data against each other, as a trial's points are scored."""
    import torch

    from ganforge.lab2d import dists
    from ganforge.lab2d.metrics import mode_metrics, precision_recall

    maker = SUITE[name][2]
    dist, drawn = (name, None) if maker is None else ("points", torch.tensor(maker(), dtype=torch.float32))
    a = dists.sample(dist, 2500, torch.Generator().manual_seed(4), drawn)
    b = dists.sample(dist, 2500, torch.Generator().manual_seed(5), drawn)
    out = precision_recall(a, b)
    centers, std = dists.modes(dist, drawn)
    if centers is not None:
        out.update(mode_metrics(b, centers, std))
    return out


def mean_se(values: list[float]) -> dict:
    v = np.array(values, dtype=float)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0}


def worst_seed(ts: list[dict]) -> dict:
    """The seed a user would least like to have run: fewest modes (where the data has modes), then the lowest
    recall, then the lowest precision."""
    t = min(ts, key=lambda t: (t.get("modes", 0), t["recall"], t["precision"]))
    return {"seed": t["seed"], **{k: t[k] for k in ("modes", "high_quality", "precision", "recall") if k in t}}


def summarise(trials: list[dict]) -> dict:
    out = {}
    for t in trials:
        out.setdefault(t["row"], {}).setdefault(t["set"], []).append(t)
    return {row: {name: {k: mean_se([t[k] for t in ts]) for k in (*KEYS[:1], *KEYS[2:], "precision_r05",
                                                                   "recall_r05", "wall_seconds")
                         if k in ts[0]} | {"seeds": len(ts), "worst": worst_seed(ts)}
                  for name, ts in sets.items()} for row, sets in out.items()}


def cell(c: dict) -> str:
    pr = f"{c['precision']['mean']:.3f} ± {c['precision']['se']:.3f} / {c['recall']['mean']:.3f} ± {c['recall']['se']:.3f}"
    w = c.get("worst")
    worst = "" if not w else f"; worst seed {w['seed']}: " + (f"{w['modes']}, " if "modes" in w else "") + \
        f"{w['precision']:.3f} / {w['recall']:.3f}"
    if "modes" in c:
        return f"{c['modes']['mean']:.1f}, {100 * c['high_quality']['mean']:.1f}%, {pr}{worst}"
    return pr + worst


def table(summary: dict, own: dict, sets: list[str]) -> str:
    rows = list(summary)
    lines = ["| data (half) | data's own score | " + " | ".join(rows) + " |", "|---" * (len(rows) + 2) + "|"]
    for name in sets:
        o = own[name]
        mine = f"{o['precision']:.3f} / {o['recall']:.3f}" if "modes" not in o else \
            f"{o['modes']}, {100 * o['high_quality']:.1f}%, {o['precision']:.3f} / {o['recall']:.3f}"
        cells = [cell(summary[r][name]) if name in summary[r] else "-" for r in rows]
        lines.append(f"| {name} ({SUITE[name][0]}) | {mine} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--sets", nargs="+", default=list(SUITE), choices=list(SUITE))
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per set and row (default 5)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="lab settings added to every row's trials (a candidate default, measured as typed)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lab_suite.json")
    ap.add_argument("--reuse", type=Path, nargs="*", default=[], help="logs of an interrupted run (its printed "
                    "trial lines): trials found there are kept, not run again")
    args = ap.parse_args()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="lab-suite-"))
    done = {}
    for log in args.reuse:
        for line in log.read_text().splitlines():
            if line.startswith('{"row"'):
                t = json.loads(line)
                done[(t["row"], t["set"], t["seed"])] = t
    jobs = [(row, name, seed, folder) for row in args.rows for name in args.sets for seed in range(args.seeds)]
    trials = [done[j[:3]] for j in jobs if j[:3] in done]
    partner = {"default": "noise=uniform", "noise=uniform": "default"}
    # a row's trial that is its partner's, bit for bit: copied from the partner's when that one is run or kept
    same = [j for j in jobs if j[:3] not in done and same_as_default(*j[:3])
            and ((partner[j[0]], *j[1:3]) in done or (j[0] == "noise=uniform" and "default" in args.rows))]
    run = [j for j in jobs if j[:3] not in done and j not in same]
    # spawn, not fork: this process has torch's threads running (same_as_default), and a forked child can
    # inherit a lock one of them held
    with ProcessPoolExecutor(args.parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        for r in pool.map(trial, [(*j, list(args.set)) for j in run]):
            trials.append(r)
            print(json.dumps(r), flush=True)
    by_key = {(t["row"], t["set"], t["seed"]): t for t in trials}
    for row, name, seed, _ in same:    # G's noise is the partner row's: its trial, bit for bit
        trials.append({**by_key[(partner[row], name, seed)], "row": row, "same_as": partner[row]})
    own = {name: own_score(name, folder) for name in args.sets}
    summary = summarise(trials)
    out = {"benchmark": "lab_suite", "seeds": args.seeds, "parallel": args.parallel, "settings": args.set,
           "note": f"{args.parallel} trials side by side, one thread each; precision and recall: k = 5 balls "
                   "around the real points (ganforge.lab2d.metrics.precision_recall)",
           "halves": {"tune": TUNE, "report": REPORT}, "summary": summary, "own_score": own, "trials": trials,
           "benchmark_seconds": round(time.perf_counter() - started), "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(table(summary, own, args.sets))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
