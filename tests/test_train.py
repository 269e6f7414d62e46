"""The real CLI, end to end, on tiny configs: train, resume, generate, bad input."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ganforge import checkpoint
from ganforge.cli import main

# CPU behaviour: pinned even where a GPU is visible. The preset is named so that the small-data recipe
# (for runs without one on fewer than 10,000 images) stays out of tests about other things.
TINY = ["--preset", "quick", "--data", "digits", "--resolution", "16", "model.ngf=8", "model.ndf=8",
        "model.hidden=32", "model.z_dim=16", "--quiet", "--device", "cpu"]


def train(tmp_path, *extra):
    return main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), *extra])


def only_run(tmp_path) -> Path:
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def train_records(run):
    return [r for r in map(yaml.safe_load, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]


def test_train_writes_the_run_folder_then_resumes(tmp_path):
    assert train(tmp_path, "--steps", "6", "train.sample_every=3", "train.ckpt_every=3", "train.log_every=2") == 0
    run = only_run(tmp_path)
    assert run.name == "00000-quick"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["steps"] == 6 and cfg["model"]["ngf"] == 8
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000003.png", "step-00000006.png"]
    assert [s for s, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [3, 6]
    assert (run / "checkpoints" / "ckpt-00000006.state.pt").is_file()
    recs = train_records(run)
    assert [r["step"] for r in recs] == [2, 4, 6]
    for key in ("epoch", "images_seen", "d_loss", "g_loss", "D(x)", "D(G(z))", "images_per_s"):
        assert key in recs[-1]
    assert recs[-1]["images_seen"] == 6 * 64
    assert list(run.glob("events.out.tfevents.*")) and (run / "loss.png").stat().st_size > 1000

    assert main(["train", "--resume", str(run), "--steps", "10", "--quiet"]) == 0
    recs = train_records(run)
    assert [r["step"] for r in recs] == [2, 4, 6, 8, 10]
    assert checkpoint.list_checkpoints(run / "checkpoints")[-1][0] == 10
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"] == 10


CASES = {
    "dcgan-ema": ["train.ema=0.9"],
    "cdcgan-two-g-steps": ["--arch", "cdcgan", "--g-steps", "2", "train.label_smoothing=0.1"],
    "keras-separate-dropout": ["--arch", "keras-cifar", "train.d_update=separate", "model.dropout=0.4"],
    "mlp-wgan-gp": ["--arch", "mlp", "--loss", "wgan-gp", "--d-steps", "2"],
    "dcgan-fp16-amp": ["train.amp=fp16"],  # gradient scalers must resume where they were
    # ADA's p and its pending signs, spectral norm's power-iteration vectors, lazy R1's phase
    "dcgan-ada-r1-sn": ["train.augment=ada", "train.augment_p=0.5", "train.ada_kimg=3", "train.ada_interval=3",
                        "train.r1=0.5", "train.r1_every=2", "model.spectral_norm=true"],
    "mlp-hinge-diffaug": ["--arch", "mlp", "--loss", "hinge", "train.augment=diffaug"],
    # ADA steered by held-out images: its sums and the held-out batches' generator, mid-interval
    "dcgan-ada-rv": ["train.augment=ada", "train.ada_signal=rv", "train.augment_p=0.5", "train.ada_kimg=3",
                     "train.ada_interval=3"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_gives_the_same_weights_as_an_unbroken_run(tmp_path, case):
    """N steps, stop, resume, N more == 2N steps straight, bit for bit on CPU (crossing an epoch)."""
    # 500 of the digits in batches of 100 (halves of 50 when D's updates are separate): epochs of 5 or 10 steps
    common = [*CASES[case], "data.limit=500", "--batch-size", "100", "train.ckpt_every=5", "train.sample_every=100"]
    assert train(tmp_path / "a", "--steps", "12", *common) == 0
    assert train(tmp_path / "b", "--steps", "5", *common) == 0
    b = only_run(tmp_path / "b")
    assert main(["train", "--resume", str(b), "--steps", "12", "--quiet"]) == 0
    a = only_run(tmp_path / "a")
    wa = load_file(a / "checkpoints" / "ckpt-00000012.safetensors")
    wb = load_file(b / "checkpoints" / "ckpt-00000012.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    sa = checkpoint.load_state(a / "checkpoints" / "ckpt-00000012.safetensors")
    sb = checkpoint.load_state(b / "checkpoints" / "ckpt-00000012.safetensors")
    assert sa["batches"]["epoch"] == sb["batches"]["epoch"] >= 1
    assert torch.equal(sa["rng_cpu"], sb["rng_cpu"])
    assert sa["scaler_d"] == sb["scaler_d"] and sa["scaler_g"] == sb["scaler_g"]
    ada_a, ada_b = sa.get("ada") or {}, sb.get("ada") or {}
    gen_a, gen_b = ada_a.pop("heldout_gen", None), ada_b.pop("heldout_gen", None)
    assert ada_a == ada_b and (gen_a is None) == (gen_b is None)
    assert gen_a is None or torch.equal(gen_a, gen_b)
    if "train.augment=ada" in common:
        assert sa["ada"]["p"] != 0.5  # p moved, and from where the checkpoint left it
    # the last log window (steps 11-12) is the same in both; earlier windows differ where b stopped
    assert train_records(a)[-1]["d_loss"] == train_records(b)[-1]["d_loss"]


def test_mixed_precision_trains_and_keeps_fp32_weights(tmp_path):
    assert train(tmp_path, "--steps", "3", "train.amp=bf16") == 0
    w = load_file(checkpoint.latest(only_run(tmp_path) / "checkpoints"))
    floats = [v for k, v in w.items() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in floats)
    s = checkpoint.load_state(checkpoint.latest(only_run(tmp_path) / "checkpoints"))
    assert s["scaler_d"] == {}  # bf16 needs no loss scaling: the scaler stays off


def test_compiled_training_matches_eager(tmp_path):
    args = ["--arch", "mlp", "--steps", "2"]
    assert train(tmp_path / "eager", *args) == 0
    assert train(tmp_path / "compiled", *args, "train.compile=true") == 0
    a = load_file(checkpoint.latest(only_run(tmp_path / "eager") / "checkpoints"))
    b = load_file(checkpoint.latest(only_run(tmp_path / "compiled") / "checkpoints"))
    assert a.keys() == b.keys()  # plain names: no compile wrapper prefixes in the checkpoint
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5), k
    from ganforge import config as C
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer

    cfg = C.build(None, None, ["train.compile=true", "data.resolution=16", "train.device=cpu"], {})
    t = Trainer(cfg, tmp_path, load_dataset(cfg.data), quiet=True)
    assert all(hasattr(m, "_orig_mod") for m in (t.G, t.D, t.D_g))  # compiled, not just eager again


def test_generate_is_deterministic_and_has_every_output(tmp_path):
    assert train(tmp_path, "--steps", "2", "--arch", "cdcgan", "train.ema=0.9") == 0
    run = only_run(tmp_path)
    g1, g2, g3 = tmp_path / "g1.png", tmp_path / "g2.png", tmp_path / "g3.png"
    assert main(["generate", str(run), "--grid", str(g1), "--seed", "7"]) == 0
    assert main(["generate", str(run), "--grid", str(g2), "--seed", "7"]) == 0
    assert main(["generate", str(run), "--grid", str(g3), "--seed", "8"]) == 0
    assert g1.read_bytes() == g2.read_bytes() and g1.read_bytes() != g3.read_bytes()
    ckpt = checkpoint.latest(run / "checkpoints")
    assert main(["generate", str(ckpt), "-n", "5", "--out", str(tmp_path / "many"), "--class", "3", "--ema"]) == 0
    assert len(list((tmp_path / "many").glob("*.png"))) == 5
    assert main(["generate", str(run), "--interpolate", str(tmp_path / "walk.gif"), "--frames", "4",
                 "--class", "1"]) == 0
    from PIL import Image

    with Image.open(tmp_path / "walk.gif") as im:
        assert im.n_frames >= 4


def test_keras_style_epoch_report(tmp_path):
    # 400 of the digits; separate D updates use half batches of 50 -> 8 steps per epoch
    assert train(tmp_path, "--arch", "keras-cifar", "train.d_update=separate", "--batch-size", "100",
                 "data.limit=400", "--epochs", "2", "train.eval_every_epochs=1") == 0
    run = only_run(tmp_path)
    recs = [yaml.safe_load(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    acc = [r for r in recs if r.get("kind") == "d_accuracy"]
    assert [r["epoch"] for r in acc] == [1, 2]
    assert all(0 <= r["acc_real"] <= 1 and 0 <= r["acc_fake"] <= 1 for r in acc)
    assert (run / "checkpoints" / "generator-e0002.safetensors").is_file()
    assert (run / "samples" / "epoch-0001.png").is_file()
    assert main(["generate", str(run / "checkpoints" / "generator-e0001.safetensors"),
                 "--grid", str(tmp_path / "k.png")]) == 0


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from ganforge import losses

    real_g = losses.NonSaturatingBCE.g
    calls = {"n": 0}

    def g(self, logits):
        calls["n"] += 1
        out = real_g(self, logits)
        return out * float("nan") if calls["n"] >= 5 else out

    monkeypatch.setattr(losses.NonSaturatingBCE, "g", g)
    assert train(tmp_path, "--steps", "20", "train.ckpt_every=2", "train.log_every=1") == 2
    run = only_run(tmp_path)
    assert [s for s, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [2, 4]
    w = load_file(run / "checkpoints" / "ckpt-00000004.safetensors")
    assert all(torch.isfinite(v.float()).all() for v in w.values())


def test_dry_run_prints_config_and_writes_nothing(tmp_path, capsys):
    assert train(tmp_path, "--dry-run", "train.steps=123", "lr_g=0.001") == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["train"]["steps"] == 123 and out["optim"]["lr_g"] == 0.001
    assert not (tmp_path / "runs").exists()


def test_yaml_config_file(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text("preset: tfjs-mnist-mlp\ntrain:\n  batch_size: 32\nmodel:\n  hidden: 64\n")
    assert main(["train", "--config", str(f), "--dry-run"]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["model"]["arch"] == "mlp" and out["model"]["hidden"] == 64 and out["train"]["batch_size"] == 32


@pytest.mark.parametrize("args,message", [
    (["train", "--preset", "dcgan-pytroch-64"], "unknown preset 'dcgan-pytroch-64' (did you mean dcgan-pytorch-64?)"),
    (["train", "train.stpes=5"], "unknown config key 'train.stpes'"),
    (["train", "train.steps=five"], "train.steps must be int or none, not 'five'"),
    (["train", "--loss", "wasserstein"], "train.loss must be one of"),
    (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--data", "folder"], "needs a folder"),
    (["train", "--resume", "."], "is not a run folder"),
    (["train", "--batch-size", "5000", "--data", "digits"], "fewer than the batch size 5000"),
    (["train", "--arch", "cdcgan", "--data", "folder", "--path", "IMGS"], "has no labels"),
    (["generate", "nowhere"], "nowhere not found"),
    (["data", "info", "cifar100"], "unknown dataset 'cifar100'"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (8, 8), (i, i, i)).save(imgs / f"{i}.png")
    args = [str(imgs) if a == "IMGS" else a for a in args]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(args)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "runs").exists() or args[1] == "--resume"


def cli(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "ganforge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    p = cli("train", *TINY, "--runs-dir", str(tmp_path / "runs"), "--steps", "100000", "train.log_every=1")
    metrics = None
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list((tmp_path / "runs").glob("*/metrics.jsonl")) if (tmp_path / "runs").exists() else []
        if found and found[0].stat().st_size > 0:
            metrics = found[0]
            break
        time.sleep(0.2)
    assert metrics is not None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "checkpoint" in err and "ganforge train --resume" in err and "Traceback" not in err
    run = metrics.parent
    step = checkpoint.list_checkpoints(run / "checkpoints")[-1][0]
    assert step >= 1
    q = cli("train", "--resume", str(run), "--steps", str(step + 2), "--quiet")
    out, err = q.communicate(timeout=120)
    assert q.returncode == 0, err
    assert checkpoint.list_checkpoints(run / "checkpoints")[-1][0] == step + 2


def test_user_errors_print_no_traceback(tmp_path):
    p = cli("train", "--resume", str(tmp_path))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.strip().startswith("error:") and "Traceback" not in err


def test_init_from_takes_weights_but_starts_counters_afresh(tmp_path):
    assert train(tmp_path / "a", "--steps", "3") == 0
    src = only_run(tmp_path / "a")
    # a learning rate of 1e-12 leaves the loaded weights as they were after one step
    assert train(tmp_path / "b", "--steps", "1", "--init-from", str(src), "optim.lr_g=1e-12",
                 "optim.lr_d=1e-12") == 0
    new = only_run(tmp_path / "b")
    assert checkpoint.list_checkpoints(new / "checkpoints")[-1][0] == 1
    wa = load_file(checkpoint.latest(src / "checkpoints"))
    wb = load_file(checkpoint.latest(new / "checkpoints"))
    params = [k for k in wa if "running_" not in k and "num_batches" not in k]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-8) for k in params)
