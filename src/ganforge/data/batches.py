"""Shuffled batches on the training device, normalised to [-1, 1], resumable mid-epoch.

In-memory sets live on the device as uint8 once; a batch is one gather and one fused scale.
Streamed sets decode in DataLoader workers. Either way the order comes from one permutation per
epoch drawn from a private generator, and (epoch, position, permutation, generator) is the state
a checkpoint stores, so a resumed run sees exactly the batches an unbroken run would.

With ``world`` > 1 (several processes), each global batch of ``batch_size * world`` indices is
split by rank, so N processes see together what one process with the global batch would.
"""

from __future__ import annotations

import torch

from ganforge.data import ImageData, folder


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return x.float().mul_(1.0 / 127.5).sub_(1.0)


class Batches:
    def __init__(self, data: ImageData, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
                 rank: int = 0, world: int = 1, workers: int = 2):
        self.data, self.batch_size, self.device = data, batch_size, torch.device(device)
        self.rank, self.world, self.workers = rank, world, workers
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch, self.pos, self.perm = 0, 0, None
        self._stream_iter = None
        self.images = data.images.to(self.device) if data.images is not None else None
        self.labels = data.labels.to(self.device) if data.labels is not None else None

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data) // (self.batch_size * self.world)

    def _new_epoch(self) -> None:
        if self.perm is not None:
            self.epoch += 1
        self.perm = torch.randperm(len(self.data), generator=self.gen)
        self.pos = 0
        self._stream_iter = None

    def _indices(self, pos: int) -> torch.Tensor:
        g = self.batch_size * self.world
        start = pos * g + self.rank * self.batch_size
        return self.perm[start:start + self.batch_size]

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch: images float (B, C, H, W) in [-1, 1] on the device, labels (B,) or None."""
        while True:
            if self.perm is None or self.pos >= self.steps_per_epoch:
                self._new_epoch()
            if self.images is not None:
                idx = self._indices(self.pos).to(self.device)
                self.pos += 1
                x = to_unit_range(self.images.index_select(0, idx))
                return x, (self.labels.index_select(0, idx) if self.labels is not None else None)
            batch = self._next_streamed()
            self.pos += 1
            if batch is not None:  # None: every file of this batch was unreadable; take the next
                x, y = batch
                y = y.to(self.device) if self.data.labels is not None else None
                return to_unit_range(x.to(self.device, non_blocking=True)), y

    def _next_streamed(self):
        if self._stream_iter is None:  # batches from the current position to the end of the epoch
            sampler = [self._indices(p).tolist() for p in range(self.pos, self.steps_per_epoch)]
            loader = torch.utils.data.DataLoader(self.data.stream, batch_sampler=sampler, num_workers=self.workers,
                                                 collate_fn=folder.collate_stream)
            self._stream_iter = iter(loader)
        return next(self._stream_iter)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "perm": self.perm, "gen": self.gen.get_state()}

    def load_state_dict(self, s: dict) -> None:
        self.epoch, self.pos, self.perm = s["epoch"], s["pos"], s["perm"]
        self.gen.set_state(s["gen"])
        self._stream_iter = None
