import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and never touches the network unless it says so."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")


def fashion_dir() -> Path | None:
    """The real Fashion-MNIST files: $GANFORGE_DATA/fashion-mnist, the shared folder, or Debian's."""
    from ganforge.data import idx

    roots = [os.environ.get("GANFORGE_DATA"), REPO.parent / "shared" / "datasets", "/usr/share/datasets"]
    for r in roots:
        if r and idx.has_split(Path(r) / "fashion-mnist", "train"):
            return Path(r) / "fashion-mnist"
    return None


needs_fashion = pytest.mark.skipif(
    fashion_dir() is None,
    reason="real Fashion-MNIST not found (set GANFORGE_DATA to a folder holding fashion-mnist/, "
           "or apt install dataset-fashion-mnist)")
