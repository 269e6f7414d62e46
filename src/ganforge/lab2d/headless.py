"""``ganforge lab --headless``: train without a page and write what a page would have shown.

``OUT/samples.npy`` (10,000 points, float32, (10000, 2), drawn by the chosen sampler), ``OUT/samples_plain.npy``
(G's own 10,000 points), ``OUT/metrics.json`` (the measures of both, steps, seconds, full settings, and
which modes G left empty and which noise pieces it stranded: ``explain``),
``OUT/final.png`` (the layered view, with its colour key), ``OUT/evolution.gif`` (the view over training) and
``OUT/model.safetensors`` (the trained networks and settings: ``ganforge lab --model`` opens the page on it).
The same settings and seed give the same points.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ganforge.files import atomic_write
from ganforge.lab2d.modelfile import to_bytes
from ganforge.lab2d.picture import Background, with_key
from ganforge.lab2d.samplers import CALIBRATE_STEPS, calibrate, draw
from ganforge.lab2d.settings import LabSettings, validate
from ganforge.lab2d.trainer import MODE_POINTS, LabTrainer
from ganforge.web.httpbase import finite

SAMPLES = 10_000
GIF_FRAMES = 24


def run(s: LabSettings, out: Path, say=print, stop=None) -> dict:
    """Train ``s.steps`` iterations (or until ``s.seconds`` of training, or until ``stop`` (a
    ``train.signals.StopSignals``) has received SIGTERM, SIGUSR1 or Ctrl-C), draw with ``s.sampler`` and write
    the files of the step reached; returns the final measures of the points written."""
    validate(s)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = LabTrainer(s)
    trainer.total = s.steps
    pictures = Background()  # the GIF's frames are painted on the other core while training goes on
    pictures.add(trainer.frame())
    trainer.record()
    for _ in range(s.steps):
        trainer.train_step()
        over = (s.seconds is not None and trainer.seconds >= s.seconds) or bool(stop and stop.received)
        if trainer.step * GIF_FRAMES // s.steps > (trainer.step - 1) * GIF_FRAMES // s.steps or over:
            last = trainer.frame()
            pictures.add(last)
        if trainer.step % max(1, s.steps // 20) == 0 or trainer.step == s.steps or over:
            trainer.record()
        if over:
            break
    plain = trainer.history[-1]
    result = {"dist": s.dist, "steps": trainer.step, "seconds": round(trainer.seconds, 2), "final": plain,
              "history": trainer.history, "settings": s.to_dict()}
    if stop and stop.received:
        result["stopped_by"] = stop.name
        say(f"{stop.name}: training stopped at step {trainer.step} of {s.steps}; writing what it reached")
    pictures.add(last, f"{s.dist}, step {trainer.step}\n{_summary(plain)}")  # the last frame, titled: final.png
    points = trainer.samples(SAMPLES, s.seed + 5)
    atomic_write(out / "samples_plain.npy", lambda p: np.save(p, points.numpy().astype(np.float32)))
    final = plain
    if s.sampler != "plain":
        t0 = time.perf_counter()
        cals = calibrate(trainer, s.sampler)
        drawn = draw(trainer, cals, SAMPLES, s.seed + 5, s.sampler)
        scored = draw(trainer, cals, MODE_POINTS, s.seed + 3, s.sampler)  # the points the measures use
        final = {**trainer.measure_points(scored.points), **scored.summary()}
        points = drawn.points
        result["sampler"] = {"name": s.sampler, "final": final, "calibration_steps": CALIBRATE_STEPS,
                             "seconds": round(time.perf_counter() - t0, 2)}
    result["explained"] = trainer.explained()
    atomic_write(out / "model.safetensors", lambda p: p.write_bytes(to_bytes(trainer)))
    atomic_write(out / "samples.npy", lambda p: np.save(p, points.numpy().astype(np.float32)))
    atomic_write(out / "metrics.json", lambda p: p.write_text(json.dumps(finite(result), indent=1) + "\n"))
    line = _summary(final) + (f" with the {s.sampler} sampler (G alone: {_summary(plain)})" if s.sampler != "plain" else "")
    *images, last = pictures.images()
    atomic_write(out / "final.png", lambda p: with_key(last, p))
    atomic_write(out / "evolution.gif", lambda p: with_key(images[0], p, format="GIF", save_all=True,
                                                           append_images=images[1:], duration=150, loop=0))
    say(f"{s.dist}: {trainer.step} steps in {trainer.seconds:.1f} s; {line}; wrote {out}/samples.npy"
        f"{', samples_plain.npy' if s.sampler != 'plain' else ''}, metrics.json, final.png, evolution.gif, model.safetensors")
    for why in result["explained"]["lines"]:  # G's own points: what a sampler hides is still said
        say(why)
    return final


def _summary(m: dict) -> str:
    pr = f"precision {m['precision']:.2f}, recall {m['recall']:.2f}"
    if "modes" in m:
        return (f"modes {m['modes']}/{m['num_modes']}, high quality {m['high_quality']:.1%}, "
                f"reverse KL {m['reverse_kl']:.3f}, {pr}")
    return f"{pr}, grid KL {m['kl']:.3f}"


