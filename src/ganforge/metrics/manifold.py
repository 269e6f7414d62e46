"""Precision, recall and copying in a feature space (any network's features, e.g. the judge's).

Precision and recall as Kynkäänniemi et al. (2019) define them: each set's manifold is the union of
balls around its points reaching to their k-th nearest neighbour; precision is the share of
generated points inside the real manifold (are samples realistic?), recall the share of real points
inside the generated manifold (is the data's variety covered?).

Copying: the distance from each point to its nearest training image. Generated images that sit much
closer to the training set than held-out real images do are copies, not new images; the ratio of
the two medians says how much (about 1: no more copying than new real images show; well below 1:
G reproduces its training images).
"""

from __future__ import annotations

import torch


def _as_tensor(x) -> torch.Tensor:
    return torch.as_tensor(x).double()


def nearest_distance(query, reference, chunk: int = 2048) -> torch.Tensor:
    """(N,) Euclidean distance from each row of ``query`` to its nearest row of ``reference``."""
    q, r = _as_tensor(query), _as_tensor(reference)
    return torch.cat([torch.cdist(q[i:i + chunk], r).min(1).values for i in range(0, len(q), chunk)])


def kth_radius(points, k: int = 3, chunk: int = 2048) -> torch.Tensor:
    """(N,) distance from each point to its k-th nearest other point."""
    p = _as_tensor(points)
    out = []
    for i in range(0, len(p), chunk):
        d = torch.cdist(p[i:i + chunk], p)
        out.append(d.kthvalue(k + 1, dim=1).values)   # the 1st smallest is the point itself (0)
    return torch.cat(out)


def _inside(query, points, radii, chunk: int = 2048) -> torch.Tensor:
    q, p = _as_tensor(query), _as_tensor(points)
    return torch.cat([(torch.cdist(q[i:i + chunk], p) <= radii).any(1) for i in range(0, len(q), chunk)])


def precision_recall(real, fake, k: int = 3) -> dict:
    real, fake = _as_tensor(real), _as_tensor(fake)
    precision = float(_inside(fake, real, kth_radius(real, k)).double().mean())
    recall = float(_inside(real, fake, kth_radius(fake, k)).double().mean())
    return {"precision": precision, "recall": recall}


def copying(generated, held_out, train) -> dict:
    """Median nearest-training-image distance of generated and of held-out real images, and their ratio."""
    g = float(nearest_distance(generated, train).median())
    h = float(nearest_distance(held_out, train).median())
    return {"nn_train_generated": g, "nn_train_held_out": h, "copy_ratio": g / h if h > 0 else float("nan")}
