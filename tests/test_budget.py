"""A time budget shapes the run (``train.minutes``, ``ganforge.training.schedule``): its length, a learning-rate
decay that ends with it on a fake clock, a resumed run that keeps its schedule, and an EMA generator that
follows StyleGAN2-ADA's ramp and is what ``generate`` draws after Ctrl-C."""

import os
import signal

import pytest
import torch

from ganforge import checkpoint
from ganforge import config as C
from ganforge.cli import main
from ganforge.generate import load_generator
from ganforge.sampling import generate, seeded_z
from ganforge.training import launch
from ganforge.training.distributed import World
from ganforge.training.loop import Interrupted
from ganforge.training.schedule import ema_beta, lr_factor

TINY = ["train.device=cpu", "data.resolution=16", "train.batch_size=16", "model.z_dim=16", "model.ngf=8",
        "model.ndf=8", "train.log_every=1", "train.sample_every=1000", "train.ckpt_every=1000"]
STEP_S = 6.0  # fake seconds per step: a one-minute budget is ten steps


class FakeClock:
    def __init__(self):
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


def budgeted(trainer, clock: FakeClock, lrs: list, stop_at: int | None = None):
    """``trainer`` on ``clock``, each step taking STEP_S fake seconds; the learning rates each step trained
    with go to ``lrs``; at ``stop_at`` the process sends itself SIGINT, as Ctrl-C does."""
    trainer.schedule.clock = clock
    step = trainer.train_step

    def timed():
        step()
        lrs.extend((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
        clock.t += STEP_S
        if trainer.step == stop_at:
            os.kill(os.getpid(), signal.SIGINT)

    trainer.train_step = timed
    return trainer


def build(tmp_path, *extra):
    return C.build(None, None, [*TINY, f"train.runs_dir={tmp_path}", *extra])


def test_minutes_alone_set_the_length_and_steps_still_win_when_given(tmp_path, capsys):
    cfg = build(tmp_path, "train.minutes=10")
    assert (cfg.train.steps, cfg.train.epochs, cfg.train.minutes) == (None, None, 10.0)
    assert build(tmp_path, "train.minutes=10", "train.steps=50").train.steps == 50
    assert main(["train", "--data", "fashion-mnist", "--resolution", "28", "--minutes", "10", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "steps: null" in out and "minutes: 10.0" in out


def test_the_decay_ends_at_the_budget_on_a_fake_clock(tmp_path):
    cfg = build(tmp_path, "train.minutes=1", "train.lr_decay=linear")
    lrs = []
    trainer = budgeted(launch.start(cfg, World(), quiet=True), FakeClock(), lrs)
    trainer.fit()
    assert trainer.step == 10 and trainer.finished  # 60 fake seconds at 6 a step
    g, d = cfg.optim.lr_g, cfg.optim.lr_d
    want = [lr * (1 - STEP_S * k / 60) for k in range(10) for lr in (g, d)]
    assert lrs == pytest.approx(want)
    assert lr_factor("cosine", 0.0) == 1.0 and lr_factor("cosine", 1.0) == pytest.approx(0.0)
    assert lr_factor("cosine", 0.5) == pytest.approx(0.5) and lr_factor("none", 0.7) == 1.0


def test_a_resumed_budget_keeps_its_schedule(tmp_path):
    whole = []
    cfg = build(tmp_path / "a", "train.minutes=1", "train.lr_decay=cosine")
    budgeted(launch.start(cfg, World(), quiet=True), FakeClock(), whole).fit()
    parts = []
    cfg = build(tmp_path / "b", "train.minutes=1", "train.lr_decay=cosine")
    first = budgeted(launch.start(cfg, World(), quiet=True), FakeClock(), parts, stop_at=4)
    with pytest.raises(Interrupted):
        first.fit()
    run, cfg = launch.resume_config(str(first.run), {}, [])
    second = launch.resume(run, cfg, World(), quiet=True, say=lambda m: None)
    assert second.step == 4 and second.schedule.done_s == pytest.approx(4 * STEP_S)
    assert "1 minutes (0.4 trained)" in launch.length(second)
    budgeted(second, FakeClock(), parts).fit()
    assert second.step == 10
    assert parts == pytest.approx(whole)  # the same learning rates, step for step, as the unbroken run


def test_the_ema_follows_stylegan2_adas_ramp(tmp_path):
    kimg, rampup = 0.2, 0.5
    cfg = build(tmp_path, "train.steps=6", f"train.ema_kimg={kimg}", f"train.ema_rampup={rampup}")
    trainer = launch.start(cfg, World(), quiet=True)
    want = None
    for _ in range(6):
        seen = trainer.images_seen
        trainer.train_step()
        p = [q.detach().clone() for q in trainer.G_raw.parameters()]
        n = min(kimg * 1000, rampup * seen)  # the half-life in images: at most half of those seen so far
        beta = 0.5 ** (16 / max(n, 1e-8))
        want = p if want is None else [w + (q - w) * (1 - beta) for w, q in zip(want, p)]
        for w, e in zip(want, trainer.G_ema.parameters()):
            torch.testing.assert_close(e, w)
    assert ema_beta(16, 0, kimg, rampup) == 0.0  # the first step copies G
    assert ema_beta(64, 10**9, 10, 0.05) == pytest.approx(0.5 ** (64 / 10000))


def test_ctrl_c_leaves_the_ema_generator_ready_to_generate(tmp_path):
    cfg = build(tmp_path, "train.minutes=1", "train.ema_kimg=0.1", "train.ema_rampup=0.05")
    trainer = budgeted(launch.start(cfg, World(), quiet=True), FakeClock(), [], stop_at=3)
    with pytest.raises(Interrupted) as err:
        trainer.fit()
    assert err.value.exit_code == 130
    ckpt = checkpoint.latest(trainer.run / "checkpoints")
    assert checkpoint.read_meta(ckpt)["step"] == 3
    gen = load_generator(trainer.run)
    assert gen.ema  # the EMA generator, without asking
    z = seeded_z(gen, 4, 1)
    assert torch.equal(generate(gen, z), generate(trainer.G_ema, z))
    assert not torch.equal(generate(gen, z), generate(trainer.G_raw.eval(), z))
    assert main(["generate", str(trainer.run), "-n", "2", "--out", str(tmp_path / "imgs")]) == 0


def test_two_ways_to_ask_for_an_ema_are_refused(tmp_path):
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="set one of them"):
        build(tmp_path, "train.steps=5", "train.ema=0.99", "train.ema_kimg=10")
    with pytest.raises(GanforgeError, match="lr_decay must be one of"):
        build(tmp_path, "train.steps=5", "train.lr_decay=step")


def test_quality_is_drawn_against_training_minutes(tmp_path):
    import json

    from PIL import Image

    cfg = build(tmp_path, "train.minutes=1", "train.eval_every=4", "train.eval_samples=200", "train.ema_kimg=0.1")
    trainer = budgeted(launch.start(cfg, World(), quiet=True), FakeClock(), [])
    trainer.fit()
    records = [json.loads(x) for x in (trainer.run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("kind") == "eval"]
    assert [(r["step"], r["minutes"], r["ema"]) for r in evals] == [(4, 0.4, True), (8, 0.8, True), (10, 1.0, True)]
    with Image.open(trainer.run / "loss.png") as im:
        assert im.height == 3 * 3 * 90  # losses, D's outputs, and quality against minutes


def test_a_fixed_ema_decay_asked_for_replaces_the_default_half_life(tmp_path):
    cfg = build(tmp_path, "train.steps=5", "train.ema_kimg=10")
    assert cfg.train.ema_kimg == 10
    cfg = C.build("quick", None, [*TINY, "train.ema=0.99"])
    assert (cfg.train.ema, cfg.train.ema_kimg) == (0.99, 0.0)


def test_a_run_without_a_preset_gets_the_budget_recipe_and_the_demo_keeps_its_own(tmp_path):
    from ganforge.presets import PRESETS

    cfg = build(tmp_path, "train.steps=5")
    fast = PRESETS["fast"]
    assert (cfg.preset, cfg.train.ema_kimg, cfg.train.ema_rampup) == (None, fast["train"]["ema_kimg"], 0.05)
    assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.train.lr_decay) == (1e-3, 4e-4, "none")
    assert cfg.train.ema_kimg > 0  # the default run has an EMA generator for generate to draw
    demo = C.build("quick", None, ["train.device=cpu"])
    assert (demo.train.ema_kimg, demo.train.ema, demo.optim.lr_g, demo.optim.lr_d) == (0.0, 0.0, 5e-4, 2e-4)
