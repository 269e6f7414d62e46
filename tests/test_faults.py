"""Trust at the edges: damaged checkpoints and metrics, a crash inside a checkpoint write, YAML switch words."""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from browser import chrome, console_errors, wait_for  # noqa: F401 (chrome is a fixture)
from ganforge import checkpoint
from ganforge import config as C
from ganforge.cli import main
from test_train import TINY, only_run, train

CKPTS = "checkpoints"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A tiny run with checkpoints at steps 3 and 6 (copied by each test before damaging it)."""
    root = tmp_path_factory.mktemp("base")
    os.environ.setdefault("GANFORGE_OFFLINE", "1")
    assert train(root, "--steps", "6", "train.ckpt_every=3", "train.sample_every=3", "train.log_every=1") == 0
    return only_run(root)


def copy_run(base_run, tmp_path) -> Path:
    run = tmp_path / "runs" / base_run.name
    shutil.copytree(base_run, run)
    return run


def damage(run: Path, how: str, step: int = 6) -> Path:
    w = run / CKPTS / f"ckpt-{step:08d}.safetensors"
    s = checkpoint.state_path(w)
    if how == "cut":  # a copy that broke off
        w.write_bytes(w.read_bytes()[:1000])
    elif how == "empty":
        w.write_bytes(b"")
    elif how == "other-format":
        w.write_bytes((run / "loss.png").read_bytes())
    elif how == "cut-tail":  # the header is whole, the last tensor is not
        w.write_bytes(w.read_bytes()[:-10])
    elif how == "no-state":
        s.unlink()
    elif how == "cut-state":
        s.write_bytes(s.read_bytes()[: s.stat().st_size // 2])
    else:
        raise ValueError(how)
    return w


HOW = ["cut", "empty", "other-format", "cut-tail", "no-state", "cut-state"]


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_newest_checkpoint_is_passed_over_with_a_reason(base_run, tmp_path, capsys, how):
    run = copy_run(base_run, tmp_path)
    damage(run, how)
    assert checkpoint.problem(run / CKPTS / "ckpt-00000003.safetensors") is None
    assert checkpoint.problem(run / CKPTS / "ckpt-00000006.safetensors") is not None

    capsys.readouterr()
    assert main(["generate", str(run), "--grid", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr()
    assert "step 3" in out.out and (tmp_path / "g.png").is_file()
    warn = [line for line in out.err.splitlines() if line.startswith("warning:")]
    assert len(warn) == 1 and "ckpt-00000006" in warn[0] and "using ckpt-00000003" in warn[0], out.err

    from ganforge.web.server import RunView

    info = RunView(run).info()
    assert info["checkpoint_step"] == 3 and "ckpt-00000006" in info["checkpoint_notes"][0]
    assert RunView(run).grid_png(0, 2, 2, None, False)[:4] == b"\x89PNG"

    assert main(["train", "--resume", str(run), "--steps", "8", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "ckpt-00000006" in err
    assert [s for s, _ in checkpoint.list_checkpoints(run / CKPTS)] == [3, 6, 8]
    assert all(checkpoint.problem(p) is None for _, p in checkpoint.list_checkpoints(run / CKPTS))
    assert list((run / CKPTS).glob("*.damaged"))  # kept, out of the way
    steps = [r["step"] for r in read_records(run) if r["kind"] == "train"]
    assert steps == list(range(1, 9))


def test_no_complete_checkpoint_is_a_one_line_error_naming_the_files(base_run, tmp_path, capsys):
    run = copy_run(base_run, tmp_path)
    damage(run, "cut", 6)
    damage(run, "no-state", 3)
    for argv in (["generate", str(run)], ["train", "--resume", str(run), "--steps", "9"],
                 ["eval", str(run), "-n", "8", "--n-ref", "8"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: no complete checkpoint"), err
        assert "ckpt-00000006.safetensors: cut short" in err and "ckpt-00000003.state.pt: missing" in err
    from ganforge.web.server import RunView

    info = RunView(run).info()  # the page keeps its samples and config and says why there is no checkpoint
    assert info["checkpoint_step"] is None and info["samples"] and info["config"]
    assert "no complete checkpoint" in info["checkpoint_notes"][0]


def test_an_explicit_damaged_file_is_a_one_line_error(base_run, tmp_path, capsys):
    run = copy_run(base_run, tmp_path)
    w = damage(run, "cut")
    assert main(["generate", str(w)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cut short" in err


def read_records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line must parse


def test_a_metrics_line_cut_mid_way_is_dropped_on_resume(base_run, tmp_path):
    run = copy_run(base_run, tmp_path)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "train", "step": 6, "d_lo')  # power lost mid-write
    assert main(["train", "--resume", str(run), "--steps", "8", "--quiet"]) == 0
    steps = [r["step"] for r in read_records(run) if r["kind"] == "train"]
    assert steps == list(range(1, 9))


# A process that dies inside a checkpoint write, at a chosen point: the temp file half written, or whole
# but not yet renamed. It exits with os._exit: no finally clause runs, as when the power goes.
CRASH = """
import os, sys
from ganforge import files
real = files.atomic_write
kind, where, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = [0]

def crashing(path, write):
    if path.name.startswith("ckpt-") and path.name.endswith(kind):
        seen[0] += 1
        if seen[0] == nth:
            tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
            write(tmp)
            if where == "half":
                with open(tmp, "r+b") as f:
                    f.truncate(tmp.stat().st_size // 2)
            os._exit(9)
    return real(path, write)

files.atomic_write = crashing
from ganforge import checkpoint
checkpoint.atomic_write = crashing
from ganforge.cli import main
sys.exit(main(sys.argv[4:]))
"""
CRASH_ARGS = ["--steps", "12", "train.ckpt_every=4", "train.log_every=2", "train.sample_every=4"]


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every process: the same sums


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    root = tmp_path_factory.mktemp("unbroken")
    argv = ["train", *TINY, "--runs-dir", str(root / "runs"), *CRASH_ARGS]
    subprocess.run([sys.executable, "-m", "ganforge", *argv], env=ONE_THREAD, check=True, timeout=300)
    return only_run(root)


@pytest.mark.parametrize("kind,where", [(".state.pt", "half"), (".safetensors", "before-rename")])
def test_a_crash_inside_a_checkpoint_write_resumes_to_the_same_weights(tmp_path, unbroken, kind, where):
    """Killed while writing step 8's checkpoint (halfway through the temp file, or after it and before
    the rename): the resume cleans up, goes on from step 4, and ends with the weights of an unbroken run."""
    runs = tmp_path / "runs"
    argv = ["train", *TINY, "--runs-dir", str(runs), *CRASH_ARGS]
    env = ONE_THREAD
    p = subprocess.run([sys.executable, "-c", CRASH, kind, where, "2", *argv], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 9, p.stderr[-2000:]
    run = only_run(tmp_path)
    temps = [f for f in run.rglob("*") if ".tmp" in f.name]
    assert temps and all(f.name.startswith(".ckpt-00000008") for f in temps), temps  # what the crash left
    assert checkpoint.newest_complete(run / CKPTS).name == "ckpt-00000004.safetensors"
    p = subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(run)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "a write cut short" in p.stdout
    assert not [f for f in run.rglob("*") if ".tmp" in f.name], "temporary files left behind"
    final = checkpoint.newest_complete(run / CKPTS)
    assert final.name == "ckpt-00000012.safetensors"
    want = load_file(unbroken / CKPTS / final.name)
    got = load_file(final)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    steps = [r["step"] for r in read_records(run) if r["kind"] == "train"]
    assert steps == list(range(2, 13, 2))


# ---- YAML switches ---------------------------------------------------------------------------------
YAML11_BOOLS = {"y", "n", "yes", "no", "on", "off", "true", "false"}


def switch_words():
    return [(k, v) for k, opts in C.CHOICES.items() for v in opts if v.lower() in YAML11_BOOLS]


def test_every_choice_field_is_listed():
    """Fields validated against a fixed set of words are in C.CHOICES (the switch words are found there)."""
    assert ("train.amp", "off") in switch_words()


@pytest.mark.parametrize("key,word", switch_words())
def test_switch_words_survive_the_command_line_and_yaml(tmp_path, key, word):
    section, name = key.split(".")
    for spelling in (word, word.upper(), word.capitalize()):
        if spelling not in C.CHOICES[key]:
            continue
        cfg = C.build(None, None, [f"{key}={spelling}"], {})
        assert getattr(getattr(cfg, section), name) == spelling
        f = tmp_path / "c.yaml"
        f.write_text(f"{section}:\n  {name}: {spelling}\n")
        cfg = C.build(None, str(f), [], {})
        assert getattr(getattr(cfg, section), name) == spelling
        assert C.from_dict(yaml.safe_load(C.to_yaml(cfg))) == cfg  # config.yaml round trip


def test_bool_fields_take_yaml_switch_words_and_names_stay_words(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  channels_last: off\n  compile: on\n  name: no\ndata:\n  download: no\n")
    cfg = C.build(None, str(f), ["train.cudnn_benchmark=off", "train.sync_bn=yes"], {})
    t = cfg.train
    assert (t.channels_last, t.compile, t.cudnn_benchmark, t.sync_bn, cfg.data.download) == (False, True, False,
                                                                                             True, False)
    assert t.name == "no"


# ---- the page, in a real browser, on a damaged run ---------------------------------------------
def serve(run):
    from ganforge.web.server import make_server

    server = make_server(run, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def text(driver, id_):
    return driver.find_element("id", id_).text


def loaded(driver, id_):
    return driver.execute_script(f"const i = document.getElementById('{id_}'); return i.complete && i.naturalWidth")


def test_page_on_a_damaged_run_keeps_every_panel_working(base_run, tmp_path, chrome):  # noqa: F811
    run = copy_run(base_run, tmp_path)
    damage(run, "cut")
    server, url = serve(run)
    try:
        chrome.get(url)
        wait_for(lambda: "skipped newer checkpoint" in text(chrome, "cknote"), what="the checkpoint note")
        assert "ckpt-00000006" in text(chrome, "cknote")
        wait_for(lambda: loaded(chrome, "sample"), what="the sample grid")
        status = text(chrome, "status")
        assert "checkpoint at step 3" in status and "not answering" not in status and "|" not in status, status
        assert "preset: quick" in chrome.find_element("id", "config").get_attribute("textContent")
        chrome.find_element("id", "gen").click()
        wait_for(lambda: loaded(chrome, "fresh"), what="a fresh grid from the older checkpoint")
        assert text(chrome, "gerr") == ""
        assert console_errors(chrome) == []
    finally:
        server.shutdown()
        server.server_close()


def test_page_with_no_complete_checkpoint_says_why_beside_the_draw_button(base_run, tmp_path, chrome):  # noqa: F811
    run = copy_run(base_run, tmp_path)
    damage(run, "empty", 6)
    damage(run, "other-format", 3)
    server, url = serve(run)
    try:
        chrome.get(url)
        wait_for(lambda: "no complete checkpoint" in text(chrome, "cknote"), what="the checkpoint note")
        wait_for(lambda: loaded(chrome, "sample"), what="the sample grid")
        assert "ckpt-00000006.safetensors: empty file" in text(chrome, "cknote")
        chrome.find_element("id", "gen").click()
        wait_for(lambda: "no complete checkpoint" in text(chrome, "gerr"), what="the draw error")
        assert "step 6" in text(chrome, "status")  # the curves and status still follow metrics.jsonl
        assert [e for e in console_errors(chrome) if "Failed to load resource" not in e] == []
    finally:
        server.shutdown()
        server.server_close()


def test_page_opens_with_a_fresh_grid_and_a_rounded_epoch(base_run, tmp_path, chrome):  # noqa: F811
    import re

    run = copy_run(base_run, tmp_path)
    server, url = serve(run)
    try:
        chrome.get(url)
        wait_for(lambda: loaded(chrome, "fresh"), what="a fresh grid drawn on opening, without a click")
        wait_for(lambda: "epoch" in text(chrome, "status"), what="the status line")
        epoch = re.search(r"epoch (\S+),", text(chrome, "status")).group(1)
        assert re.fullmatch(r"\d+\.\d\d", epoch), epoch
        assert console_errors(chrome) == []
    finally:
        server.shutdown()
        server.server_close()
