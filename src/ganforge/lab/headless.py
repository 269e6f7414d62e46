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


REAL, FAKE, MANIFOLD = "#1b7837", "#762a83", "#555555"
# the colour key drawn under the view (and written into the files' metadata)
LEGEND = ("real points: green dots", "generated (fake) points: purple dots",
          "G's push on each fake point: purple arrows", "manifold (G's image of a grid of noise): grey lines",
          "D's verdict: background from purple (fake) through white to green (real)")


def render(frame: dict, title: str = ""):
    """The layered view as a PIL image: D's verdict, the manifold, real and fake points, G's arrows, and
    under it the colour key (a marker per layer and a bar for D's verdict)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from PIL import Image

    r, n = frame["radius"], frame["heat_size"]
    fig = plt.figure(figsize=(4.2, 4.95), dpi=100)
    ax = fig.add_axes((0.04, 0.15, 0.92, 0.76))
    heat = np.array(frame["heat"], dtype=float).reshape(n, n)
    shown = ax.imshow(heat, extent=(-r, r, -r, r), cmap="PiYG", vmin=0, vmax=1, alpha=0.55, interpolation="bilinear")
    m = np.array(frame["manifold"])
    rows, cols = frame["manifold_shape"]
    grid = m.reshape(rows, cols, 2)
    for line in list(grid) + (list(grid.transpose(1, 0, 2)) if rows > 1 else []):
        ax.plot(line[:, 0], line[:, 1], color=MANIFOLD, lw=0.4, alpha=0.6)
    real, fake, push = (np.array(frame[k]) for k in ("real", "fake", "push"))
    ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL)
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c=FAKE)
    k = slice(None, None, 4)
    ax.quiver(fake[k, 0], fake[k, 1], push[k, 0], push[k, 1], color=FAKE, alpha=0.5, angles="xy",
              scale_units="xy", scale=1 / (0.15 * r), width=0.003)
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"step {frame['step']}", fontsize=9)
    key = [Line2D([], [], ls="", marker="o", ms=4, color=REAL, label="real"),
           Line2D([], [], ls="", marker="o", ms=4, color=FAKE, label="fake"),
           Line2D([], [], ls="", marker=r"$\rightarrow$", ms=9, color=FAKE, label="G's push"),
           Line2D([], [], color=MANIFOLD, lw=1, label="manifold")]
    fig.legend(handles=key, loc="lower center", bbox_to_anchor=(0.5, 0.07), ncol=4, fontsize=7, frameon=False,
               handletextpad=0.3, columnspacing=1.0)
    bar = fig.colorbar(shown, cax=fig.add_axes((0.2, 0.045, 0.6, 0.022)), orientation="horizontal")
    bar.set_ticks([0, 0.5, 1])
    bar.set_ticklabels(["fake", "D's verdict", "real"])
    bar.ax.tick_params(labelsize=7, length=2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _with_key(image, path: Path, **kw) -> None:
    """Save ``image`` with the colour key in its metadata (a PNG text chunk, a GIF comment)."""
    from PIL.PngImagePlugin import PngInfo

    text = "; ".join(LEGEND)
    if path.suffix == ".png":
        info = PngInfo()
        info.add_text("Legend", text)
        image.save(path, pnginfo=info, **kw)
    else:
        image.save(path, comment=text.encode(), **kw)


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
    atomic_write(out / "final.png", lambda p: _with_key(render(snapshots[-1], f"{s.dist}, step {trainer.step}\n{line}"),
                                                        p))
    images = [render(f) for f in snapshots]
    atomic_write(out / "evolution.gif", lambda p: _with_key(images[0], p, format="GIF", save_all=True,
                                                            append_images=images[1:], duration=150, loop=0))
    say(f"{s.dist}: {trainer.step} steps in {trainer.seconds:.1f} s; {line}; wrote {out}/samples.npy, "
        "metrics.json, final.png, evolution.gif")
    return final


def _summary(m: dict) -> str:
    if "modes" in m:
        return (f"modes {m['modes']}/{m['num_modes']}, high quality {m['high_quality']:.1%}, "
                f"reverse KL {m['reverse_kl']:.3f}")
    return f"grid KL {m['kl']:.3f}, JS {m['js']:.3f}"


