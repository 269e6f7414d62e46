import gzip
import hashlib
import struct

import numpy as np
import pytest

from conftest import fashion_dir, needs_fashion
from ganforge.config import DataConfig
from ganforge.data import idx, load_dataset
from ganforge.errors import GanforgeError


def write_idx(path, arr: np.ndarray, compress: bool):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_split(folder, n=12, h=28, compress=True, split="train"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, h, h), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    img_stem, lab_stem = idx.SPLIT_FILES[split]
    write_idx(folder / img_stem, images, compress)
    write_idx(folder / lab_stem, labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_idx_roundtrip(tmp_path, compress):
    images, labels = make_split(tmp_path, compress=compress)
    x, y = idx.load_split(tmp_path, "train")
    assert x.shape == (12, 1, 28, 28) and x.dtype.is_floating_point is False
    assert np.array_equal(x[:, 0].numpy(), images)
    assert y.tolist() == labels.tolist()


def test_idx_truncated_and_bad_magic(tmp_path):
    make_split(tmp_path, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(GanforgeError, match="truncated"):
        idx.read_idx(p)
    p.write_bytes(b"\x12\x34\x08\x03" + b"\0" * 40)
    with pytest.raises(GanforgeError, match="magic"):
        idx.read_idx(p)


def test_named_dataset_through_data_dir_and_resize(tmp_path):
    make_split(tmp_path / "fashion-mnist")
    cfg = DataConfig(name="fashion-mnist", data_dir=str(tmp_path), resolution=32)
    data = load_dataset(cfg)
    assert data.images.shape == (12, 1, 32, 32) and data.classes[9] == "Ankle boot"
    assert data.cache_file is not None and data.cache_file.is_file()
    again = load_dataset(cfg)  # second load comes from the cache, bit for bit
    assert (again.images == data.images).all()


def test_offline_without_files_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    monkeypatch.setattr("ganforge.data.paths.SYSTEM_DATA_ROOT", tmp_path / "nowhere")
    with pytest.raises(GanforgeError) as err:
        load_dataset(DataConfig(name="mnist", resolution=28))
    msg = str(err.value)
    assert "mnist not found" in msg and "--data-dir" in msg and "\n" not in msg


@needs_fashion
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA", str(fashion_dir().parent))
    data = load_dataset(DataConfig(name="fashion-mnist", resolution=28))
    assert data.images.shape == (60000, 1, 28, 28)
    assert data.labels.min() == 0 and data.labels.max() == 9
    # every class has exactly 6,000 training images; the first image is an ankle boot
    assert np.bincount(data.labels.numpy()).tolist() == [6000] * 10
    assert int(data.labels[0]) == 9
    first = hashlib.sha256(data.images[0].numpy().tobytes()).hexdigest()
    assert first == FIRST_IMAGE_SHA256
    test = load_dataset(DataConfig(name="fashion-mnist", resolution=28, split="test"))
    assert test.images.shape == (10000, 1, 28, 28)


# sha256 of the first training image's 784 bytes (pixel sum 76,247), as decoded from the IDX files
FIRST_IMAGE_SHA256 = "5bd44e331a6d6998daf675700cd0c13dcd7af8ab954b7585124124da61459e7b"
