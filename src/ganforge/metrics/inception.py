"""The standard Inception metrics (FID, KID, Inception Score, precision/recall) via torch-fidelity.

They use the TensorFlow-ported Inception-v3 of 2015-12-05 that papers use, so the numbers are
torch-fidelity's own. The weights come from ``--inception-weights PATH``,
``$GANFORGE_INCEPTION_WEIGHTS``, the user cache, or one verified download into the cache. Any
file is first opened with ``weights_only=True`` and checked against the published sha256 prefix
before torch-fidelity reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ganforge.data import download as dl
from ganforge.data.paths import cache_root
from ganforge.errors import GanforgeError
from ganforge.metrics.judge import sha256_file

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_SHA256_PREFIX = "6726825d"  # the hash prefix the weights are published under
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_NAME
NAME = "inception-v3-tf-2015-12-05"


def weights_path(explicit: str | os.PathLike | None = None) -> Path:
    candidates = [explicit, os.environ.get("GANFORGE_INCEPTION_WEIGHTS"), cache_root() / "weights" / WEIGHTS_NAME]
    for c in candidates:
        if c and Path(c).is_file():
            return check_weights(Path(c))
        if c and c is explicit:
            raise GanforgeError(f"--inception-weights {c} does not exist; pass the path of {WEIGHTS_NAME}")
    if dl.offline():
        raise GanforgeError(f"Inception weights not found and downloads are off; pass --inception-weights PATH "
                            f"to a copy of {WEIGHTS_NAME} (or use the judge metrics fd, coverage)")
    dest = cache_root() / "weights" / WEIGHTS_NAME
    try:
        dl.download(WEIGHTS_URL, dest)
    except GanforgeError as err:
        raise GanforgeError(f"{err}; pass --inception-weights PATH to a local copy of {WEIGHTS_NAME}") from None
    return check_weights(dest)


def check_weights(path: Path) -> Path:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise GanforgeError(f"{path} is not a plain weights file ({type(err).__name__}); "
                            f"pass a copy of {WEIGHTS_NAME}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanforgeError(f"{path} does not hold a state dict of tensors; pass a copy of {WEIGHTS_NAME}")
    digest = sha256_file(path)
    if not digest.startswith(WEIGHTS_SHA256_PREFIX):
        raise GanforgeError(f"{path} is not the 2015-12-05 Inception weights (sha256 {digest[:8]}..., expected "
                            f"{WEIGHTS_SHA256_PREFIX}...); scores from it would not match published ones")
    return path


class Uint8RGB(torch.utils.data.Dataset):
    """What torch-fidelity reads: uint8 (3, H, W) tensors (gray images repeated to RGB)."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1).contiguous() if x.shape[0] == 1 else x


def compute(samples: torch.Tensor, reference: torch.Tensor, reference_key: str, metrics: list[str],
            weights: Path, device: torch.device) -> dict[str, float]:
    """``metrics`` from fid, kid, is, pr; ``reference_key`` names the cached reference features."""
    import torch_fidelity

    n = min(len(samples), len(reference))
    out = torch_fidelity.calculate_metrics(
        input1=Uint8RGB(samples), input2=Uint8RGB(reference), cuda=device.type == "cuda",
        fid="fid" in metrics, kid="kid" in metrics, isc="is" in metrics, prc="pr" in metrics,
        feature_extractor_weights_path=str(weights), cache_root=str(cache_root() / "fidelity"),
        cache=True, input1_cache_name=None, input2_cache_name=f"ganforge-{reference_key}",
        kid_subset_size=min(1000, n), verbose=False, batch_size=64, save_cpu_ram=True)
    names = {"frechet_inception_distance": "fid", "kernel_inception_distance_mean": "kid",
             "inception_score_mean": "is", "precision": "precision", "recall": "recall"}
    return {names[k]: float(v) for k, v in out.items() if k in names}
