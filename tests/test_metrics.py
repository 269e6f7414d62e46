"""Judges, FD behaviour on real data, the eval command, evaluation during training, Inception gating."""

import json
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import fashion_dir, needs_fashion
from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics import Evaluator, frechet, inception
from ganforge.metrics.judge import available
from ganforge.metrics.train_judge import load_judge
from test_idx import make_split
from test_train import TINY, only_run

_FEATURES = {}  # the reference set's statistics, computed once per (judge, tensor) in a test


def fd(judge, a, b):
    key = (id(judge), id(a))
    if key not in _FEATURES:
        _FEATURES.clear()
        _FEATURES[key] = (a, frechet.mean_cov(judge.run(a)[0]))
    fb, _ = judge.run(b)
    return frechet.frechet_distance(*_FEATURES[key][1], *frechet.mean_cov(fb))


def blur(x, sigma):
    k = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-k ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).view(1, 1, 1, 7)
    y = x.float()
    y = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="replicate"), k)
    y = F.conv2d(F.pad(y, (0, 0, 3, 3), mode="replicate"), k.transpose(2, 3))
    return y.round().clamp(0, 255).to(torch.uint8)


def noised(x, std, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x.float() + 255 * std * torch.randn(x.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


def test_shipped_judges_and_their_records():
    assert {"digits", "fashion-mnist"} <= set(available())
    for name in ("digits", "fashion-mnist"):
        j = load_judge(name, train_if_missing=False)
        w = j.net.state_dict()
        assert sum(v.numel() for v in w.values()) * 4 < 4 * 2 ** 20  # a few MB at most
    assert load_judge("fashion-mnist").test_accuracy >= 0.91


def test_digits_judge_accuracy_and_fd_behaviour():
    """Real halves are near the floor; FD grows as images are blurred or noised more; noise is far."""
    j = load_judge("digits")
    data = load_dataset(DataConfig(name="digits", resolution=32))
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    # the held-out 297 images the record's accuracy was measured on
    _, logits = j.run(data.images[perm[-297:]])
    acc = (logits.argmax(1) == data.labels[perm[-297:]]).float().mean().item()
    assert acc == pytest.approx(j.test_accuracy, abs=1e-4) and acc > 0.95
    a, b = data.images[perm[:898]], data.images[perm[898:]]
    floor = fd(j, a, b)
    blurs = [fd(j, a, blur(b, s)) for s in (0.6, 1.2, 2.4)]
    noises = [fd(j, a, noised(b, s)) for s in (0.1, 0.3, 0.6)]
    rand = fd(j, a, torch.randint(0, 256, b.shape, generator=torch.Generator().manual_seed(1), dtype=torch.uint8))
    assert floor < blurs[0] < blurs[1] < blurs[2]
    assert floor < noises[0] < noises[1] < noises[2]
    assert rand > 20 * floor and rand > max(blurs + noises)


@needs_fashion
def test_fashion_judge_on_the_real_test_set_and_fd_floor(monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA", str(fashion_dir().parent))
    j = load_judge("fashion-mnist")
    test = load_dataset(DataConfig(name="fashion-mnist", resolution=28, split="test"))
    _, logits = j.run(test.images)
    acc = (logits.argmax(1) == test.labels).float().mean().item()
    assert acc >= 0.91 and acc == pytest.approx(j.test_accuracy, abs=1e-4)
    train = load_dataset(DataConfig(name="fashion-mnist", resolution=28))
    a = train.images[torch.randperm(60000, generator=torch.Generator().manual_seed(0))[:5000]]
    b = test.images[:5000]
    floor = fd(j, a, b)
    assert floor < fd(j, a, blur(b, 1.0)) < fd(j, a, blur(b, 2.0))
    assert floor < fd(j, a, noised(b, 0.2)) < fd(j, a, noised(b, 0.4))


def test_a_judge_is_trained_on_first_use_and_cached(tmp_path, monkeypatch, capsys):
    make_split(tmp_path / "mnist", n=256)
    make_split(tmp_path / "mnist", n=64, split="test")
    monkeypatch.setenv("GANFORGE_DATA", str(tmp_path))
    j = load_judge("mnist")
    assert "training the mnist judge once" in capsys.readouterr().out
    assert j.resolution == 28 and len(j.classes) == 10
    again = load_judge("mnist")  # from the cache: no training message
    assert "training" not in capsys.readouterr().out and again.sha256 == j.sha256


def test_eval_command_on_a_run_stores_results_with_their_setup(tmp_path, capsys):
    assert main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), "--steps", "2", "--arch", "cdcgan"]) == 0
    run = only_run(tmp_path)
    capsys.readouterr()
    assert main(["eval", str(run), "-n", "200", "--n-ref", "300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fd-digits") and "\ncoverage" in out and "\nclass-acc" in out
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in recs if r.get("kind") == "eval"]
    assert [r["metric"] for r in evals] == ["fd-digits", "coverage", "class-acc"]
    fd_rec = evals[0]
    for k in ("network", "network_hash", "generated", "reference", "split", "resolution", "resize", "ema", "step"):
        assert k in fd_rec
    assert fd_rec["generated"] == 200 and fd_rec["reference"] == 300 and fd_rec["step"] == 2
    assert fd_rec["resize"] == "bilinear-antialias" and fd_rec["source_resolution"] == 16
    assert len(evals[2]["per_class"]) == 10


def test_eval_a_folder_of_images(tmp_path, capsys):
    data = load_dataset(DataConfig(name="digits", resolution=32))
    real, noise = tmp_path / "real", tmp_path / "noise"
    real.mkdir()
    noise.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(300):
        Image.fromarray(data.images[i, 0].numpy()).save(real / f"{i}.png")
        Image.fromarray(torch.randint(0, 256, (32, 32), generator=g, dtype=torch.uint8).numpy()).save(noise / f"{i}.png")
    scores = {}
    for name, folder in (("real", real), ("noise", noise)):
        assert main(["eval", str(folder), "--dataset", "digits", "--metrics", "fd", "--n-ref", "1000"]) == 0
        scores[name] = float(capsys.readouterr().out.split()[1])
    assert scores["real"] * 10 < scores["noise"]
    assert main(["eval", str(real)]) == 2
    assert "needs --dataset" in capsys.readouterr().err


def test_eval_during_training_keeps_the_best_checkpoint(tmp_path):
    assert main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), "--steps", "4", "--eval-every", "2",
                 "--eval-metrics", "fd,coverage", "train.eval_samples=100"]) == 0
    run = only_run(tmp_path)
    evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r.get("kind") == "eval"]
    assert [(r["step"], r["metric"]) for r in evals] == [(2, "fd-digits"), (2, "coverage"),
                                                          (4, "fd-digits"), (4, "coverage")]
    from ganforge import checkpoint

    meta = checkpoint.read_meta(run / "checkpoints" / "best.safetensors")
    best_step = min((r for r in evals if r["metric"] == "fd-digits"), key=lambda r: r["value"])["step"]
    assert meta["step"] == best_step and "fd-digits" in meta["best"]
    assert (run / "checkpoints" / "best.state.pt").is_file()
    assert main(["generate", str(run / "checkpoints" / "best.safetensors"), "--grid", str(tmp_path / "b.png")]) == 0


def test_eval_errors(tmp_path, capsys):
    with pytest.raises(GanforgeError, match="unknown metric 'fjd'"):
        from ganforge.metrics import parse_metrics

        parse_metrics("fd,fjd")
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(70):
        Image.new("L", (16, 16), i).save(imgs / f"{i}.png")
    assert main(["train", *TINY, "--runs-dir", str(tmp_path / "r"), "--data", "folder", "--path", str(imgs),
                 "--eval-every", "5", "--eval-metrics", "fd,coverage"]) == 2
    assert "has no classes, so coverage and class-acc cannot be measured" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before a run folder was made


def test_inception_weights_are_gated(tmp_path, monkeypatch):
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(GanforgeError, match="--inception-weights PATH"):
        inception.weights_path()  # offline, nothing cached
    evil = tmp_path / "evil.pth"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    evil.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(GanforgeError, match="not a plain weights file"):
        inception.weights_path(evil)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(3)}, other)
    with pytest.raises(GanforgeError, match="not the 2015-12-05 Inception weights"):
        inception.weights_path(other)
    with pytest.raises(GanforgeError, match="does not exist"):
        inception.weights_path(tmp_path / "missing.pth")


def test_inception_input_is_uint8_rgb():
    ds = inception.Uint8RGB(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert ds[0].shape == (3, 28, 28) and ds[0].dtype == torch.uint8


@pytest.mark.skipif(not os.environ.get("GANFORGE_INCEPTION_WEIGHTS"),
                    reason="set GANFORGE_INCEPTION_WEIGHTS to the 2015-12-05 Inception weights file to run")
def test_inception_metrics_with_the_real_weights():
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    w = inception.weights_path()
    fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                     feature_extractor_weights_path=str(w))
    feats, logits = fe(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))
    assert feats.shape == (4, 2048) and logits.shape == (4, 1008)
    data = load_dataset(DataConfig(name="digits", resolution=32))
    ev = Evaluator("digits", ["fid", "kid"], n_ref=500)
    res = {r.metric: r.value for r in ev(data.images[500:1000])}
    assert 0 <= res["fid"] < 50 and abs(res["kid"]) < 0.05


def test_a_tampered_judge_is_refused(tmp_path, monkeypatch):
    import shutil

    from ganforge.metrics import judge as J

    for suffix in (".safetensors", ".json"):
        shutil.copy(J.SHIPPED / f"digits{suffix}", tmp_path / f"digits{suffix}")
    data = bytearray((tmp_path / "digits.safetensors").read_bytes())
    data[-1] ^= 0xFF  # flip one weight byte
    (tmp_path / "digits.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(J, "SHIPPED", tmp_path)
    with pytest.raises(GanforgeError, match="fail their checksum"):
        load_judge("digits", train_if_missing=False)
