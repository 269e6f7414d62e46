"""Training shown in a notebook: tqdm's notebook bar, and one output that shows the newest sample grid and
the loss curves, updated in place while the run trains (``ganforge.train(..., live=True)``)."""

from __future__ import annotations

import base64
import html
import io
import sys
from pathlib import Path

import torch

from ganforge.grid import grid_image, to_uint8
from ganforge.training.logger import RunLogger


def in_notebook() -> bool:
    """True inside Jupyter (or another kernel that shows rich output, such as Colab's)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and (type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def grid_png(imgs: torch.Tensor, nrow: int = 8, row_labels: list[str] | None = None) -> bytes:
    """A grid of images (float in [-1, 1] or uint8) as PNG bytes."""
    return png_bytes(grid_image(imgs if imgs.dtype == torch.uint8 else to_uint8(imgs), nrow, row_labels))


def figure(title: str, pngs: list[bytes], note: str = "") -> str:
    """An HTML block: a title line, pictures side by side, a note under them."""
    pics = "".join(f'<img src="{png_uri(p)}" style="max-width:48%;margin-right:1%;vertical-align:top">'
                   for p in pngs)
    extra = f"<div style='color:#666'>{html.escape(note)}</div>" if note else ""
    return f"<div><b>{html.escape(title)}</b><br>{pics}{extra}</div>"


class NotebookLogger(RunLogger):
    """``RunLogger`` for a notebook: tqdm's auto bar (a widget where ipywidgets is installed), and one display
    that each sample grid replaces with the newest grid and ``loss.png``."""

    def __init__(self, *args, **kw):
        from IPython.display import HTML, display

        super().__init__(*args, **kw)
        self._html = HTML
        self.handle = display(HTML(f"<i>{html.escape(str(self.run))}: starting</i>"), display_id=True)

    def shows_bar(self) -> bool:
        return True

    def make_bar(self, **kw):
        from tqdm.auto import tqdm

        kw.pop("dynamic_ncols", None)
        return tqdm(**kw)

    def samples(self, step, imgs, logits, z) -> None:
        super().samples(step, imgs, logits, z)  # TensorBoard and loss.png
        curve = Path(self.run) / "loss.png"
        pngs = [grid_png(imgs)] + ([curve.read_bytes()] if curve.is_file() else [])
        last = self.history[-1] if self.history else {}
        note = "  ".join(f"{k} {last[k]:.3f}" for k in ("d_loss", "g_loss", "D(x)", "D(G(z))") if k in last)
        if self.handle is not None:
            self.handle.update(self._html(figure(f"{Path(self.run).name}: step {step}", pngs, note)))
