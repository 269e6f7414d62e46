"""Plausible one-line bugs that once passed every test, each with a test that fails on it: the atomic write
writing in place, R1 multiplied away, the lab's component spread ignored, train.threads and train.seed
ignored, logged values being the last step's instead of the window's mean, class accuracy counting misses."""

import pytest
import torch

from ganforge import stats
from ganforge.files import atomic_write, write_text_atomic


# ---- the atomic write: a writer that fails halfway leaves the old file whole ------------------------------
def _half_then_fail(p):
    p.write_text("HALF")
    raise OSError("disk full")


@pytest.mark.parametrize("helper", ["atomic_write", "write_text_atomic"])
def test_a_write_cut_short_leaves_the_old_file_and_no_temp(tmp_path, helper):
    path = tmp_path / "metrics.json"
    path.write_text("OLD")
    with pytest.raises((OSError, UnicodeError)):
        if helper == "atomic_write":
            atomic_write(path, _half_then_fail)
        else:  # text that cannot be encoded fails after the temp file was opened
            write_text_atomic(path, "\udcff")
    assert path.read_text() == "OLD"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    atomic_write(path, lambda p: p.write_text("NEW"))
    assert path.read_text() == "NEW" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _trainer(tmp_path, *overrides):
    """A trainer of the tests' tiny DCGAN on the digits (what test_train.TINY trains)."""
    from ganforge import config as C
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer

    tiny = ["model.ngf=8", "model.ndf=8", "model.z_dim=16", "data.resolution=16"]
    cfg = C.build("quick", None, [*tiny, *overrides], {"data": "digits", "batch_size": 16, "device": "cpu"})
    return Trainer(cfg, tmp_path, load_dataset(cfg.data), quiet=True)


# ---- R1: its closed form, and its weight on D's step ---------------------------------------------------
def test_r1_of_a_linear_d_is_half_gamma_times_its_slope_squared():
    from ganforge.losses import r1_penalty

    w = torch.tensor([[3.0, -4.0]])                      # D(x) = w . x: gradient w everywhere, |w|^2 = 25

    def D(x, y=None):
        return (x @ w.T).squeeze(1)

    x = torch.randn(16, 2)
    assert float(r1_penalty(D, x, gamma=2.0)) == pytest.approx(25.0)
    assert float(r1_penalty(D, x, gamma=0.5)) == pytest.approx(6.25)


def test_r1_changes_the_step_d_takes(tmp_path):
    def d_after_one_step(r1):
        t = _trainer(tmp_path, f"train.r1={r1}", "train.seed=3")
        t.train_step()
        return torch.cat([p.detach().flatten() for p in t.D_raw.parameters()])

    plain, light, heavy = d_after_one_step(0.0), d_after_one_step(1e-6), d_after_one_step(100.0)
    # Adam's first step moves each weight by the learning rate (2e-4) along its gradient's sign: a vanishing
    # penalty flips next to none of the signs, a heavy one flips many (a difference of 4e-4 each)
    assert ((plain - light).abs() > 1e-4).float().mean() < 0.001
    assert ((plain - heavy).abs() > 1e-4).float().mean() > 0.05


# ---- the lab's mixture noise has the spread it is given ---------------------------------------------------
@pytest.mark.parametrize("std", [0.02, 0.2])
def test_the_lab_mixture_noise_has_the_component_std_it_is_given(std):
    from ganforge.lab2d.settings import LabSettings
    from ganforge.lab2d.trainer import LabTrainer

    t = LabTrainer(LabSettings(noise="mixture", components=9, component_std=std, layers=1, neurons=4))
    z, comp = t.noise_space.sample(20_000, torch.Generator().manual_seed(0))
    spread = (z - t.noise_space.means[comp]).std()
    assert float(spread) == pytest.approx(std, rel=0.05)


# ---- train.threads and train.seed reach the trainer ---------------------------------------------------
def test_train_threads_sets_the_threads_torch_uses(tmp_path):
    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            _trainer(tmp_path, f"train.threads={n}")
            assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)


def test_train_seed_chooses_the_starting_weights(tmp_path):
    def g(seed):
        return torch.cat([p.detach().flatten() for p in _trainer(tmp_path, f"train.seed={seed}").G_raw.parameters()])

    assert torch.equal(g(5), g(5))
    assert not torch.equal(g(5), g(6)) and not torch.equal(g(0), g(6))


# ---- a logged value is the mean over its window ---------------------------------------------------------
def test_flush_gives_the_mean_of_everything_reported_since_the_last():
    stats.reset()
    for v in (1.0, 2.0, 6.0):
        stats.report("d_loss", torch.tensor(v))
    stats.report("g_loss", torch.tensor([1.0, 3.0]))   # a tensor counts as its mean
    out = stats.flush()
    assert out["d_loss"] == pytest.approx(3.0) and out["g_loss"] == pytest.approx(2.0)
    assert stats.flush() == {}


def test_a_run_logs_each_window_mean(tmp_path):
    import json

    from ganforge.cli import main
    from test_train import TINY, only_run

    seen = []
    real_report = stats.report

    def spy(name, value):
        if name == "d_loss":
            seen.append(float(value.detach().float().mean()))
        real_report(name, value)

    stats.report = spy
    try:
        assert main(["train", *TINY, "--steps", "6", "train.log_every=3", "--runs-dir", str(tmp_path / "runs")]) == 0
    finally:
        stats.report = real_report
    recs = [json.loads(line) for line in (only_run(tmp_path) / "metrics.jsonl").read_text().splitlines()]
    logged = [r["d_loss"] for r in recs if r["kind"] == "train"]
    assert len(seen) == 6 and logged == pytest.approx([sum(seen[:3]) / 3, sum(seen[3:]) / 3], abs=1e-5)


# ---- class accuracy counts hits ------------------------------------------------------------------------
def test_class_accuracy_of_real_digits_with_their_own_labels_is_high():
    from ganforge.config import DataConfig
    from ganforge.data import load_dataset
    from ganforge.metrics import Evaluator

    data = load_dataset(DataConfig(name="digits", resolution=32))
    images, labels = data.images[:400], data.labels[:400]
    score = Evaluator("digits", ["class-acc"])
    right = score(images, labels)[0]
    wrong = score(images, (labels + 1) % 10)[0]
    assert right.value > 0.9 and wrong.value < 0.1
    assert min(right.extra["per_class"].values()) > 0.7
