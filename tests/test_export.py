"""ganforge export: every architecture, ONNX (onnxruntime) and TorchScript, against ganforge's own sampling."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.generate import load_generator
from ganforge.models.families import FAMILIES
from ganforge.sampling import generate, seeded_z

TINY = ["--quiet", "--device", "cpu", "--data", "digits", "--steps", "2", "--batch-size", "16", "model.z_dim=16",
        "model.ngf=8", "model.ndf=8", "model.hidden=32", "train.ema=0.9"]
# every family of the registry, grey at 28 px and colour at 32 px (a family added to it is exported here
# unasked), and the 64 px DCGAN of the PyTorch program
ARCHS = {**{f"{arch}-{r}{'-rgb' if c == 3 else ''}": ["--arch", arch, "--resolution", str(r), f"data.channels={c}"]
            for arch in FAMILIES for r, c in ((28, 1), (32, 3))},
         "dcgan-64": ["--arch", "dcgan", "--resolution", "64"]}
FORMATS = ["onnx", "torchscript"]


def train_runs(tmp_path_factory, archs: dict) -> dict:
    """One tiny trained run per entry of ``archs`` (name -> train arguments)."""
    import os

    os.environ.setdefault("GANFORGE_OFFLINE", "1")
    out = {}
    for name, args in archs.items():
        root = tmp_path_factory.mktemp(name)
        assert main(["train", *TINY, *args, "--runs-dir", str(root / "runs")]) == 0
        out[name] = next((root / "runs").iterdir())
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny trained run per architecture (trained once for the module)."""
    return train_runs(tmp_path_factory, ARCHS)


def reference(gen, n, seed):
    z = seeded_z(gen, n, seed)
    y = torch.arange(n) % gen.kwargs["num_classes"] if gen.conditional else None
    return z, y, generate(gen, z, y)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("arch", list(ARCHS))
def test_exported_generator_matches_ganforge_sampling(runs, tmp_path, arch, fmt):
    from ganforge.exported import load_exported

    run = runs[arch]
    out = tmp_path / f"g.{'onnx' if fmt == 'onnx' else 'pt'}"
    assert main(["export", str(run), "--format", fmt, "--out", str(out), "--ema"]) == 0
    gen = load_generator(run, ema=True)
    runner = load_exported(out)
    for n in (1, 7):
        z, y, want = reference(gen, n, seed=10 + n)
        got = runner.run(z, y)
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert (got - want).abs().max() <= 1e-4
    meta = runner.meta
    assert (meta["z_dim"], meta["resolution"], meta["step"], meta["ema"]) == (16, gen.kwargs["resolution"], 2, True)
    assert meta["channels"] == gen.kwargs["channels"] and meta["z_distribution"] == "normal"
    assert meta["class_names"] == (gen.classes if gen.conditional else None)
    assert meta["ganforge_version"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_onnx_metadata_props_and_uint8_output(runs, tmp_path):
    import onnx

    run = runs["cdcgan-28"]
    out = tmp_path / "u8.onnx"
    assert main(["export", str(run), "--out", str(out), "--uint8"]) == 0
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["z_dim"] == "16" and props["resolution"] == "28" and props["class_names"].startswith("0,1,2")
    assert json.loads(props["ganforge"])["inputs"] == ["z", "label"]
    from ganforge.exported import load_exported
    from ganforge.grid import to_uint8

    gen = load_generator(run)
    z, y, want = reference(gen, 7, seed=3)
    got = load_exported(out).run(z, y)
    assert got.dtype == torch.uint8 and got.shape == (7, 28, 28, 1)
    gap = (got.permute(0, 3, 1, 2).int() - to_uint8(want).int()).abs()
    assert gap.max() <= 1 and (gap == 0).float().mean() > 0.999  # equal but at a rare rounding edge


@pytest.mark.parametrize("fmt", FORMATS)
def test_generate_from_an_export_draws_the_runs_grid(runs, tmp_path, fmt):
    run = runs["cdcgan-28"]
    out = tmp_path / ("g.onnx" if fmt == "onnx" else "g.pt")
    assert main(["export", str(run), "--format", fmt, "--out", str(out)]) == 0
    for extra in ([], ["--class", "3"]):
        a, b = tmp_path / "a.png", tmp_path / "b.png"
        assert main(["generate", str(run), "--grid", str(a), "--seed", "1", *extra]) == 0
        assert main(["generate", str(out), "--grid", str(b), "--seed", "1", *extra]) == 0
        gap = np.abs(np.asarray(Image.open(a), dtype=int) - np.asarray(Image.open(b), dtype=int))
        assert gap.max() <= 1 and (gap == 0).mean() > 0.999  # the same grid but at a rare rounding edge
    assert main(["generate", str(out), "-n", "3", "--out", str(tmp_path / "many")]) == 0
    assert len(list((tmp_path / "many").glob("*.png"))) == 3


def one_line_error(capsys, argv, *needles):
    capsys.readouterr()
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:"), err
    for n in needles:
        assert n in err, err


def test_export_errors_are_one_line_and_leave_nothing_behind(runs, tmp_path, capsys, monkeypatch):
    run = runs["dcgan-28"]
    one_line_error(capsys, ["export", str(run), "--format", "tflite"], "unknown format", "onnx, torchscript")
    one_line_error(capsys, ["export", str(run), "--out", str(tmp_path / "nope" / "g.onnx")], "does not exist")
    empty = tmp_path / "runs" / "00000-empty"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "config.yaml").write_text("preset: quick\n")
    one_line_error(capsys, ["export", str(empty)], "no checkpoint")
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *a, **k):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name=name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    one_line_error(capsys, ["export", str(run), "--out", str(tmp_path / "x.onnx")], "ganforge[export]")
    monkeypatch.setattr(builtins, "__import__", real_import)

    assert list(tmp_path.glob("*.onnx")) == []


@pytest.mark.parametrize("fmt,writer", [("torchscript", "_write_torchscript"), ("onnx", "_write_onnx")])
def test_an_exported_copy_that_differs_is_caught_by_the_real_check_and_not_kept(runs, tmp_path, capsys,
                                                                                  monkeypatch, fmt, writer):
    """The file written carries one weight changed after the model was handed over; the check, comparing
    the file's outputs with ganforge's own sampling, refuses it and nothing is left in the folder."""
    import copy

    from ganforge import exporting as E

    real = getattr(E, writer)

    def altered(model, gen, meta, path):
        m = copy.deepcopy(model)
        with torch.no_grad():
            w = next(p for p in m.parameters() if p.dim() > 1)
            w.view(-1)[0] += 0.5
        return real(m, gen, meta, path)

    monkeypatch.setattr(E, writer, altered)
    target = tmp_path / "out" / ("g" + E.FORMATS[fmt])
    target.parent.mkdir()
    one_line_error(capsys, ["export", str(runs["dcgan-28"]), "--format", fmt, "--out", str(target)],
                   "differs from PyTorch's output by", "nothing was written")
    assert list(target.parent.iterdir()) == []
    monkeypatch.setattr(E, writer, real)  # the same export, unaltered, is kept
    assert main(["export", str(runs["dcgan-28"]), "--format", fmt, "--out", str(target)]) == 0
    assert list(target.parent.iterdir()) == [target]
