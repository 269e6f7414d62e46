"""A trainer's state beside its weights, as a checkpoint keeps it: step and images seen, the data order,
both optimizers and loss scales, the RNG, the fixed noise, the best evaluation so far, the schedule's
trained minutes and ADA's p. ``of`` gathers it, ``load`` puts a checkpoint back so a run goes on exactly."""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge import checkpoint
from ganforge.errors import GanforgeError


def of(tr) -> dict:
    """What ``tr`` (a ``Trainer``) needs beside its weights to go on exactly."""
    s = {"step": tr.step, "images_seen": tr.images_seen, "batches": tr.batches.state_dict(),
         "opt_g": tr.opt_g.state_dict(), "opt_d": tr.opt_d.state_dict(),
         "rng_cpu": torch.get_rng_state(), "z_fixed": tr.z_fixed, "y_fixed": tr.y_fixed,
         "best_value": tr.best_value, "scaler_d": tr.scaler_d.state_dict(),
         "scaler_g": tr.scaler_g.state_dict(), "schedule": tr.schedule.state_dict()}
    if tr.ada is not None:
        s["ada"] = tr.ada.state_dict()
    if tr.device.type == "cuda":
        s["rng_cuda"] = torch.cuda.get_rng_state(tr.device)
    return s


def load(tr, weights: Path, full: bool = True) -> None:
    """``tr``'s networks from the checkpoint ``weights``; with ``full``, the rest of its state too."""
    for name, m in tr.modules().items():
        sd = checkpoint.load_weights(weights, name)
        if not sd and name == "G_ema":  # an EMA started now begins as a copy of G
            sd = checkpoint.load_weights(weights, "G")
        try:
            m.load_state_dict(sd)
        except RuntimeError:
            raise GanforgeError(f"{weights} holds a {name} of another shape; the model settings differ "
                                "from the ones it was trained with") from None
    if not full:
        return
    s = checkpoint.load_state(weights)
    tr.step, tr.images_seen = s["step"], s["images_seen"]
    tr.batches.load_state_dict(s["batches"])
    tr.opt_g.load_state_dict(s["opt_g"])
    tr.opt_d.load_state_dict(s["opt_d"])
    torch.set_rng_state(s["rng_cpu"])
    if "rng_cuda" in s and tr.device.type == "cuda":
        torch.cuda.set_rng_state(s["rng_cuda"], tr.device)
    tr.z_fixed, tr.y_fixed = s["z_fixed"], s["y_fixed"]
    tr.best_value = s.get("best_value")
    tr.schedule.load_state_dict(s.get("schedule", {}))  # a budget goes on counting its earlier minutes
    if tr.ada is not None and "ada" in s:  # p goes on where it was
        tr.ada.load_state_dict(s["ada"])
    if s.get("scaler_d"):  # fp16 runs: the loss scales go on where they were
        tr.scaler_d.load_state_dict(s["scaler_d"])
        tr.scaler_g.load_state_dict(s["scaler_g"])
