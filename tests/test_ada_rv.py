"""ADA steered by overfitting (the rv signal, from held-out images) rather than by D's confidence (rt)."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge import augment as A
from ganforge.data import digits, heldout, load_dataset
from ganforge.errors import GanforgeError


def test_rv_is_zero_when_held_out_images_score_like_training_ones_and_one_when_like_fakes():
    for held, want in ((2.0, 0.0), (-2.0, 1.0), (0.0, 0.5)):
        ada = A.AdaptiveP(target=0.6, speed_kimg=1, interval=2, signal="rv")
        for step in (1, 2):
            ada.observe(torch.full((10,), 2.0), fake_logits=torch.full((10,), -2.0))
        ada.observe_heldout(torch.full((10,), held))
        ada.update(1, 10)
        ada.update(2, 10)
        assert ada.r == pytest.approx(want)
        assert (ada.p > 0) == (want > 0.6)
    blind = A.AdaptiveP(interval=1, signal="rv")  # D does not yet tell training images from fakes
    blind.observe(torch.zeros(4), fake_logits=torch.zeros(4))
    blind.observe_heldout(torch.full((4,), -5.0))
    blind.update(1, 4)
    assert blind.r == 0.0 and blind.p == 0.0


def test_rv_state_round_trips_mid_interval_and_old_states_still_load():
    a = A.AdaptiveP(speed_kimg=1, interval=4, p=0.3, signal="rv")
    a.observe(torch.tensor([1.0, 2.0]), fake_logits=torch.tensor([-1.0, -1.0]))
    a.update(1, 2)
    b = A.AdaptiveP(speed_kimg=1, interval=4, signal="rv")
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))  # plain numbers, as in a checkpoint
    for x in (a, b):
        for step in (2, 3, 4):
            x.observe(torch.tensor([1.5, 2.5]), fake_logits=torch.tensor([-2.0, -1.0]))
        x.observe_heldout(torch.tensor([-1.0, -2.0]))
        x.update(2, 2), x.update(3, 2), x.update(4, 2)
    assert a.p == b.p and a.r == b.r and a.p > 0.3
    old = A.AdaptiveP(speed_kimg=1, interval=2)
    old.load_state_dict({"p": 0.25, "sign_sum": 3.0, "count": 3, "images": 3})  # written before rv existed
    old.observe(torch.ones(3))
    old.update(2, 3)
    assert old.p == pytest.approx(0.25 + 6 / 1000)


def _drive(signal: str, train: torch.Tensor, fake_pool: torch.Tensor, held: torch.Tensor, noise: float,
           steps: int = 300) -> A.AdaptiveP:
    """Train a tiny D to tell ``train`` from ``fake_pool`` (plus ``noise``), feeding ADA as the loop does."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.LeakyReLU(0.2),
                            torch.nn.Linear(128, 1), torch.nn.Flatten(0))
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    ada = A.AdaptiveP(target=0.6, speed_kimg=2, interval=4, signal=signal)
    for step in range(1, steps + 1):
        x = train[torch.randint(len(train), (16,), generator=g)]
        f = fake_pool[torch.randint(len(fake_pool), (16,), generator=g)]
        f = f + noise * torch.randn(f.shape, generator=g)
        real_logits, fake_logits = D(x), D(f)
        loss = torch.nn.functional.softplus(-real_logits).mean() + torch.nn.functional.softplus(fake_logits).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ada.observe(real_logits, fake_logits=fake_logits)
        if ada.due(step):
            with torch.no_grad():
                ada.observe_heldout(D(held[torch.randint(len(held), (16,), generator=g)]))
        ada.update(step, 16)
    return ada


@pytest.fixture(scope="module")
def pools():
    images, _ = digits.load()
    x = images.float().div(127.5).sub(1)[torch.randperm(len(images), generator=torch.Generator().manual_seed(1))]
    return {"train16": x[:16], "train": x[:1000], "fakes": x[1000:1500], "held": x[1500:]}


def test_p_stays_low_on_a_d_that_does_not_overfit_and_rises_on_one_that_does(pools):
    """Fakes that are noisy digits: D learns a rule that holds for every digit (confident, not overfitting).
    Fakes that are clean digits from another pool against 16 training images: D can only tell them apart
    by memorising its 16, and scores held-out digits as fakes (overfitting). rt rises in both; rv only
    in the second."""
    confident = dict(train=pools["train"], fake_pool=pools["fakes"], held=pools["held"], noise=0.5)
    memorising = dict(train=pools["train16"], fake_pool=pools["fakes"], held=pools["held"], noise=0.0)
    rv_ok, rv_over = _drive("rv", **confident), _drive("rv", **memorising)
    rt_ok, rt_over = _drive("rt", **confident), _drive("rt", **memorising)
    assert rv_ok.p < 0.05, rv_ok.state_dict()
    assert rv_over.p > 0.5 and rv_over.r > 0.6, rv_over.state_dict()
    assert rt_ok.p > 0.5 and rt_over.p > 0.5  # confidence alone: rt raises p even where nothing overfits


def test_held_out_images_come_from_outside_the_limit_and_are_the_same_every_time():
    from ganforge.config import DataConfig

    cfg = DataConfig(name="digits", resolution=8, limit=100)
    data = load_dataset(cfg)
    train, held = heldout.split(data, cfg, 0.2, 16)
    assert train is data and len(held.images) == 20  # training keeps all 100
    full = load_dataset(DataConfig(name="digits", resolution=8))
    rows = {bytes(im.numpy()) for im in full.images}
    assert all(bytes(im.numpy()) in rows for im in held.images)
    used = {bytes(im.numpy()) for im in data.images}
    assert not any(bytes(im.numpy()) in used for im in held.images)
    assert sorted(held.labels.tolist()) == sorted([c for c in range(10) for _ in range(2)])  # class-balanced
    assert torch.equal(heldout.split(data, cfg, 0.2, 16)[1].images, held.images)


def test_without_spare_images_the_held_out_slice_is_lent_from_training():
    from ganforge.config import DataConfig

    cfg = DataConfig(name="digits", resolution=8)
    data = load_dataset(cfg)
    train, held = heldout.split(data, cfg, 0.1, 64)
    assert len(train) + len(held.images) == len(data) == 1797 and len(held.images) == 180
    seen = {bytes(im.numpy()) for im in train.images}
    assert sum(bytes(im.numpy()) in seen for im in held.images) <= 2  # digits has a few duplicate pictures
    with pytest.raises(GanforgeError, match="fewer than the batch size 1000; lower train.ada_holdout"):
        heldout.split(data, cfg, 0.5, 1000)  # 898 left to train on
