"""CIFAR-10 from the official python-pickle tarball (or its extracted folder), with labels.

The batches are pickled dicts of numpy arrays; they are read with a restricted unpickler that
refuses anything but numpy arrays, lists, dicts, strings and numbers.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from ganforge.data.download import Resource
from ganforge.errors import GanforgeError

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
RESOURCES = [Resource(ARCHIVE, "c58f30108f718f92721af3b95e74349a", 170498071)]
MIRRORS = ["https://www.cs.toronto.edu/~kriz"]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SPLIT_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # bytes in protocol-2 pickles
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _parse_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as err:  # any malformed pickle: one clear message
        raise GanforgeError(f"{where} is not a CIFAR-10 batch ({err}); delete it and fetch it again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise GanforgeError(f"{where} has data of shape {data.shape}, expected (N, 3072); not CIFAR-10")
    return data.reshape(-1, 3, 32, 32), labels


def has_files(folder: Path) -> bool:
    return (folder / ARCHIVE).is_file() or (folder / FOLDER / "batches.meta").is_file()


def load_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32), labels int64 (N,) from the tarball or the extracted folder."""
    parts = []
    if (folder / FOLDER).is_dir():
        for name in SPLIT_BATCHES[split]:
            p = folder / FOLDER / name
            if not p.is_file():
                raise GanforgeError(f"{p} is missing; re-extract {ARCHIVE}")
            parts.append(_parse_batch(p.read_bytes(), str(p)))
    else:
        archive = folder / ARCHIVE
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for name in SPLIT_BATCHES[split]:
                    member = tar.extractfile(f"{FOLDER}/{name}")
                    parts.append(_parse_batch(member.read(), f"{archive}:{name}"))
        except (tarfile.TarError, KeyError, OSError, EOFError) as err:
            raise GanforgeError(f"cannot read {archive} ({err}); delete it and fetch it again") from None
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)
