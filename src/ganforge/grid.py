"""Image grids as PNG (samples, dataset previews), written atomically, with optional row labels."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] (N, C, H, W) -> uint8 [0, 255] on the CPU."""
    return x.detach().float().add(1).mul(127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()


def atomic_save(img: Image.Image, path: Path, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        img.save(tmp, **kw)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def grid_image(images: torch.Tensor, nrow: int, row_labels: list[str] | None = None, min_cell: int = 48,
               pad: int = 2) -> Image.Image:
    """uint8 (N, C, H, W) -> a PIL grid, ``nrow`` images per row, cells upscaled (nearest) to at least
    ``min_cell`` pixels so small images stay visible; ``row_labels`` are written left of each row."""
    n, c, h, w = images.shape
    scale = max(1, math.ceil(min_cell / max(h, w)))
    ch, cw = h * scale, w * scale
    rows = math.ceil(n / nrow)
    font = ImageFont.load_default()
    label_w = 0
    if row_labels:
        label_w = max(int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(t, font=font)) for t in row_labels) + 8
    canvas = Image.new("RGB", (label_w + nrow * (cw + pad) + pad, rows * (ch + pad) + pad), (255, 255, 255))
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        tile = Image.fromarray(arr[i, :, :, 0] if c == 1 else arr[i], "L" if c == 1 else "RGB")
        if scale > 1:
            tile = tile.resize((cw, ch), Image.Resampling.NEAREST)
        canvas.paste(tile.convert("RGB"), (label_w + pad + col * (cw + pad), pad + r * (ch + pad)))
    if row_labels:
        draw = ImageDraw.Draw(canvas)
        for r, text in enumerate(row_labels[:rows]):
            draw.text((4, pad + r * (ch + pad) + ch // 2 - 5), text, fill=(0, 0, 0), font=font)
    return canvas


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None, row_labels: list[str] | None = None,
              **kw) -> Path:
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    nrow = nrow or max(1, math.ceil(math.sqrt(len(images))))
    return atomic_save(grid_image(images.cpu(), nrow, row_labels, **kw), path)
