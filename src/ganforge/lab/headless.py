"""``ganforge lab --headless``: train without a page and write what a page would have shown.

``OUT/samples.npy`` (10,000 generated points, float32, (10000, 2)), ``OUT/metrics.json`` (the measures,
steps, seconds and full settings), ``OUT/final.png`` (the layered view) and ``OUT/evolution.gif`` (the
layered view over training). The same settings and seed give the same points.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ganforge.files import atomic_write
from ganforge.lab.settings import LabSettings, validate
from ganforge.lab.trainer import LabTrainer

SAMPLES = 10_000
GIF_FRAMES = 24


def render(frame: dict, title: str = ""):
    """The layered view as a PIL image: D's verdict, the manifold, real and fake points, G's arrows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    r, n = frame["radius"], frame["heat_size"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    heat = np.array(frame["heat"]).reshape(n, n)
    ax.imshow(heat, extent=(-r, r, -r, r), cmap="PiYG", vmin=0, vmax=1, alpha=0.55, interpolation="bilinear")
    m = np.array(frame["manifold"])
    rows, cols = frame["manifold_shape"]
    grid = m.reshape(rows, cols, 2)
    for line in list(grid) + (list(grid.transpose(1, 0, 2)) if rows > 1 else []):
        ax.plot(line[:, 0], line[:, 1], color="#555", lw=0.4, alpha=0.6)
    real, fake, push = (np.array(frame[k]) for k in ("real", "fake", "push"))
    ax.scatter(real[:, 0], real[:, 1], s=3, c="#1b7837", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="#762a83", label="fake")
    k = slice(None, None, 4)
    ax.quiver(fake[k, 0], fake[k, 1], push[k, 0], push[k, 1], color="#762a83", alpha=0.5, angles="xy",
              scale_units="xy", scale=1 / (0.15 * r), width=0.003)
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"step {frame['step']}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def run(s: LabSettings, out: Path, say=print) -> dict:
    """Train ``s.steps`` iterations and write the four files; returns the final measures."""
    validate(s)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = LabTrainer(s)
    trainer.total = s.steps
    every = max(1, s.steps // GIF_FRAMES)
    snapshots = [trainer.frame()]
    trainer.record()
    for _ in range(s.steps):
        trainer.train_step()
        if trainer.step % every == 0 or trainer.step == s.steps:
            snapshots.append(trainer.frame())
        if trainer.step % max(1, s.steps // 20) == 0 or trainer.step == s.steps:
            trainer.record()
    final = trainer.history[-1]
    points = trainer.samples(SAMPLES, s.seed + 5).numpy().astype(np.float32)
    atomic_write(out / "samples.npy", lambda p: np.save(p, points))
    result = {"dist": s.dist, "steps": trainer.step, "seconds": round(trainer.seconds, 2), "final": final,
              "history": trainer.history, "settings": s.to_dict()}
    atomic_write(out / "metrics.json", lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    line = _summary(final)
    atomic_write(out / "final.png", lambda p: render(snapshots[-1], f"{s.dist}, step {trainer.step}\n{line}").save(p))
    images = [render(f) for f in snapshots]
    atomic_write(out / "evolution.gif", lambda p: images[0].save(p, format="GIF", save_all=True,
                                                            append_images=images[1:], duration=150, loop=0))
    say(f"{s.dist}: {trainer.step} steps in {trainer.seconds:.1f} s; {line}; wrote {out}/samples.npy, "
        "metrics.json, final.png, evolution.gif")
    return final


def _summary(m: dict) -> str:
    if "modes" in m:
        return (f"modes {m['modes']}/{m['num_modes']}, high quality {m['high_quality']:.1%}, "
                f"reverse KL {m['reverse_kl']:.3f}")
    return f"grid KL {m['kl']:.3f}, JS {m['js']:.3f}"


