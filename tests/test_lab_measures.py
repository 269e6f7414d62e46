"""The lab's measures for any data: improved precision and recall in the plane (k-nearest-neighbour balls)
against cases with a known answer, and modes found for point sets of separate points."""

import pytest
import torch

from ganforge.lab2d import dists
from ganforge.lab2d.metrics import mode_metrics, precision_recall


def draw(name, n, seed, drawn=None):
    return dists.sample(name, n, torch.Generator().manual_seed(seed), drawn)


@pytest.mark.parametrize("name", [n for n in dists.DISTS if n not in ("drawn", "points")])
def test_two_draws_of_the_same_data_score_about_one(name):
    m = precision_recall(draw(name, 2500, 0), draw(name, 2500, 1))
    assert m["precision"] > 0.97 and m["recall"] > 0.95, m


def test_points_on_one_mode_are_precise_but_recall_one_eighth():
    real = draw("ring", 2500, 0)
    centers, std = dists.modes("ring")
    one = centers[2] + std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(3))
    m = precision_recall(real, one)
    assert m["precision"] > 0.97
    assert m["recall"] == pytest.approx(1 / 8, abs=0.03)


def test_points_scattered_everywhere_earn_neither_precision_nor_recall():
    # (Kynkaanniemi's recall, with balls around the generated points, scores such points near 1)
    real = draw("spiral", 2500, 0)
    everywhere = (torch.rand(2500, 2, generator=torch.Generator().manual_seed(4)) * 2 - 1) * 1.5
    m = precision_recall(real, everywhere)
    assert m["recall"] < 0.5 and m["precision"] < 0.3, m
    half = torch.cat([draw("spiral", 1250, 5), everywhere[:1250]])  # half on the data: recall as the data's half
    m = precision_recall(real, half)
    assert 0.4 < m["precision"] < 0.65 and 0.6 < m["recall"] < 0.9, m


def test_modes_shrunk_to_their_centres_lose_recall_not_precision():
    # every mode covered, but without the data's spread: the mode measures call this perfect, recall does not
    real = draw("grid", 2500, 0)
    centers, std = dists.modes("grid")
    shrunk = centers.repeat(100, 1) + 0.05 * std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(5))
    assert mode_metrics(shrunk, centers, std)["high_quality"] == 1.0
    m = precision_recall(real, shrunk)
    assert m["precision"] > 0.97 and m["recall"] < 0.3, m


def test_separate_points_of_a_csv_are_known_modes_and_dense_strokes_are_not():
    grid = torch.cartesian_prod(torch.arange(7.0), torch.arange(7.0)) * 2
    centers, std = dists.modes("points", grid)
    assert centers is not None and len(centers) == 49 and std == pytest.approx(0.01 * dists.points_radius(grid))
    stroke = torch.stack([torch.linspace(-1, 1, 500), torch.zeros(500)], 1)
    assert dists.modes("points", stroke)[0] is None
    assert dists.modes("drawn", [[0, 0], [1, 1], [-1, 1]])[0].shape == (3, 2)  # clicks 0.05 wide, far apart
    assert dists.modes("spiral")[0] is None


def test_the_learned_noise_learns_with_g():
    from ganforge.lab2d.settings import LabSettings, updated
    from ganforge.lab2d.trainer import LabTrainer

    t = LabTrainer(updated(LabSettings(), {"noise": "learned", "neurons": 32, "layers": 2, "batch_size": 64}))
    means, scales = t.noise_space.means.detach().clone(), t.noise_space.scales.detach().clone()
    for _ in range(30):
        t.train_step()
    assert (t.noise_space.means - means).abs().max() > 1e-3        # G's optimizer moved the means
    assert (t.noise_space.scales - scales).abs().max() > 1e-4      # and the spreads


@pytest.mark.slow
def test_the_default_noise_covers_a_continuous_shape_a_fixed_mixture_does_not(tmp_path):
    """On the spiral (one piece), the default draws GAN Lab's square; the old default, 25 fixed Gaussians,
    leaves beads along the curve and gaps between them: recall falls."""
    from ganforge.lab2d.headless import run
    from ganforge.lab2d.settings import LabSettings, updated

    def recall(**kw):
        s = updated(LabSettings(), {"dist": "spiral", "steps": 1500, **kw})
        return run(s, tmp_path / str(kw), say=lambda m: None)["recall"]

    default, mixture = recall(), recall(noise="mixture")
    assert default > mixture + 0.15, (default, mixture)


def _circles(n: int, g: torch.Generator) -> torch.Tensor:
    t = torch.rand(n, generator=g) * 2 * torch.pi
    r = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, 0.5)
    return torch.stack([r * t.cos(), r * t.sin()], 1) + 0.01 * torch.randn(n, 2, generator=g)


def test_pieces_that_are_strokes_get_the_square_and_blobs_get_gaussians():
    from ganforge.lab2d.noise import Noise, data_layout

    g = torch.Generator().manual_seed(0)
    rings = _circles(4000, g)
    *_, blobs = data_layout(rings, 0.01, 2)
    assert len(blobs) == 2 and not blobs.any()  # two rings: two pieces, neither a blob
    noise = Noise("data", 2, data=(rings, 0.01))
    assert (noise.kind, noise.why, noise.components) == ("uniform", "strokes", 1)
    grid = dists.sample("grid", 4000, g)
    *_, blobs = data_layout(grid, dists.modes("grid")[1], 2)
    assert len(blobs) == 25 and blobs.all()
    noise = Noise("data", 2, data=(grid, dists.modes("grid")[1]))
    assert (noise.kind, noise.why, noise.components) == ("data", None, 25)


def _two_elongated_blobs(g: torch.Generator) -> torch.Tensor:
    """80% of the points along x around (-0.5, 0), 20% along y around (0.6, 0.3)."""
    a = torch.randn(3200, 2, generator=g) * torch.tensor([0.20, 0.02]) + torch.tensor([-0.5, 0.0])
    b = torch.randn(800, 2, generator=g) * torch.tensor([0.02, 0.15]) + torch.tensor([0.6, 0.3])
    return torch.cat([a, b])


def test_the_data_noise_keeps_each_pieces_shape_and_share():
    """Each piece of the data noise is drawn as often as its piece of data holds points, and spread as that
    piece is spread (in the noise's coordinates: the data divided by its half-size)."""
    from ganforge.lab2d.noise import Noise, noise_coordinates

    g = torch.Generator().manual_seed(0)
    x = _two_elongated_blobs(g)
    noise = Noise("data", 2, data=(x, 0.02))
    assert (noise.kind, noise.components) == ("data", 2)
    z, comp = noise.sample(40000, torch.Generator().manual_seed(1))
    big = int(torch.bincount(comp, minlength=2).argmax())
    share = (comp == big).float().mean()
    assert abs(share - 0.8) < 0.01, share
    xn, _ = noise_coordinates(x, 2)
    for k, rows in ((big, slice(0, 3200)), (1 - big, slice(3200, 4000))):
        want = torch.cov(xn[rows].T)
        got = torch.cov(z[comp == k].T)
        assert torch.allclose(got.diagonal(), want.diagonal(), rtol=0.1), (k, got, want)
        assert abs(got[0, 1] - want[0, 1]) < 0.1 * want.diagonal().prod().sqrt(), (k, got, want)
        assert torch.allclose(z[comp == k].mean(0), xn[rows].mean(0), atol=0.01)
    sx, sy = torch.cov(z[comp == big].T).diagonal()
    assert sx > 50 * sy  # the big piece lies along x, as its data does


def test_explain_names_the_empty_modes_and_the_stranded_piece():
    from ganforge.lab2d.explain import explain

    centers, std = dists.modes("ring")
    g = torch.Generator().manual_seed(0)
    on = centers[:6].repeat_interleave(300, 0) + std * torch.randn(1800, 2, generator=g)   # modes 1-6, 300 each
    mid = (centers[6] + centers[7]) / 2 * 0.9 + std * torch.randn(300, 2, generator=g)    # piece 7 between 7 and 8
    points, piece = torch.cat([on, mid]), torch.arange(7).repeat_interleave(300)
    got = explain(points, piece, centers, std)
    assert got["empty"] == [7, 8]
    assert got["stranded"] == [{"piece": 7, "between": [7, 8]}] or got["stranded"] == [{"piece": 7, "between": [8, 7]}]
    assert "2 of 8 modes empty: 7 at" in got["lines"][0] and "noise piece 7 sits between modes" in got["lines"][1]
    beside = torch.cat([on, centers[6] + torch.tensor([0.08, 0.0]) + std * torch.randn(300, 2, generator=g)])
    got = explain(beside, piece, centers, std)
    assert got["stranded"] == [{"piece": 7, "beside": 7}] and "8 standard deviations off it" in got["lines"][-1]
    fine = explain(on, None, centers[:6], std)
    assert fine == {"empty": [], "stranded": [], "lines": []}
