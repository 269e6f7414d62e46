"""A judge for any data: trained on the images themselves, on first use, and cached by their hash.

The shipped judges cover digits, MNIST and Fashion-MNIST. For anything else (a folder, emoji, CIFAR-10)
ganforge trains the same small network (``judge.JudgeNet``) on the data: to tell its classes apart when it
has labels (a folder's subfolders, emoji's categories), and always to tell how an image was turned (0, 90,
180 or 270 degrees: Gidaris et al. 2018's self-supervised task, which needs no labels). Its 128-d
features then give FD-<data> exactly as the shipped judges do; the name says which data it was trained on.

A tenth of the images (at least 2) is held out of training. The judge's reference is the rest; its floor is
what the held-out real images score against that reference: the best a generator can expect at that many
images. Weights, reference statistics and the record (data hash, classes, floor, seconds spent) are cached
under ``<cache>/judges/data-<hash>.*``; the same images find the same judge.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ganforge.data.paths import cache_root
from ganforge.errors import GanforgeError
from ganforge.metrics import frechet
from ganforge.metrics.judge import FEATURE_DIM, Judge, JudgeNet, prepare, sha256_file

VERSION = 1          # part of the hash: a change of how judges are trained makes new ones
RESOLUTION = 32      # the judge's input side: images are resized to it (antialiased) as for the shipped judges
ROTATIONS = 4
HOLDOUT = 0.1
BUDGET = 40_000      # images shown in training: about a minute on two CPU cores


class DataJudgeNet(JudgeNet):
    """JudgeNet whose head has 4 rotation outputs before the K class outputs; its logits are the classes'."""

    def __init__(self, channels: int, resolution: int, num_classes: int):
        super().__init__(channels, resolution, ROTATIONS + num_classes)

    def forward(self, x):
        f, logits = super().forward(x)
        return f, logits[:, ROTATIONS:]

    def both(self, x):
        f, logits = super().forward(x)
        return logits[:, :ROTATIONS], logits[:, ROTATIONS:]


def data_hash(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    h = hashlib.sha256(f"v{VERSION}-{RESOLUTION}-{tuple(images.shape)}".encode())
    h.update(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.numpy().astype(np.int64).tobytes())
    return h.hexdigest()


def paths(digest: str) -> tuple[Path, Path, Path]:
    base = cache_root() / "judges" / f"data-{digest[:20]}"
    return base.with_suffix(".safetensors"), base.with_suffix(".json"), base.with_name(base.name + "-ref.safetensors")


def split(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) indices: a fixed shuffle, a tenth held out (at least 2, at most n // 2)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = min(max(2, round(n * HOLDOUT)), n // 2)
    return perm[k:], perm[:k]


def _prepare(x: torch.Tensor) -> torch.Tensor:
    return prepare(x, RESOLUTION, x.shape[1])


def train(images: torch.Tensor, labels: torch.Tensor | None, classes: list[str] | None, name: str,
          budget: int | None = None, seed: int = 0, log=print) -> dict:
    """Train a judge on uint8 (N, C, H, W) ``images``; write weights, reference and record; return the record."""
    if len(images) < 4:
        raise GanforgeError(f"a judge needs at least 4 images to learn from and hold out, not {len(images)}")
    digest = data_hash(images, labels)
    w_path, rec_path, ref_path = paths(digest)
    k = len(classes) if labels is not None and classes else 0
    tr, ho = split(len(images), seed)
    x_all = _prepare(images)                                           # (N, C, 32, 32) in [-1, 1]
    y_all = labels if k else None
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = DataJudgeNet(images.shape[1], RESOLUTION, k)
    batch = min(128, len(tr))
    steps = max(50, (budget or BUDGET) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    net.train()
    for step in range(steps):
        idx = tr[torch.randint(len(tr), (batch,), generator=g)]
        x = _shift(x_all[idx], g)
        rot = torch.randint(ROTATIONS, (batch,), generator=g)
        x = torch.stack([torch.rot90(img, int(r), (1, 2)) for img, r in zip(x, rot)])
        r_logits, c_logits = net.both(x.contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(r_logits, rot)
        if k:
            loss = loss + F.cross_entropy(c_logits, y_all[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % max(1, steps // 4) == 0:
            log(f"  judge step {step + 1}/{steps}: loss {loss.item():.3f} ({time.time() - t0:.0f}s)")
    seconds = time.time() - t0
    net.eval()
    rot_acc, cls_acc = _accuracies(net, x_all[ho], y_all[ho] if k else None)
    w_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = w_path.with_name(w_path.name + ".tmp")
    save_file({n: t.contiguous() for n, t in net.state_dict().items()}, tmp)
    tmp.replace(w_path)
    judge = Judge(name, net, RESOLUTION, images.shape[1], list(classes or []), sha256_file(w_path), cls_acc or 0.0)
    ref_feats, _ = judge.run(images[tr[:10_000]])
    ho_feats, _ = judge.run(images[ho])
    mu, sigma = frechet.mean_cov(ref_feats)
    floor = frechet.frechet_distance(*frechet.mean_cov(ho_feats), mu, sigma)
    tmp = ref_path.with_name(ref_path.name + ".tmp")
    save_file({"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma)}, tmp)
    tmp.replace(ref_path)
    record = {"name": name, "data_sha256": digest, "version": VERSION, "resolution": RESOLUTION,
              "channels": images.shape[1], "source_resolution": images.shape[-1], "classes": list(classes or []),
              "task": ("classes and rotation" if k else "rotation (self-supervised: no labels)"),
              "feature_dim": FEATURE_DIM, "train_images": len(tr), "heldout_images": len(ho),
              "reference_images": min(len(tr), 10_000), "images_shown": steps * batch, "seed": seed,
              "heldout_rotation_accuracy": round(rot_acc, 4), "test_accuracy": round(cls_acc or 0.0, 4),
              "floor": round(floor, 4), "floor_images": len(ho), "train_seconds": round(seconds, 1),
              "torch": torch.__version__, "sha256": judge.sha256}
    tmp = rec_path.with_name(rec_path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(rec_path)
    log(f"  judge for {name}: {record['task']}, held-out rotation accuracy {rot_acc:.2f}"
        + (f", class accuracy {cls_acc:.2f}" if k else "") + f", floor {floor:.3f} at {len(ho)} images, "
        f"{seconds:.0f}s")
    return record


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random shift of up to 2 pixels (edges replicated), per batch. No flips: a mirrored image turned by 90
    degrees is the original turned by 270, mirrored, which would make the rotation task ambiguous."""
    n, _, h, w = x.shape
    pad = F.pad(x, (2, 2, 2, 2), mode="replicate")
    dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()
    return pad[:, :, dy:dy + h, dx:dx + w]


@torch.no_grad()
def _accuracies(net: DataJudgeNet, x: torch.Tensor, y: torch.Tensor | None) -> tuple[float, float | None]:
    hits, total, cls_hits = 0, 0, 0
    for r in range(ROTATIONS):
        r_logits, c_logits = net.both(torch.rot90(x, r, (2, 3)).contiguous(memory_format=torch.channels_last))
        hits += (r_logits.argmax(1) == r).sum().item()
        total += len(x)
        if r == 0 and y is not None:
            cls_hits = (c_logits.argmax(1) == y).sum().item()
    return hits / total, (cls_hits / len(x) if y is not None else None)


class DataJudge(Judge):
    """A judge trained on the data, with its own reference statistics and floor."""

    record: dict
    mu: np.ndarray
    sigma: np.ndarray


def load(images: torch.Tensor, labels: torch.Tensor | None, classes: list[str] | None, name: str,
         device="cpu", log=print, budget: int | None = None) -> DataJudge:
    """The judge of these images: cached, or trained now (about a minute; said in one line first)."""
    digest = data_hash(images, labels)
    w_path, rec_path, ref_path = paths(digest)
    if not (w_path.is_file() and rec_path.is_file() and ref_path.is_file()):
        log(f"training a judge on {name} ({len(images):,} images, once; cached in {w_path.parent}) ...")
        train(images, labels, classes, name, budget=budget, log=log)
    record = json.loads(rec_path.read_text())
    if sha256_file(w_path) != record["sha256"]:
        raise GanforgeError(f"judge weights {w_path} fail their checksum; delete them and run again to retrain")
    net = DataJudgeNet(record["channels"], record["resolution"], len(record["classes"]))
    net.load_state_dict(load_file(w_path))
    net.to(device, memory_format=torch.channels_last).eval()
    ref = load_file(ref_path)
    j = DataJudge(record["name"], net, record["resolution"], record["channels"], record["classes"],
                  record["sha256"], record["test_accuracy"])
    j.record, j.mu, j.sigma = record, ref["mu"].numpy(), ref["sigma"].numpy()
    return j
