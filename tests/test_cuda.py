"""CUDA behaviour, with tolerances for bf16 autocast and TF32; skipped where no GPU is visible."""

import pytest
import torch
from safetensors.torch import load_file

from ganforge import checkpoint
from ganforge.cli import main
from test_train import only_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")

GPU = ["--data", "digits", "--resolution", "32", "model.ngf=16", "model.ndf=16", "model.z_dim=16", "--quiet",
       "--device", "cuda"]


def gpu_train(root, *extra):
    return main(["train", *GPU, "--runs-dir", str(root / "runs"), *extra])


def relative_gap(a: dict, b: dict, init: dict) -> float:
    """Largest, over tensors, of |update_a - update_b| / |update_a|."""
    worst = 0.0
    for k in a:
        if a[k].is_floating_point() and k in init:
            da, db = a[k] - init[k], b[k] - init[k]
            worst = max(worst, float((da - db).norm() / (da.norm() + 1e-12)))
    return worst


def test_bf16_training_resumes_and_samples_on_cuda(tmp_path):
    assert gpu_train(tmp_path, "--steps", "4", "train.ckpt_every=2", "train.amp=auto") == 0
    run = only_run(tmp_path)
    s = checkpoint.load_state(checkpoint.latest(run / "checkpoints"))
    assert "rng_cuda" in s and s["scaler_d"] == {}  # bf16 chosen by auto: no loss scaling
    assert main(["train", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    assert checkpoint.list_checkpoints(run / "checkpoints")[-1][0] == 6
    assert main(["generate", str(run), "--device", "cuda", "--grid", str(tmp_path / "g.png")]) == 0


def test_fp16_training_resumes_with_the_loss_scales_it_stopped_with_on_cuda(tmp_path):
    """fp16 training keeps a loss scale per optimizer. Stop at step 3, give the checkpoint's scales values
    no fresh scaler starts from, resume to step 6: the scales go on from there (halved at most, on an
    overflow), and the weights stay finite."""
    assert gpu_train(tmp_path, "--steps", "3", "train.amp=fp16", "train.ckpt_every=3") == 0
    run = only_run(tmp_path)
    ckpt = checkpoint.latest(run / "checkpoints")
    state = checkpoint.load_state(ckpt)
    assert state["scaler_d"]["scale"] > 0 and state["scaler_g"]["scale"] > 0
    state["scaler_d"]["scale"], state["scaler_g"]["scale"] = 1024.0, 2048.0  # a fresh scaler starts at 65536
    torch.save(state, checkpoint.state_path(ckpt))
    assert main(["train", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    after = checkpoint.load_state(checkpoint.latest(run / "checkpoints"))
    assert checkpoint.list_checkpoints(run / "checkpoints")[-1][0] == 6
    for key, start in (("scaler_d", 1024.0), ("scaler_g", 2048.0)):  # three steps: three halvings at most
        assert start / 8 <= after[key]["scale"] <= start, (key, after[key])
    w = load_file(checkpoint.latest(run / "checkpoints"))
    assert all(torch.isfinite(v.float()).all() for v in w.values())


def test_compiled_training_matches_eager_on_cuda_within_bf16_tolerance(tmp_path):
    args = ["--steps", "3", "train.amp=bf16", "train.ckpt_every=1", "train.keep_ckpts=10"]
    assert gpu_train(tmp_path / "eager", *args) == 0
    assert gpu_train(tmp_path / "compiled", *args, "train.compile=true") == 0
    ck = [only_run(tmp_path / d) / "checkpoints" for d in ("eager", "compiled")]
    init = load_file(ck[0] / "ckpt-00000001.safetensors")
    a = load_file(ck[0] / "ckpt-00000003.safetensors")
    b = load_file(ck[1] / "ckpt-00000003.safetensors")
    assert a.keys() == b.keys()
    # bf16 keeps 8 bits of mantissa: updates agree to a few percent, a wrong graph differs by ~100%
    assert relative_gap(a, b, init) < 0.1


@pytest.mark.parametrize("arch", list(__import__("ganforge.models.families", fromlist=["FAMILIES"]).FAMILIES))
def test_every_family_trains_with_amp_resumes_and_samples_on_cuda(tmp_path, arch):
    """Every family of the registry (lite and clite included) on CUDA with autocast, channels_last and fused
    Adam, then resumed and sampled: the paths a lent GPU runs."""
    assert gpu_train(tmp_path, "--arch", arch, "--steps", "2", "train.ckpt_every=2", "train.amp=auto") == 0
    run = only_run(tmp_path)
    assert main(["train", "--resume", str(run), "--steps", "4", "--quiet"]) == 0
    assert main(["generate", str(run), "--device", "cuda", "--grid", str(tmp_path / "g.png")]) == 0
