"""MNIST and Fashion-MNIST: the IDX file format (gzip-compressed or raw), with labels."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from ganforge.data.download import Resource
from ganforge.errors import GanforgeError

# IDX type codes -> numpy dtypes (big-endian on disk)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Upstream archives, as served (gzip), with their published checksums.
MNIST_RESOURCES = [
    Resource("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    Resource("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
    Resource("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
    Resource("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
]
MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist"]
FASHION_RESOURCES = [
    Resource("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
    Resource("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
    Resource("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
    Resource("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
]
FASHION_MIRRORS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"]


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (``.gz`` or raw) into an array of its declared type and shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise GanforgeError(f"cannot read {path}: {err}; delete it and fetch the file again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise GanforgeError(f"{path} is not an IDX file (bad magic number); delete it and fetch it again")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise GanforgeError(f"{path} is truncated or padded ({len(body)} data bytes, header says {expected}); "
                            "delete it and fetch it again")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def has_split(folder: Path, split: str) -> bool:
    return all(find_file(folder, s) is not None for s in SPLIT_FILES[split])


def load_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 1, H, W) and labels as int64 (N,) for ``split`` in ``folder``."""
    img_stem, lab_stem = SPLIT_FILES[split]
    images = read_idx(find_file(folder, img_stem))
    labels = read_idx(find_file(folder, lab_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GanforgeError(f"{folder}: images {images.shape} and labels {labels.shape} do not match; "
                            "the files are from different datasets or damaged")
    return (torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)))
