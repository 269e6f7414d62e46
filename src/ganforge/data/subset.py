"""``data.limit``: a fixed, seeded, class-balanced subset of a dataset, for small-data runs that repeat.

The same (dataset, limit, seed) always gives the same images, whatever the training seed, so runs
that differ in their recipe train on the same pictures. With labels each class gets an equal share
(the first ``limit % K`` classes in a seeded order get one more; a class with too few images gives
all it has and the rest is filled from the others); without labels it is a seeded random choice.
"""

from __future__ import annotations

import torch

from ganforge.errors import GanforgeError


def pick(n: int, limit: int, labels: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Sorted int64 indices of ``limit`` of ``n`` items."""
    if limit < 1:
        raise GanforgeError(f"data.limit must be at least 1, not {limit}")
    if limit > n:
        raise GanforgeError(f"data.limit={limit} is more than the {n} images there are; "
                            f"use data.limit={n} or less, or drop data.limit")
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        return torch.randperm(n, generator=g)[:limit].sort().values
    labels = torch.as_tensor(labels, dtype=torch.int64)
    classes = labels.unique()
    order = classes[torch.randperm(len(classes), generator=g)]
    pools = {int(c): torch.nonzero(labels == c).flatten() for c in order}
    pools = {c: idx[torch.randperm(len(idx), generator=g)] for c, idx in pools.items()}
    share, extra = divmod(limit, len(order))
    want = {int(c): share + (i < extra) for i, c in enumerate(order)}
    taken = {c: min(want[c], len(pools[c])) for c in want}
    short = limit - sum(taken.values())
    while short > 0:  # classes with images left fill in for those that ran out, in the same order
        for c in want:
            if short and taken[c] < len(pools[c]):
                taken[c] += 1
                short -= 1
    chosen = torch.cat([pools[c][:taken[c]] for c in want])
    return chosen.sort().values
