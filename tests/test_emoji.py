"""The emoji dataset: found in npm's package layout, categories as labels, skin variants included; the
128 px form rendered from the font; one-line errors when the package or the font is missing."""

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import REPO
from ganforge.data import DataConfig, emoji, load_dataset
from ganforge.errors import GanforgeError


def make_package(root, entries):
    """A package tree: ``entries`` are (file, category, colour, [skin variant files])."""
    pkg = root / "node_modules" / emoji.PACKAGE
    (pkg / emoji.IMAGES).mkdir(parents=True)
    listed = []
    for name, cat, colour, skins in entries:
        e = {"image": name, "unified": "1F600", "category": cat, "has_img_google": True,
             "skin_variations": {f"1F3F{i}": {"image": s, "unified": "1F600", "has_img_google": True}
                                 for i, s in enumerate(skins)}}
        listed.append(e)
        for f in [name, *skins]:
            img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
            img.paste(Image.new("RGBA", (32, 32), colour + (255,)), (16, 16))
            img.save(pkg / emoji.IMAGES / f)
    listed.append({"image": "missing.png", "unified": "1F601", "category": "Symbols", "has_img_google": True})
    listed.append({"image": "nogoogle.png", "unified": "1F602", "category": "Symbols", "has_img_google": False})
    (pkg / "emoji.json").write_text(json.dumps(listed))
    return pkg


def test_package_layout_labels_and_variants(tmp_path):
    make_package(tmp_path, [("a.png", "Smileys & Emotion", (255, 0, 0), ["a1.png", "a2.png"]),
                            ("b.png", "Flags", (0, 0, 255), []), ("c.png", "Flags", (0, 255, 0), [])])
    d = load_dataset(DataConfig(name="emoji", resolution=32, data_dir=str(tmp_path)))
    assert d.classes == ["Flags", "Smileys & Emotion", "Symbols"]   # the listing's categories, sorted
    assert len(d) == 5 and d.images.shape == (5, 3, 32, 32)       # the listed file that is not there is left out
    assert d.labels.tolist() == [1, 1, 1, 0, 0]                    # a variant keeps its emoji's category
    assert d.images[:, :, 0, 0].eq(255).all()                      # transparency over white
    assert d.images[0, :, 16, 16].tolist() == [255, 0, 0] and d.images[3, :, 16, 16].tolist() == [0, 0, 255]


def test_missing_package_and_test_split(tmp_path, monkeypatch):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)              # the shared datasets would be found
    with pytest.raises(GanforgeError, match="npm install emoji-datasource-google"):
        load_dataset(DataConfig(name="emoji", resolution=64, data_dir=str(tmp_path)))
    make_package(tmp_path, [("a.png", "Flags", (1, 2, 3), [])])
    with pytest.raises(GanforgeError, match="no test split"):
        load_dataset(DataConfig(name="emoji", resolution=64, split="test", data_dir=str(tmp_path)))


def test_missing_font_is_one_line(tmp_path, monkeypatch):
    make_package(tmp_path, [("a.png", "Flags", (1, 2, 3), [])])
    monkeypatch.setattr(emoji, "FONT_FILES", [])
    monkeypatch.delenv("GANFORGE_EMOJI_FONT", raising=False)
    with pytest.raises(GanforgeError, match="fonts-noto-color-emoji"):
        load_dataset(DataConfig(name="emoji", resolution=128, data_dir=str(tmp_path)))


def test_cli_names_the_missing_package(tmp_path):
    env = {**os.environ, "GANFORGE_DATA": str(tmp_path), "GANFORGE_CACHE": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "-m", "ganforge", "data", "info", "emoji", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "emoji not found" in r.stderr


@pytest.mark.skipif(emoji.font_file() is None, reason="Noto Color Emoji not installed (apt install fonts-noto-color-emoji)")
def test_font_renders_128():
    from PIL import ImageFont

    font = ImageFont.truetype(str(emoji.font_file()), 109)
    face = emoji.render(font, "1F600")                             # grinning face: yellow in the middle
    assert face.shape == (128, 128, 3)
    r, g, b = (int(v) for v in face[64, 40])
    assert r > 200 and g > 150 and b < 120
    assert emoji.render(font, "E000") is None                      # a private-use point the font does not draw


def real_package():
    try:
        return emoji.find(None) if os.environ.get("GANFORGE_DATA") else emoji.find(str(REPO.parent / "shared" / "datasets"))
    except GanforgeError:
        return None


@pytest.mark.skipif(real_package() is None, reason="emoji-datasource-google not found (set GANFORGE_DATA)")
def test_real_package():
    d = load_dataset(DataConfig(name="emoji", resolution=64, data_dir=str(real_package())))
    assert len(d) == 3786 and len(d.classes) == 10
    assert torch.bincount(d.labels).min() >= 5


def test_emoji_trains_at_its_own_size_unless_told(capsys):
    from ganforge.cli import main

    assert main(["train", "--data", "emoji", "--minutes", "10", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "resolution: 64" in out and "emoji's own size" in out
    assert main(["train", "--data", "emoji", "--resolution", "32", "--dry-run"]) == 0
    assert "resolution: 32" in capsys.readouterr().out
    assert main(["train", "--dry-run"]) == 0                       # the digits keep the default 32
    assert "resolution: 32" in capsys.readouterr().out
