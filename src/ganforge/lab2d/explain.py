"""What went wrong, in words a learner reads: at the end of a lab run (headless summary, metrics.json, the
page's note), which modes G left empty and which of its noise pieces it stranded between modes.

A mode is *empty* when under a fifth of its fair share of G's points lie within 3 standard deviations of it
(a mode that a few stray points touch is still missed by eye). A noise piece is *stranded* when most of the
points G makes from it lie farther than that from every mode: *beside* a mode when their middle is within a
quarter of the way to the next mode, else *between* the two modes nearest it. Modes are numbered from 1 in
the order the data lists them (the ring: counter-clockwise from the right), and named with where they are."""

from __future__ import annotations

import torch

NEAR = 3.0      # standard deviations: a point this close to a mode is on it (the high-quality measure's)
FAIR = 0.2      # a mode with less than this share of an even split of G's points is empty
SHOWN = 6       # modes named one by one before "and N more"


def _where(c: torch.Tensor) -> str:
    return f"({float(c[0]):.2f}, {float(c[1]):.2f})"


def _modes(idx: list[int], centers: torch.Tensor) -> str:
    named = [f"{i + 1} at {_where(centers[i])}" for i in idx[:SHOWN]]
    more = f" and {len(idx) - SHOWN} more" if len(idx) > SHOWN else ""
    return ", ".join(named) + more


@torch.no_grad()
def explain(points: torch.Tensor, piece: torch.Tensor | None, centers: torch.Tensor, std: float) -> dict:
    """``points`` (n, 2) that G made, ``piece`` (n,) the noise piece each came from (None: one piece),
    ``centers`` (K, 2) the modes. Returns {"empty": [mode numbers], "stranded": [{"piece", "between" or "beside"}],
    "lines": [sentences]}; no lines when every mode is covered and no piece is stranded."""
    points, centers = points.float(), centers.float()
    d = torch.cdist(points, centers)                                   # (n, K)
    dist, nearest = d.min(1)
    on = dist <= NEAR * std
    counts = torch.bincount(nearest[on], minlength=len(centers)).float()
    empty = [int(i) for i in (counts < FAIR * len(points) / len(centers)).nonzero().flatten()]
    lines, stranded = [], []
    if empty:
        what = "mode" if len(empty) == 1 else f"{len(empty)} of {len(centers)} modes"
        lines.append(f"G left {what} empty: {_modes(empty, centers)}")
    if piece is not None and int(piece.max()) > 0:
        for k in range(int(piece.max()) + 1):
            mine = piece == k
            if int(mine.sum()) < 10 or on[mine].float().mean() >= 0.5:
                continue
            middle = points[mine].mean(0)
            far = torch.cdist(middle[None], centers)[0]
            near = far.argsort()[:2].tolist()
            gap = float(torch.dist(centers[near[0]], centers[near[1]])) if len(near) == 2 else float("inf")
            if float(far[near[0]]) < gap / 4:  # much nearer one mode than the next: beside it, not between
                stranded.append({"piece": k + 1, "beside": near[0] + 1})
                lines.append(f"G's noise piece {k + 1} sits beside mode {near[0] + 1}, "
                             f"{float(far[near[0]]) / std:.0f} standard deviations off it")
            else:
                stranded.append({"piece": k + 1, "between": [near[0] + 1, near[1] + 1]})
                lines.append(f"G's noise piece {k + 1} sits between modes {near[0] + 1} and {near[1] + 1}")
    if len(lines) > SHOWN + 1:  # the empty modes, then a few pieces: the rest is the same story
        lines = lines[:SHOWN + 1] + [f"and {len(lines) - SHOWN - 1} more pieces off the data"]
    return {"empty": [i + 1 for i in empty], "stranded": stranded, "lines": lines}
