"""``ganforge export RUN --format web``: one self-contained HTML file that draws the generator's images in any
browser, opened from disk, with no network and no server.

The file holds the page (``page.html``), TensorFlow.js 4.22.0 (core and its CPU backend, vendored from npm
with their Apache-2.0 licence in ``vendor/``), ganforge's runtime (``runtime.js``: PyTorch's seeded noise
rebuilt, so seed S draws what ``ganforge generate RUN -n N --seed S`` draws) and the generator as a program
of array operations with its weights in base64 (``program.py``). The program is run with PyTorch and checked
against ``sampling.generate`` before anything is written; the file is written to a temp name and renamed.

Why TensorFlow.js's CPU backend: 0.43 MB of runtime against onnxruntime-web's 11.8 MB WebAssembly file
(which a page opened from ``file://`` cannot fetch either); float32 everywhere, so the page matches PyTorch
on any browser and machine, where a GPU backend may compute in float16.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.exporting import check_out
from ganforge.sampling import LoadedGenerator, generate, seeded_z
from ganforge.webexport.program import Program, build, macs, run

TOLERANCE = 1e-4   # max |program - generate()| over a few latents before the page is written
TFJS_VERSION = "4.22.0"
PIECE_MACS = 2e7   # multiply-adds a page computes between two looks at its events (~0.1 s on a laptop CPU)


def _asset(name: str) -> str:
    return resources.files("ganforge.webexport").joinpath(name).read_text(encoding="utf-8")


def model_json(p: Program, meta: dict) -> str:
    """The program, its tensors' places in one float32 buffer, the buffer in base64, and the metadata."""
    tensors, offset = [], 0
    for t in p.tensors:
        tensors.append({"offset": offset, "size": t.numel(), "shape": list(t.shape)})
        offset += t.numel()
    buf = torch.cat([t.flatten() for t in p.tensors]).numpy().astype("<f4").tobytes() if p.tensors else b""
    text = json.dumps({"meta": meta, "ops": p.ops, "tensors": tensors,
                       "weights": base64.b64encode(buf).decode("ascii")})
    return text.replace("</", "<\\/")     # nothing in the data can close its script element


def page(p: Program, meta: dict) -> str:
    html = _asset("page.html")
    parts = {"__MODEL__": model_json(p, meta), "__TFJS_CORE__": _asset("vendor/tf-core.min.js"),
             "__TFJS_CPU__": _asset("vendor/tf-backend-cpu.min.js"), "__RUNTIME__": _asset("runtime.js"),
             "__TITLE__": _escape(f"{meta['run_name']} - ganforge")}
    for key, value in parts.items():      # one pass each, and no value holds another's key
        head, sep, tail = html.partition(key)
        if not sep:
            raise GanforgeError(f"the web page template lacks {key}; reinstall ganforge")
        html = head + value + tail
    return html


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def check(p: Program, gen: LoadedGenerator) -> float:
    """Largest |program - generate()| on seeded latents (and every class), batches of 1 and 7."""
    worst = 0.0
    for n in (1, 7):
        z = seeded_z(gen, n, n)
        y = torch.arange(n) % gen.kwargs["num_classes"] if gen.conditional else None
        want = generate(gen, z, y, batch_size=n)
        with torch.no_grad():
            got = run(p, z, y)
        if got.shape != want.shape:
            raise GanforgeError(f"the web program gives shape {tuple(got.shape)}, not {tuple(want.shape)}; "
                                "this is a bug in ganforge's web export, please report it")
        worst = max(worst, float((got - want).abs().max()))
    if worst > TOLERANCE:
        raise GanforgeError(f"the web program differs from PyTorch's output by {worst:.2e}; nothing was written; "
                            "export as onnx or torchscript instead")
    return worst


@dataclass
class WebExport:
    path: Path
    seconds: float
    bytes: int
    max_diff: float


def export_web(gen: LoadedGenerator, out: Path, run_name: str, dataset: str, source: str) -> WebExport:
    """Write the page for ``gen`` to ``out`` (checked first, then renamed into place). ``source`` is what
    ``ganforge generate`` is given to draw the same images (the run folder or checkpoint, and
    ``--no-ema`` where the page draws the trained G of a run that has an EMA one)."""
    out = Path(out)
    check_out(out, ".html")
    t0 = time.perf_counter()
    gen.G.cpu().float().eval()
    k = gen.kwargs
    p = build(gen.G, gen.arch, gen.conditional, k["z_dim"], k.get("num_classes", 0))
    diff = check(p, gen)
    meta = {"run_name": run_name, "arch": gen.arch, "dataset": dataset, "step": gen.step, "ema": gen.ema,
            "z_dim": k["z_dim"], "z_distribution": gen.z_dist, "resolution": k["resolution"],
            "channels": k["channels"], "num_classes": k.get("num_classes", 0) if gen.conditional else 0,
            "class_names": gen.classes, "run_command": source,
            "tfjs": TFJS_VERSION, "grid_piece": max(1, int(PIECE_MACS // max(1, macs(p))))}
    html = page(p, meta)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return WebExport(out, time.perf_counter() - t0, out.stat().st_size, diff)
