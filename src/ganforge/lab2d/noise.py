"""The lab's noise spaces: uniform on [-1, 1]^d (GAN Lab's), a standard normal, a fixed mixture of separate
Gaussians, a mixture whose means and spreads learn with G (DeLiGAN, Gurumurthy et al. 2017), and the
default, a mixture made from the data (after BourGAN, Xiao et al. 2018).

A continuous G maps a connected noise space to a connected set, so between two separate pieces of the data
it must put some points (the bridges a learner sees on the ring and the grid). With a noise whose parts
lie apart, G can send each part to a piece and leave the space between them empty; but a fixed layout of
small parts fails wherever the data is not that layout: on a continuous shape (a spiral, the moons) each
part becomes a bead, and 25 parts cannot serve 49 modes. The data noise takes its parts from the data:
the points fall into separate pieces (single linkage at 3 standard deviations of the data's noise), and
each piece gets one Gaussian, placed, shaped and weighted like it, in coordinates where the data spans
[-1, 1]^d. Data in one piece gets one piece of noise, GAN Lab's uniform square, so on a continuous shape
the default is exactly GAN Lab's choice. So does data whose pieces are mostly strokes rather than blobs
(two moons, two circles, letters): one Gaussian cannot be bent into a banana or a ring as well as the square
can (measured: moons recall 0.65 against the square's 0.71, circles 0.69 against 0.81). A piece counts as
a blob when its points' Mahalanobis distances follow the chi-squared law a Gaussian gives them
(``blob_shaped``). (BourGAN embeds a sample of the data into the noise space; here
both are the plane, so the embedding is the data's own layout.)

Measured (benchmarks/lab_suite.py): learning the spreads (``learned``) lets G shrink them to nothing, and
recall with them (0.00-0.05 on the ring and the grids), so the default does not learn.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

NOISES = ("uniform", "normal", "mixture", "learned", "data")


def layout(k: int, dim: int) -> torch.Tensor:
    """``k`` component means spread evenly over [-1, 1]^dim: (k, dim)."""
    if dim == 1:
        return torch.linspace(-1, 1, k)[:, None] if k > 1 else torch.zeros(1, 1)
    side = math.ceil(math.sqrt(k))
    v = torch.linspace(-1, 1, side) if side > 1 else torch.zeros(1)
    cells = torch.cartesian_prod(v, v)                       # (side^2, 2), row by row
    order = torch.linspace(0, len(cells) - 1, k).round().long()  # k cells spread over the grid
    return cells[order]


class Noise(nn.Module):
    """Draws noise of one kind; ``sample`` also gives each point's component (0 unless a mixture).

    A mixture's component k is mean_k + scale_k @ eps (eps standard normal), drawn with probability
    weight_k. ``mixture``: ``components`` equal Gaussians of standard deviation ``std`` on an even layout.
    ``learned``: the same at the start, with means and scales that G's optimizer moves with G (the
    reparameterisation lets G's loss reach them). ``data``: one Gaussian per separate piece of ``data``
    ((points, their noise's standard deviation); ``data_layout``); data in one piece, or in pieces mostly
    not blob-shaped, gets GAN Lab's uniform square (``why`` says which)."""

    def __init__(self, kind: str, dim: int, components: int = 1, std: float = 0.05, data=None):
        super().__init__()
        self.kind, self.dim, self.std = kind, dim, std
        self.why = None  # noise=data that fell back to the square: "one piece" or "strokes"
        means = scales = weights = None
        if kind in ("mixture", "learned"):
            means = layout(components, dim)
            scales = torch.eye(dim).expand(components, dim, dim) * std
            weights = torch.full((components,), 1 / components)
        if kind == "data":
            means, scales, weights, blobs = data_layout(data[0], data[1], dim)
            if len(means) == 1:
                self.kind, means, self.why = "uniform", None, "one piece"  # nothing to keep apart: GAN Lab's square
            elif not mostly_blobs(blobs, weights):
                self.kind, means, self.why = "uniform", None, "strokes"  # pieces a Gaussian cannot be shaped like
        if kind == "learned":
            self.means, self.scales = nn.Parameter(means.clone()), nn.Parameter(scales.clone())
        else:
            self.register_buffer("means", means)
            self.register_buffer("scales", None if scales is None else scales.clone())
        self.register_buffer("weights", weights)

    @property
    def mixture(self) -> bool:
        return self.means is not None

    @property
    def components(self) -> int:
        return len(self.means) if self.mixture else 1

    def stds(self) -> torch.Tensor:
        """Each component's spread along each axis (k, dim)."""
        return self.scales.norm(dim=2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (n, dim), component (n,)); a learned mixture's z carries the gradient to its parameters."""
        if self.kind == "uniform":
            return torch.rand(n, self.dim, generator=generator) * 2 - 1, torch.zeros(n, dtype=torch.long)
        if self.kind == "normal":
            return torch.randn(n, self.dim, generator=generator), torch.zeros(n, dtype=torch.long)
        if self.kind == "mixture":  # equal weights: as drawn before weights existed, so old seeds still hold
            comp = torch.randint(0, len(self.means), (n,), generator=generator)
        else:
            comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        return self.means[comp] + (self.scales[comp] @ eps[:, :, None])[:, :, 0], comp

    def __call__(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(n, generator)[0]

    @torch.no_grad()
    def grid(self) -> tuple[torch.Tensor, list[int]]:
        """Points whose image under G draws the manifold, and their shape: one grid over the noise space
        ([rows, cols]), or one small grid per component, 2 standard deviations each way ([components, rows, cols])."""
        if self.mixture:
            v = torch.linspace(-2, 2, 5)
            if self.dim == 1:
                pts = (self.means[:, None, :] + v[None, :, None] * self.scales[:, None, :, 0]).reshape(-1, 1)
                return pts, [len(self.means), 1, 5]
            a, b = torch.meshgrid(v, v, indexing="ij")
            patch = torch.stack([a.flatten(), b.flatten()], 1)   # (25, 2)
            pts = self.means[:, None, :] + torch.einsum("kij,pj->kpi", self.scales, patch)
            return pts.reshape(-1, 2), [len(self.means), 5, 5]
        lo, hi = (-1.0, 1.0) if self.kind == "uniform" else (-2.0, 2.0)
        if self.dim == 1:
            return torch.linspace(lo, hi, 101)[:, None], [1, 101]
        v = torch.linspace(lo, hi, 21)
        a, b = torch.meshgrid(v, v, indexing="ij")
        return torch.stack([a.flatten(), b.flatten()], 1), [21, 21]

    @torch.no_grad()
    def extent(self) -> float:
        """Half the side of the square the noise view shows."""
        if self.kind == "normal":
            return 3.0
        if self.kind == "uniform":
            return 1.05
        return float((self.means.abs() + 3 * self.stds()).max().clamp(min=1.0))


MAX_PIECES = 256


def pieces(x: torch.Tensor, std: float, apart: float = 3.0, least: int = 4) -> torch.Tensor:
    """Each point's piece (n,): points closer than ``apart`` standard deviations are linked, and a piece is
    what links reach (single linkage); pieces of fewer than ``least`` points join the nearest larger one."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    d = torch.cdist(x, x)
    while True:
        k, label = connected_components(csr_matrix((d < apart * std).numpy()), directed=False)
        label = torch.as_tensor(label)
        counts = torch.bincount(label, minlength=k)
        big = counts >= least
        if int(big.sum()) <= MAX_PIECES:
            break
        apart *= 1.5
    if not big.all():
        small = ~big[label]
        inf = torch.full_like(d, float("inf"))
        to_big = torch.where(big[label][None, :], d, inf)[small]      # distances from small-piece points to big ones
        label[small] = label[to_big.argmin(1)]
    _, label = torch.unique(label, return_inverse=True)
    return label


def noise_coordinates(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Points ``x`` (n, 2) in coordinates where they, centred, span [-1, 1]^dim (dim 1: along their main
    axis), and the map back: (a (2, dim), b (2,)) with x = z @ a.T + b."""
    mid = (x.max(0).values + x.min(0).values) / 2
    x = x - mid
    axes = torch.eye(2)
    if dim == 1:
        _, _, v = torch.linalg.svd(x - x.mean(0), full_matrices=False)
        axes = v[:1]                                         # along the main axis
    x = x @ axes.T
    size = x.abs().max().clamp(min=1e-8)
    return x / size, (axes.T * size, mid)


def data_layout(x: torch.Tensor, std: float, dim: int) -> tuple:
    """One Gaussian per separate piece of the data points ``x``, in coordinates where the data, centred,
    spans [-1, 1]^dim (dim 1: along its main axis): means (k, dim) at the pieces' centres, scales (k, dim,
    dim) from their covariances (a Cholesky factor), weights (k,) their shares of the points, and which of
    them are blob-shaped (k,) (``blob_shaped``)."""
    x = x.float()
    label = pieces(x, std)
    k = int(label.max()) + 1
    count = torch.bincount(label, minlength=k).float()
    x, _ = noise_coordinates(x, dim)
    means = torch.zeros(k, dim).index_add_(0, label, x) / count[:, None]
    d = x - means[label]
    cov = torch.zeros(k, dim, dim).index_add_(0, label, d[:, :, None] * d[:, None, :]) / count[:, None, None]
    cov = cov + torch.eye(dim) * 1e-6
    return means, torch.linalg.cholesky(cov), count / len(x), blob_shaped(d, label, cov)


def mostly_blobs(blobs: torch.Tensor, weights: torch.Tensor) -> bool:
    """Whether more than half the pieces are blob-shaped, counting only pieces of at least a tenth of an
    even share (a few stray points of a blob's tail are not a piece that decides); half or fewer: the square."""
    counted = weights >= 0.1 / len(weights)
    return 2 * int(blobs[counted].sum()) > int(counted.sum())


BLOB_KS = 3.0  # sqrt(n) x the Kolmogorov-Smirnov distance above which a piece is not one Gaussian


def blob_shaped(d: torch.Tensor, label: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Which pieces look like one Gaussian (k,): the points' offsets ``d`` from their piece's mean, under
    the piece's covariance, give squared Mahalanobis distances that a Gaussian in ``dim`` dimensions
    draws from a chi-squared law (in 2-D, half of them are Exp(1)). The Kolmogorov-Smirnov distance to
    that law times sqrt(n) stays near 1 for a Gaussian piece of any size (at most 1.2 on the suite's tuning
    half, benchmarks/lab_suite.py) and is 15 or more for a stroke (a spiral arm, a figure of eight)."""
    from scipy.stats import chi2

    dim = d.shape[1]
    m2 = torch.einsum("ni,nij,nj->n", d, torch.linalg.inv(cov)[label], d).double()
    shaped = []
    for k in range(len(cov)):
        v = m2[label == k].sort().values
        n = len(v)
        law = torch.as_tensor(chi2.cdf(v.numpy(), dim))
        hi = torch.arange(1, n + 1, dtype=torch.float64) / n
        ks = float(torch.maximum((hi - law).abs(), (hi - 1 / n - law).abs()).max())
        shaped.append(ks * math.sqrt(n) <= BLOB_KS)
    return torch.tensor(shaped)
