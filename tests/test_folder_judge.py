"""A judge for any folder: trained on the folder (labels from subfolders, else self-supervised), cached by the
data's hash, named after the data, ranking corrupted real images in order, with held-out images at its floor;
and `ganforge eval` / `--eval-every` on a folder run."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ganforge.cli import main
from ganforge.data import DataConfig, load_dataset
from ganforge.metrics import Evaluator, data_judge, frechet, load_data_judge
from ganforge.metrics.corrupt import blur, fewer, noise

BUDGET = 6000  # images shown: a few seconds


def make_folder(root, n=600, side=32, labels=True):
    """Little landscapes: a sky of random blue over a green ground of random height, with a disc (one
    subfolder) or a square (the other) of random colour standing on the ground. Up is up in every one, so
    the self-supervised task (which way up) can be learnt, as on photographs."""
    rng = np.random.default_rng(0)
    for i in range(n):
        kind = "disc" if i % 2 else "square"
        d = root / kind if labels else root
        d.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (side, side), (int(rng.integers(80, 160)), int(rng.integers(150, 220)), 255))
        draw = ImageDraw.Draw(img)
        ground = int(rng.integers(side * 2 // 3, side - 3))
        draw.rectangle((0, ground, side, side), fill=(40, int(rng.integers(120, 200)), 40))
        r = int(rng.integers(3, 7))
        cx = int(rng.integers(r + 1, side - r - 1))
        colour = (int(rng.integers(150, 256)), int(rng.integers(0, 120)), int(rng.integers(0, 120)))
        box = (cx - r, ground - 2 * r, cx + r, ground)
        (draw.ellipse if kind == "disc" else draw.rectangle)(box, fill=colour)
        img.save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data") / "shapes")


def judge_of(cfg, monkeypatch):
    monkeypatch.setattr(data_judge, "BUDGET", BUDGET)
    from ganforge import metrics

    monkeypatch.setattr(metrics.data_judge, "BUDGET", BUDGET)
    return load_data_judge(cfg, log=lambda *a: None)


def fd(judge, images):
    feats, _ = judge.run(images)
    return frechet.frechet_distance(*frechet.mean_cov(feats), judge.mu, judge.sigma)


def test_ranks_blur_noise_and_fewer_images_and_holds_its_floor(shapes, monkeypatch):
    cfg = DataConfig(name="folder", path=str(shapes), resolution=32, labels=True)
    judge = judge_of(cfg, monkeypatch)
    assert judge.name == "shapes" and judge.classes == ["disc", "square"]
    assert judge.record["task"] == "classes and rotation" and judge.record["test_accuracy"] >= 0.9
    data = load_dataset(cfg)
    tr, ho = data_judge.split(len(data))
    real = data.images[tr]
    base = fd(judge, real)
    for corrupt, levels in ((blur, [0.6, 1.0, 1.5, 2.5, 4.0]), (noise, [0.03, 0.08, 0.15, 0.3, 0.5])):
        scores = [base] + [fd(judge, corrupt(real, s)) for s in levels]
        assert all(a < b for a, b in zip(scores, scores[1:])), (corrupt.__name__, scores)
    few = [fd(judge, fewer(real, k)) for k in (64, 16, 4, 1)]
    assert base < few[0] and all(a < b for a, b in zip(few, few[1:])), few
    # held-out real images score at the stated floor, through the evaluator a run uses
    ev = Evaluator("folder", ["fd"], data=cfg)
    (r,) = ev(data.images[ho])
    assert r.metric == "fd-shapes" and "fid" not in r.metric
    assert r.value == pytest.approx(judge.record["floor"], abs=1e-3)
    assert r.setup["floor"] == judge.record["floor"] and r.setup["floor_images"] == len(ho)


def test_self_supervised_without_labels_and_cached_by_hash(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "plain", n=400, labels=False)
    cfg = DataConfig(name="folder", path=str(root), resolution=32)
    judge = judge_of(cfg, monkeypatch)
    assert judge.classes == [] and judge.record["task"].startswith("rotation")
    assert judge.record["heldout_rotation_accuracy"] > 0.5          # four ways: 0.25 by chance
    said = []
    again = load_data_judge(cfg, log=said.append)                   # the same images: no training
    assert said == [] and again.sha256 == judge.sha256
    Image.new("RGB", (32, 32), "black").save(root / "extra.png")    # other data: another judge
    other = load_data_judge(DataConfig(name="folder", path=str(root), resolution=32), log=said.append)
    assert said and other.record["data_sha256"] != judge.record["data_sha256"]
    with pytest.raises(Exception, match="no classes"):
        Evaluator("folder", ["fd", "coverage"], data=cfg)


def test_eval_and_eval_every_on_a_folder_run(shapes, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_judge, "BUDGET", BUDGET)
    runs = tmp_path / "runs"
    assert main(["train", "--data", "folder", "--path", str(shapes), "--resolution", "32", "--steps", "6",
                 "--batch-size", "16", "--eval-every", "3", "train.eval_samples=64", "model.ngf=8", "model.ndf=8",
                 "--runs-dir", str(runs)]) == 0
    run = next(runs.iterdir())
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in events if e.get("kind") == "eval"]
    assert [e["step"] for e in evals] == [3, 6] and all(e["metric"] == "fd-shapes" for e in evals)
    assert (run / "checkpoints" / "best.safetensors").is_file()
    capsys.readouterr()
    assert main(["eval", str(run), "-n", "64"]) == 0
    out = capsys.readouterr().out
    assert "fd-shapes" in out and "floor" in out
    assert torch.isfinite(torch.tensor(evals[-1]["value"]))
