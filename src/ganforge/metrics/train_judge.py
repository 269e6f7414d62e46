"""Train a domain judge and write its weights and record (re-runnable by anyone); load a judge, training
it on first use where none is shipped.

    python -m ganforge.metrics.train_judge fashion-mnist   # writes into the package's judges/
    python -m ganforge.metrics.train_judge digits

The record (``<name>.json``) holds the weights' sha256, the accuracy measured on the held-out
split, the input resolution and how it was trained.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ganforge.data import DataConfig, load_dataset
from ganforge.data.batches import to_unit_range
from ganforge.errors import GanforgeError
from ganforge.metrics.judge import SHIPPED, Judge, JudgeNet, judge_paths, read_judge, sha256_file

# dataset -> (judge resolution, epochs, held-out split). digits has no test split: the last
# 297 of a fixed shuffle are held out; it is judged at 32 px, the resolution it is trained at.
JUDGE_DATA = {"fashion-mnist": (28, 5, "test"), "mnist": (28, 3, "test"), "digits": (32, 25, "holdout")}


def _splits(name: str, resolution: int, holdout: str):
    train = load_dataset(DataConfig(name=name, resolution=resolution))
    if holdout == "test":
        test = load_dataset(DataConfig(name=name, resolution=resolution, split="test"))
        return (train.images, train.labels), (test.images, test.labels), train.classes
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:-297], perm[-297:]
    return (train.images[tr], train.labels[tr]), (train.images[te], train.labels[te]), train.classes


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (pad and crop) and, for clothes, horizontal flips."""
    n, _, h, w = x.shape
    pad = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()
    return pad[:, :, dy:dy + h, dx:dx + w]


@torch.no_grad()
def accuracy(net: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        _, logits = net(to_unit_range(images[i:i + 1000]))
        correct += (logits.argmax(1) == labels[i:i + 1000]).sum().item()
    return correct / len(images)


def load_judge(name: str, device="cpu", train_if_missing: bool = True) -> Judge:
    """The judge for ``name``: shipped, cached, or (for datasets the user has, like mnist) trained now."""
    if any(p.is_file() for p in judge_paths(name)) or not train_if_missing:
        return read_judge(name, device)
    if name not in JUDGE_DATA:
        raise GanforgeError(f"no judge for dataset '{name}' (judges exist for {', '.join(JUDGE_DATA)}); "
                            "use an Inception metric (fid, kid, is, pr) for other data")
    print(f"training the {name} judge once (cached in {judge_paths(name)[1].parent}) ...", flush=True)
    train_judge(name, judge_paths(name)[1])
    return read_judge(name, device)


def train_judge(name: str, out: Path, seed: int = 0, log=print) -> dict:
    resolution, epochs, holdout = JUDGE_DATA[name]
    (x_tr, y_tr), (x_te, y_te), classes = _splits(name, resolution, holdout)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = JudgeNet(x_tr.shape[1], resolution, len(classes))
    batch = 128
    steps = epochs * (len(x_tr) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    step = 0
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x_tr), generator=g)
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i:i + batch]
            x = augment(to_unit_range(x_tr[idx]), g)
            if name == "fashion-mnist" and torch.rand(1, generator=g).item() < 0.5:
                x = x.flip(3)
            _, logits = net(x)
            loss = F.cross_entropy(logits, y_tr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, held-out accuracy "
            f"{accuracy(net, x_te, y_te):.4f} ({time.time() - t0:.0f}s)")
    acc = accuracy(net, x_te, y_te)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp)
    tmp.replace(out)
    record = {"dataset": name, "resolution": resolution, "channels": x_tr.shape[1], "classes": classes,
              "feature_dim": 128, "test_accuracy": round(acc, 4), "accuracy_split": holdout,
              "test_images": len(x_te), "train_images": len(x_tr), "epochs": epochs, "seed": seed,
              "torch": torch.__version__, "train_seconds": round(time.time() - t0),
              "sha256": sha256_file(out)}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {out} (held-out accuracy {acc:.4f})")
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=list(JUDGE_DATA))
    ap.add_argument("--out", type=Path, help="weights path (default: the package's judges/NAME.safetensors)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train_judge(args.name, args.out or SHIPPED / f"{args.name}.safetensors", args.seed)


if __name__ == "__main__":
    main()
