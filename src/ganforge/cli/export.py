"""``ganforge export``: the generator alone as ONNX or TorchScript, checked against PyTorch before it is
kept (``ganforge.exporting``)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="write the generator as ONNX, TorchScript or one HTML page, checked against PyTorch",
                        description="Export the generator alone (BatchNorm folded, dynamic batch) with its metadata; "
                                    "the file is checked against ganforge's own sampling before it is kept.")
    ex.add_argument("source", metavar="RUN_OR_CHECKPOINT", help="a run folder, its number, or a .safetensors file")
    ex.add_argument("--format", default="onnx", help="onnx (needs the export extra), torchscript, or web (one "
                    "HTML file that draws the images in any browser, offline) (default onnx)")
    ex.add_argument("--out", metavar="FILE", help="output file (default <run>-step<N>[-ema].onnx|.pt|.html here)")
    ex.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                    help="export the EMA generator (--ema) or the trained G (--no-ema); default: the EMA one "
                    "when the run has one")
    ex.add_argument("--uint8", action="store_true", help="output uint8 (N, H, W, C) in [0, 255] instead of float")
    ex.add_argument("--runs-dir", default="runs", help="where run numbers are looked up (default runs)")


def run(args) -> int:
    from ganforge.api.actions import export

    res = export(args.source, args.format, args.out, ema=args.ema, uint8=args.uint8, runs_dir=args.runs_dir)
    said = f"{res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s, step {res.step}{', EMA' if res.ema else ''}"
    if res.format == "web":
        print(f"wrote {res.path} (web page, {said}); its program matches PyTorch to {res.max_diff:.1e}\n"
              f"open it in a browser: file://{res.path.resolve()}")
    else:
        print(f"wrote {res.path} ({res.format}, {said}); matches PyTorch to {res.max_diff:.1e} on batches of 1 and 7\n"
              f"draw from it with: ganforge generate {res.path} --grid samples.png")
    return 0
