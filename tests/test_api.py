"""The Python API (``import ganforge``): the same runs, images and messages as the commands."""

import _thread
import json
import pydoc

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.training import restart

# a tiny run, as keywords and as the command line's words (threads pinned: the two runs compare bit for bit)
KW = dict(preset="quick", data="digits", resolution=16, steps=8, device="cpu", quiet=True, seed=3,
          overrides={"model.ngf": 8, "model.ndf": 8, "model.z_dim": 16, "train.threads": 1,
                     "train.sample_every": 4, "train.ckpt_every": 4})
ARGS = ["--preset", "quick", "--data", "digits", "--resolution", "16", "--steps", "8", "--device", "cpu", "--quiet",
        "--seed", "3",
        "model.ngf=8", "model.ndf=8", "model.z_dim=16", "train.threads=1", "train.sample_every=4",
        "train.ckpt_every=4"]


def api_train(tmp_path, name="api", **more):
    kw = {**KW, "runs_dir": str(tmp_path / "runs"), "name": name, **more}
    return ganforge.train(**kw)


def test_train_and_the_command_write_identical_checkpoints(tmp_path):
    run = api_train(tmp_path)
    assert isinstance(run, ganforge.Run) and run.step == 8 and run.stopped is None
    assert main(["train", *ARGS, "--runs-dir", str(tmp_path / "runs"), "--name", "cli"]) == 0
    cli_run = ganforge.Run("1", runs_dir=tmp_path / "runs")
    assert cli_run.path.name == "00001-cli"
    for step in (4, 8):
        a = load_file(run.path / "checkpoints" / f"ckpt-{step:08d}.safetensors")
        b = load_file(cli_run.path / "checkpoints" / f"ckpt-{step:08d}.safetensors")
        assert a.keys() == b.keys() and len(a) > 10
        for k in a:
            assert torch.equal(a[k], b[k]), f"{k} differs at step {step}"


def test_load_samples_what_generate_writes(tmp_path):
    run = api_train(tmp_path)
    out = tmp_path / "pngs"
    assert main(["generate", str(run.path), "-n", "6", "--out", str(out), "--seed", "3"]) == 0
    from_cli = torch.stack([torch.from_numpy(__import__("numpy").array(Image.open(out / f"{i:06d}.png")))
                            for i in range(6)])
    g = ganforge.load(run)
    imgs = g.sample(6, seed=3)
    assert imgs.dtype == torch.uint8 and imgs.shape == (6, 1, 16, 16)
    assert torch.equal(imgs[:, 0], from_cli)
    assert not torch.equal(imgs, g.sample(6, seed=4))
    pil = g.sample(2, seed=3, pil=True)
    assert pil[0].size == (16, 16)
    grid_file = tmp_path / "grid.png"
    assert main(["generate", str(run.path), "--grid", str(grid_file), "--rows", "2", "--cols", "3"]) == 0
    assert g.grid(rows=2, cols=3).tobytes() == Image.open(grid_file).convert(g.grid(rows=2, cols=3).mode).tobytes()
    walk = g.walk(3, 4, frames=5, pil=False)
    assert torch.equal(walk[0], imgs[0]) and torch.equal(walk[-1], g.sample(1, seed=4)[0])
    assert g.arch == "dcgan" and g.step == 8 and g.resolution == 16 and g._repr_png_().startswith(b"\x89PNG")
    assert ganforge.load("0", runs_dir=tmp_path / "runs").step == 8  # a run by its number


def test_a_conditional_generator_draws_the_class_asked_for(tmp_path):
    run = api_train(tmp_path, arch="cdcgan")
    g = ganforge.load(run.path)
    assert g.conditional and len(g.classes) == 10
    sevens = g.sample(4, seed=0, labels=7)
    assert torch.equal(sevens, g.sample(4, seed=0, labels=[7, 7, 7, 7]))
    assert not torch.equal(sevens, g.sample(4, seed=0, labels=3))
    assert g.grid(cols=4).size[1] > g.grid(rows=1, cols=4, label=7).size[1]  # a row per class vs one row
    with pytest.raises(ganforge.GanforgeError, match="class must be in 0..9"):
        g.sample(2, labels=12)


@pytest.mark.parametrize("kw, argv", [
    ({"foo": 3}, ["foo=3"]),
    ({"data": "folder", "path": "/no/such/folder"}, ["--data", "folder", "--path", "/no/such/folder"]),
    ({"minutes": -1}, ["--minutes", "-1"]),
])
def test_bad_arguments_raise_the_commands_message(tmp_path, capsys, kw, argv):
    with pytest.raises(ganforge.GanforgeError) as err:
        api_train(tmp_path, **kw)
    assert main(["train", *ARGS, "--runs-dir", str(tmp_path / "runs"), *argv]) != 0
    said = capsys.readouterr().err.strip()
    assert said == f"error: {err.value}" and "\n" not in said
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_interrupt_stops_at_a_step_with_a_checkpoint_and_resume_continues(tmp_path, monkeypatch):
    """A kernel interrupt arrives as SIGINT in the main thread; ``_thread.interrupt_main`` sends just that."""
    from ganforge.training.loop import Trainer

    step = Trainer.train_step

    def interrupted_at_5(self):
        step(self)
        if self.step == 5:
            _thread.interrupt_main()

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_5)
    run = api_train(tmp_path, steps=50)
    assert run.stopped and "step 5" in run.stopped and run.exit_code == 130
    assert run.step == 5 and run.checkpoint.name == "ckpt-00000005.safetensors"
    monkeypatch.setattr(Trainer, "train_step", step)
    again = ganforge.train(resume=run, steps=9, quiet=True)
    assert again.path == run.path and again.step == 9 and again.stopped is None
    steps = [r["step"] for r in again.metrics("train")]
    assert steps == sorted(steps) and steps[-1] == 9


def test_resume_of_a_run_without_a_checkpoint_starts_it_at_step_0(tmp_path, capsys):
    run = api_train(tmp_path)
    for p in (run.path / "checkpoints").iterdir():  # as if killed in its first seconds
        p.unlink()
    (run.path / "config.yaml").write_text((run.path / "config.yaml").read_text().replace("steps: 8", "steps: 4"))
    assert main(["train", "--resume", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert "has no checkpoint yet" in out and "from step 0 with its saved config" in out
    assert run.step == 4 and len(list((tmp_path / "runs").iterdir())) == 1  # its saved length, its own folder
    for p in (run.path / "checkpoints").iterdir():
        p.unlink()
    assert ganforge.train(resume=run.path, quiet=True).step == 4


def test_a_torchrun_job_with_two_run_folders_continues_the_newer(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for name in ("00003-old", "00007-new", "00005-other"):
        (runs / name / "checkpoints").mkdir(parents=True)
        (runs / name / "config.yaml").write_text("{}\n")
    restart.mark(runs / "00003-old", "job-1")
    restart.mark(runs / "00007-new", "job-1")
    restart.mark(runs / "00005-other", "job-2")
    assert restart.find_elastic(runs, "job-1").name == "00007-new"
    assert restart.find_elastic(runs, "job-2").name == "00005-other"
    assert restart.find_elastic(runs, "job-3") is None
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-1")
    assert restart.plan(None, runs).run.name == "00007-new"


def test_info_reads_the_run_folder(tmp_path, capsys):
    run = api_train(tmp_path)
    assert main(["info", "0", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["data"] == "digits" and got["arch"] == "dcgan" and got["step"] == 8 and got["samples"] == 2
    assert got["checkpoint"].endswith("ckpt-00000008.safetensors") and got["resolution"] == 16
    assert main(["info", str(run.path)]) == 0
    assert "checkpoint  " in capsys.readouterr().out
    assert main(["info", str(tmp_path)]) != 0
    assert "not a run folder" in capsys.readouterr().err
    assert "step 8" in run._repr_html_() and "data:image/png;base64" in run._repr_html_()


def test_evaluate_export_datasets_and_lab(tmp_path):
    run = api_train(tmp_path)
    scores = ganforge.evaluate(run, metrics="fd", n=200)
    assert set(scores) == {"fd-digits"} and scores["fd-digits"] > 0
    assert run.metrics("eval")[-1]["value"] == scores["fd-digits"]  # recorded as `ganforge eval` does
    out = ganforge.export(run, format="torchscript", out=tmp_path / "g.pt")
    assert out.path.is_file() and out.max_diff < 1e-4 and out.step == 8
    assert torch.equal(ganforge.load(out.path).sample(3, seed=2), ganforge.load(run).sample(3, seed=2))
    names = [d["name"] for d in ganforge.datasets()]
    assert "digits" in names and "emoji" in names
    data = ganforge.load_dataset("digits", resolution=8)
    assert data.images.shape[1:] == (1, 8, 8) and len(data.classes) == 10
    res = ganforge.lab(dist="ring", steps=30, out=tmp_path / "lab", quiet=True)
    assert "precision" in res and (tmp_path / "lab" / "metrics.json").is_file()
    with pytest.raises(ganforge.GanforgeError, match="unknown lab setting"):
        ganforge.lab(steps=5, out=tmp_path / "lab2", quiet=True, lr=1)
    with pytest.raises(ganforge.GanforgeError, match="unknown format"):
        ganforge.export(run, format="gif")


def test_help_lists_every_public_name_with_its_arguments():
    text = pydoc.render_doc(ganforge, renderer=pydoc.plaintext)
    for name in ganforge.__all__:
        assert (name in text) if name != "__version__" else f"VERSION\n    {ganforge.__version__}" in text, name
    for sig in ("train(preset: 'str | None' = None, data:", "load(source", "evaluate(source", "export(source",
                "lab(dist", "load_dataset(name", "datasets()"):
        assert sig in text, sig
    assert set(ganforge.__all__) <= set(dir(ganforge))
    with pytest.raises(AttributeError):
        ganforge.not_a_name  # noqa: B018


def test_live_display_updates_one_output(tmp_path, monkeypatch):
    """live=True outside a notebook still goes through IPython's display: one handle, updated per grid."""
    pytest.importorskip("IPython")
    import IPython.display as D

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    monkeypatch.setattr(D, "display", lambda obj, display_id=False: shown.append(obj) or Handle())
    run = api_train(tmp_path, live=True, log_every=2)
    assert len(shown) == 1 and len(updates) == 2  # samples at steps 4 and 8
    assert "step 8" in updates[-1].data and updates[-1].data.count("data:image/png;base64") == 2
    assert run.step == 8


def test_the_generated_reference_lists_every_public_name():
    pdoc = pytest.importorskip("pdoc", reason="pdoc not installed (pip install -e '.[dev]'); `make docs` needs it")
    html = pdoc.pdoc("ganforge")
    for name in ganforge.__all__:
        assert f'id="{name}"' in html, name
    for arg in ("minutes", "resume", "overrides", "live", "metrics", "runs_dir", "ema"):
        assert f'<span class="n">{arg}</span>' in html, arg


def test_a_damaged_config_is_one_line_for_commands_and_a_note_for_the_page(tmp_path, capsys):
    from ganforge.training.run_dir import read_run
    from ganforge.web.server import RunView

    run = api_train(tmp_path)
    (run.path / "config.yaml").write_bytes(b"\xff\xfe not text")
    assert main(["info", str(run.path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "config.yaml cannot be read" in err and "\n" not in err
    got = read_run(run.path, strict=False)  # the page: what can be read, and a note for the rest
    assert got.step == 8 and len(got.samples) == 2 and got.notes == ["config.yaml cannot be read: UnicodeDecodeError"]
    info = RunView(run.path).info()
    assert info["checkpoint_step"] == 8 and info["config"] == "(config.yaml cannot be read: UnicodeDecodeError)"
    assert info["checkpoint_notes"] == []
