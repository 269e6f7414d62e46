"""Load a generator (a run, a checkpoint or a file ``ganforge export`` wrote) and draw grids, latent walks
and single images from it; the drawing itself is ``ganforge.sampling``'s, as in training.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ganforge import checkpoint
from ganforge.errors import GanforgeError
from ganforge.grid import atomic_save, grid_image, to_uint8
from ganforge.models import build_generator, has_convolutions
from ganforge.sampling import LoadedGenerator, generate, seeded_z
from ganforge.training.run_dir import resolve_checkpoint


def load_generator(arg: str | Path, ema: bool | None = None, device="cpu") -> LoadedGenerator:
    """G from a run folder or checkpoint, or from a file ``ganforge export`` wrote (ONNX, TorchScript).
    ``ema``: None (the default) draws from the EMA generator when the checkpoint has one, as StyleGAN2 and
    lightweight-gan sample; True asks for it, False for the trained G itself."""
    from ganforge.exported import as_loaded_generator, is_exported

    if Path(arg).is_file() and is_exported(Path(arg)):
        if ema:
            raise GanforgeError(f"{arg} is an exported generator: --ema was chosen at export; drop it")
        return as_loaded_generator(arg)
    path = resolve_checkpoint(arg)
    meta = checkpoint.read_meta(path)
    state = checkpoint.load_weights(path, "G_ema") if ema is not False else {}
    if ema is None:
        ema = bool(state)
    if not ema:
        state = checkpoint.load_weights(path, "G")
    if not state:
        if ema:
            raise GanforgeError(f"{path} has no EMA generator; train with train.ema_kimg=5 (on without a preset) "
                                "or drop --ema")
        raise GanforgeError(f"{path} holds no generator weights")
    G = build_generator(meta["arch"], meta["kwargs"])
    G.load_state_dict(state)
    G.to(device).eval()
    if has_convolutions(meta["arch"]):
        G.to(memory_format=torch.channels_last)  # 1.3x faster sampling at 64 px on a CPU
    return LoadedGenerator(G, meta["arch"], meta["kwargs"], meta.get("z_dist", "normal"), meta.get("classes"),
                           int(meta.get("step", 0)), path, ema)


def check_labels(gen: LoadedGenerator, labels: torch.Tensor | None) -> torch.Tensor | None:
    k = gen.kwargs.get("num_classes", 0)
    if not gen.conditional:
        if labels is not None:
            raise GanforgeError(f"this {gen.arch} generator is not conditional; drop --class")
        return None
    if labels is None:
        raise GanforgeError("this generator is conditional; a class is needed")
    if labels.min() < 0 or labels.max() >= k:
        raise GanforgeError(f"class must be in 0..{k - 1}" + (f" ({', '.join(gen.classes)})" if gen.classes else ""))
    return labels


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (for Gaussian latents)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolation_z(gen: LoadedGenerator, frames: int, seed: int, walks: int = 1) -> torch.Tensor:
    """Latents of ``walks`` walks between random endpoints, ``frames`` each: (walks * frames, z_dim)."""
    ends = seeded_z(gen, 2 * walks, seed)
    t = torch.linspace(0, 1, frames).view(1, frames, 1)
    a, b = ends[:walks, None, :], ends[walks:, None, :]
    z = slerp(a, b, t) if gen.z_dist == "normal" else a + (b - a) * t
    return z.reshape(walks * frames, -1)


def class_index(gen: LoadedGenerator, value: str | int) -> int:
    """A class given by number or by name (``--class 7``, ``--class Sneaker``)."""
    if isinstance(value, int) or value.isdigit():
        return int(value)
    if gen.classes and value in gen.classes:
        return gen.classes.index(value)
    raise GanforgeError(f"unknown class '{value}'" + (f"; classes: {', '.join(gen.classes)}" if gen.classes else ""))


def sample_grid(gen: LoadedGenerator, rows: int, cols: int, seed: int, cls: int | None = None,
                max_images: int | None = None) -> tuple[torch.Tensor, list[str] | None]:
    """Images for a ``rows`` x ``cols`` grid from seeded noise, and the row labels. A conditional
    generator without ``cls`` gets a row per class (``rows`` is then the number of classes).
    ``max_images``: refuse larger grids before drawing anything."""
    if cls is not None and not gen.conditional:
        raise GanforgeError(f"this {gen.arch} generator is not conditional; drop the class")
    if rows >= 1 and gen.conditional and cls is None:
        rows = gen.kwargs.get("num_classes", 0)
    if rows < 1 or cols < 1 or (max_images is not None and rows * cols > max_images):
        raise GanforgeError("the grid must have at least one row and column"
                            + (f" and at most {max_images} images" if max_images else ""))
    y = None
    if gen.conditional:
        y = torch.arange(rows).repeat_interleave(cols) if cls is None else \
            check_labels(gen, torch.full((rows * cols,), cls, dtype=torch.long))
    imgs = generate(gen, seeded_z(gen, rows * cols, seed), y)
    labels = [gen.classes[int(y[r * cols])] for r in range(rows)] if y is not None and gen.classes else None
    return imgs, labels


def labels_for(gen: LoadedGenerator, n: int, cls: int | None = None) -> torch.Tensor | None:
    """Labels for ``n`` images: all ``cls``, or (conditional, no class) cycling through the classes."""
    if not gen.conditional:
        if cls is not None:
            raise GanforgeError(f"this {gen.arch} generator is not conditional; drop --class")
        return None
    if cls is not None:
        return check_labels(gen, torch.full((n,), cls, dtype=torch.long))
    return torch.arange(n) % gen.kwargs["num_classes"]


def draw(gen: LoadedGenerator, n: int, seed: int, cls: int | None = None) -> torch.Tensor:
    """``n`` images from seeded noise as uint8 (n, C, H, W)."""
    return to_uint8(generate(gen, seeded_z(gen, n, seed), labels_for(gen, n, cls)))


def write_images(imgs: torch.Tensor, out: Path) -> None:
    """uint8 (N, C, H, W) images as ``out/000000.png``, ... (each written whole or not at all)."""
    from PIL import Image

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out} is a file; pass a folder")
    out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        arr = im.permute(1, 2, 0).numpy()
        atomic_save(Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr), out / f"{i:06d}.png")


def latent_walks(gen: LoadedGenerator, walks: int, frames: int, seed: int, cls: int | None = None) -> torch.Tensor:
    """``walks`` walks of ``frames`` images each between random latents: uint8 (walks, frames, C, H, W).
    A conditional generator walks in one class (``cls``), or in a class per walk."""
    z = interpolation_z(gen, frames, seed, walks)
    y = None
    if gen.conditional:
        k = gen.kwargs["num_classes"]
        y = labels_for(gen, len(z), cls) if cls is not None else (torch.arange(walks) % k).repeat_interleave(frames)
    elif cls is not None:
        labels_for(gen, 1, cls)  # the one-line error
    imgs = to_uint8(generate(gen, z, y))
    return imgs.view(walks, frames, *imgs.shape[1:])


WALK_CELL = 64  # smallest side of an image in a walk's picture, pixels


def save_walks(walks: torch.Tensor, out: Path) -> str:
    """Latent walks as a ``.gif`` (one frame per step of the walks: a grid of all walks at that step, played
    in a loop) or a PNG strip (a row per walk, a column per step); images at least ``WALK_CELL`` px. Returns
    what was written, in words."""
    n, frames = walks.shape[:2]
    out = Path(out)
    side = max(1, math.ceil(n ** 0.5))
    if out.suffix.lower() == ".gif":
        images = [_with_progress(grid_image(walks[:, f], nrow=side, min_cell=WALK_CELL), (f + 1) / frames)
                  for f in range(frames)]
        atomic_save(images[0], out, save_all=True, append_images=images[1:], duration=120, loop=0)
        w, h = images[0].size
        return (f"{n} walk(s) of {frames} frames: a {frames}-frame GIF, each frame the {n} walk(s) side by side "
                f"({w}x{h} px)")
    image = grid_image(walks.reshape(n * frames, *walks.shape[2:]), nrow=frames, min_cell=WALK_CELL)
    atomic_save(image, out)
    return f"{n} walk(s) of {frames} frames: a row per walk ({image.size[0]}x{image.size[1]} px)"


def _with_progress(image, done: float):
    """``image`` with a 4 px bar under it, filled to ``done`` of its width: where the walk is (and no two
    frames alike, which a GIF writer would merge)."""
    from PIL import Image, ImageDraw

    w, h = image.size
    framed = Image.new(image.mode, (w, h + 4), "white")
    framed.paste(image, (0, 0))
    ImageDraw.Draw(framed).rectangle((0, h, max(0, round(w * done) - 1), h + 3), fill="gray")
    return framed


def trained_on(gen: LoadedGenerator) -> str:
    """The dataset a checkpoint's generator learned (for evaluation against it)."""
    meta = checkpoint.read_meta(gen.path)
    if "dataset" not in meta:
        raise GanforgeError(f"{gen.path} does not say which dataset it learned; pass --dataset NAME")
    return meta["dataset"]
