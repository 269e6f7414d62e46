"""Exported generators read back: an ``.onnx`` file through onnxruntime, a TorchScript file through
``torch.jit.load``. ``ganforge generate FILE.onnx`` uses this, so an export can be checked against the
run it came from with the same seeds and grids (``generate.sample_grid`` draws from either)."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ganforge.errors import GanforgeError

EXTRA = "pip install 'ganforge[export]'"


def is_exported(path: Path) -> bool:
    """An ONNX file by its suffix, or a TorchScript archive that carries ganforge's metadata."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    if path.suffix.lower() == ".safetensors" or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/extra/ganforge.json") for n in z.namelist())


class ExportedRunner(nn.Module):
    """Runs an exported generator. ``run`` gives its raw output; ``forward`` (what ``generate`` calls)
    always gives float (N, C, H, W) in [-1, 1], converting a uint8 export back."""

    frozen = True  # ``generate`` must neither copy nor fold it

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.register_buffer("anchor", torch.zeros(0), persistent=False)  # gives ``generate`` a device
        if self.path.suffix.lower() == ".onnx":
            self._open_onnx()
        else:
            self._open_torchscript()
        self.uint8 = self.meta["output"].startswith("uint8")
        self.conditional = "label" in self.meta["inputs"]

    def _open_onnx(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise GanforgeError(f"running an .onnx file needs onnxruntime; install it with: {EXTRA}") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 (onnxruntime raises its own kinds for bad files)
            raise GanforgeError(f"{self.path} is not a readable ONNX model ({type(err).__name__}); "
                                "export it again with ganforge export") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "ganforge" not in props:
            raise GanforgeError(f"{self.path} was not exported by ganforge (no ganforge metadata)")
        self.meta, self.module = json.loads(props["ganforge"]), None

    def _open_torchscript(self) -> None:
        extra = {"ganforge.json": ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's deprecation note
                self.module = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra)
        except Exception as err:  # noqa: BLE001
            raise GanforgeError(f"{self.path} is not a readable TorchScript file ({type(err).__name__}); "
                                "export it again with ganforge export") from None
        if not extra["ganforge.json"]:
            raise GanforgeError(f"{self.path} was not exported by ganforge (no ganforge metadata)")
        self.meta, self.session = json.loads(extra["ganforge.json"]), None

    def run(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        z = z.detach().float().cpu()
        if self.conditional and label is None:
            raise GanforgeError("this generator is conditional; a class is needed")
        if self.session is not None:
            feed = {"z": z.numpy()}
            if self.conditional:
                feed["label"] = label.detach().cpu().long().numpy()
            return torch.from_numpy(np.asarray(self.session.run(None, feed)[0]))
        with torch.inference_mode():
            return self.module(z, label.long().cpu()) if self.conditional else self.module(z)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.run(z, y)
        if self.uint8:
            x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1)  # back to what to_uint8 maps to the same bytes
        return x


def load_exported(path: str | Path) -> ExportedRunner:
    return ExportedRunner(Path(path))


def as_loaded_generator(path: str | Path):
    """A ``LoadedGenerator`` whose G is the exported file, for ``generate`` and ``sample_grid``."""
    from ganforge.sampling import LoadedGenerator

    runner = load_exported(path)
    m = runner.meta
    return LoadedGenerator(runner, m["arch"], m["kwargs"], m["z_distribution"], m.get("class_names"),
                           int(m.get("step", 0)), Path(path), bool(m.get("ema")))
