"""Sample-quality metrics behind one registry; every result carries its full setup.

Judge metrics (a shipped judge for digits, fashion-mnist, mnist; for any other data, a folder included, a judge
trained on that data on first use and cached by its hash: ``data_judge.py``):
  fd         Frechet distance on the judge's 128-d features (reported as fd-<judge>, never FID)
  coverage   how evenly samples spread over the judge's classes (1 = evenly, 1/K = one class)
  class-acc  conditional models: the judge's accuracy on samples of each requested class
Inception metrics (torch-fidelity, the 2015-12-05 TF Inception-v3 weights):
  fid, kid, is, pr (precision and recall)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ganforge.data import DataConfig, load_dataset
from ganforge.data.cache import key as cache_key
from ganforge.data.paths import cache_root
from ganforge.errors import GanforgeError
from ganforge.metrics import data_judge, frechet, inception
from ganforge.metrics.judge import RESIZE_FILTER, Judge
from ganforge.metrics.names import INCEPTION_METRICS, JUDGE_METRICS, METRICS, better, parse_metrics  # noqa: F401
from ganforge.metrics.train_judge import JUDGE_DATA, load_judge

# Resolution at which each dataset's images are scored (digits as trained: upscaled from 8 px to 32).
EVAL_RESOLUTION = {"digits": 32, "mnist": 28, "fashion-mnist": 28, "cifar10": 32}


@dataclass
class Result:
    metric: str              # fd-fashion-mnist, coverage, class-acc, fid, kid, is, precision, recall
    value: float
    setup: dict              # feature network and hash, counts, reference split, resolution, filter, ...
    extra: dict = field(default_factory=dict)  # e.g. per-class accuracies

    def line(self) -> str:
        s = self.setup
        where = f"{s['generated']} samples vs {s['reference']} {s['dataset']} {s['split']}" if "reference" in s \
            else f"{s['generated']} samples"
        floor = f"; real images' floor {s['floor']:.4f} at {s['floor_images']}" if "floor" in s else ""
        return (f"{self.metric:18s} {self.value:10.4f}   ({s['network']} {s['network_hash'][:12]}, {where}, "
                f"{s['resolution']} px, {s['resize']}{floor})")

    def record(self) -> dict:
        return {"kind": "eval", "metric": self.metric, "value": self.value, **self.setup, **self.extra}


def reference_images(dataset: str, split: str, n: int, resolution: int) -> torch.Tensor:
    """A fixed random subset (seed 0) of ``n`` real images of a split at ``resolution``."""
    data = load_dataset(DataConfig(name=dataset, split=split, resolution=resolution))
    if data.images is None:
        raise GanforgeError("reference images must fit in memory; use a smaller folder or --n-ref")
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]
    return data.images[idx]


def judge_reference(judge: Judge, dataset: str, split: str, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and covariance of the judge's features on real images, computed once and cached."""
    k = cache_key({"judge": judge.sha256, "dataset": dataset, "split": split, "n": n, "res": judge.resolution})
    path = cache_root() / "metrics" / f"ref-{judge.name}-{dataset}-{split}-{k}.safetensors"
    if path.is_file():
        t = load_file(path)
        return t["mu"].numpy(), t["sigma"].numpy(), int(t["n"])
    images = reference_images(dataset, split, n, judge.resolution)
    feats, _ = judge.run(images)
    mu, sigma = frechet.mean_cov(feats)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma), "n": torch.tensor(len(images))}, tmp)
    tmp.replace(path)
    return mu, sigma, len(images)


def has_shipped_judge(dataset: str, judge: str | None = None) -> bool:
    """Whether ``dataset`` is judged by a shipped (or trainable named) judge rather than one trained on the data."""
    return (judge or dataset) in JUDGE_DATA


def judge_name(data: DataConfig) -> str:
    """What a judge trained on ``data`` is called: the dataset's name, or a folder's own name."""
    if data.name != "folder":
        return data.name
    stem = Path(data.path or "folder").expanduser().resolve().name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-").lower() or "folder"


def load_data_judge(data: DataConfig, device="cpu", log=print, classes_for: list[str] = ()) -> data_judge.DataJudge:
    """The judge trained on ``data`` (every image of it, whatever ``data.limit`` a run trained on).
    ``classes_for``: metrics that need classes, refused before any training where the data has none."""
    whole = load_dataset(replace(data, limit=None))
    if not whole.classes and classes_for:
        raise GanforgeError(f"{judge_name(data)} has no classes, so coverage and class-acc cannot be measured; use "
                            "--metrics fd (or labels: data.labels=true for a folder of class subfolders)")
    if whole.images is None:
        raise GanforgeError("a judge is trained on images held in memory; this folder streams from disk "
                            "(raise data.max_memory_gb, or score a smaller folder)")
    return data_judge.load(whole.images, whole.labels, whole.classes, judge_name(data), device, log)


class Evaluator:
    """Scores batches of samples against one dataset; judges and reference stats load once.

    ``data`` describes the data when it has no shipped judge (a folder, emoji, CIFAR-10): a judge is then
    trained on it (once, cached) and brings its own reference statistics and floor."""

    def __init__(self, dataset: str, metrics: list[str], split: str = "train", n_ref: int = 10000,
                 judge: str | None = None, inception_weights: str | None = None, device="cpu",
                 data: DataConfig | None = None):
        self.dataset, self.metrics, self.split, self.n_ref = dataset, metrics, split, n_ref
        self.device = torch.device(device)
        self.judge = None
        if any(m in JUDGE_METRICS for m in metrics):
            if has_shipped_judge(dataset, judge) or data is None:
                self.judge = load_judge(judge or dataset, self.device)
            else:
                self.judge = load_data_judge(data, self.device,
                                             classes_for=[m for m in metrics if m in ("coverage", "class-acc")])
        self.weights = None
        if any(m in INCEPTION_METRICS for m in metrics):
            self.weights = inception.weights_path(inception_weights)

    def __call__(self, samples: torch.Tensor, labels: torch.Tensor | None = None, **setup) -> list[Result]:
        """``samples`` uint8 (N, C, H, W); ``labels`` the classes asked of a conditional G."""
        out = []
        res = samples.shape[-1]
        if self.judge is not None:
            j = self.judge
            feats, logits = j.run(samples)
            base = {"network": f"judge-{j.name}", "network_hash": j.sha256, "generated": len(samples),
                    "resolution": j.resolution, "source_resolution": res,
                    "resize": RESIZE_FILTER if res != j.resolution else "none", **setup}
            if "fd" in self.metrics:
                if isinstance(j, data_judge.DataJudge):
                    mu, sigma, n = j.mu, j.sigma, j.record["reference_images"]
                    ref = {"reference": n, "dataset": j.name, "split": "judge's training part",
                           "floor": j.record["floor"], "floor_images": j.record["floor_images"]}
                else:
                    mu, sigma, n = judge_reference(j, self.dataset, self.split, self.n_ref)
                    ref = {"reference": n, "dataset": self.dataset, "split": self.split}
                fd = frechet.frechet_distance(*frechet.mean_cov(feats), mu, sigma)
                out.append(Result(f"fd-{j.name}", fd, {**base, **ref}))
            if "coverage" in self.metrics:
                out.append(Result("coverage", frechet.coverage(logits, len(j.classes)), base))
            if "class-acc" in self.metrics:
                if labels is None:
                    raise GanforgeError("class-acc needs a conditional generator (samples with requested classes)")
                hit = (logits.argmax(1) == labels.cpu()).float()
                per = {j.classes[c]: round(float(hit[labels.cpu() == c].mean()), 4)
                       for c in range(len(j.classes)) if (labels.cpu() == c).any()}
                out.append(Result("class-acc", float(hit.mean()), base, {"per_class": per}))
        wanted = [m for m in self.metrics if m in INCEPTION_METRICS]
        if wanted:
            native = EVAL_RESOLUTION.get(self.dataset, res)
            ref = reference_images(self.dataset, self.split, self.n_ref, native)
            key = f"{self.dataset}-{self.split}-{len(ref)}-{native}"
            values = inception.compute(samples, ref, key, wanted, self.weights, self.device)
            setup_i = {"network": inception.NAME, "network_hash": inception.sha256_file(self.weights),
                       "generated": len(samples), "reference": len(ref), "dataset": self.dataset,
                       "split": self.split, "resolution": 299, "source_resolution": res,
                       "resize": "torch-fidelity tf-bilinear", **setup}
            for name, v in values.items():
                out.append(Result(name, v, setup_i))
        return out
