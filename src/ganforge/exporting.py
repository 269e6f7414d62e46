"""``ganforge export``: the generator alone, for use without ganforge (ONNX or TorchScript).

What is exported is the sampling path of ``generate.generate``: the same generator with BatchNorm
folded for inference (``fold_batchnorm``), in eval mode and float32, with a dynamic batch dimension.
Inputs are ``z`` (N, z_dim) float32 and, for conditional models, ``label`` (N,) int64 class ids;
the output is ``images``, (N, C, H, W) float32 in [-1, 1], or with ``uint8=True`` (N, H, W, C) uint8
in [0, 255] rounded as ``grid.to_uint8`` rounds, ready to save. The file carries its own metadata
(ONNX ``metadata_props``; TorchScript extra file ``ganforge.json``): z size and distribution,
resolution, channels, class names, step, EMA, ganforge's version.

Every export is written to a temporary name, checked against ``generate`` on a few latents (batch
1 and 7), and only then renamed into place: a failed or half-written export leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ganforge.errors import GanforgeError
from ganforge.sampling import LoadedGenerator, fold_batchnorm, generate, sample_z

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4  # max |exported - generate()| on float outputs; uint8 outputs may differ by 1 at a rounding edge
EXTRA = "pip install 'ganforge[export]'"


class ExportedG(nn.Module):
    """G for inference as a standalone graph: folded BN, float32, optional uint8 NHWC output."""

    def __init__(self, G: nn.Module, conditional: bool, uint8: bool):
        super().__init__()
        self.G = fold_batchnorm(G).float().to(memory_format=torch.contiguous_format)
        self.conditional, self.uint8 = conditional, uint8

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        x = self.G(z, label if self.conditional else None).float()            # (N, C, H, W) in [-1, 1]
        if self.uint8:
            x = x.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # (N, H, W, C)
        return x


def metadata(gen: LoadedGenerator, uint8: bool) -> dict:
    from ganforge.version import __version__

    k = gen.kwargs
    return {"ganforge_version": __version__, "arch": gen.arch, "kwargs": k, "z_dim": k["z_dim"],
            "z_distribution": gen.z_dist, "resolution": k["resolution"], "channels": k["channels"],
            "num_classes": k.get("num_classes", 0) if gen.conditional else 0, "class_names": gen.classes,
            "step": gen.step, "ema": gen.ema, "inputs": ["z", "label"] if gen.conditional else ["z"],
            "output": "uint8 NHWC [0, 255]" if uint8 else "float32 NCHW [-1, 1]"}


def example_inputs(gen: LoadedGenerator, n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    z = sample_z(n, gen.z_dim, gen.z_dist, generator=g)
    if not gen.conditional:
        return (z,)
    return z, torch.randint(0, gen.kwargs["num_classes"], (n,), generator=g)


def _check_onnx_available() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401 (torch's ONNX exporter needs it)
    except ImportError as err:
        raise GanforgeError(f"ONNX export needs the optional export extra ({err.name} is missing); "
                            f"install it with: {EXTRA}") from None


def _write_onnx(model: ExportedG, gen: LoadedGenerator, meta: dict, path: Path) -> None:
    import onnx

    inputs = example_inputs(gen, 2)
    names = meta["inputs"]
    batch = torch.export.Dim("batch", min=1)
    shapes = {"z": {0: batch}, "label": {0: batch}} if gen.conditional else {"z": {0: batch}}
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter prints its progress
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, inputs, dynamo=True, input_names=names, output_names=["images"],
                                    dynamic_shapes=shapes, verbose=False)
    proto = program.model_proto
    for key, value in {"ganforge": json.dumps(meta), **_flat(meta)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _flat(meta: dict) -> dict[str, str]:
    """Metadata as plain strings, one key each, for tools that show ONNX properties."""
    keep = ("ganforge_version", "z_dim", "z_distribution", "resolution", "channels", "num_classes", "step",
            "ema", "output")
    out = {k: str(meta[k]) for k in keep}
    if meta["class_names"]:
        out["class_names"] = ",".join(meta["class_names"])
    return out


def _write_torchscript(model: ExportedG, gen: LoadedGenerator, meta: dict, path: Path) -> None:
    inputs = example_inputs(gen, 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notes; the shape branch is static per model
        traced = torch.jit.trace(model, inputs, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"ganforge.json": json.dumps(meta)})


@dataclass
class ExportResult:
    path: Path
    seconds: float
    bytes: int
    max_diff: float


def export(gen: LoadedGenerator, fmt: str, out: Path, uint8: bool = False) -> ExportResult:
    """Write ``gen`` to ``out`` in ``fmt``, checked against ``generate`` before it is renamed into place."""
    if fmt not in FORMATS:
        raise GanforgeError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    out = Path(out)
    check_out(out, FORMATS[fmt])
    if fmt == "onnx":
        _check_onnx_available()
    gen.G.cpu().eval()
    model = ExportedG(gen.G, gen.conditional, uint8).eval()
    meta = metadata(gen, uint8)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix or FORMATS[fmt]}")  # suffix: its format
    t0 = time.perf_counter()
    try:
        (_write_onnx if fmt == "onnx" else _write_torchscript)(model, gen, meta, tmp)
        seconds = time.perf_counter() - t0
        diff = check(tmp, gen, uint8)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, seconds, out.stat().st_size, diff)


def check_out(out: Path, suffix: str) -> None:
    """A one-line error unless ``out`` can be a new file in an existing folder."""
    if not out.parent.is_dir():
        raise GanforgeError(f"folder {out.parent} does not exist; create it or pass --out in an existing folder")
    if out.is_dir():
        raise GanforgeError(f"--out {out} is a folder; pass a file name such as {out / ('generator' + suffix)}")


def check(path: Path, gen: LoadedGenerator, uint8: bool) -> float:
    """Largest |exported - generate()| over batches of 1 and 7; an error past the tolerance."""
    from ganforge.exported import load_exported

    runner = load_exported(path)
    worst = 0.0
    for n in (1, 7):
        inputs = example_inputs(gen, n, seed=n)
        want = generate(gen, *inputs, batch_size=n)
        got = runner.run(*inputs)
        if uint8:
            got = got.permute(0, 3, 1, 2).float()
            want = want.add(1).mul(127.5).round().clamp(0, 255)
        if got.shape != want.shape:
            raise GanforgeError(f"the exported file gives shape {tuple(got.shape)}, not {tuple(want.shape)}; "
                                "this is a bug in ganforge's export, please report it")
        worst = max(worst, float((got.float() - want).abs().max()))
    limit = 1.0 if uint8 else TOLERANCE
    if worst > limit:
        raise GanforgeError(f"the exported file differs from PyTorch's output by {worst:.2e} (more than {limit}); "
                            "nothing was written; try the other --format")
    return worst
