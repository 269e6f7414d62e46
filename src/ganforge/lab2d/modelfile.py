"""A lab model as one file: G's and D's weights as plain tensors (safetensors) and the settings and step as
JSON in its metadata, never pickled code. The page saves one and loads it back; so does Python."""

from __future__ import annotations

import json

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ganforge.errors import GanforgeError
from ganforge.lab2d.settings import LabSettings, SettingError, updated
from ganforge.lab2d.trainer import LabTrainer

FORMAT = 2          # bumped whenever what a file holds changes meaning (2: networks on the view's scale, the noise's state)
KEY = "ganforge_lab"


def to_bytes(trainer: LabTrainer) -> bytes:
    tensors = {f"{name}.{k}": v.detach().contiguous() for name, net in _parts(trainer)
               for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "step": trainer.step, "settings": trainer.s.to_dict()}
    return save_tensors(tensors, metadata={KEY: json.dumps(meta)})


def from_bytes(data: bytes) -> LabTrainer:
    """A trainer with the file's settings and weights (its optimizers start afresh); a file that is not a
    whole lab model of this format is a one-line error."""
    try:
        tensors = load_tensors(data)
        meta = _metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise GanforgeError("this is not a whole lab model file (cut short, or another kind of file); "
                            "save the model from the lab again") from None
    _check_tensors(tensors)
    if meta.get("format") != FORMAT:
        raise GanforgeError(f"this lab model file has format {meta.get('format')!r}; this ganforge reads format "
                            f"{FORMAT}: save it again from a lab of this version")
    try:
        settings = updated(LabSettings(), meta.get("settings") or {})
    except SettingError as err:
        raise GanforgeError(f"the file's settings are not valid here: {err}") from None
    trainer = LabTrainer(settings)
    for name, net in _parts(trainer):
        part = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
        try:
            net.load_state_dict(part)
        except RuntimeError:
            raise GanforgeError(f"the file's {name} does not fit its own settings; save the model again") from None
    trainer.step = int(meta.get("step", 0))
    trainer.record()
    return trainer


def _parts(trainer: LabTrainer):
    """What a file holds: G, D and the noise (a learned noise's places and spreads, a data noise's layout)."""
    return (("G", trainer.G), ("D", trainer.D), ("noise", trainer.noise_space))


def _metadata(data: bytes) -> dict:
    """The JSON metadata of a safetensors file's header (its first 8 bytes give the header's length)."""
    if len(data) < 8:
        raise ValueError("too short")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header cut short")
    header = json.loads(data[8:8 + n])
    meta = json.loads((header.get("__metadata__") or {}).get(KEY, "null"))
    if not isinstance(meta, dict):
        raise ValueError("not a lab model")
    return meta


def _check_tensors(tensors: dict) -> None:
    for v in tensors.values():
        if not torch.isfinite(v).all():
            raise GanforgeError("the lab model file holds NaN or infinite weights; save a model that trained well")
