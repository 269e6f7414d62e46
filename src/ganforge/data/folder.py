"""Any folder tree of images: recursive, optional glob pattern, centre crop, antialiased resize.

Every file is converted to 8-bit RGB the same way (palette, RGBA/LA over white, CMYK, 16-bit,
EXIF rotation); the set as a whole is grayscale only when every image is. Unreadable or
truncated files are skipped and counted.
"""

from __future__ import annotations

import fnmatch
import os
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ganforge.errors import GanforgeError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never half an image

# What a broken file raises inside Pillow.
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError,
                 struct.error, EOFError)


def list_images(root: Path, pattern: str | None = None) -> list[Path]:
    """Image files under ``root`` (recursive, sorted). ``pattern`` is a glob on the file name,
    or on the path relative to ``root`` when it contains ``/``."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if fn.startswith(".") or Path(fn).suffix.lower() not in EXTENSIONS:
                continue
            p = Path(dirpath) / fn
            if pattern:
                target = p.relative_to(root).as_posix() if "/" in pattern else fn
                if not fnmatch.fnmatch(target, pattern):
                    continue
            found.append(p)
    return sorted(found)


def _to_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """8-bit RGB version of ``img`` and whether the source was grayscale by its mode."""
    mode = img.mode
    is_gray = mode in GRAY_MODES
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit files hold 0..65535; scale them down, never clip them
        if mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = arr / 257.0
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    elif mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB"), is_gray


def decode(path: Path, resolution: int, crop: int | None = None) -> tuple[np.ndarray, bool]:
    """One file -> (H, W, 3) uint8 at ``resolution`` and whether it is grayscale.

    Raises one of DECODE_ERRORS for an unreadable file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's EXIF/ICC chatter; real damage raises
        with Image.open(path) as im:
            im.seek(0)  # GIF/WebP: first frame
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb, is_gray = _to_rgb(im)
    w, h = rgb.size
    side = min(w, h) if crop is None else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side))
    if side != resolution:
        rgb = rgb.resize((resolution, resolution), Image.Resampling.LANCZOS)
    arr = np.asarray(rgb, dtype=np.uint8)
    if not is_gray:  # an RGB file whose three channels agree is grayscale too
        is_gray = bool((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all())
    return arr, is_gray


def folder_labels(root: Path, files: list[Path]) -> tuple[torch.Tensor, list[str]]:
    """Class index per file from its first-level subfolder name (sorted names -> 0..K-1)."""
    tops = []
    for p in files:
        parts = p.relative_to(root).parts
        if len(parts) < 2:
            raise GanforgeError(f"labels come from subfolder names, but {p} lies directly in {root}; "
                                "move images into one subfolder per class or drop --labels")
        tops.append(parts[0])
    classes = sorted(set(tops))
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[t] for t in tops], dtype=torch.int64), classes


class FolderImages(torch.utils.data.Dataset):
    """Decodes files on demand. ``channels`` None returns (HWC array, is_gray) pairs for the
    one-time decode; 1 or 3 returns uint8 (C, H, W) tensors for streaming. Broken files -> None."""

    def __init__(self, files: list[Path], resolution: int, crop: int | None,
                 channels: int | None = None, labels: torch.Tensor | None = None):
        self.files, self.resolution, self.crop = files, resolution, crop
        self.channels, self.labels = channels, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            arr, is_gray = decode(self.files[i], self.resolution, self.crop)
        except DECODE_ERRORS:
            return None
        label = -1 if self.labels is None else int(self.labels[i])
        if self.channels is None:
            return i, arr, is_gray, label
        t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        return (t[:1] if self.channels == 1 else t), label


def collate_stream(items):
    """Stack a streamed batch, dropping files that failed to decode."""
    good = [it for it in items if it is not None]
    if not good:
        return None
    return torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good], dtype=torch.int64)


def _as_list(items):
    return items


def decode_all(files: list[Path], resolution: int, crop: int | None, channels: int | None,
               workers: int) -> tuple[torch.Tensor, list[int], list[Path]]:
    """Decode every file once (in parallel workers). Returns uint8 (N, C, H, W) of the good files,
    their indices into ``files``, and the broken files."""
    ds = FolderImages(files, resolution, crop)
    workers = 0 if len(files) < 256 else max(0, min(workers, os.cpu_count() or 1))
    loader = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=workers, collate_fn=_as_list)
    out = np.empty((len(files), resolution, resolution, 3), dtype=np.uint8)
    good, gray = [], True
    for batch in loader:
        for item in batch:
            if item is None:
                continue
            i, arr, is_gray, _ = item
            out[len(good)] = arr
            good.append(i)
            gray &= is_gray
    bad = sorted(set(range(len(files))) - set(good))
    out = out[:len(good)]
    c = channels or (1 if gray else 3)
    if c == 1 and not gray:  # forced grayscale of colour images: ITU-R 601 luma, like PIL "L"
        luma = out[..., 0] * 0.299 + out[..., 1] * 0.587 + out[..., 2] * 0.114
        out = np.rint(luma)[..., None].astype(np.uint8)
    elif c == 1:
        out = out[..., :1]
    images = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
    return images, good, [files[i] for i in bad]


def detect_channels(files: list[Path], resolution: int, crop: int | None, sample: int = 64) -> int:
    """Channels for a streamed set, judged from an evenly spread sample of its files."""
    step = max(1, len(files) // sample)
    for p in files[::step]:
        try:
            if not decode(p, resolution, crop)[1]:
                return 3
        except DECODE_ERRORS:
            continue
    return 1


def report_skipped(bad: list[Path], total: int) -> None:
    if bad:
        names = ", ".join(str(p) for p in bad[:3]) + (" ..." if len(bad) > 3 else "")
        print(f"warning: skipped {len(bad)} of {total} unreadable image file(s): {names}", file=sys.stderr)


def common_side(files: list[Path], crop: int | None = None, sample: int = 256) -> int | None:
    """The most common shorter side of the images (after ``crop``), from the headers of an evenly spread
    sample of at most ``sample`` files; None when none of them can be read."""
    from collections import Counter

    sides = Counter()
    step = max(1, len(files) // sample)
    for p in files[::step][:sample]:
        try:
            with Image.open(p) as im:  # the header only: no pixels are decoded
                side = min(im.size)
        except DECODE_ERRORS:
            continue
        sides[min(side, crop) if crop else side] += 1
    if not sides:
        return None
    top = max(sides.values())
    return min(s for s, n in sides.items() if n == top)  # a tie: the smaller side (no upscaling)
