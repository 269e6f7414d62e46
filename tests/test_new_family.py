"""A new model family is its own file and one registry line: a throwaway residual family, added that way and
nothing else, trains, resumes, and exports to ONNX, TorchScript and the web page, each checked against
``ganforge generate``."""

import importlib.util
import sys

import pytest
import torch

from ganforge.cli import main
from ganforge.generate import draw, load_generator
from ganforge.models.families import FAMILIES, Family

RESIDUAL = '''
import torch
import torch.nn as nn

from ganforge.models.dcgan import Discriminator, Up, dcgan_init, stage_sizes  # noqa: F401 (D as DCGAN's)


class Block(nn.Module):
    """x + conv-BN-ReLU(x): a residual skip."""

    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    def __init__(self, resolution=32, channels=3, z_dim=16, ngf=8, **_):
        super().__init__()
        sizes = stage_sizes(resolution)[::-1]
        self.base, self.c = sizes[0], 2 * ngf
        self.project = nn.Linear(z_dim, self.c * self.base ** 2)
        layers = []
        for s in sizes[1:]:
            layers += [Up(self.c, self.c, s), nn.BatchNorm2d(self.c), nn.ReLU(), Block(self.c)]
        self.body = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(self.c, channels, 3, 1, 1)
        self.shift = nn.Parameter(torch.zeros(1, self.c, 1, 1))   # a learned tensor used as it is
        dcgan_init(self)

    def forward(self, z, y=None):
        h = self.project(z).view(-1, self.c, self.base, self.base)
        h = self.body(h) + self.shift
        return torch.tanh(self.to_image(h - 0.5 * h.mean((2, 3), keepdim=True)))
'''


@pytest.fixture
def residual_family(tmp_path, monkeypatch):
    """The family's file (as if in ganforge/models/) and its registry line, and nothing else."""
    path = tmp_path / "residual_tmp.py"
    path.write_text(RESIDUAL)
    spec = importlib.util.spec_from_file_location("ganforge.models.residual_tmp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "ganforge.models.residual_tmp", module)
    monkeypatch.setitem(FAMILIES, "residual", Family("residual_tmp", "a residual test family"))
    return "residual"


def test_a_family_is_its_file_and_one_line(residual_family, tmp_path):
    from ganforge.exported import load_exported
    from ganforge.webexport import export_web

    runs = tmp_path / "runs"
    args = ["train", "--arch", residual_family, "--resolution", "16", "--steps", "3", "--batch-size", "8",
            "model.ngf=4", "model.z_dim=8", "train.ckpt_every=2", "--runs-dir", str(runs), "--quiet"]
    assert main(args) == 0
    run = next(runs.iterdir())
    assert main(["train", "--resume", str(run), "--steps", "5", "--quiet"]) == 0
    gen = load_generator(run)
    assert gen.arch == "residual" and gen.step == 5
    for fmt, suffix in (("onnx", "onnx"), ("torchscript", "pt")):
        out = tmp_path / f"g.{suffix}"
        assert main(["export", str(run), "--format", fmt, "--out", str(out)]) == 0
        z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert torch.allclose(load_exported(out)(z), gen.G.eval()(z), atol=1e-4)
    page = export_web(gen, tmp_path / "g.html", run.name, "digits", str(run))
    assert page.max_diff < 1e-4 and page.path.is_file()
    assert draw(gen, 2, 0).shape == (2, 1, 16, 16)
