import io
import pickle
import tarfile

import numpy as np
import pytest

from ganforge.config import DataConfig
from ganforge.data import cifar, load_dataset
from ganforge.errors import GanforgeError


def batch_bytes(n, seed):
    rng = np.random.default_rng(seed)
    d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n)),
         b"batch_label": b"x"}
    return pickle.dumps(d, protocol=2), d


def make_tarball(folder, n=4):
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    with tarfile.open(folder / cifar.ARCHIVE, "w:gz") as tar:
        for i, name in enumerate(cifar.SPLIT_BATCHES["train"] + cifar.SPLIT_BATCHES["test"] + ["batches.meta"]):
            raw, d = batch_bytes(n, i)
            made[name] = d
            info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return made


def test_cifar_tarball_and_extracted_folder(tmp_path):
    made = make_tarball(tmp_path / "cifar10")
    x, y = cifar.load_split(tmp_path / "cifar10", "train")
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)
    # channel-major rows: the first 1024 values are the red plane
    assert np.array_equal(x[0, 0].numpy().ravel(), made["data_batch_1"][b"data"][0, :1024])
    with tarfile.open(tmp_path / "cifar10" / cifar.ARCHIVE) as tar:
        tar.extractall(tmp_path / "ext")
    (tmp_path / "ext" / "cifar10").mkdir()
    (tmp_path / "ext" / cifar.FOLDER).rename(tmp_path / "ext" / "cifar10" / cifar.FOLDER)
    x2, y2 = cifar.load_split(tmp_path / "ext" / "cifar10", "test")
    assert x2.shape == (4, 3, 32, 32) and y2.tolist() == [int(v) for v in made["test_batch"][b"labels"]]
    data = load_dataset(DataConfig(name="cifar10", data_dir=str(tmp_path), resolution=32))
    assert data.channels == 3 and data.classes[0] == "airplane"


def test_cifar_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    raw = pickle.dumps({b"data": Evil(), b"labels": []})
    with pytest.raises(GanforgeError, match="not a CIFAR-10 batch"):
        cifar._parse_batch(raw, "evil")
