"""``ganforge export``: the generator alone as ONNX or TorchScript, checked against PyTorch before it is
kept (``ganforge.export``)."""

from __future__ import annotations

from pathlib import Path

from ganforge.errors import GanforgeError


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="write the generator as ONNX or TorchScript, checked against PyTorch",
                        description="Export the generator alone (BatchNorm folded, dynamic batch) with its metadata; "
                                    "the file is checked against ganforge's own sampling before it is kept.")
    ex.add_argument("source", metavar="RUN_OR_CHECKPOINT", help="a run folder, its number, or a .safetensors file")
    ex.add_argument("--format", default="onnx", help="onnx (needs the export extra) or torchscript (default onnx)")
    ex.add_argument("--out", metavar="FILE", help="output file (default <run>-step<N>[-ema].onnx|.pt here)")
    ex.add_argument("--ema", action="store_true", help="export the EMA generator")
    ex.add_argument("--uint8", action="store_true", help="output uint8 (N, H, W, C) in [0, 255] instead of float")
    ex.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")


def run(args) -> int:
    from ganforge.export import FORMATS, export
    from ganforge.generate import load_generator
    from ganforge.train.run_dir import find_run

    if args.format not in FORMATS:
        raise GanforgeError(f"unknown format '{args.format}'; use one of {', '.join(FORMATS)}")
    src = Path(args.source)
    if not src.exists():
        src = find_run(args.source, args.runs_dir)
    gen = load_generator(src, ema=args.ema)
    run_name = src.name if src.is_dir() else src.stem
    out = Path(args.out or f"{run_name}-step{gen.step}{'-ema' if args.ema else ''}{FORMATS[args.format]}")
    res = export(gen, args.format, out, uint8=args.uint8)
    print(f"wrote {res.path} ({args.format}, {res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s, step {gen.step}"
          f"{', EMA' if args.ema else ''}); matches PyTorch to {res.max_diff:.1e} on batches of 1 and 7\n"
          f"draw from it with: ganforge generate {res.path} --grid samples.png")
    return 0
