import math

import numpy as np
import pytest
import torch

from ganforge.metrics.frechet import coverage, frechet_distance, kid, mean_cov


def test_frechet_distance_of_two_gaussians_closed_form():
    # diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_frechet_distance_full_covariance_against_an_explicit_matrix_root():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = m1 @ m1.T + np.eye(5), m2 @ m2.T + np.eye(5)
    from scipy.linalg import sqrtm

    ref = np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2).real)
    assert frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(ref, rel=1e-8)
    assert frechet_distance(np.ones(5), s1, np.ones(5), s1) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_from_samples_approaches_the_truth():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, size=(200000, 2))
    y = rng.normal(0, 2, size=(200000, 2)) + np.array([3.0, 0.0])
    fd = frechet_distance(*mean_cov(x), *mean_cov(y))
    assert fd == pytest.approx(9 + 2 * (1 - 2) ** 2, rel=0.02)


def test_kid_exact_for_point_masses():
    # all x equal to a, all y equal to b: MMD^2 = k(a, a) + k(b, b) - 2 k(a, b)
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])

    def k(u, v):
        return (u @ v / 2 + 1) ** 3

    x, y = np.tile(a, (50, 1)), np.tile(b, (50, 1))
    mean, std = kid(x, y, subsets=3, subset_size=50)
    assert mean == pytest.approx(k(a, a) + k(b, b) - 2 * k(a, b)) and std == pytest.approx(0, abs=1e-12)


def test_kid_is_unbiased_where_a_plug_in_estimate_is_not():
    """Samples from one distribution: unbiased KID averages to 0, while keeping the diagonal terms
    (the biased estimate) would sit clearly above 0 at this small subset size."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    mean, std = kid(x, y, subsets=200, subset_size=50)
    assert abs(mean) < 3 * std / math.sqrt(200)
    m = 50
    xs, ys = x[:m], y[:m]
    biased = ((xs @ xs.T / 8 + 1) ** 3).mean() + ((ys @ ys.T / 8 + 1) ** 3).mean() - 2 * ((xs @ ys.T / 8 + 1) ** 3).mean()
    assert biased > 10 * abs(mean)


def test_coverage():
    one_class = torch.zeros(100, 10)
    one_class[:, 3] = 1
    assert coverage(one_class, 10) == pytest.approx(0.1)
    even = torch.eye(10).repeat(10, 1)
    assert coverage(even, 10) == pytest.approx(1.0)


def test_precision_recall_and_copying_on_known_sets():
    from ganforge.metrics.manifold import copying, kth_radius, nearest_distance, precision_recall

    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g)
    same = precision_recall(real, real.clone(), k=3)
    assert same == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(real, real + 100, k=3)
    assert far == {"precision": 0.0, "recall": 0.0}
    collapsed = precision_recall(real, real[:1].repeat(400, 1) + 1e-3 * torch.randn(400, 8, generator=g))
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05   # realistic but one image
    line = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert kth_radius(line, k=1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert nearest_distance(torch.tensor([[2.0], [10.0]]), line).tolist() == [1.0, 3.0]
    held = torch.randn(300, 8, generator=g)
    copies = copying(real[:300] + 1e-3, held, real)
    assert copies["copy_ratio"] < 0.01
    fresh = copying(torch.randn(300, 8, generator=g), held, real)
    assert 0.8 < fresh["copy_ratio"] < 1.25
