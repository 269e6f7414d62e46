"""Emoji: Google's Noto emoji art, each labelled with its Unicode category (10 classes).

Two forms of the same art:

- 64 px: npm's ``emoji-datasource-google`` package as published (``emoji.json`` beside ``img/google/64/``,
  3,786 PNGs with the skin-tone variants). Found wherever the user has it, like every named dataset
  (``--data-dir``, ``$GANFORGE_DATA``, the user cache), also under a ``node_modules/`` there; the folder may be
  called ``emoji`` or ``emoji-datasource-google``.
- 128 px and up: rendered from Noto Color Emoji's 136 x 128 bitmaps (Debian's ``fonts-noto-color-emoji``)
  with Pillow, for every emoji of the same package's list that the font draws.

Transparent pixels become white, as for any folder. Nothing is downloaded: the package comes from npm
(``npm install emoji-datasource-google@16``) and the font from Debian.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganforge.data.folder import DECODE_ERRORS, decode
from ganforge.data.paths import candidate_dirs
from ganforge.errors import GanforgeError

PACKAGE = "emoji-datasource-google"
IMAGES = Path("img/google/64")
NATIVE = 64           # the package's PNGs
FONT_SIDE = 128       # the font's bitmaps render at 136 x 128: centred on a 136 px square, then resized
FONT_FILES = ["/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "/usr/share/fonts/noto/NotoColorEmoji.ttf"]
HOW = (f"install the package where ganforge looks (npm install {PACKAGE}@16 in a folder, then --data-dir "
       "that folder, or set GANFORGE_DATA)")


def has_files(d: Path) -> bool:
    return (d / "emoji.json").is_file() and (d / IMAGES).is_dir()


def find(data_dir) -> Path:
    """The package's folder: the first candidate with ``emoji.json`` and ``img/google/64``."""
    looked = []
    for base in [*candidate_dirs("emoji", data_dir), *candidate_dirs(PACKAGE, data_dir)]:
        for d in (base, base / PACKAGE, base / "node_modules" / PACKAGE):
            if d not in looked:
                looked.append(d)
                if d.is_dir() and has_files(d):
                    return d
    if data_dir is not None and not Path(data_dir).expanduser().exists():
        raise GanforgeError(f"--data-dir {data_dir} does not exist; point it at a folder holding {PACKAGE}")
    raise GanforgeError(f"emoji not found (looked for {PACKAGE}'s emoji.json and {IMAGES}/ in "
                        f"{', '.join(str(p) for p in looked[:4])} ...); {HOW}")


def entries(root: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(image file, unified code points, category) of every emoji and skin variant with Google art, in the
    package's order, and the sorted category names."""
    try:
        listed = json.loads((root / "emoji.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise GanforgeError(f"{root / 'emoji.json'} cannot be read ({err}); reinstall {PACKAGE}") from None
    out = []
    for e in listed:
        cat = e.get("category") or "Other"
        for v in [e, *(e.get("skin_variations") or {}).values()]:
            if v.get("has_img_google", True) and v.get("image"):
                out.append((v["image"], v.get("unified", ""), cat))
    return out, sorted({c for _, _, c in out})


def files(root: Path) -> list[Path]:
    """The listed PNGs that are there (what a cached decode depends on)."""
    return [f for name, _, _ in entries(root)[0] if (f := root / IMAGES / name).is_file()]


def load(root: Path, resolution: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 (N, 3, r, r) images, int64 labels (category index) and the category names. Above 64 px the
    images are rendered from the font (an error says how to get it when it is missing)."""
    listed, classes = entries(root)
    index = {c: i for i, c in enumerate(classes)}
    if resolution > NATIVE:
        font = font_file()
        if font is None:
            raise GanforgeError(f"emoji above {NATIVE} px are rendered from Noto Color Emoji, which is not "
                                "installed; apt install fonts-noto-color-emoji, or train at --resolution 64")
        return _render_all(listed, index, classes, font)

    def read(name):
        try:
            return decode(root / IMAGES / name, NATIVE)[0]
        except (*DECODE_ERRORS, FileNotFoundError):
            return None  # the package lists a few it does not ship at this size
    x, y = _stack([(read(name), index[cat]) for name, _, cat in listed],
                  f"no emoji images could be read under {root / IMAGES}; reinstall {PACKAGE}")
    return x, y, classes


def _stack(items: list[tuple[np.ndarray | None, int]], none_read: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(HWC image or None, label) pairs -> uint8 (N, 3, H, W) and int64 labels of the images there are."""
    good = [(a, c) for a, c in items if a is not None]
    if not good:
        raise GanforgeError(none_read)
    x = torch.from_numpy(np.ascontiguousarray(np.stack([a for a, _ in good]).transpose(0, 3, 1, 2)))
    return x, torch.tensor([c for _, c in good], dtype=torch.int64)


def font_file() -> Path | None:
    env = os.environ.get("GANFORGE_EMOJI_FONT")
    for f in ([env] if env else []) + FONT_FILES:
        if Path(f).is_file():
            return Path(f)
    return None


def render(font: ImageFont.FreeTypeFont, unified: str) -> np.ndarray | None:
    """One emoji from the font as (128, 128, 3) uint8 on white, or None where the font has no glyph for it."""
    text = "".join(chr(int(cp, 16)) for cp in unified.split("-") if cp)
    canvas = Image.new("RGBA", (160, 160), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((80, 80), text, font=font, embedded_color=True, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        return None
    w, h = box[2] - box[0], box[3] - box[1]
    if w > 140 or h > 140 or max(w, h) < 64:  # a sequence the font draws as several glyphs, or none
        return None
    side = max(w, h)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    sq = canvas.crop((cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side))
    white = Image.new("RGBA", sq.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, sq).convert("RGB")
    if side != FONT_SIDE:
        rgb = rgb.resize((FONT_SIDE, FONT_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def _render_all(listed, index, classes, font_path: Path):
    try:
        font = ImageFont.truetype(str(font_path), 109)  # the one size of the font's bitmap strike
    except OSError as err:
        raise GanforgeError(f"{font_path} cannot be read as a font ({err}); reinstall fonts-noto-color-emoji") from None
    x, y = _stack([(render(font, unified), index[cat]) for _, unified, cat in listed],
                  f"{font_path} drew none of the emoji; is it Noto Color Emoji?")
    return x, y, classes
