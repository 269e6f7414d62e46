"""Differentiable augmentation of everything D sees, and ADA's adaptive probability.

With a few hundred images D memorises the training set and its verdicts stop teaching G. Showing
D only augmented images, real and fake alike, in D's phase and in G's phase, keeps it from
memorising while G still learns the un-augmented distribution: every operation here is
differentiable in the images, so G's gradient passes through it (DiffAugment, Zhao et al. 2020).
The augmentations do not leak into G's samples because D never sees an un-augmented image that
it could prefer.

``ada`` applies each operation to each image with probability ``p`` and moves ``p`` so that the
share of real images D scores as real, E[sign(D(x))], stays at a target (0.6 in StyleGAN2-ADA,
Karras et al. 2020): an overfitting D pushes that share up, and ``p`` with it.

Images are (B, C, H, W) in [-1, 1]. Randomness comes from torch's global generator on the images'
device, whose state every checkpoint stores, so a resumed run augments exactly as an unbroken one.
"""

from __future__ import annotations

import torch

# policy name -> its operations, in order: DiffAugment's three (names and strengths), then StyleGAN2-ADA's
# geometric ones (``xflip``, ``rotate90``, ``xint``, ``scale``) and its colour ones (``adacolor``)
POLICIES = ("color", "translation", "cutout", "xflip", "rotate90", "xint", "scale", "adacolor")
TRANSLATION = 1 / 8   # largest shift, as a share of the side
CUTOUT = 1 / 2        # side of the square cut out, as a share of the side
XINT = 1 / 8          # xint: largest integer shift, as a share of the side (StyleGAN2-ADA's xint_max)
SCALE_STD = 0.2       # scale: log2 of the isotropic factor is normal with this std (StyleGAN2-ADA's)
BRIGHTNESS_STD = 0.2  # adacolor: brightness offset std (on [-1, 1] images: twice StyleGAN2-ADA's on [0, 1])
CONTRAST_STD = 0.5    # adacolor: log2 of the contrast factor's std
SATURATION_STD = 1.0  # adacolor: log2 of the saturation factor's std


def parse_policy(spec: str) -> list[str]:
    """'translation,cutout,color' -> its names; unknown names are an error that lists the known ones."""
    from ganforge.errors import GanforgeError

    names = [s.strip() for s in str(spec).split(",") if s.strip()]
    bad = [n for n in names if n not in POLICIES]
    if bad or not names:
        what = f"unknown augmentation '{bad[0]}'" if bad else "train.augment_policy is empty"
        raise GanforgeError(f"{what}; train.augment_policy is a comma-separated list of {', '.join(POLICIES)}")
    return names


def _chosen(x: torch.Tensor, p: float) -> torch.Tensor:
    """(B, 1, 1, 1) float: 1 for the images this operation applies to (each with probability p)."""
    if p >= 1:
        return torch.ones(len(x), 1, 1, 1, device=x.device, dtype=x.dtype)
    return (torch.rand(len(x), 1, 1, 1, device=x.device) < p).to(x.dtype)


def brightness(x: torch.Tensor, p: float) -> torch.Tensor:
    return x + (torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * _chosen(x, p)


def saturation(x: torch.Tensor, p: float) -> torch.Tensor:
    if x.shape[1] == 1:  # gray images have no saturation; draw anyway so RNG use does not depend on C
        torch.rand(len(x), device=x.device)
        return x
    mean = x.mean(1, keepdim=True)
    f = torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype) * 2
    return (x - mean) * (1 + (f - 1) * _chosen(x, p)) + mean


def contrast(x: torch.Tensor, p: float) -> torch.Tensor:
    mean = x.mean((1, 2, 3), keepdim=True)
    f = torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    return (x - mean) * (1 + (f - 1) * _chosen(x, p)) + mean


def translation(x: torch.Tensor, p: float) -> torch.Tensor:
    """Shift each image by up to 1/8 of its side in x and y, filling with zeros (mid-gray)."""
    b, c, h, w = x.shape
    sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    on = _chosen(x, p).view(b, 1, 1).long()
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device) * on
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device) * on
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    ys = (gy.unsqueeze(0) + dy).clamp(-1, h)   # (B, H, W): source row, -1 or h = the zero border
    xs = (gx.unsqueeze(0) + dx).clamp(-1, w)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # (B, C, H + 2, W + 2)
    flat = ((ys + 1) * (w + 2) + (xs + 1)).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, flat).view(b, c, h, w)


def cutout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero (mid-gray) a square of half the side at a random place in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    top, left = cy - ch // 2, cx - cw // 2
    inside = (gy >= top) & (gy < top + ch) & (gx >= left) & (gx < left + cw)   # (B, H, W)
    keep = 1 - inside.unsqueeze(1).to(x.dtype) * _chosen(x, p)
    return x * keep


# ---- StyleGAN2-ADA's operations (Karras et al. 2020, appendix B): each applied with probability p, so that
# for p < 1 the untouched image stays the most likely outcome and D can still tell G's images from rotated,
# flipped or shifted ones (non-leaking); all of them move or mix pixels, so gradients pass to G.
def _pick(x: torch.Tensor, p: float) -> torch.Tensor:
    """(B,) bool: the images an operation applies to. Always draws, so RNG use does not depend on p."""
    return torch.rand(len(x), device=x.device) < p


def xflip(x: torch.Tensor, p: float) -> torch.Tensor:
    """Mirror left-right or not, at even odds (StyleGAN2-ADA's: an image it picks comes out mirrored half
    the time)."""
    on = _pick(x, p) & (torch.rand(len(x), device=x.device) < 0.5)
    return torch.where(on.view(-1, 1, 1, 1), x.flip(3), x)


def rotate90(x: torch.Tensor, p: float) -> torch.Tensor:
    """Rotate by 0, 90, 180 or 270 degrees, each a quarter of the chosen images (square images)."""
    on = _pick(x, p)
    k = torch.randint(0, 4, (len(x),), device=x.device) * on
    turns = torch.stack([torch.rot90(x, r, (2, 3)) for r in range(4)])  # (4, B, C, H, W)
    return turns[k, torch.arange(len(x), device=x.device)]


def xint(x: torch.Tensor, p: float) -> torch.Tensor:
    """Shift by a whole number of pixels, up to 1/8 of the side, filling from the mirrored edge (no border
    for D to spot, unlike ``translation``'s gray)."""
    b, c, h, w = x.shape
    s = min(max(1, int(min(h, w) * XINT + 0.5)), min(h, w) - 1)  # reflection needs a pad under the side
    on = _pick(x, p).view(b, 1, 1).long()
    dy = torch.randint(-s, s + 1, (b, 1, 1), device=x.device) * on
    dx = torch.randint(-s, s + 1, (b, 1, 1), device=x.device) * on
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    padded = torch.nn.functional.pad(x, (s, s, s, s), mode="reflect")
    ys, xs = gy.unsqueeze(0) - dy + s, gx.unsqueeze(0) - dx + s   # (B, H, W) rows and columns in the padded image
    flat = (ys * (w + 2 * s) + xs).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, flat).view(b, c, h, w)


def scale(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zoom in or out about the centre by 2^N(0, 0.2^2), bilinear, mirrored beyond the edges."""
    b = len(x)
    on = _pick(x, p)
    f = torch.exp2(torch.randn(b, device=x.device) * SCALE_STD)
    f = torch.where(on, f, torch.ones_like(f)).to(x.dtype)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / f   # output pixel -> input position: shrinking the grid enlarges
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return torch.where(on.view(-1, 1, 1, 1), out, x)


def adacolor(x: torch.Tensor, p: float) -> torch.Tensor:
    """StyleGAN2-ADA's brightness, contrast and saturation, each with probability p (an image none of them
    picks comes out exactly as it went in)."""
    shape = (len(x), 1, 1, 1)
    on = _pick(x, p).view(shape)
    x = torch.where(on, x + torch.randn(shape, device=x.device, dtype=x.dtype) * BRIGHTNESS_STD, x)
    on = _pick(x, p).view(shape)
    f = torch.exp2(torch.randn(shape, device=x.device, dtype=x.dtype) * CONTRAST_STD)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = torch.where(on, (x - mean) * f + mean, x)
    on = _pick(x, p).view(shape)
    f = torch.exp2(torch.randn(shape, device=x.device, dtype=x.dtype) * SATURATION_STD)
    if x.shape[1] == 1:  # gray images have no saturation (the draws above keep RNG use the same)
        return x
    luma = x.mean(1, keepdim=True)
    return torch.where(on, (x - luma) * f + luma, x)


OPS = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,),
       "xflip": (xflip,), "rotate90": (rotate90,), "xint": (xint,), "scale": (scale,), "adacolor": (adacolor,)}


def augment(x: torch.Tensor, policy: list[str], p: float = 1.0) -> torch.Tensor:
    """Apply each operation of ``policy`` to each image with probability ``p`` (1: all of them)."""
    if p <= 0:
        return x
    for name in policy:
        for op in OPS[name]:
            x = op(x, p)
    return x


class AdaptiveP:
    """ADA's controller: every ``interval`` steps, p moves by (images seen since) / (speed_kimg * 1000)
    towards more augmentation when the overfitting signal is above ``target``, else towards less.

    Two signals, from Karras et al. 2020 (section 3), both 0 with no overfitting and 1 with complete:
    ``rt`` = E[sign(D(train) - threshold)], D's confidence on its training images, and ``rv`` =
    (E[D(train)] - E[D(held out)]) / (E[D(train)] - E[D(generated)]), how much better D scores the
    images it trains on than real images it has never seen, which needs a held-out slice
    (``observe_heldout``). ``state_dict`` holds p and what was gathered since the last move, so
    resuming is exact."""

    SUMS = ("sign", "real", "fake", "heldout")  # running sums of D's outputs since the last move

    def __init__(self, target: float = 0.6, speed_kimg: float = 100.0, interval: int = 4, p: float = 0.0,
                 signal: str = "rt"):
        if signal not in ("rt", "rv"):
            raise ValueError(f"unknown ADA signal {signal!r}")
        self.target, self.speed_kimg, self.interval, self.signal = target, speed_kimg, interval, signal
        self.p, self.r = p, None  # r: the signal at the last move
        self._reset()

    def _reset(self) -> None:
        self.sums = None  # a tensor on the device until ``update`` reads it: no sync per step
        self.counts = [0, 0, 0]  # real, fake, held-out outputs gathered
        self.images = 0

    def _add(self, i: int, value: torch.Tensor) -> None:
        if self.sums is None:
            self.sums = torch.zeros(len(self.SUMS), device=value.device)
        elif self.sums.device != value.device:  # resumed: the sums were read back on the CPU
            self.sums = self.sums.to(value.device)
        self.sums[i] += value

    def observe(self, real_logits: torch.Tensor, threshold: float = 0.0,
                fake_logits: torch.Tensor | None = None) -> None:
        """Gather D's outputs on (augmented) training images, and on generated ones for ``rv``."""
        r = real_logits.detach().float()
        self._add(0, torch.sign(r - threshold).sum())
        self._add(1, r.sum())
        self.counts[0] += len(r)
        if fake_logits is not None:
            self._add(2, fake_logits.detach().float().sum())
            self.counts[1] += len(fake_logits)

    def observe_heldout(self, logits: torch.Tensor) -> None:
        """Gather D's outputs on (augmented) held-out real images."""
        self._add(3, logits.detach().float().sum())
        self.counts[2] += len(logits)

    def due(self, step: int) -> bool:
        """Whether ``update(step, ...)`` will move p (held-out images are scored just before)."""
        return step % self.interval == 0

    def update(self, step: int, images: int, world=None, device="cpu") -> None:
        """Called once per training step with the images D saw in it (all ranks); with several processes
        the sums are added over them (on ``device``, the one the process group communicates on)."""
        self.images += images
        if not self.due(step) or self.counts[0] == 0:
            return
        stats = torch.cat([self.sums.double().cpu(), torch.tensor(self.counts, dtype=torch.float64)])
        if world is not None and world.active:
            import torch.distributed as dist

            stats = stats.to(device)
            dist.all_reduce(stats)
            stats = stats.cpu()
        r = self._signal(*stats.tolist())
        if r is not None:
            self.r = r
            step_size = self.images / (self.speed_kimg * 1000)
            self.p = min(1.0, max(0.0, self.p + (step_size if r > self.target else -step_size)))
        self._reset()

    def _signal(self, sign, real, fake, heldout, n_real, n_fake, n_heldout) -> float | None:
        if self.signal == "rt":
            return sign / n_real
        if not n_fake or not n_heldout:
            return None
        m_real, m_fake, m_held = real / n_real, fake / n_fake, heldout / n_heldout
        gap = m_real - m_fake
        if gap <= 1e-6:  # D cannot yet tell its training images from generated ones: nothing to overfit
            return 0.0
        return (m_real - m_held) / gap

    def state_dict(self) -> dict:
        sums = self.sums.tolist() if self.sums is not None else [0.0] * len(self.SUMS)
        return {"p": self.p, "r": self.r, "signal": self.signal, "sums": sums, "counts": list(self.counts),
                "images": self.images}

    def load_state_dict(self, s: dict) -> None:
        self.p, self.images, self.r = s["p"], s["images"], s.get("r")
        if "sums" in s:
            sums, self.counts = s["sums"], list(s["counts"])
        else:  # a checkpoint from before rv: the sign sum and its count only
            sums, self.counts = [s["sign_sum"], 0.0, 0.0, 0.0], [s["count"], 0, 0]
        self.sums = torch.tensor(sums, dtype=torch.float32) if any(self.counts) else None
