"""Export benchmark: export time, file size, and images/s of onnxruntime and TorchScript against
ganforge's PyTorch sampling (``generate.generate``), measured in the same run on this CPU.

Setups: ``dcgan64`` (PyTorch's DCGAN generator at 64 px, ngf=64, nz=100, RGB) and ``fashion28``
(DCGAN at 28 px, ngf=64, grayscale), each with BatchNorm statistics from a few training-mode
forwards so that folding has real numbers to fold. Each engine draws the same 2,048 latents in
batches of 256 (ganforge's CPU sampling batch at 28 px; 64 at 64 px is its own choice, kept), the
median of 3 passes after a warm-up pass; a batch of 1 is timed too (latency, median of 50).
Results: ``benchmarks/results/export.json``.

    python benchmarks/export.py
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.exported import load_exported  # noqa: E402
from ganforge.exporting import export  # noqa: E402
from ganforge.models import build_generator  # noqa: E402
from ganforge.sampling import LoadedGenerator, generate, sample_z  # noqa: E402

SETUPS = {"dcgan64": (64, 3), "fashion28": (28, 1)}
N, BATCH = 2048, 256


def make_gen(resolution: int, channels: int) -> LoadedGenerator:
    kwargs = {"resolution": resolution, "channels": channels, "z_dim": 100, "ngf": 64, "ndf": 64, "hidden": 256,
              "dropout": 0.0, "num_classes": 0}
    torch.manual_seed(0)
    G = build_generator("dcgan", kwargs)
    with torch.no_grad():  # running BN statistics that are not the identity
        for _ in range(5):
            G(torch.randn(64, 100))
    G.eval().to(memory_format=torch.channels_last)
    return LoadedGenerator(G, "dcgan", kwargs, "normal", None, 0, Path("bench"), False)


def timed(fn, passes: int = 3) -> float:
    """Median seconds of ``passes`` calls after one warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    results = {"machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                           "python": platform.python_version()}, "images": N, "setups": {}}
    z = sample_z(N, 100, "normal", generator=torch.Generator().manual_seed(1))
    for name, (res, ch) in SETUPS.items():
        gen = make_gen(res, ch)
        row = {}
        pytorch_s = timed(lambda g=gen: generate(g, z))
        row["pytorch_images_per_s"] = round(N / pytorch_s, 1)
        row["pytorch_latency_ms"] = round(1000 * timed(lambda g=gen: generate(g, z[:1], batch_size=1), 50), 3)
        with tempfile.TemporaryDirectory() as d:
            for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
                r = export(gen, fmt, Path(d) / f"g{suffix}")
                runner = load_exported(r.path)

                def run_all(runner=runner):
                    for i in range(0, N, BATCH):
                        runner.run(z[i:i + BATCH])

                s = timed(run_all)
                row[fmt] = {"export_s": round(r.seconds, 2), "file_mb": round(r.bytes / 1e6, 2),
                            "max_abs_diff": r.max_diff, "images_per_s": round(N / s, 1),
                            "speed_vs_pytorch": round(pytorch_s / s, 2),
                            "latency_ms": round(1000 * timed(lambda r=runner: r.run(z[:1]), 50), 3)}
        results["setups"][name] = row
        print(name, json.dumps(row), flush=True)
    out = ROOT / "benchmarks" / "results" / "export.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
