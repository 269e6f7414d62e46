"""Several processes (``torchrun --nproc-per-node N -m ganforge train ...``): gloo on CPU, NCCL on GPU.

``train.batch_size`` stays the global batch: each rank takes its slice of every global batch (see
``data/batches.py``) and its slice of the global noise, so N ranks together compute what one
process with the same batch would (exactly so without BatchNorm, or with ``train.sync_bn``). G and D
are wrapped in DistributedDataParallel separately, since wrapping the whole GAN would break the
alternating updates; only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
import sys
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
    if rank == 0 and (msg := shared_store_warning(os.environ)):
        print(msg, file=sys.stderr)
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            dist.init_process_group(backend, store=own_store(rank, size), rank=rank, world_size=size)
        else:
            dist.init_process_group(backend)
    if use_cuda:
        torch.cuda.set_device(local)
        return World(rank, size, local), f"cuda:{local}"
    return World(rank, size, local), "cpu" if device_name == "auto" else device_name


def shared_store_warning(env) -> str | None:
    """A warning for several nodes with restarts on torchrun's shared store, which cannot survive a lost node.

    With its default shared store, torchrun's agent on the rendezvous host keeps the first round's master
    address and never writes it for a later round, so a node started again after dying waits for it until
    the rendezvous times out. ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` in every agent's environment gives
    each round a store of its own."""
    nodes = int(env.get("GROUP_WORLD_SIZE", "1") or 1)
    restarts = int(env.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0)
    if nodes > 1 and restarts > 0 and env.get("TORCH_DISABLE_SHARE_RDZV_TCP_STORE") != "1":
        return (f"warning: {nodes} nodes with --max-restarts={restarts}: a node started again after it died "
                "cannot rejoin torchrun's shared store; export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 on every "
                "node before torchrun")
    return None


STORE_KEY = "ganforge/store"  # in torchrun's store: the port of this round's own store, set by rank 0


def own_store(rank: int, size: int, timeout: float = 900.0):
    """A store that starts empty in every round of workers torchrun starts.

    torchrun's agent keeps one store for all the rounds of workers it starts (first start and every restart
    after a failure), and this torch gives workers no per-round prefix in it: workers of a restarted round
    can read the addresses the dead round's workers left there, and then fail to connect or wait forever.
    So rank 0 hosts a store of its own on a free port and leaves its port in the agent's store; the other
    ranks read it and connect, reading again while what they read is a dead round's port."""
    from datetime import timedelta

    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent = dist.TCPStore(addr, port, size, is_master=False, timeout=timedelta(seconds=timeout))
    if rank == 0:
        own = dist.TCPStore(addr, 0, size, is_master=True, timeout=timedelta(seconds=timeout), wait_for_workers=False)
        agent.set(STORE_KEY, str(own.port))
        return own
    deadline = time.monotonic() + timeout
    while True:
        port = int(agent.get(STORE_KEY))  # waits for rank 0 of some round to have set it
        try:
            if _listening(addr, port):  # a dead round's port refuses at once: read again
                return dist.TCPStore(addr, port, size, is_master=False, timeout=timedelta(seconds=30))
        except (RuntimeError, ValueError):  # a port that closed between the two
            pass
        if time.monotonic() > deadline:
            raise GanforgeError(f"rank {rank} found no store of rank 0's in {timeout:.0f} s; is rank 0 running?")
        time.sleep(0.2)


def _listening(addr: str, port: int) -> bool:
    """Whether something accepts connections on ``addr:port`` (a quiet check: TCPStore's own client logs
    every refused try)."""
    import socket

    try:
        with socket.create_connection((addr, port), timeout=2.0):
            return True
    except OSError:
        return False


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
