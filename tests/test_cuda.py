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


def test_fp16_scalers_resume_on_cuda(tmp_path):
    assert gpu_train(tmp_path, "--steps", "3", "train.amp=fp16") == 0
    s = checkpoint.load_state(checkpoint.latest(only_run(tmp_path) / "checkpoints"))
    assert s["scaler_d"]["scale"] > 0


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
