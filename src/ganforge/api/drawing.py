"""A trained generator from Python: ``ganforge.load(source)`` -> ``Generator``, which samples, draws grids and
walks, and shows itself in a notebook. The drawing is ``ganforge.generate``'s, as ``ganforge generate`` does it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganforge.errors import GanforgeError


class Generator:
    """A generator loaded from a run folder, a run number, a checkpoint or an exported file.

    ``sample(n, seed=0)`` gives the same images as ``ganforge generate SOURCE -n N --seed S``; ``grid`` the
    same picture as ``ganforge generate SOURCE --grid``. Metadata: ``arch``, ``step``, ``ema``, ``classes``,
    ``conditional``, ``resolution``, ``channels``, ``z_dim``, ``source``."""

    def __init__(self, loaded, source: str | Path):
        self.loaded = loaded          # ganforge.sampling.LoadedGenerator: the module and its metadata
        self.source = Path(source)

    # ---- metadata ---------------------------------------------------------------------------------
    arch = property(lambda self: self.loaded.arch, doc="the model family (see `ganforge train --help`)")
    step = property(lambda self: self.loaded.step, doc="the training step its weights come from")
    ema = property(lambda self: self.loaded.ema, doc="True when these are the EMA generator's weights")
    classes = property(lambda self: self.loaded.classes, doc="class names of a conditional generator, else None")
    conditional = property(lambda self: self.loaded.conditional, doc="True when it draws a class asked for")
    z_dim = property(lambda self: self.loaded.z_dim, doc="length of its noise vector")
    resolution = property(lambda self: self.loaded.kwargs.get("resolution"), doc="side of its images in pixels")
    channels = property(lambda self: self.loaded.kwargs.get("channels"), doc="1 (grey) or 3 (colour)")

    @property
    def module(self) -> torch.nn.Module:
        """The PyTorch module itself (in eval mode)."""
        return self.loaded.G

    def __repr__(self) -> str:
        return (f"Generator({self.arch}, {self.channels}x{self.resolution}x{self.resolution}, step {self.step}"
                f"{', EMA' if self.ema else ''}{', classes ' + str(len(self.classes)) if self.classes else ''}, "
                f"from {self.source})")

    # ---- drawing ----------------------------------------------------------------------------------
    def _class(self, label) -> int | None:
        from ganforge.generate import class_index

        return None if label is None else class_index(self.loaded, label if isinstance(label, (int, str)) else int(label))

    def _labels(self, n: int, labels) -> torch.Tensor | None:
        """Labels for ``n`` images: None (a conditional G cycles through its classes), one class for all
        (index or name), or one per image."""
        from ganforge.generate import check_labels, labels_for

        if labels is None or isinstance(labels, (int, str)):
            return labels_for(self.loaded, n, self._class(labels))
        per = [self._class(v) for v in (labels.tolist() if torch.is_tensor(labels) else labels)]
        if len(per) != n:
            raise GanforgeError(f"{len(per)} labels for {n} images; give one label, or one per image")
        return check_labels(self.loaded, torch.tensor(per, dtype=torch.long))

    def sample(self, n: int = 16, seed: int = 0, labels: int | str | Sequence | torch.Tensor | None = None,
               pil: bool = False):
        """``n`` images from noise seeded by ``seed``: a uint8 tensor (n, C, H, W), or PIL images with
        ``pil=True``. ``labels`` (conditional generators): a class index or name for all, or one per image;
        None cycles through the classes, as ``ganforge generate`` does."""
        from ganforge.generate import generate, seeded_z
        from ganforge.grid import to_uint8

        if n < 1:
            raise GanforgeError("n must be at least 1")
        imgs = to_uint8(generate(self.loaded, seeded_z(self.loaded, n, seed), self._labels(n, labels)))
        return to_pil(imgs) if pil else imgs

    def grid(self, rows: int = 8, cols: int = 8, seed: int = 0, label: int | str | None = None):
        """The picture ``ganforge generate SOURCE --grid`` writes: ``rows`` x ``cols`` images (a conditional
        generator without ``label``: a row per class, labelled), as a PIL image."""
        from ganforge.generate import sample_grid
        from ganforge.grid import grid_image, to_uint8

        imgs, row_labels = sample_grid(self.loaded, rows, cols, seed, self._class(label))
        return grid_image(to_uint8(imgs), cols, row_labels)

    def interpolate(self, frames: int = 10, seed: int = 0, walks: int = 1, label: int | str | None = None,
                    pil: bool = True):
        """``walks`` latent walks of ``frames`` images between random points (spherical for Gaussian noise):
        a PIL picture with a walk per row, or (``pil=False``) a uint8 tensor (walks, frames, C, H, W)."""
        from ganforge.generate import latent_walks
        from ganforge.grid import grid_image

        if walks < 1 or frames < 2:
            raise GanforgeError("a latent walk needs frames >= 2 and walks >= 1")
        imgs = latent_walks(self.loaded, walks, frames, seed, self._class(label))
        return grid_image(imgs.flatten(0, 1), frames) if pil else imgs

    def walk(self, seed_a: int = 0, seed_b: int = 1, frames: int = 10, label: int | str | None = None,
             pil: bool = True):
        """A walk from the image of ``sample(1, seed=seed_a)`` to that of ``sample(1, seed=seed_b)`` in
        ``frames`` steps (spherical for Gaussian noise): a PIL strip, or (``pil=False``) uint8 (frames, C, H, W)."""
        from ganforge.generate import generate, seeded_z, slerp
        from ganforge.grid import grid_image, to_uint8

        if frames < 2:
            raise GanforgeError("a walk needs frames >= 2")
        a, b = seeded_z(self.loaded, 1, seed_a), seeded_z(self.loaded, 1, seed_b)
        t = torch.linspace(0, 1, frames).view(frames, 1)
        z = slerp(a, b, t) if self.loaded.z_dist == "normal" else a + (b - a) * t
        labels = self._labels(frames, label if label is not None else (0 if self.conditional else None))
        imgs = to_uint8(generate(self.loaded, z, labels))
        return grid_image(imgs, frames) if pil else imgs

    def _repr_png_(self) -> bytes:
        from ganforge.api.live import png_bytes

        return png_bytes(self.grid(rows=4 if not self.conditional else 8, cols=8))


def to_pil(imgs: torch.Tensor) -> list:
    """uint8 (N, C, H, W) -> PIL images."""
    from PIL import Image

    arr = imgs.permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a[..., 0] if a.shape[2] == 1 else a) for a in arr]


def load(source: str | Path, ema: bool | None = None, device: str = "cpu", runs_dir: str | Path = "runs") -> Generator:
    """A generator from a run folder, a run number or name under ``runs_dir``, a ``.safetensors`` checkpoint,
    an exported ``.onnx``/``.pt`` file, or a ``Run``. ``ema``: None takes the EMA generator where the run has
    one (as ``ganforge generate`` does), False the trained G. ``device``: cpu, cuda, auto, ..."""
    from ganforge.device import resolve_device
    from ganforge.generate import load_generator
    from ganforge.training.run_dir import locate

    where = locate(str(getattr(source, "path", source)), runs_dir)
    return Generator(load_generator(where, ema=ema, device=resolve_device(device)), where)
