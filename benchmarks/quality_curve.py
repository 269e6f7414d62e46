"""Quality against training minutes: the default run, the defaults before the budget recipe, and the textbook
DCGAN loop, each given the same minutes on this machine, one after another (nothing else running).

- ``default``: ``ganforge train --data D --resolution R --minutes M``, the command as typed;
- ``before``: the same command with the earlier defaults (``budget_grid.SETTINGS["today"]``);
- ``textbook``: ``throughput.py``'s textbook loop (PyTorch's DCGAN example: PIL DataLoader, Sigmoid + BCELoss,
  ngf = ndf = 64, nz = 100, Adam 2e-4 / 0.5, batch 64) on the same images, for M minutes.

The ganforge runs (``--seeds`` of each) keep every checkpoint, one each ``--every`` steps (500: the command's
own; each records its training seconds); the textbook loop (one seed) saves G at each mark. The points nearest
the marks (``--marks``) are scored with FD on the dataset's judge (-n generated images against -n training
images, the EMA generator where a run has one); mean +- standard error over the seeds. Writes
``benchmarks/results/quality_curve.json`` and the plot ``docs/quality-curve.png``.

    python benchmarks/quality_curve.py --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from budget_grid import SETTINGS  # noqa: E402

# fast-2e-3: the default as first chosen, before the digits check halved its rates
CONTENDERS = {"default": [], "before": SETTINGS["today"], "fast-2e-3": ["optim.lr_g=2e-3", "optim.lr_d=8e-4"],
              "textbook": None}
LABELS = {"before": "earlier defaults", "fast-2e-3": "2e-3 / 8e-4, the first choice", "textbook": "textbook DCGAN loop"}


def ganforge_points(name: str, keys: list[str], args, root: Path, seed: int) -> list[tuple[float, Path]]:
    """Train one run as typed (every checkpoint kept); (training seconds, checkpoint) for each checkpoint."""
    from ganforge import checkpoint

    runs = root / f"{name}-s{seed}"
    argv = [sys.executable, "-m", "ganforge", "train", "--data", args.dataset, "--resolution", str(args.resolution),
            "--minutes", str(args.minutes), "--runs-dir", str(runs), "--quiet", "--seed", str(seed),
            f"train.ckpt_every={args.every}", "train.keep_ckpts=100000", *keys]
    print(" ".join(argv[3:]), flush=True)
    subprocess.run(argv, check=True)
    run = next(runs.iterdir())
    points = []
    for ckpt in sorted((run / "checkpoints").glob("ckpt-*.safetensors")):
        points.append((float(checkpoint.load_state(ckpt)["schedule"]["trained_s"]), ckpt))
    return points


def textbook_child(args, out: Path) -> None:
    """The textbook loop for ``args.minutes``, G's weights saved at each mark (training seconds)."""
    from throughput import PILImages, images_for

    from ganforge.models import build_discriminator, build_generator

    torch.manual_seed(0)
    data = images_for(args.dataset, args.resolution, 1)
    kw = {"resolution": args.resolution, "channels": data.channels, "z_dim": 100, "ngf": 64, "ndf": 64}
    G, D = build_generator("dcgan", kw), build_discriminator("dcgan", kw)
    netD = torch.nn.Sequential(D, torch.nn.Sigmoid())
    criterion = torch.nn.BCELoss()
    opt_d = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(PILImages(data.images, args.resolution, data.channels), batch_size=64,
                                         shuffle=True, num_workers=2, drop_last=True)
    marks = sorted(m * 60 for m in args.marks if m <= args.minutes)
    t0, step = time.monotonic(), 0
    while marks:
        for real, _ in loader:
            b = real.size(0)
            netD.zero_grad()
            err_real = criterion(netD(real).view(-1), torch.ones(b))
            err_real.backward()
            fake = G(torch.randn(b, 100))
            err_fake = criterion(netD(fake.detach()).view(-1), torch.zeros(b))
            err_fake.backward()
            opt_d.step()
            G.zero_grad()
            criterion(netD(fake).view(-1), torch.ones(b)).backward()
            opt_g.step()
            step += 1
            s = time.monotonic() - t0
            if marks and s >= marks[0]:
                torch.save({"G": G.state_dict(), "kwargs": kw, "seconds": s, "step": step}, out / f"g-{step:08d}.pt")
                while marks and s >= marks[0]:
                    marks.pop(0)
            if not marks:
                break


def textbook_points(args, root: Path) -> list[tuple[float, Path]]:
    out = root / "textbook"
    out.mkdir()
    subprocess.run([sys.executable, __file__, "--child", str(out), "--minutes", str(args.minutes), "--dataset",
                    args.dataset, "--resolution", str(args.resolution), "--marks", *map(str, args.marks)], check=True)
    return [(torch.load(p, weights_only=True)["seconds"], p) for p in sorted(out.glob("g-*.pt"))]


def nearest(points: list[tuple[float, Path]], marks: list[float]) -> list[tuple[float, float, Path]]:
    """(mark, seconds, point) for the point nearest each mark (minutes), each point once."""
    chosen = []
    for m in marks:
        best = min(points, key=lambda p: abs(p[0] - m * 60), default=None)
        if best is not None and best not in [c[1:] for c in chosen]:
            chosen.append((m, *best))
    return chosen


def samples(path: Path, n: int) -> tuple[torch.Tensor, int]:
    """n images (uint8) from a checkpoint or a textbook G, with the seed the benchmarks use; and its step."""
    from ganforge.generate import load_generator
    from ganforge.grid import to_uint8
    from ganforge.models import build_generator
    from ganforge.sampling import generate, seeded_z

    if path.suffix == ".pt":
        saved = torch.load(path, weights_only=True)
        G = build_generator("dcgan", saved["kwargs"])
        G.load_state_dict(saved["G"])
        z = torch.randn(n, saved["kwargs"]["z_dim"], generator=torch.Generator().manual_seed(1))
        return to_uint8(generate(G.eval(), z)), saved["step"]
    gen = load_generator(path)
    return to_uint8(generate(gen, seeded_z(gen, n, 1))), gen.step


def means(rows: list[dict]) -> list[dict]:
    """Mean +- standard error of FD (and mean minutes) per contender and mark, over its seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["contender"], r["mark"]), []).append(r)
    out = []
    for (name, mark), rs in sorted(groups.items()):
        fd = [r["fd"] for r in rs]
        m = sum(fd) / len(fd)
        se = (sum((x - m) ** 2 for x in fd) / (len(fd) - 1) / len(fd)) ** 0.5 if len(fd) > 1 else 0.0
        out.append({"contender": name, "mark": mark, "seeds": len(rs), "minutes": round(sum(r["minutes"] for r in rs) / len(rs), 3),
                    "fd": round(m, 3), "se": round(se, 3)})
    return out


def plot(rows: list[dict], floor: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for name in CONTENDERS:
        cells = [c for c in means(rows) if c["contender"] == name]
        if cells:
            seeds = max(c["seeds"] for c in cells)
            ax.errorbar([c["minutes"] for c in cells], [c["fd"] for c in cells], yerr=[c["se"] for c in cells],
                        marker="o", capsize=3, label=f"{LABELS.get(name, name)} ({seeds} seed{'s' * (seeds > 1)})")
    ax.axhline(floor, color="grey", linestyle=":", label=f"real data ({floor:.2f})")
    ax.set_yscale("log")
    ax.set_xlabel("training minutes (2 CPU cores)")
    ax.set_ylabel("FD-fashion-mnist (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--marks", type=float, nargs="+", default=[0.5, 1, 2, 3, 4, 5, 6, 8, 10])
    ap.add_argument("--every", type=int, default=500, help="steps between the ganforge runs' checkpoints "
                    "(500: the default command's own)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of each ganforge contender (the textbook loop: one)")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--resolution", type=int, default=28)
    ap.add_argument("--contenders", nargs="+", default=["default", "before", "textbook"], choices=list(CONTENDERS))
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "quality_curve.json")
    ap.add_argument("--plot", type=Path, default=HERE.parent / "docs" / "quality-curve.png")
    ap.add_argument("--append", action="store_true", help="keep --out's rows of the contenders not run now")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return textbook_child(args, args.child)

    from ganforge.metrics import Evaluator

    root = Path(tempfile.mkdtemp(prefix="quality-curve-"))
    trained = {}
    marks = [m for m in args.marks if m <= args.minutes]
    for name in args.contenders:  # one at a time: each has the machine to itself
        if CONTENDERS[name] is None:
            trained[(name, 0)] = nearest(textbook_points(args, root), marks)
        for seed in range(args.seeds if CONTENDERS[name] is not None else 0):
            trained[(name, seed)] = nearest(ganforge_points(name, CONTENDERS[name], args, root, seed), marks)
    evaluator = Evaluator(args.dataset, ["fd"], n_ref=args.n)
    rows = []
    for (name, seed), pts in trained.items():
        for mark, seconds, path in pts:
            imgs, step = samples(path, args.n)
            fd = next(r.value for r in evaluator(imgs) if r.metric.startswith("fd-"))
            rows.append({"contender": name, "seed": seed, "mark": mark, "minutes": round(seconds / 60, 3),
                         "step": step, "fd": round(fd, 3)})
            print(json.dumps(rows[-1]), flush=True)
    if args.append and args.out.is_file():  # the other contenders' rows from an earlier run of this benchmark
        rows = [r for r in json.loads(args.out.read_text())["rows"] if r["contender"] not in args.contenders] + rows
    from ganforge.metrics.train_judge import load_judge

    floor = json.loads((HERE / "results" / "time_to_quality.json").read_text())[f"floor_fd-{load_judge(args.dataset).name}"]
    result = {"benchmark": "quality_curve", "dataset": args.dataset, "resolution": args.resolution, "n": args.n,
              "minutes": args.minutes, "contenders": {k: CONTENDERS[k] for k in sorted({r["contender"] for r in rows})}, "floor_fd": floor,
              "rows": rows, "means": means(rows), "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "cpu": platform.processor() or platform.machine()}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    plot(rows, floor, args.plot)
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
