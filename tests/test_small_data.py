"""Small data: the augmentations D sees, ADA's p, spectral norm, R1, data.limit, and their errors."""

import pytest
import torch
import torch.nn as nn
import yaml

from browser import chrome, console_errors, wait_for  # noqa: F401 (chrome is a fixture)
from ganforge import augment as A
from ganforge import checkpoint
from ganforge.cli import main
from ganforge.data.subset import pick
from ganforge.errors import GanforgeError
from ganforge.models import add_spectral_norm, build_discriminator, model_kwargs
from ganforge.models.families import FAMILIES

TINY = ["--data", "digits", "--resolution", "16", "model.ngf=8", "model.ndf=8", "model.hidden=32",
        "model.z_dim=16", "--quiet", "--device", "cpu"]


def images(b=6, c=3, s=16, seed=0):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- the augmentations --------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "translation,cutout,color"])
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_keeps_the_shape_and_changes_every_image(policy, channels):
    x = images(c=channels)
    torch.manual_seed(1)
    y = A.augment(x, A.parse_policy(policy))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    changed = (y != x).flatten(1).any(1)
    assert changed.float().mean() >= 5 / 6  # a zero shift can leave one image as it was


def test_translation_and_cutout_only_move_or_blank_pixels():
    x = images(b=32)
    torch.manual_seed(0)
    t = A.translation(x, 1.0)
    values = set(x.flatten().tolist()) | {0.0}
    assert set(t.flatten().tolist()) <= values      # every pixel is one of x's or the gray border
    for i in range(len(x)):                          # and it is x shifted by at most 2 pixels (16 / 8)
        assert any(torch.equal(t[i], _shift(x[i], dy, dx)) for dy in range(-2, 3) for dx in range(-2, 3))
    torch.manual_seed(0)
    c = A.cutout(torch.ones(32, 1, 16, 16), 1.0)
    blank = (c == 0).flatten(1).sum(1)
    assert set(c.unique().tolist()) <= {0.0, 1.0}
    assert (blank <= 64).all() and (blank >= 16).all() and (blank == 64).any()  # an 8x8 square, maybe clipped


def _shift(img, dy, dx):
    c, h, w = img.shape
    out = torch.zeros_like(img)
    ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
    yd, xd = slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx))
    out[:, ys, xs] = img[:, yd, xd]
    return out


def test_color_stays_in_its_range():
    x = images(b=256)
    torch.manual_seed(0)
    b = A.brightness(x, 1.0)
    shift = (b - x).flatten(1)
    assert torch.allclose(shift.min(1).values, shift.max(1).values, atol=1e-6)  # one shift per image
    assert shift.abs().max() <= 0.5
    y = A.augment(x, ["color"])
    assert y.abs().max() < 4  # brightness +-0.5, saturation x0..2, contrast x0.5..1.5 around the means


def test_probability_p_picks_that_share_of_images():
    x = images(b=4000, c=1, s=8)
    torch.manual_seed(0)
    assert torch.equal(A.augment(x, ["translation", "cutout", "color"], 0.0), x)
    share = (A.brightness(x, 0.3) != x).flatten(1).any(1).float().mean()
    assert abs(share - 0.3) < 0.03


def test_gradients_reach_g_through_every_augmentation():
    G = nn.Sequential(nn.Linear(4, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1))
    for policy in A.POLICIES:
        G.zero_grad()
        torch.manual_seed(0)
        D(A.augment(G(torch.randn(8, 4)), [policy])).mean().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()), policy
    # translation moves pixels: the gradient of the sum is 1 on kept pixels and 0 on those shifted out
    x = images(b=4).requires_grad_(True)
    A.translation(x, 1.0).sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0} and x.grad.sum() > 0.5 * x.numel()


def test_unknown_policy_is_an_error_that_lists_the_known_ones():
    with pytest.raises(GanforgeError, match="unknown augmentation 'rotate'.*translation, cutout"):
        A.parse_policy("translation,rotate")
    with pytest.raises(GanforgeError, match="is empty"):
        A.parse_policy(" , ")


# ---- ADA's p ------------------------------------------------------------------------------------
def test_p_rises_when_d_overfits_and_falls_when_it_does_not():
    ada = A.AdaptiveP(target=0.6, speed_kimg=1, interval=4)
    for step in range(1, 9):  # D calls 90% of real images real: over the target
        ada.observe(torch.tensor([3.0] * 9 + [-1.0]))
        ada.update(step, 10)
    assert ada.p == pytest.approx(2 * 40 / 1000)  # two moves of 40 images / 1,000 each
    for step in range(9, 17):  # D unsure (50% real): under the target
        ada.observe(torch.tensor([1.0] * 5 + [-1.0] * 5))
        ada.update(step, 10)
    assert ada.p == pytest.approx(0.0)
    for step in range(17, 21):  # already 0: it cannot go below
        ada.observe(torch.tensor([-1.0] * 10))
        ada.update(step, 10)
    assert ada.p == 0.0
    lsgan = A.AdaptiveP(interval=1)  # LSGAN's outputs aim at 1 (real) and 0 (fake): the sign is about 0.5
    lsgan.observe(torch.full((10,), 0.7), threshold=0.5)
    lsgan.update(1, 10)
    assert lsgan.p > 0


def test_ada_state_round_trips_mid_interval():
    a = A.AdaptiveP(speed_kimg=1, interval=4, p=0.3)
    a.observe(torch.tensor([1.0, 1.0, -1.0]))
    a.update(1, 3)
    b = A.AdaptiveP(speed_kimg=1, interval=4)
    b.load_state_dict(a.state_dict())
    for x in (a, b):
        for step in (2, 3, 4):
            x.observe(torch.tensor([1.0, 1.0, 1.0]))
            x.update(step, 3)
    assert a.p == b.p and a.p > 0.3


@pytest.fixture(scope="module")
def ada_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ada")
    assert main(["train", *TINY, "--runs-dir", str(root), "--steps", "24", "data.limit=200",
                 "train.augment=ada", "train.ada_kimg=0.5", "train.log_every=4"]) == 0
    return next(root.iterdir())


def test_training_with_ada_logs_p_and_it_moves(ada_run):
    run = ada_run
    recs = [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    ps = [r["augment_p"] for r in recs if r["kind"] == "train"]
    assert len(ps) == 6 and max(ps) > 0  # a small D on 200 images soon calls most real images real
    s = checkpoint.load_state(checkpoint.latest(run / "checkpoints"))
    assert s["ada"]["p"] == pytest.approx(ps[-1], abs=1e-4)


def test_the_run_page_draws_p_as_a_curve(ada_run, chrome):  # noqa: F811
    from test_faults import serve

    server, url = serve(ada_run)
    try:
        chrome.get(url)
        wait_for(lambda: chrome.execute_script("return !document.getElementById('s-aug').hidden"),
                 what="the augmentation chart")
        legend = chrome.find_element("id", "l-aug").text
        assert "augment_p" in legend, legend
        assert console_errors(chrome) == []
    finally:
        server.shutdown()
        server.server_close()


# ---- spectral norm and R1 -------------------------------------------------------------------------
class _Cfg:
    z_dim, ngf, ndf, hidden, dropout = 16, 8, 8, 32, 0.0


@pytest.mark.parametrize("arch", list(FAMILIES))
def test_spectral_norm_bounds_every_layer_of_d(arch):
    kw = model_kwargs(_Cfg, 16, 1, 10)
    D = build_discriminator(arch, kw, spectral_norm=True)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    D.train()
    x, y = torch.randn(4, 1, 16, 16), torch.arange(4)
    for _ in range(30):  # power iterations converge as D runs
        D(x, y)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05), m
    plain = build_discriminator(arch, kw)
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in plain.modules())
    assert sum(p.numel() for p in add_spectral_norm(plain).parameters()) == \
        sum(p.numel() for p in build_discriminator(arch, kw).parameters())


def test_r1_and_spectral_norm_train_and_are_recorded(tmp_path):
    assert main(["train", *TINY, "--runs-dir", str(tmp_path), "--steps", "4", "train.r1=1.0", "train.r1_every=2",
                 "model.spectral_norm=true", "train.log_every=1", "train.augment=diffaug"]) == 0
    run = next(tmp_path.iterdir())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["r1"] == 1.0 and cfg["model"]["spectral_norm"] is True
    assert cfg["train"]["augment"] == "diffaug"
    recs = [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    r1 = [r.get("r1") for r in recs if r["kind"] == "train"]
    assert r1[0] is not None and r1[1] is None and r1[2] is not None  # lazy: steps 0 and 2 of 0..3
    w = checkpoint.load_weights(checkpoint.latest(run / "checkpoints"), "D")
    assert any("parametrizations.weight.original" in k for k in w) and any(k.endswith("_u") for k in w)
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "g.png")]) == 0


# ---- data.limit ---------------------------------------------------------------------------------
def test_limit_is_class_balanced_seeded_and_repeatable():
    labels = torch.arange(10).repeat_interleave(100)
    a = pick(1000, 205, labels, seed=0)
    counts = torch.bincount(labels[a], minlength=10)
    assert len(a) == len(a.unique()) == 205 and sorted(counts.tolist()) == [20] * 5 + [21] * 5
    assert torch.equal(a, pick(1000, 205, labels, seed=0)) and not torch.equal(a, pick(1000, 205, labels, seed=1))
    few = torch.tensor([0] * 3 + [1] * 97)   # class 0 has only 3: all of them, the rest from class 1
    b = pick(100, 20, few, seed=0)
    assert torch.bincount(few[b]).tolist() == [3, 17]
    assert len(pick(50, 7, None, seed=3).unique()) == 7
    with pytest.raises(GanforgeError, match="data.limit=60 is more than the 50 images there are"):
        pick(50, 60)


def test_limit_trains_on_that_many_images_and_is_recorded(tmp_path, capsys):
    assert main(["train", *TINY, "--runs-dir", str(tmp_path), "--steps", "2", "data.limit=120",
                 "--batch-size", "32"]) == 0
    run = next(tmp_path.iterdir())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["limit"] == 120 and cfg["data"]["limit_seed"] == 0
    from ganforge import config as C
    from ganforge.data import load_dataset

    data = load_dataset(C.from_dict(cfg).data)
    assert len(data) == 120 and torch.bincount(data.labels).tolist() == [12] * 10


def test_limit_on_a_folder_decodes_only_the_chosen_files(tmp_path):
    from PIL import Image

    from ganforge.config import DataConfig
    from ganforge.data import load_dataset

    for cls in ("cats", "dogs"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12 if cls == "cats" else 6):
            Image.new("RGB", (8, 8), (i * 10, 0, 0)).save(tmp_path / "imgs" / cls / f"{i}.png")
    cfg = DataConfig(name="folder", path=str(tmp_path / "imgs"), resolution=8, labels=True, limit=8, workers=0)
    data = load_dataset(cfg)
    assert len(data) == 8 and torch.bincount(data.labels).tolist() == [4, 4]


@pytest.mark.parametrize("args,message", [
    (["train.augment=ada", "--loss", "wgan-gp"], "train.augment=ada steers by the sign of D's verdict"),
    (["train.r1=1", "--loss", "wgan-gp"], "train.r1 and wgan-gp's gradient penalty"),
    (["train.augment=diffaug", "train.augment_policy=translation,flip"], "unknown augmentation 'flip'"),
    (["train.augment=mixup"], "train.augment must be one of none, diffaug, ada"),
    (["train.r1=-1"], "train.r1 must be >= 0"),
    (["train.augment=ada", "train.ada_target=1.5"], "train.ada_target must be in (0, 1)"),
    (["data.limit=0"], "data.limit must be at least 1"),
    (["data.limit=5000"], "data.limit=5000 is more than the 1797 images there are"),
])
def test_small_data_errors_are_one_line(tmp_path, capsys, args, message):
    code = main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), "--steps", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "runs").exists()


# ---- the small-data recipe for runs without a preset ------------------------------------------------
def test_small_data_recipe_applies_only_without_a_preset_and_only_to_unset_keys():
    from ganforge import config as C
    from ganforge import recipes

    cfg = C.build(None, None, ["train.r1=0.5"], {})
    note = recipes.small_data(cfg, 300)
    assert note.startswith(f"300 images (fewer than {recipes.SMALL:,}) and no preset named: training with the small-data")
    for key, value in recipes.SMALL_DATA.items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value
    assert cfg.train.r1 == 0.5 and note.count("\n") == 0
    assert recipes.small_data(C.build(None, None, [], {}), 20_000) is None            # enough images
    named = C.build("quick", None, [], {})
    assert recipes.small_data(named, 300) is None and named.train.augment == "none"  # a preset is kept as is
    mine = C.build(None, None, [f"{k}=none" if k == "train.augment" else f"{k}={v}"
                                for k, v in recipes.SMALL_DATA.items()], {})
    assert recipes.small_data(mine, 300) is None and mine.train.augment == "none"     # the user's choice wins


def test_a_run_without_a_preset_on_few_images_says_it_uses_the_recipe(tmp_path, capsys):
    args = ["train", *[a for a in TINY if a != "--quiet"], "--runs-dir", str(tmp_path), "--steps", "2",
            "data.limit=200", "--batch-size", "32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    from ganforge.recipes import SMALL, SMALL_DATA

    assert f"200 images (fewer than {SMALL:,}) and no preset named" in out
    run = next(tmp_path.iterdir())

    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["augment"] == SMALL_DATA["train.augment"]
    assert main(["train", *args[1:], "--dry-run"]) == 0
    assert f"# no preset named: if the data has fewer than {SMALL:,} images, training adds" in capsys.readouterr().out
    assert main(["train", *args[1:], "--preset", "quick", "--dry-run"]) == 0
    assert "no preset named" not in capsys.readouterr().out


def test_d_sees_augmented_images_in_both_phases(monkeypatch):
    """Cutout leaves exact zeros that G's tanh never makes: D's inputs in D's and G's phases must have them."""
    from ganforge import config as C
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer

    cfg = C.build("quick", None, ["data.resolution=16", "model.ngf=8", "model.ndf=8", "model.z_dim=16",
                                  "train.augment=diffaug", "train.augment_policy=cutout", "train.batch_size=16",
                                  "train.device=cpu", "train.channels_last=false"], {})
    tr = Trainer(cfg, ".", load_dataset(cfg.data), quiet=True)
    seen = []
    real_D = tr.D_raw

    def spy(x, y=None):
        seen.append(x.detach())
        return real_D(x, y)

    tr.D = tr.D_g = spy
    tr.train_step()
    assert len(seen) == 3  # D's phase: real and fake; G's phase: fake
    for x in seen:
        zeros = (x == 0).flatten(1).sum(1)
        assert (zeros >= 16).all(), zeros


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_ada_p_decides_what_d_sees_in_the_loop(p):
    """With p = 0 the real images reach D exactly as the batch holds them; with p = 1 every one is changed."""
    from ganforge import config as C
    from ganforge.data import load_dataset
    from ganforge.training.loop import Trainer

    cfg = C.build("quick", None, ["data.resolution=16", "model.ngf=8", "model.ndf=8", "model.z_dim=16",
                                  "train.augment=ada", f"train.augment_p={p}", "train.ada_interval=1000",
                                  "train.augment_policy=translation,color", "train.batch_size=16",
                                  "train.device=cpu", "train.channels_last=false"], {})
    tr = Trainer(cfg, ".", load_dataset(cfg.data), quiet=True)
    batches, seen = [], []
    real_next, real_D = tr.batches.next, tr.D_raw

    def next_batch():
        x, y = real_next()
        batches.append(x.clone())
        return x, y

    def spy(x, y=None):
        seen.append(x.detach().clone())
        return real_D(x, y)

    tr.batches.next = next_batch
    tr.D = tr.D_g = spy
    for _ in range(2):
        tr.train_step()
    assert tr.ada.p == p  # the interval is long: p stays where it started
    reals = [seen[0], seen[3]]  # each step: D's phase sees real then fake; G's phase sees fake
    for x, shown in zip(batches, reals):
        changed = (shown != x).flatten(1).any(1)
        if p == 0:
            assert torch.equal(shown, x)
        else:
            assert changed.all(), changed


# ---- StyleGAN2-ADA's operations -------------------------------------------------------------------
GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "adacolor")


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("channels", [1, 3])
def test_stylegan2_ada_operations_keep_shape_leave_p0_alone_and_change_most_at_p1(name, channels):
    x = images(b=64, c=channels)
    op = A.OPS[name][0]
    torch.manual_seed(0)
    assert torch.equal(op(x, 0.0), x)
    torch.manual_seed(0)
    y = op(x, 1.0)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    changed = (y != x).flatten(1).any(1).float().mean()
    least = {"rotate90": 0.6, "xflip": 0.3}.get(name, 0.9)  # 0 degrees a quarter, unmirrored half of the time
    assert changed >= least, (name, changed)


def test_flips_turns_and_integer_shifts_only_move_pixels():
    x = images(b=32, c=1)
    torch.manual_seed(0)
    f = A.xflip(x, 1.0)
    mirrored = torch.tensor([torch.equal(f[i], x[i].flip(2)) for i in range(len(x))])
    assert all(torch.equal(f[i], x[i]) for i in range(len(x)) if not mirrored[i]) and 0.2 < mirrored.float().mean() < 0.8
    torch.manual_seed(0)
    r = A.rotate90(x, 1.0)
    for i in range(len(x)):
        assert any(torch.equal(r[i], torch.rot90(x[i], k, (1, 2))) for k in range(4))
    torch.manual_seed(0)
    t = A.xint(x, 1.0)
    s = 2  # 16 px / 8
    padded = torch.nn.functional.pad(x, (s, s, s, s), mode="reflect")
    for i in range(len(x)):  # x shifted by at most s pixels, the edge mirrored in
        assert any(torch.equal(t[i], padded[i, :, s - dy:s - dy + 16, s - dx:s - dx + 16])
                   for dy in range(-s, s + 1) for dx in range(-s, s + 1))
    torch.manual_seed(0)
    z = A.scale(x, 1.0)
    assert z.min() >= x.min() - 1e-5 and z.max() <= x.max() + 1e-5  # bilinear: never outside the image's values
    flat = torch.full((4, 1, 16, 16), 0.3)
    assert torch.allclose(A.scale(flat, 1.0), flat, atol=1e-6)


@pytest.mark.parametrize("name,outcomes", [("xflip", 2), ("rotate90", 4)])
def test_below_p_1_the_untouched_image_stays_the_likeliest_so_nothing_leaks(name, outcomes):
    """ADA's argument: D sees augmented reals and fakes alike, so G gains nothing from flipped or turned
    images only if the augmented distribution tells the original apart. With probability p an image is
    flipped (or turned a random quarter), so the original comes out with 1 - p + p / outcomes, every
    other orientation with p / outcomes: apart for every p < 1, equal (leaking) at p = 1."""
    x = torch.arange(16.0).view(1, 1, 4, 4).expand(20000, 1, 4, 4)  # no symmetry: each orientation distinct
    for p in (0.5, 0.8, 1.0):
        torch.manual_seed(0)
        y = A.OPS[name][0](x, p)
        same = (y == x).flatten(1).all(1).float().mean().item()
        assert same == pytest.approx(1 - p + p / outcomes, abs=0.015), (p, same)
        if p < 1:
            assert same > p / outcomes + (1 - p) / 2  # the original stands out from each other orientation


def _orientation_game(p: float, steps: int = 400, seed: int = 0) -> float:
    """A tiny GAN on one asymmetric 8x8 image, D seeing everything turned by ``rotate90`` with probability
    ``p``; G starts out drawing the image turned a quarter. Returns the share of G's samples nearest the
    upright image."""
    torch.manual_seed(seed)
    upright = torch.zeros(1, 1, 8, 8)
    upright[..., 1:7, 1] = 1.0
    upright[..., 6, 1:5] = 1.0  # an L: no turn of it looks like another
    upright = upright * 2 - 1
    turns = torch.cat([torch.rot90(upright, k, (2, 3)) for k in range(4)]).flatten(1)  # (4, 64)
    G = nn.Sequential(nn.Linear(8, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64))
    with torch.no_grad():
        G[2].weight.mul_(0.1)
        G[2].bias.copy_(turns[1] * 0.9)  # G begins near the image turned 90 degrees
    D = nn.Sequential(nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    og, od = (torch.optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.99)) for m in (G, D))
    bce = nn.functional.binary_cross_entropy_with_logits
    see = lambda x: A.rotate90(x.view(-1, 1, 8, 8), p).flatten(1)  # noqa: E731
    for _ in range(steps):
        real = upright.flatten(1).expand(64, 64) + 0.05 * torch.randn(64, 64)
        fake = G(torch.randn(64, 8))
        d_real, d_fake = D(see(real)), D(see(fake.detach()))
        od.zero_grad()
        (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))).backward()
        od.step()
        out = D(see(fake))
        og.zero_grad()
        bce(out, torch.ones_like(out)).backward()
        og.step()
    with torch.no_grad():
        nearest = torch.cdist(G(torch.randn(1000, 8)), turns).argmin(1)
    return float((nearest == 0).float().mean())


def test_g_learns_the_upright_image_when_rotations_do_not_leak():
    """Below p = 1, D tells upright from turned, so a G that starts turned is taught to stand it up; at
    p = 1 (every image turned a random quarter: leaking) a turned G is as good as an upright one and
    stays turned. A rotate90 that ignored p would fail the first case."""
    assert _orientation_game(0.5) > 0.9
    assert _orientation_game(1.0) < 0.5
