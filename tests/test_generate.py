"""``generate``, ``export`` and the run page against sampling done by hand from the checkpoint's own weights:
a run with an EMA generator draws from it unless ``--no-ema``, ``--class`` draws the class asked for, byte for byte."""

import io
import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.grid import grid_image, save_grid, to_uint8
from ganforge.models import build_generator
from ganforge.sampling import LoadedGenerator, generate, seeded_z

TINY = ["--preset", "quick", "--quiet", "--device", "cpu", "--resolution", "16", "--batch-size", "16",
        "model.z_dim=16", "model.ngf=8", "model.ndf=8", "model.hidden=32", "train.ema=0.9", "--steps", "3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A DCGAN and a conditional DCGAN on digits, and a conditional one on a folder whose classes have names."""
    root = tmp_path_factory.mktemp("gen")
    fruit = root / "fruit"
    rng = np.random.default_rng(0)
    for name in ("apple", "banana", "cherry"):
        (fruit / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(fruit / name / f"{i}.png")
    out = {}
    for key, extra in (("dcgan", ["--data", "digits"]), ("cdcgan", ["--data", "digits", "--arch", "cdcgan"]),
                       ("fruit", ["--data", "folder", "--path", str(fruit), "data.labels=true", "--arch", "cdcgan"])):
        assert main(["train", *TINY, *extra, "--runs-dir", str(root / key)]) == 0
        out[key] = next((root / key).iterdir())
    return out


def by_hand(run: Path, prefix: str) -> LoadedGenerator:
    """The generator rebuilt from the checkpoint's own tensors, without ganforge.generate."""
    path = checkpoint.latest(run / "checkpoints")
    meta = checkpoint.read_meta(path)
    G = build_generator(meta["arch"], meta["kwargs"])
    G.load_state_dict(checkpoint.load_weights(path, prefix))
    return LoadedGenerator(G.eval(), meta["arch"], meta["kwargs"], meta["z_dist"], meta["classes"], meta["step"],
                           path, prefix == "G_ema")


def pngs(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def as_arrays(imgs: torch.Tensor) -> np.ndarray:
    a = imgs.permute(0, 2, 3, 1).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def test_generate_ema_draws_the_ema_weights(runs, tmp_path):
    run = runs["dcgan"]
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "ema"), "--ema", "--seed", "5"]) == 0
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "raw"), "--no-ema", "--seed", "5"]) == 0
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "plain"), "--seed", "5"]) == 0
    ema, raw, plain = pngs(tmp_path / "ema"), pngs(tmp_path / "raw"), pngs(tmp_path / "plain")
    assert not np.array_equal(ema, raw)
    for folder, prefix in ((ema, "G_ema"), (raw, "G"), (plain, "G_ema")):  # a run with an EMA draws from it
        gen = by_hand(run, prefix)
        assert np.array_equal(folder, as_arrays(to_uint8(generate(gen, seeded_z(gen, 4, 5)))))


def test_export_ema_carries_the_ema_weights(runs, tmp_path):
    run = runs["dcgan"]
    for flag, prefix in (("--ema", "G_ema"), ("--no-ema", "G")):
        out = tmp_path / f"{prefix}.pt"
        assert main(["export", str(run), "--format", "torchscript", "--out", str(out), *([flag] if flag else [])]) == 0
        assert main(["generate", str(out), "-n", "3", "--out", str(tmp_path / prefix), "--seed", "2"]) == 0
        gen = by_hand(run, prefix)
        want = as_arrays(to_uint8(generate(gen, seeded_z(gen, 3, 2))))
        assert np.abs(pngs(tmp_path / prefix).astype(int) - want.astype(int)).max() <= 1  # folded BN rounding
    assert not np.array_equal(pngs(tmp_path / "G_ema"), pngs(tmp_path / "G"))


def test_the_run_pages_ema_box_draws_the_ema_weights(runs):
    from ganforge.generate import sample_grid
    from ganforge.web.server import make_server

    run = runs["dcgan"]
    server = make_server(run, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/generate?seed=4&rows=2&cols=3&ema="
        got = {e: urllib.request.urlopen(url + e, timeout=60).read() for e in ("1", "0")}
    finally:
        server.shutdown()
        server.server_close()
    assert got["1"] != got["0"]
    for e, prefix in (("1", "G_ema"), ("0", "G")):
        imgs, labels = sample_grid(by_hand(run, prefix), 2, 3, 4)
        buf = io.BytesIO()
        grid_image(to_uint8(imgs), nrow=3, row_labels=labels, min_cell=64).save(buf, format="PNG")
        assert got[e] == buf.getvalue(), prefix


@pytest.mark.parametrize("key,cls,index", [("cdcgan", "3", 3), ("fruit", "banana", 1), ("fruit", "2", 2)])
def test_generate_class_draws_that_class(runs, tmp_path, key, cls, index):
    run = runs[key]
    assert main(["generate", str(run), "-n", "4", "--class", cls, "--out", str(tmp_path / "c"), "--seed", "1"]) == 0
    gen = by_hand(run, "G_ema")  # the run has an EMA generator: what generate draws without --no-ema
    want = to_uint8(generate(gen, seeded_z(gen, 4, 1), torch.full((4,), index, dtype=torch.long)))
    assert np.array_equal(pngs(tmp_path / "c"), as_arrays(want))
    other = to_uint8(generate(gen, seeded_z(gen, 4, 1), torch.full((4,), (index + 1) % 3, dtype=torch.long)))
    assert not torch.equal(want, other)  # the class matters to this G


def test_a_conditional_grid_has_one_class_with_class_and_a_row_per_class_without(runs, tmp_path):
    run = runs["fruit"]
    gen = by_hand(run, "G_ema")
    assert main(["generate", str(run), "--grid", str(tmp_path / "one.png"), "--cols", "4", "--rows", "2",
                 "--class", "cherry", "--seed", "3"]) == 0
    imgs = generate(gen, seeded_z(gen, 8, 3), torch.full((8,), 2, dtype=torch.long))
    save_grid(imgs, tmp_path / "want-one.png", nrow=4, row_labels=["cherry", "cherry"])
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "want-one.png").read_bytes()
    assert main(["generate", str(run), "--grid", str(tmp_path / "all.png"), "--cols", "4", "--seed", "3"]) == 0
    imgs = generate(gen, seeded_z(gen, 12, 3), torch.arange(3).repeat_interleave(4))
    save_grid(imgs, tmp_path / "want-all.png", nrow=4, row_labels=["apple", "banana", "cherry"])
    assert (tmp_path / "all.png").read_bytes() == (tmp_path / "want-all.png").read_bytes()


def test_eval_scores_the_ema_generator_when_asked(runs, tmp_path, capsys):
    run = runs["dcgan"]
    lines = {}
    for flag in ("--ema", "--no-ema"):
        assert main(["eval", str(run), "-n", "200", "--n-ref", "200", "--metrics", "fd", flag]) == 0
        lines[flag] = capsys.readouterr().out
    assert lines["--ema"] != lines["--no-ema"]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["ema"] for r in records if r.get("kind") == "eval"][-2:] == [True, False]
