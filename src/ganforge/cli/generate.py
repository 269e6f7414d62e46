"""``ganforge generate``: a grid, separate images or latent walks from a run, a checkpoint or an exported
file (``ganforge.generate``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.common import run_or_path
from ganforge.errors import GanforgeError


def add_parser(sub) -> None:
    ge = sub.add_parser("generate", help="draw images from a trained generator")
    ge.add_argument("source", metavar="RUN_OR_CHECKPOINT", help="a run folder, its number under --runs-dir, a "
                    ".safetensors checkpoint, or an exported .onnx/.pt file")
    ge.add_argument("--grid", metavar="PNG", help="write a grid PNG (default generated.png)")
    ge.add_argument("--rows", type=int, default=8, help="grid rows (default 8; conditional: one row per class); "
                    "with --interpolate alone: the number of walks")
    ge.add_argument("--cols", type=int, default=8, help="grid columns (default 8)")
    ge.add_argument("-n", type=int, help="number of separate images to write to --out")
    ge.add_argument("--out", metavar="DIR", help="folder for -n separate PNG images")
    ge.add_argument("--seed", type=int, default=0, help="noise seed: the same seed draws the same images (default 0)")
    ge.add_argument("--class", dest="class_id", help="class index or name (conditional models)")
    ge.add_argument("--interpolate", metavar="PATH", help="latent walk: .png strip or .gif animation")
    ge.add_argument("--frames", type=int, default=10, help="frames per latent walk (default 10)")
    ge.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                    help="use the EMA generator (--ema) or the trained G (--no-ema); default: the EMA one "
                    "when the run has one")
    ge.add_argument("--device", default="cpu", help="device to draw on: cpu, cuda, cuda:N, mps, auto (default cpu)")
    ge.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")


def run(args) -> int:
    from ganforge import generate as G
    from ganforge.device import resolve_device
    from ganforge.grid import save_grid

    gen = G.load_generator(run_or_path(args.source, args.runs_dir), ema=args.ema, device=resolve_device(args.device))
    cls = G.class_index(gen, args.class_id) if args.class_id is not None else None
    if cls is not None and not gen.conditional:
        raise GanforgeError(f"this {gen.arch} generator is not conditional; drop --class")

    if args.interpolate:
        walks = args.rows if args.grid is None else 1
        if walks < 1 or args.frames < 2:
            raise GanforgeError("a latent walk needs --frames of at least 2 and --rows (walks) of at least 1")
        what = G.save_walks(G.latent_walks(gen, walks, args.frames, args.seed, cls), Path(args.interpolate))
        print(f"wrote {args.interpolate} ({what}, seed {args.seed})")
        return 0

    if args.n is not None or args.out is not None:
        if args.n is None or args.out is None or args.n < 1:
            raise GanforgeError("separate images need both -n N (N >= 1) and --out DIR")
        G.write_images(G.draw(gen, args.n, args.seed, cls), Path(args.out))
        print(f"wrote {args.n} images to {args.out} (seed {args.seed}, step {gen.step})")
        return 0

    if args.rows < 1 or args.cols < 1:
        raise GanforgeError("--rows and --cols must be at least 1")
    imgs, row_labels = G.sample_grid(gen, args.rows, args.cols, args.seed, cls)
    rows = len(imgs) // args.cols
    out = Path(args.grid or "generated.png")
    save_grid(imgs, out, nrow=args.cols, row_labels=row_labels)
    print(f"wrote {out} ({rows}x{args.cols}, seed {args.seed}, step {gen.step}{', EMA' if gen.ema else ''})")
    return 0
