"""What a newcomer meets first: folders at their own size, honest run names, help for every flag, run
numbers everywhere, pictures with their key, and training that shares the CPU."""

import argparse
import json
import re
import time

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.cli import build_parser, main
from ganforge.config import BASE
from ganforge.threads import CpuShare

SMALL = ["--quiet", "--device", "cpu", "--batch-size", "8", "model.ngf=8", "model.ndf=8", "model.z_dim=16",
         "--steps", "2", "train.sample_every=2", "train.ckpt_every=2"]


def folder_of(path, side, n=12, size=None):
    path.mkdir(parents=True)
    rng = np.random.default_rng(side)
    for i in range(n):
        w, h = size or (side, side)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


@pytest.mark.parametrize("side,want", [(64, 64), (40, 32), (28, 28), (300, 256), (10, 16)])
def test_a_folder_trains_at_its_own_size_and_says_why(tmp_path, capsys, side, want):
    imgs = folder_of(tmp_path / "imgs", side)
    assert main(["train", "--data", "folder", "--path", str(imgs), "--runs-dir", str(tmp_path / "runs"), *SMALL[1:]]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"3x{want}x{want}" in first and f"training at {want} px" in first and f"{side} px" in first, first
    run = next((tmp_path / "runs").iterdir())
    assert yaml.safe_load((run / "config.yaml").read_text().split("\n", 2)[2])["data"]["resolution"] == want


def test_a_chosen_resolution_or_a_folder_preset_wins_and_crop_counts(tmp_path, capsys):
    imgs = folder_of(tmp_path / "imgs", 64, size=(100, 70))  # the shorter side is 70
    base = ["train", "--data", "folder", "--path", str(imgs), "--dry-run"]
    for extra, want in ((["--resolution", "16"], 16), (["data.resolution=28"], 28), ([], 64),
                        (["data.crop=40"], 32), (["--preset", "dcgan-tf-faces"], 64)):
        assert main([*base, *extra]) == 0
        out = capsys.readouterr().out
        assert yaml.safe_load(out)["data"]["resolution"] == want, (extra, out[:300])
        assert ("training at" in out) == (extra in ([], ["data.crop=40"])), (extra, out)


def test_a_run_without_a_preset_is_named_for_what_it_trains(tmp_path, capsys):
    assert main(["train", "--runs-dir", str(tmp_path / "runs"), *SMALL[1:]]) == 0
    run = next((tmp_path / "runs").iterdir())
    text = (run / "config.yaml").read_text()
    cfg = yaml.safe_load(text)
    assert cfg["preset"] is None and text.startswith("# no preset named")
    from ganforge import recipes

    assert bool(cfg["recipe"]) == (1797 < recipes.SMALL)  # the bundled digits get the small-data recipe only below SMALL
    tag = "-ada" if cfg["recipe"] else ""
    assert run.name == f"00000-digits-dcgan{tag}"
    if cfg["recipe"]:
        assert "small data" in cfg["recipe"] and "# and a recipe for this data" in text
    assert main(["train", "--resume", str(run), "--steps", "3", "--quiet"]) == 0  # reads back
    assert main(["train", "--preset", "quick", "--runs-dir", str(tmp_path / "runs"), *SMALL[1:]]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir())[-1] == "00001-quick"
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert f"Without one, a run starts from the {BASE} preset's values" in help_text


def all_parsers(parser, path=("ganforge",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_parsers(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    missing = []
    for path, parser in all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help and action.help.strip() and action.help != argparse.SUPPRESS):
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help: " + ", ".join(missing)


def test_run_numbers_work_for_every_verb(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "quick", "--resolution", "16", *SMALL]) == 0
    capsys.readouterr()
    assert main(["generate", "0", "--grid", "g.png"]) == 0 and (tmp_path / "g.png").is_file()
    assert main(["generate", "00000-quick", "-n", "2", "--out", "imgs"]) == 0
    assert main(["export", "0", "--format", "torchscript", "--out", "g.pt"]) == 0
    assert main(["eval", "0", "-n", "100", "--n-ref", "100", "--metrics", "coverage"]) == 0
    assert main(["train", "--resume", "0", "--steps", "3", "--quiet"]) == 0
    assert "coverage" in capsys.readouterr().out
    import ganforge.cli.serve as serve_cli

    seen = []
    monkeypatch.setattr("ganforge.web.httpbase.serve_until_interrupted", lambda server, what, **k: seen.append(what) or 0)
    assert serve_cli.run(build_parser().parse_args(["serve", "0", "--port", "0"])) == 0
    assert seen and seen[0].endswith("00000-quick")
    assert main(["generate", "7", "--grid", "x.png"]) == 2
    assert "run 7 not found" in capsys.readouterr().err


def test_a_misspelt_key_suggests_the_real_field(capsys):
    assert main(["train", "train.lr=-1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "did you mean optim.lr_g or optim.lr_d?" in err and err.count("\n") == 1


def test_the_latent_walk_has_the_frames_its_message_says(tmp_path, capsys):
    assert main(["train", "--preset", "quick", "--resolution", "16", "--runs-dir", str(tmp_path / "runs"), *SMALL]) == 0
    run = next((tmp_path / "runs").iterdir())
    capsys.readouterr()
    for frames, rows in ((10, 8), (4, 2)):
        out = tmp_path / f"walk{frames}.gif"
        assert main(["generate", str(run), "--interpolate", str(out), "--frames", str(frames), "--rows", str(rows)]) == 0
        msg = capsys.readouterr().out
        said = re.search(r"a (\d+)-frame GIF.*\((\d+)x(\d+) px\)", msg)
        with Image.open(out) as im:
            assert im.n_frames == int(said.group(1)) == frames, msg
            assert im.size == (int(said.group(2)), int(said.group(3)))
            assert im.size[0] >= 64 * int(np.ceil(np.sqrt(rows)))  # cells of at least 64 px
        assert f"{rows} walk(s) of {frames} frames" in msg


def test_the_labs_pictures_carry_their_colour_key(tmp_path):
    from ganforge.lab2d.picture import FAKE, LEGEND, REAL

    assert main(["lab", "--headless", "steps=30", "batch_size=64", "neurons=32", "layers=2", "--out", str(tmp_path)]) == 0
    with Image.open(tmp_path / "final.png") as im:
        assert im.text["Legend"] == "; ".join(LEGEND)
        rgb = np.asarray(im.convert("RGB"))
    with Image.open(tmp_path / "evolution.gif") as gif:
        assert gif.info["comment"].decode() == "; ".join(LEGEND)
    key = rgb[int(rgb.shape[0] * 0.82):]  # the band under the view: markers and D's verdict bar
    for colour in (REAL, FAKE):
        want = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(key.astype(int) - want).sum(-1) < 40).sum() > 10, colour
    bar = key[-int(rgb.shape[0] * 0.08):]
    assert bar[..., 1].max() - bar[..., 1].min() > 60  # the verdict bar runs from purple to green


# ---- threads that share the CPU ---------------------------------------------------------------------
def fake_counters(share, monkeypatch, others_per_window):
    """Feed CpuShare windows in which other programs used the given numbers of cores."""
    state = {"t": 0.0, "busy": 0.0, "own": 0.0}
    it = iter(others_per_window)

    def read():
        o = next(it, 0.0)
        state["t"] += 2.0
        state["own"] += 2.0 * 100 * share.threads * 0.9
        state["busy"] += 2.0 * 100 * (share.threads * 0.9 + o)
        return state["t"], state["busy"], state["own"]

    monkeypatch.setattr("ganforge.threads.TICKS", 100)
    monkeypatch.setattr(share, "_read", read)
    monkeypatch.setattr("ganforge.threads.time.monotonic", lambda: state["t"] + 2.0)
    share._last = (state["t"], state["busy"], state["own"])


def test_threads_follow_the_cores_others_leave_free(monkeypatch):
    share = CpuShare(2)
    share.cpus = [0, 1]
    fake_counters(share, monkeypatch, [0.05, 1.0, 1.0, 0.9, 0.1, 0.0, 0.0, 2.0, 0.4, 0.1])
    got = [share.poll() for _ in range(10)]
    #         free    busy  (stays) (stays) calm   back  -     two busy  partly  calm
    assert got == [None, 1, None, None, None, 2, None, 1, None, None]
    assert share.threads == 1 and "training on 1 thread" in share.message()


def test_training_drops_a_thread_when_another_program_takes_a_core_and_says_so(tmp_path, monkeypatch, capsys):
    import ganforge.threads as T

    real_poll = T.CpuShare.poll

    def busy_poll(self):  # every window: another program holds a whole core
        self.others, self._last = 1.0, (time.monotonic(), 0, 0)
        if self.threads > 1:
            self.threads = 1
            return 1
        return None

    monkeypatch.setattr(T.CpuShare, "poll", busy_poll)
    seen = []
    real_set = torch.set_num_threads
    before = torch.get_num_threads()
    real_set(2)  # as a fresh process on two cores starts (other tests may have left one thread)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n) or real_set(n))
    assert main(["train", "--preset", "quick", "--resolution", "16", "--runs-dir", str(tmp_path), *SMALL[1:]]) == 0
    out = capsys.readouterr().out
    assert "another program is using about 1.0 of the" in out and "training on 1 thread" in out
    assert seen[0] == 1 and torch.get_num_threads() == 2  # restored when training ends
    monkeypatch.setattr(T.CpuShare, "poll", real_poll)
    seen.clear()
    assert main(["train", "--preset", "quick", "--resolution", "16", "--runs-dir", str(tmp_path), *SMALL[1:],
                 "train.threads=2"]) == 0
    assert 1 not in seen  # a thread count the user set is kept
    real_set(before)


def test_the_progress_line_says_when_images_per_second_collapses(tmp_path, capsys):
    from ganforge.training.logger import SLOW_LOGS, RunLogger

    log = RunLogger(tmp_path, 100, tensorboard=False)
    log.start(0, 0)
    t = [0.0]
    images = [0]

    def step(ips):
        t[0] += 1.0
        images[0] += ips
        log.last = (0, images[0] - ips, t[0] - 1.0)
        import ganforge.training.logger as L

        L.time.perf_counter = lambda: t[0]
        log.log(1, 0.0, images[0], {"d_loss": 1.0})

    import ganforge.training.logger as L

    real = L.time.perf_counter
    try:
        for ips in [800] * 3 + [300] * SLOW_LOGS + [300] * 3:
            step(ips)
    finally:
        L.time.perf_counter = real
        log.close()
    out = capsys.readouterr().out
    assert out.count("another program seems to be using the CPU") == 1 and "best (800)" in out
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["images_per_s"] == 300
