"""The lab's view as a picture (headless ``final.png`` and ``evolution.gif``): D's verdict, the manifold,
real and fake points, G's push, and under it the colour key, also written into the files' metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

REAL, FAKE, MANIFOLD = "#1b7837", "#762a83", "#555555"
# the colour key drawn under the view (and written into the files' metadata)
LEGEND = ("real points: green dots", "generated (fake) points: purple dots",
          "G's push on each fake point: purple arrows", "manifold (G's image of a grid of noise): grey lines",
          "D's verdict: background from purple (fake) through white to green (real)")


class Painter:
    """Draws frames of one view size on one figure, changing only the layers' data between frames (a GIF
    of many frames costs a figure once)."""

    def __init__(self, radius: float, heat_size: int):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.collections import LineCollection
        from matplotlib.lines import Line2D

        self.plt, r, n = plt, radius, heat_size
        self.key = (radius, heat_size)
        self.fig = fig = plt.figure(figsize=(4.2, 4.95), dpi=100)
        self.ax = ax = fig.add_axes((0.04, 0.15, 0.92, 0.76))
        self.heat = ax.imshow(np.zeros((n, n)), extent=(-r, r, -r, r), cmap="PiYG", vmin=0, vmax=1, alpha=0.55,
                              interpolation="bilinear")
        self.lines = ax.add_collection(LineCollection([], colors=MANIFOLD, linewidths=0.4, alpha=0.6))
        self.real = ax.scatter([], [], s=3, c=REAL)
        self.fake = ax.scatter([], [], s=3, c=FAKE)
        self.push = None
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        key = [Line2D([], [], ls="", marker="o", ms=4, color=REAL, label="real"),
               Line2D([], [], ls="", marker="o", ms=4, color=FAKE, label="fake"),
               Line2D([], [], ls="", marker=r"$\rightarrow$", ms=9, color=FAKE, label="G's push"),
               Line2D([], [], color=MANIFOLD, lw=1, label="manifold")]
        fig.legend(handles=key, loc="lower center", bbox_to_anchor=(0.5, 0.07), ncol=4, fontsize=7, frameon=False,
                   handletextpad=0.3, columnspacing=1.0)
        bar = fig.colorbar(self.heat, cax=fig.add_axes((0.2, 0.045, 0.6, 0.022)), orientation="horizontal")
        bar.set_ticks([0, 0.5, 1])
        bar.set_ticklabels(["fake", "D's verdict", "real"])
        bar.ax.tick_params(labelsize=7, length=2)

    def paint(self, frame: dict, title: str = ""):
        """The layered view of ``frame`` as a PIL image: D's verdict, the manifold, real and fake points,
        G's arrows, and under it the colour key (a marker per layer and a bar for D's verdict)."""
        from PIL import Image

        r, n = self.key
        self.heat.set_data(np.array(frame["heat"], dtype=float).reshape(n, n))
        shape = frame["manifold_shape"]
        patches, rows, cols = shape if len(shape) == 3 else (1, *shape)  # a grid per mixture component
        lines = []
        for grid in np.array(frame["manifold"]).reshape(patches, rows, cols, 2):
            lines += list(grid) + (list(grid.transpose(1, 0, 2)) if rows > 1 else [])
        self.lines.set_segments(lines)
        real, fake, push = (np.array(frame[k]).reshape(-1, 2) for k in ("real", "fake", "push"))
        self.real.set_offsets(real)
        self.fake.set_offsets(fake)
        if self.push is not None:
            self.push.remove()
        k = slice(None, None, 4)
        self.push = self.ax.quiver(fake[k, 0], fake[k, 1], push[k, 0], push[k, 1], color=FAKE, alpha=0.5,
                                   angles="xy", scale_units="xy", scale=1 / (0.15 * r), width=0.003)
        self.ax.set_title(title or f"step {frame['step']}", fontsize=9)
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png")
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    def close(self) -> None:
        self.plt.close(self.fig)


class Background:
    """Frames painted one by one on a worker thread as they come (a headless run trains on one core, so
    the other paints its GIF meanwhile); ``images()`` waits for the last and returns them in order."""

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.pool, self.painter, self.jobs = ThreadPoolExecutor(1, thread_name_prefix="lab-pictures"), None, []

    def add(self, frame: dict, title: str = "") -> None:
        self.jobs.append(self.pool.submit(self._paint, frame, title))

    def _paint(self, frame: dict, title: str):
        if self.painter is None:
            self.painter = Painter(frame["radius"], frame["heat_size"])
        return self.painter.paint(frame, title)

    def images(self) -> list:
        try:
            return [job.result() for job in self.jobs]
        finally:
            if self.painter is not None:
                self.pool.submit(self.painter.close).result()
            self.pool.shutdown(wait=True)


def render_all(frames: list[dict], titles: dict[int, str] | None = None) -> list:
    """Every frame as a picture, on one figure (``titles``: a title for some frames, by index)."""
    painter = Painter(frames[0]["radius"], frames[0]["heat_size"])
    try:
        return [painter.paint(f, (titles or {}).get(i, "")) for i, f in enumerate(frames)]
    finally:
        painter.close()


def render(frame: dict, title: str = ""):
    """One frame as a picture."""
    return render_all([frame], {0: title})[0]


def with_key(image, path: Path, **kw) -> None:
    """Save ``image`` with the colour key in its metadata (a PNG text chunk, a GIF comment)."""
    from PIL.PngImagePlugin import PngInfo

    text = "; ".join(LEGEND)
    if path.suffix == ".png":
        info = PngInfo()
        info.add_text("Legend", text)
        image.save(path, pnginfo=info, **kw)
    else:
        image.save(path, comment=text.encode(), **kw)
