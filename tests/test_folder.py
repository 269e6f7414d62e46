import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import check_batch, folder, load_dataset
from ganforge.data.batches import Batches, to_unit_range
from ganforge.errors import GanforgeError


def solid(mode, size, value):
    return Image.new(mode, size, value)


@pytest.fixture
def tree(tmp_path):
    """A folder of mixed sizes and modes, two broken files and one non-image."""
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    (root / "b" / "deep").mkdir(parents=True)
    solid("RGB", (40, 30), (255, 0, 0)).save(root / "a" / "red.png")
    solid("L", (50, 50), 128).save(root / "a" / "gray.jpg", quality=95)
    solid("CMYK", (20, 20), (0, 0, 0, 0)).save(root / "a" / "cmyk.jpg")          # CMYK white
    rgba = solid("RGBA", (16, 16), (0, 0, 255, 0))                                    # fully transparent
    rgba.save(root / "b" / "clear.png")
    pal = solid("P", (16, 16), 0)
    pal.putpalette([0, 255, 0] + [0] * 765)
    pal.info["transparency"] = 0                                                      # index 0 transparent
    pal.save(root / "b" / "palette.png", transparency=0)
    solid("RGB", (12, 12), (0, 255, 0)).save(root / "b" / "deep" / "g.bmp")
    frames = [solid("P", (10, 10), i) for i in (1, 2)]
    frames[0].save(root / "b" / "deep" / "anim.gif", save_all=True, append_images=frames[1:])
    solid("RGB", (10, 10), (9, 9, 200)).save(root / "b" / "w.webp")
    (root / "a" / "corrupt.jpg").write_bytes(b"not an image at all")
    whole = root / "b" / "cut.png"
    solid("RGB", (64, 64), (1, 2, 3)).save(whole)
    whole.write_bytes(whole.read_bytes()[:60])                                        # truncated
    (root / "notes.txt").write_text("ignored")
    return root


def cfg(root, **kw):
    return DataConfig(name="folder", path=str(root), resolution=kw.pop("resolution", 8), workers=0, **kw)


def test_mixed_folder_loads_and_skips_broken_files(tree, capsys):
    data = load_dataset(cfg(tree))
    assert len(data) == 8 and data.channels == 3
    assert data.images.shape == (8, 3, 8, 8) and data.images.dtype == torch.uint8
    assert sorted(p.name for p in data.skipped) == ["corrupt.jpg", "cut.png"]
    assert "skipped 2 of 10" in capsys.readouterr().err
    files = [p.name for p in folder.list_images(tree)]
    by = {n: i for i, n in enumerate(f for f in files if f not in ("corrupt.jpg", "cut.png"))}
    px = lambda name: data.images[by[name], :, 4, 4].tolist()  # noqa: E731
    assert px("clear.png") == [255, 255, 255]      # transparent RGBA over white
    assert px("palette.png") == [255, 255, 255]    # transparent palette index over white
    assert px("cmyk.jpg") == [255, 255, 255]       # CMYK converted, not reinterpreted
    assert px("red.png") == [255, 0, 0]


def test_pattern_and_labels(tree):
    data = load_dataset(cfg(tree, pattern="*.png", labels=True))
    assert len(data) == 3 and data.classes == ["a", "b"]
    assert sorted(data.labels.tolist()) == [0, 1, 1]


def test_grayscale_set_and_sixteen_bit(tmp_path):
    root = tmp_path / "g"
    root.mkdir()
    Image.fromarray(np.full((20, 20), 32896, dtype=np.uint16)).save(root / "mid16.png")  # 16-bit mid-gray
    solid("L", (20, 20), 10).save(root / "dark.png")
    solid("RGB", (20, 20), (70, 70, 70)).save(root / "rgbgray.png")  # RGB file with equal channels
    data = load_dataset(cfg(root))
    assert data.channels == 1
    names = [p.name for p in folder.list_images(root)]
    assert int(data.images[names.index("mid16.png"), 0, 4, 4]) == 128  # scaled, not clipped to 255
    assert load_dataset(cfg(root, channels=3)).channels == 3


def test_exif_orientation_is_applied(tmp_path):
    root = tmp_path / "e"
    root.mkdir()
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, 20:] = 255                        # stored: left black, right white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6                         # display rotated 90 degrees clockwise
    img.save(root / "r.jpg", exif=exif, quality=95)
    x = load_dataset(cfg(root, channels=1)).images[0, 0].float()
    assert x[:4].mean() < 60 and x[4:].mean() > 190  # upright: dark top, bright bottom


def test_centre_crop_size(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    arr = np.zeros((100, 100), np.uint8)
    arr[25:75, 25:75] = 255                  # a white 50-pixel centre on black
    Image.fromarray(arr).save(root / "x.png")
    assert load_dataset(cfg(root, crop=50)).images.float().mean() > 250
    assert load_dataset(cfg(root)).images.float().mean() < 100


def test_bad_inputs_are_one_line_errors(tmp_path, tree):
    empty = tmp_path / "empty"
    empty.mkdir()
    for c, pat in ((cfg(tmp_path / "missing"), "does not exist"), (cfg(empty), "no images found"),
                   (cfg(tree, pattern="*.tiff"), "matching '\\*.tiff'")):
        with pytest.raises(GanforgeError, match=pat) as err:
            load_dataset(c)
        assert "\n" not in str(err.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"junk")
    with pytest.raises(GanforgeError, match="could be read"):
        load_dataset(cfg(broken))
    with pytest.raises(GanforgeError, match="fewer than the batch size 64"):
        check_batch(load_dataset(cfg(tree)), 64)


def test_second_load_is_a_cache_hit(tree, monkeypatch):
    first = load_dataset(cfg(tree))

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder, "decode_all", boom)
    second = load_dataset(cfg(tree))
    assert second.cache_file == first.cache_file and torch.equal(second.images, first.images)
    assert len(second.skipped) == 2
    (tree / "a" / "red.png").unlink()  # a changed folder is decoded afresh
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(cfg(tree))


def test_large_folder_streams(tree):
    data = load_dataset(cfg(tree, max_memory_gb=1e-9))
    assert data.images is None and data.stream is not None and data.channels == 3
    b = Batches(data, batch_size=4, workers=0)
    x, y = b.next()
    assert x.shape[1:] == (3, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and y is None


def test_streamed_batches_skip_unreadable_files_without_losing_their_place(tree):
    data = load_dataset(cfg(tree, max_memory_gb=1e-9))
    b = Batches(data, batch_size=1, workers=0)
    assert b.steps_per_epoch == 10  # 10 files, 2 of them broken: two batches of one come back empty
    seen = [b.next()[0] for _ in range(8)]
    assert (b.epoch, b.pos) == (0, 10)  # the 8 good files end the epoch exactly
    in_memory = to_unit_range(load_dataset(cfg(tree)).images)
    key = lambda x: tuple(x.flatten().tolist())  # noqa: E731
    assert sorted(map(key, seen)) == sorted(map(key, in_memory))  # each good file exactly once
    b.next()
    assert b.epoch == 1
