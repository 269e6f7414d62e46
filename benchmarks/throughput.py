"""Training and generation throughput beside a textbook training loop, measured in the same run.

For each setup (``dcgan64``: PyTorch's DCGAN at 64 px, ngf=ndf=64, nz=100, batch 64; ``fashion28``:
DCGAN on Fashion-MNIST at 28 px, batch 64) two loops train the same architecture on the same images:

- textbook: per-image PIL DataLoader (2 workers, Resize/ToTensor/Normalize), Sigmoid + BCELoss,
  NCHW, weight gradients everywhere, a ``.item()`` per step, Adam with its CPU defaults;
- ganforge: the real ``Trainer.train_step`` on the uint8 tensor cache.

Each loop runs in its own process. Memory is the peak PSS of that process's whole tree, sampled every
0.2 s (the textbook's loader workers touch its images, so its main process's RSS alone would flatter
it; PSS splits shared pages instead of counting them per process). images/s is the median over timed
windows after warm-up; FLOPs per step come from ``torch.utils.flop_counter``; GFLOP/s is set
beside this machine's measured fp32 peaks (sgemm, and the fastest DCGAN convolution), and
``speedup_ceiling_at_peak`` is the textbook's step time over ganforge's FLOPs at that peak: the most
any layout, threading or kernel choice could give with the same architecture and batch. Generation: 10,000 images through
``ganforge.sampling.generate``, the median of 3 passes after a warm-up of 1,000.
Then the training command as typed on a shared CPU (``sharing.py``: alone, beside one busy core, two at
once, against the same with its thread count pinned). Results: ``benchmarks/results/throughput.json``.

    python benchmarks/throughput.py            # both setups
    python benchmarks/throughput.py --setups fashion28 --windows 3
    GANFORGE_BENCH_OVERRIDES="train.channels_last=false" python benchmarks/throughput.py   # an ablation
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

SETUPS = {  # name -> (dataset, resolution, channels, ngf=ndf, z_dim, batch)
    "dcgan64": ("fashion-mnist", 64, 3, 64, 100, 64),
    "fashion28": ("fashion-mnist", 28, 1, 64, 100, 64),
}


def images_for(dataset: str, resolution: int, channels: int):
    from ganforge.config import DataConfig
    from ganforge.data import load_dataset
    from ganforge.errors import GanforgeError

    try:
        return load_dataset(DataConfig(name=dataset, resolution=resolution, channels=channels, download=False))
    except GanforgeError:  # no Fashion-MNIST here: the bundled digits, same shapes
        return load_dataset(DataConfig(name="digits", resolution=resolution, channels=channels))


def tree_pss_mib(root: int) -> float:
    """PSS of a process and all its descendants (shared pages split between them, not counted twice)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        new = {p for p, pp in parent.items() if pp in tree} - tree
        tree |= new
        grew = bool(new)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_child(cmd: list[str]) -> tuple[str, str, float]:
    """Run a measuring child, sampling its process tree's PSS every 0.2 s; returns the peak."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while p.poll() is None:
        peak = max(peak, tree_pss_mib(p.pid))
        time.sleep(0.2)
    out, err = p.communicate()
    return out, err, round(peak, 1)


def best_rate(fn, flop: float, reps: int, trials: int = 5) -> float:
    """GFLOP/s of ``fn`` (``flop`` per call): the best of ``trials`` timings of ``reps`` calls."""
    for _ in range(3):
        fn()
    best = 0.0
    for _ in range(trials):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = max(best, flop * reps / (time.perf_counter() - t) / 1e9)
    return best


def matmul_peak_gflops(n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return best_rate(lambda: a @ b, 2 * n ** 3, reps=10)


def conv_peak_gflops() -> float:
    """The fastest convolution here: DCGAN's 128 -> 256 channel strided conv, batch 64, NHWC.

    oneDNN's direct convolution beats the sgemm figure on some CPUs, so the ceiling below uses
    whichever of the two is higher."""
    x = torch.randn(64, 128, 16, 16).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 128, 4, 4)
    return best_rate(lambda: torch.nn.functional.conv2d(x, w, stride=2, padding=1), 2 * 64 * 8 * 8 * 256 * 128 * 16,
                     reps=10)


# ---- the textbook loop --------------------------------------------------------------------------
class PILImages(torch.utils.data.Dataset):
    """What a textbook script does: a PIL image per item through torchvision transforms."""

    def __init__(self, images, resolution, channels):
        import torchvision.transforms as T

        self.arrays = images.permute(0, 2, 3, 1).numpy()
        norm = T.Normalize((0.5,) * channels, (0.5,) * channels)
        self.tf = T.Compose([T.Resize(resolution), T.CenterCrop(resolution), T.ToTensor(), norm])

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, i):
        from PIL import Image

        a = self.arrays[i]
        return self.tf(Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)), 0


def textbook(setup: str, warmup: int, windows: int, per_window: int) -> dict:
    from ganforge.models import build_discriminator, build_generator

    dataset, res, ch, width, nz, batch = SETUPS[setup]
    data = images_for(dataset, res, ch)
    kw = {"resolution": res, "channels": ch, "z_dim": nz, "ngf": width, "ndf": width}
    G, D = build_generator("dcgan", kw), build_discriminator("dcgan", kw)
    netD = torch.nn.Sequential(D, torch.nn.Sigmoid())
    criterion = torch.nn.BCELoss()
    opt_d = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(PILImages(data.images, res, ch), batch_size=batch, shuffle=True,
                                         num_workers=2, drop_last=True)

    def step(real):
        b = real.size(0)
        netD.zero_grad()
        err_real = criterion(netD(real).view(-1), torch.ones(b))
        err_real.backward()
        fake = G(torch.randn(b, nz))
        err_fake = criterion(netD(fake.detach()).view(-1), torch.zeros(b))
        err_fake.backward()
        opt_d.step()
        G.zero_grad()
        err_g = criterion(netD(fake).view(-1), torch.ones(b))
        err_g.backward()
        opt_g.step()
        return err_real.item() + err_fake.item(), err_g.item()

    it = iter(loader)

    def next_batch():
        nonlocal it
        try:
            return next(it)[0]
        except StopIteration:
            it = iter(loader)
            return next(it)[0]

    return timed(lambda: step(next_batch()), batch, warmup, windows, per_window,
                 flops_of=lambda: step(next_batch()))


# ---- ganforge -----------------------------------------------------------------------------------
def ganforge_loop(setup: str, warmup: int, windows: int, per_window: int, generation_only: bool = False) -> dict:
    from ganforge import config as C
    from ganforge import stats
    from ganforge.sampling import generate, sample_z
    from ganforge.training.loop import Trainer

    dataset, res, ch, width, nz, batch = SETUPS[setup]
    data = images_for(dataset, res, ch)
    cfg = C.build("quick", overrides=[f"data.resolution={res}", f"model.ngf={width}", f"model.ndf={width}",
                                      f"model.z_dim={nz}", f"train.batch_size={batch}", "optim.lr_g=2e-4",
                                      *os.environ.get("GANFORGE_BENCH_OVERRIDES", "").split()])
    trainer = Trainer(cfg, Path("."), data, quiet=True)

    def step():
        trainer.train_step()
        if trainer.step % 20 == 0:
            stats.flush()

    if generation_only:  # its own process, so that training's memory figure is training's alone
        n = 10000  # like training: warm-up, then the median of timed passes
        z = sample_z(n, nz, "normal", generator=torch.Generator().manual_seed(0))
        generate(trainer.G_raw, z[:1000])
        rates = []
        for _ in range(3):
            t = time.perf_counter()
            generate(trainer.G_raw, z)
            rates.append(round(n / (time.perf_counter() - t), 1))
        return {"generation_images_per_s": sorted(rates)[1], "generation_pass_images_per_s": rates}
    out = timed(step, batch, warmup, windows, per_window, flops_of=step)
    stats.flush()
    return out


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(step, batch, warmup, windows, per_window, flops_of) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    t0 = time.perf_counter()
    step()  # the first step carries one-off costs (torch.compile's compilation, allocator warm-up)
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        step()
    rates = []
    for _ in range(windows):
        t = time.perf_counter()
        for _ in range(per_window):
            step()
        rates.append(batch * per_window / (time.perf_counter() - t))
    with FlopCounterMode(display=False) as fc:
        flops_of()
    ips = statistics.median(rates)
    flops = fc.get_total_flops()
    return {"images_per_s": round(ips, 2), "window_images_per_s": [round(r, 2) for r in rates],
            "first_step_s": round(first, 2),
            "s_per_step": round(batch / ips, 4), "gflop_per_step": round(flops / 1e9, 3),
            "achieved_gflops": round(flops / 1e9 * ips / batch, 1)}


def child(args) -> None:
    if args.child == "generation":
        out = ganforge_loop(args.setup, 0, 0, 0, generation_only=True)
    else:
        fn = textbook if args.child == "textbook" else ganforge_loop
        out = fn(args.setup, args.warmup, args.windows, args.per_window)
    out.setdefault("peak_rss_mib", peak_rss_mib())
    # the textbook loop reads its images inside DataLoader worker processes: their largest peak
    out["workers_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    out["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--per-window", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "throughput.json")
    ap.add_argument("--sharing-rounds", type=int, default=2, help="rounds of the shared-CPU runs (0: none)")
    ap.add_argument("--child", choices=["textbook", "ganforge", "generation"], help=argparse.SUPPRESS)
    ap.add_argument("--setup", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    result = {"benchmark": "throughput", "torch": torch.__version__, "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "matmul_peak_gflops": round(matmul_peak_gflops(), 1),
              "conv_peak_gflops": round(conv_peak_gflops(), 1), "setups": {}}
    peak = max(result["matmul_peak_gflops"], result["conv_peak_gflops"])
    print(f"fp32 peaks: matmul {result['matmul_peak_gflops']} GFLOP/s, conv {result['conv_peak_gflops']} GFLOP/s",
          flush=True)
    for setup in args.setups:
        row = {}
        for loop in ("textbook", "ganforge", "generation"):
            cmd = [sys.executable, __file__, "--child", loop, "--setup", setup, "--warmup", str(args.warmup),
                   "--windows", str(args.windows), "--per-window", str(args.per_window)]
            out, err, peak_pss = run_child(cmd)
            line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{loop} {setup} failed:\n{err[-2000:]}")
            row[loop] = json.loads(line[7:])
            row[loop]["peak_pss_tree_mib"] = peak_pss  # whole process tree, workers included
            print(f"{setup} {loop}: {row[loop]}", flush=True)
        tb, gf = row["textbook"], row["ganforge"]
        gen = row.pop("generation")
        gf["generation_images_per_s"] = gen["generation_images_per_s"]
        gf["generation_pass_images_per_s"] = gen["generation_pass_images_per_s"]
        row["speedup"] = round(gf["images_per_s"] / tb["images_per_s"], 3)
        # the ratio ganforge would reach if every FLOP of its step ran at the best rate measured here:
        # with the architecture and batch fixed, no change of layout or threading can pass it
        row["speedup_ceiling_at_peak"] = round(tb["s_per_step"] / (gf["gflop_per_step"] / peak), 3)
        row["generation_over_training"] = round(gf["generation_images_per_s"] / gf["images_per_s"], 1)
        row["peak_rss_ratio"] = round(gf["peak_rss_mib"] / tb["peak_rss_mib"], 3)
        row["peak_pss_tree_ratio"] = round(gf["peak_pss_tree_mib"] / tb["peak_pss_tree_mib"], 3)
        result["setups"][setup] = row
        print(f"{setup}: training {row['speedup']}x the textbook loop (at most {row['speedup_ceiling_at_peak']}x "
              f"at this machine's peak with these FLOPs); generation "
              f"{row['generation_over_training']}x training; peak memory ratio (PSS of the process tree) "
              f"{row['peak_pss_tree_ratio']}", flush=True)
    if args.sharing_rounds:  # the command as typed when other programs use the CPU (sharing.py)
        sys.path.insert(0, str(Path(__file__).parent))
        from sharing import measure

        result["sharing"] = measure(args.sharing_rounds)
        print("sharing: " + json.dumps(result["sharing"]["summary"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
