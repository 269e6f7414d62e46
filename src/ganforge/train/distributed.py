"""Several processes (``torchrun --nproc-per-node N -m ganforge train ...``): gloo on CPU, NCCL on GPU.

``train.batch_size`` stays the global batch: each rank takes its slice of every global batch (see
``data/batches.py``) and its slice of the global noise, so N ranks together compute what one
process with the same batch would (exactly so without BatchNorm, or with ``train.sync_bn``). G and D
are wrapped in DistributedDataParallel separately, since wrapping the whole GAN would break the
alternating updates; only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ganforge.errors import GanforgeError


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def setup(device_name: str) -> tuple[World, str]:
    """Join the process group when started by torchrun; returns the world and the device to use."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device_name
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:  # one GPU per process; every rank checks before joining, so all stop with one reason
        per_node, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", local + 1)), torch.cuda.device_count()
        if per_node > gpus:
            raise GanforgeError(f"torchrun started {per_node} processes on this machine but {gpus} GPU"
                                f"{'s are' if gpus != 1 else ' is'} visible; use --nproc-per-node {gpus} "
                                "(one process per GPU), or train.device=cpu to train on CPU processes")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        return World(rank, size, local), f"cuda:{local}"
    return World(rank, size, local), "cpu" if device_name == "auto" else device_name


def check_batch(batch_size: int, world: World) -> int:
    if batch_size % world.size:
        raise GanforgeError(f"train.batch_size {batch_size} does not split evenly over {world.size} processes; "
                            f"use a multiple of {world.size}")
    return batch_size // world.size


def any_true(flag: torch.Tensor, world: World) -> torch.Tensor:
    """Largest value of ``flag`` over all ranks (used so every rank stops on a NaN together)."""
    if world.active:
        flag = flag.clone()
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return flag


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def shutdown(world: World, finished: bool = True) -> None:
    """Leave the process group once every rank is done, and let gloo's worker threads finish.

    A gloo worker thread frees each finished collective's tensors itself, and that needs the GIL;
    should it still be waiting for the GIL when Python starts finalizing, the process aborts
    ("terminate called without an active exception", SIGABRT). DDP keeps the group and its threads
    alive past ``destroy_process_group``, so instead of joining them we hand over the GIL for a moment
    after the last collective, which is all those threads still need. ``finished=False`` (this rank is
    failing) skips the barrier, which the other ranks might never reach."""
    if world.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
        time.sleep(0.1)
