"""Frechet distance between Gaussians fitted to features, and the unbiased kernel distance (KID)."""

from __future__ import annotations

import numpy as np
import torch


def mean_cov(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is computed as tr((S1^(1/2) S2 S1^(1/2))^(1/2)), a symmetric PSD matrix with the
    same eigenvalues, so the result has no spurious imaginary part (the usual scipy sqrtm route can)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    s1h = _sqrt_psd(sigma1)
    eig = np.linalg.eigvalsh(s1h @ sigma2 @ s1h)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def kid(f1: torch.Tensor | np.ndarray, f2: torch.Tensor | np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception/Judge Distance: unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Returns (mean, std)."""
    x_all, y_all = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    d = x_all.shape[1]
    m = min(len(x_all), len(y_all), subset_size)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                    - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


def coverage(logits: torch.Tensor, num_classes: int) -> float:
    """How evenly samples spread over the classes: exp(entropy of the predicted-class histogram) / K.
    1.0 = every class equally often; 1/K = everything in one class."""
    counts = torch.bincount(logits.argmax(1), minlength=num_classes).double()
    p = counts / counts.sum()
    h = -(p[p > 0] * p[p > 0].log()).sum()
    return float(h.exp() / num_classes)
