"""Several processes with torchrun (gloo on CPU): same weights as one process, rank 0 alone writes."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ganforge import checkpoint
from ganforge.cli import main
from test_train import TINY, only_run

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")


def torchrun(n: int, args: list[str], cwd) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
           "-m", "ganforge", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]


def weights(run):
    return load_file(checkpoint.latest(run / "checkpoints"))


def initial_weights(args: list[str]) -> dict:
    """The weights a run with these arguments starts from (built by the trainer itself)."""
    from ganforge import config as C
    from ganforge.cli import build_parser
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer

    ns, extra = build_parser().parse_known_args(args)
    cfg = C.build(None, None, ns.overrides + extra, {k: getattr(ns, k) for k in C.FLAG_KEYS})
    t = Trainer(cfg, ".", load_dataset(cfg.data), quiet=True)
    return {f"{n}.{k}": v.clone() for n, m in t.modules().items() for k, v in m.state_dict().items()}


def assert_same(a, b, init):
    """Same weights within float tolerance: each tensor's update from the start agrees to 1%.
    (Adam turns last-bit differences of tiny gradients into visible ones; a missing gradient
    average would differ by the order of the update itself.)"""
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            da, db = a[k] - init[k], b[k] - init[k]
            assert (da - db).norm() <= 0.01 * da.norm() + 1e-7, k


def without_batchnorm() -> list[str]:
    """The families whose G and D hold no BatchNorm: several processes reach one process's weights exactly
    (BatchNorm's statistics are per process without train.sync_bn, which needs CUDA)."""
    from ganforge.models import build_discriminator, build_generator, model_kwargs
    from ganforge.models.families import FAMILIES

    class M:
        z_dim, ngf, ndf, hidden, dropout = 8, 8, 8, 16, 0.0

    kw = model_kwargs(M, 28, 1, 10)
    bn = torch.nn.modules.batchnorm._BatchNorm
    return [a for a in FAMILIES if not any(isinstance(m, bn) for net in (build_generator(a, kw),
                                                                        build_discriminator(a, kw)) for m in net.modules())]


@pytest.mark.parametrize("arch", without_batchnorm())
def test_two_processes_reach_the_weights_of_one(tmp_path, arch):
    args = ["train", *TINY, "--arch", arch, "--steps", "4", "--batch-size", "64"]
    assert main([*args, "--runs-dir", str(tmp_path / "one" / "runs")]) == 0
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    torchrun(2, [*args, "--runs-dir", str(tmp_path / "two" / "runs")], cwd)
    assert_same(weights(only_run(tmp_path / "one")), weights(only_run(tmp_path / "two")), initial_weights(args))
    assert list(cwd.iterdir()) == []  # rank 1 wrote nothing anywhere
    two = only_run(tmp_path / "two")
    recs = (two / "metrics.jsonl").read_text().splitlines()
    assert len(recs) == len((only_run(tmp_path / "one") / "metrics.jsonl").read_text().splitlines())
    assert '"images_seen": 256' in recs[-1]  # 4 steps of the global batch of 64


def test_resume_with_another_number_of_processes(tmp_path):
    args = ["train", *TINY, "--arch", "mlp", "--batch-size", "64"]
    assert main([*args, "--steps", "6", "--runs-dir", str(tmp_path / "ref" / "runs")]) == 0
    torchrun(2, [*args, "--steps", "3", "--runs-dir", str(tmp_path / "mixed" / "runs")], tmp_path)
    mixed = only_run(tmp_path / "mixed")
    assert main(["train", "--resume", str(mixed), "--steps", "6", "--quiet"]) == 0  # 2 processes, then 1
    init = initial_weights([*args, "--steps", "6"])
    assert_same(weights(only_run(tmp_path / "ref")), weights(mixed), init)
    assert main([*args, "--steps", "3", "--runs-dir", str(tmp_path / "back" / "runs")]) == 0
    back = only_run(tmp_path / "back")
    torchrun(2, ["train", "--resume", str(back), "--steps", "6", "--quiet"], tmp_path)  # 1, then 2
    assert_same(weights(only_run(tmp_path / "ref")), weights(back), init)


def test_sync_bn_on_cpu_is_refused_with_a_reason(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "ganforge",
           "train", *TINY, "--steps", "2", "train.sync_bn=true", "--runs-dir", str(tmp_path / "r")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode != 0 and "train.sync_bn needs CUDA" in p.stderr
    assert not (tmp_path / "r").exists()


def test_more_processes_than_gpus_is_a_one_line_error(monkeypatch, capsys):
    """Checked before joining the process group, on every rank, with a GPU count faked on this CPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    assert main(["train", "--preset", "quick", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "2 processes" in err and "1 GPU is visible" in err
    assert "--nproc-per-node 1" in err and "train.device=cpu" in err
    from ganforge import config as C
    from ganforge.cli import build_parser

    for argv, want in ((["train", "train.device=cpu"], "cpu"), (["train", "--device", "cuda:0"], "cuda:0"),
                       (["train", "device=cpu", "train.steps=3"], "cpu"), (["train"], "auto")):
        args = build_parser().parse_args(argv)
        assert C.requested_device(args.device, args.overrides, args.config) == want  # what the ranks decide GPUs from, before the group exists


def test_several_nodes_with_restarts_on_the_shared_store_are_warned():
    from ganforge.training.distributed import shared_store_warning

    env = {"GROUP_WORLD_SIZE": "2", "TORCHELASTIC_MAX_RESTARTS": "3"}
    assert "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1" in shared_store_warning(env)
    assert shared_store_warning({**env, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}) is None
    assert shared_store_warning({**env, "GROUP_WORLD_SIZE": "1"}) is None       # one node: nothing to rejoin
    assert shared_store_warning({**env, "TORCHELASTIC_MAX_RESTARTS": "0"}) is None
