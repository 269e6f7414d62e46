"""``ganforge export``: the generator alone as ONNX or TorchScript, checked against PyTorch before it is
kept (``ganforge.export``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.errors import GanforgeError


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
    from ganforge.export import FORMATS, export
    from ganforge.generate import load_generator
    from ganforge.train.run_dir import find_run

    formats = {**FORMATS, "web": ".html"}
    if args.format not in formats:
        raise GanforgeError(f"unknown format '{args.format}'; use one of {', '.join(formats)}")
    if args.format == "web" and args.uint8:
        raise GanforgeError("--uint8 is for onnx and torchscript; a web page always shows images")
    src = Path(args.source)
    if not src.exists():
        src = find_run(args.source, args.runs_dir)
    gen = load_generator(src, ema=args.ema)
    run_name = src.name if src.is_dir() else src.stem
    out = Path(args.out or f"{run_name}-step{gen.step}{'-ema' if gen.ema else ''}{formats[args.format]}")
    if args.format == "web":
        return _web(gen, src, run_name, out, " --no-ema" if args.ema is False else "")
    res = export(gen, args.format, out, uint8=args.uint8)
    print(f"wrote {res.path} ({args.format}, {res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s, step {gen.step}"
          f"{', EMA' if gen.ema else ''}); matches PyTorch to {res.max_diff:.1e} on batches of 1 and 7\n"
          f"draw from it with: ganforge generate {res.path} --grid samples.png")
    return 0


def _web(gen, src: Path, run_name: str, out: Path, flag: str) -> int:
    """The page; ``flag`` is what ``ganforge generate`` needs beside the source to draw the same G."""
    from ganforge.webexport import export_web

    res = export_web(gen, out, run_name, _dataset(src), str(src) + flag)
    print(f"wrote {res.path} (web page, {res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s, step {gen.step}"
          f"{', EMA' if gen.ema else ''}); its program matches PyTorch to {res.max_diff:.1e}\n"
          f"open it in a browser: file://{res.path.resolve()}")
    return 0


def _dataset(src: Path) -> str:
    """The run's dataset name, from its config (a checkpoint's run folder is two levels up)."""
    import yaml

    for folder in (src, src.parent.parent):
        cfg = folder / "config.yaml"
        if cfg.is_file():
            try:
                data = (yaml.safe_load(cfg.read_text()) or {}).get("data", {})
                name = str(data.get("name") or "unknown data")
                return f"the image folder {Path(data['path']).name}" if name == "folder" and data.get("path") else name
            except (yaml.YAMLError, OSError, AttributeError):
                break
    return "unknown data"
