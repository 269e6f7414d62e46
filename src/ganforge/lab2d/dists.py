"""The 2-D data of the lab: named distributions and one the user draws.

``ring`` and ``grid`` are the field's mode-collapse benchmarks (VEEGAN, PacGAN): 8 Gaussians evenly on
the unit circle with standard deviation 0.01, and 25 Gaussians at {-4, -2, 0, 2, 4}^2 with standard
deviation 0.05. Their modes are known, so ``metrics.mode_metrics`` can count what G captures.
"""

from __future__ import annotations

import math

import torch

from ganforge.errors import GanforgeError

MIN_DRAWN = 3  # points a drawn distribution needs


def ring_modes() -> torch.Tensor:
    a = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return torch.stack([a.cos(), a.sin()], 1)  # (8, 2)


def grid_modes() -> torch.Tensor:
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(v, v)  # (25, 2)


# name -> (description, modes or None, standard deviation of each mode, half-width of the view)
DISTS = {
    "ring": ("8 Gaussians on the unit circle, std 0.01", ring_modes, 0.01, 1.5),
    "grid": ("25 Gaussians at {-4..4 step 2}^2, std 0.05", grid_modes, 0.05, 5.5),
    "moons": ("two interleaving half circles", None, 0.05, 2.0),
    "spiral": ("a two-turn spiral", None, 0.04, 1.5),
    "line": ("a line segment with a little noise", None, 0.02, 1.5),
    "two-clusters": ("two Gaussian clusters of unequal size", None, 0.15, 2.0),
    "disjoint": ("four clusters far apart, on two scales", None, 0.05, 3.0),
    "drawn": ("points drawn on the page, each a small Gaussian", None, 0.05, 1.5),
    "points": ("points from a CSV file, each a small Gaussian (1% of the view)", None, 0.0, 1.5),
}
MAX_POINTS = 20_000  # a CSV keeps at most this many points (a seeded random choice of more)


def check_name(name: str) -> None:
    if name not in DISTS:
        raise GanforgeError(f"unknown distribution '{name}'; use one of {', '.join(DISTS)}")


def check_drawn(points, max_points: int = 100_000, max_coord: float = 1e6) -> torch.Tensor:
    """The user's points as a (n, 2) float32 tensor: a list of [x, y] pairs of finite numbers (not
    booleans, not text), at least ``MIN_DRAWN`` and at most ``max_points``, each within ``max_coord``."""
    shape = "drawn points must be a list of [x, y] pairs of numbers"
    if not isinstance(points, (list, tuple)):
        raise GanforgeError(shape)
    if len(points) > max_points:
        raise GanforgeError(f"a drawn distribution may hold at most {max_points} points, not {len(points)}")
    for p in points:
        if not (isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise GanforgeError(shape)
        if not all(math.isfinite(v) and abs(v) <= max_coord for v in p):
            raise GanforgeError(f"drawn points must be finite numbers within {max_coord:g} of the origin")
    if len(points) < MIN_DRAWN:
        raise GanforgeError(f"a drawn distribution needs at least {MIN_DRAWN} points, not {len(points)}; "
                            "click on the plane to add more")
    return torch.tensor(points, dtype=torch.float32).reshape(-1, 2)


MAX_MODES = 1000  # a drawn or CSV set of at most this many separate points is scored by its modes


def modes(name: str, drawn=None) -> tuple[torch.Tensor | None, float]:
    """The modes (k, 2) and their standard deviation, or None where they are not known. A drawn or CSV set
    of separate points (each more than 6 standard deviations from every other: no two overlap within the
    3 standard deviations the mode measures count) is a mixture of known modes like the ring and the grid."""
    _, fn, std, _ = DISTS[name]
    if fn is not None:
        return fn(), std
    if name not in ("drawn", "points") or drawn is None:
        return None, std
    pts = torch.unique(torch.as_tensor(drawn, dtype=torch.float32).reshape(-1, 2), dim=0)
    if name == "points":
        std = 0.01 * points_radius(pts)
    if not 2 <= len(pts) <= MAX_MODES:
        return None, std
    apart = (torch.cdist(pts, pts) + torch.eye(len(pts)) * 1e30).min()
    return (pts if apart > 6 * std else None), std


def view_radius(name: str, drawn=None) -> float:
    if name == "points":
        return points_radius(drawn)
    if name == "drawn":
        return max(1.0, float(torch.as_tensor(drawn, dtype=torch.float32).abs().max()) * 1.25)
    return DISTS[name][3]


def sample(name: str, n: int, generator: torch.Generator | None = None, drawn=None) -> torch.Tensor:
    """``n`` points (n, 2) float32 from distribution ``name`` (``drawn``: the user's points)."""
    check_name(name)
    g = generator
    noise = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    uniform = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    _, fn, std, _ = DISTS[name]
    if fn is not None:  # a mixture of equal Gaussians at known modes
        centers = fn()
        idx = torch.randint(0, len(centers), (n,), generator=g)
        return centers[idx] + std * noise(n, 2)
    if name == "moons":
        t = uniform(n) * math.pi
        upper = uniform(n) < 0.5
        x = torch.where(upper, t.cos(), 1 - t.cos())
        y = torch.where(upper, t.sin(), 0.5 - t.sin())
        return torch.stack([x - 0.5, y - 0.25], 1) + std * noise(n, 2)
    if name == "spiral":
        t = uniform(n).sqrt() * 4 * math.pi  # denser further out, so points spread evenly along it
        r = t / (4 * math.pi)
        return torch.stack([r * t.cos(), r * t.sin()], 1) + std * noise(n, 2)
    if name == "line":
        t = uniform(n) * 2 - 1
        return torch.stack([t, 0.5 * t], 1) + std * noise(n, 2)
    if name == "two-clusters":
        big = uniform(n) < 0.75
        centers = torch.where(big[:, None], torch.tensor([-0.8, -0.4]), torch.tensor([0.9, 0.8]))
        return centers + torch.where(big[:, None], std * 1.5, std) * noise(n, 2)
    if name == "disjoint":
        centers = torch.tensor([[-2.0, -2.0], [-1.6, -2.0], [2.0, 2.0], [2.0, -1.0]])
        return centers[torch.randint(0, 4, (n,), generator=g)] + std * noise(n, 2)
    # "drawn" or "points": a tensor was checked when it was made (a trainer keeps one), a list is checked now
    pts = drawn if isinstance(drawn, torch.Tensor) else check_drawn(drawn, MAX_POINTS)
    if name == "points":
        std = 0.01 * points_radius(pts)
    return pts[torch.randint(0, len(pts), (n,), generator=g)] + std * noise(n, 2)


def points_radius(pts) -> float:
    """Half the side of the view that shows these points with a margin."""
    p = torch.as_tensor(pts, dtype=torch.float32)
    return max(1e-3, float(p.abs().max()) * 1.25) if len(p) else 1.5


def parse_csv(text: str, seed: int = 0) -> tuple[list[list[float]], str]:
    """Points from CSV text: two numbers a line (commas, semicolons, tabs or spaces), a header line
    allowed; more than ``MAX_POINTS`` are thinned to a seeded random choice of that many. Returns the
    points and a line saying what was read. Anything else is a one-line error naming the line."""
    import re

    rows = []
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c for c in re.split(r"[,;\t ]+", line) if c]
        try:
            x, y = (float(c) for c in cells) if len(cells) == 2 else (None, None)
        except ValueError:
            x = y = None
        if x is None:
            if not rows and i == 1 and len(cells) == 2:
                continue  # a header such as "x,y"
            raise GanforgeError(f"line {i} of the CSV is not two numbers: '{line[:40]}'; a points file has an "
                                "x and a y on each line")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise GanforgeError(f"line {i} of the CSV holds {line[:40]!r}: coordinates must be finite numbers")
        rows.append([x, y])
    if len(rows) < MIN_DRAWN:
        raise GanforgeError(f"the CSV holds {len(rows)} point(s); a distribution needs at least {MIN_DRAWN}")
    total = len(rows)
    said = f"{total:,} points"
    if total > MAX_POINTS:
        g = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(rows), generator=g)[:MAX_POINTS].sort().values.tolist()
        rows = [rows[k] for k in keep]
        said = f"{MAX_POINTS:,} of its {total:,} points, chosen at random"
    return rows, said
