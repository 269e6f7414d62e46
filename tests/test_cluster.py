"""Training that survives a cluster: SIGTERM and SIGUSR1 checkpoint and stop, a restart or a requeued job
continues its run folder, a rank killed under torchrun's --max-restarts, two torchrun nodes on loopback and
one of them lost and started again; each ends with the weights of an unbroken run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.files import stale_temps
from test_distributed import assert_same, initial_weights
from test_train import TINY

HERE = Path(__file__).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SAYS = [a for a in TINY if a != "--quiet"]  # the tiny run, saying what it does with its folder
MLP = ["train", *TINY, "--arch", "mlp", "--batch-size", "64"]  # no BatchNorm: several processes match one exactly


def ganforge(args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganforge", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def steps_logged(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line).get("kind") == "train"]


def newest_step(run: Path) -> int:
    ckpt = checkpoint.newest_complete(run / "checkpoints", warn=lambda msg: None)
    return -1 if ckpt is None else int(ckpt.name[5:13])


# ---- signals ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_ten_times_at_random_moments_loses_no_step(tmp_path):
    run = tmp_path / "job"
    args = ["train", *SAYS, "--steps", "100000", "--run-dir", str(run), "train.ckpt_every=100000",
            "train.log_every=7", "train.sample_every=50"]
    rng = random.Random(0)
    reached = handled = 0
    for i in range(10):
        logged = len(steps_logged(run)) if (run / "metrics.jsonl").is_file() else 0
        p = ganforge(args)
        if i % 3 == 0:                              # a moment in start-up, the handler perhaps not yet there
            time.sleep(rng.uniform(0.5, 4.0))
        else:                                       # a moment anywhere in a step, once training runs
            wait_for(lambda n=logged: (run / "metrics.jsonl").is_file() and len(steps_logged(run)) > n, 120)
            time.sleep(rng.uniform(0.0, 1.5))
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
        if p.returncode == -signal.SIGTERM:         # before the handler stood: nothing new, nothing lost
            assert max(newest_step(run), 0) == reached
            continue
        handled += 1
        assert p.returncode == 143, err[-2000:]
        assert "stopped by SIGTERM at step" in err
        step = newest_step(run)
        assert step > reached and f"at step {step};" in err       # its checkpoint is the step it stopped at
        if reached:
            assert f"resuming {run} at step {reached} " in out    # and the next start went on from there
        logged = steps_logged(run)
        assert logged == sorted(set(logged)) and logged[-1] == step  # in order, up to the step reached
        assert stale_temps(run) == []
        reached = step
    assert reached > 0 and handled >= 6, handled     # those sent once training ran, at least
    assert main(["generate", str(run), "--grid", str(tmp_path / "g.png"), "--seed", "1"]) == 0
    assert (tmp_path / "g.png").is_file()


def test_sigusr1_and_a_second_sigterm(tmp_path):
    run = tmp_path / "job"
    args = ["train", *TINY, "--steps", "100000", "--run-dir", str(run), "train.ckpt_every=100000",
            "train.log_every=5"]
    p = ganforge(args)
    wait_for_file(run / "metrics.jsonl")
    p.send_signal(signal.SIGUSR1)                   # SLURM's warning ahead of the end: checkpoint and stop
    out, err = p.communicate(timeout=120)
    assert p.returncode == 138 and "stopped by SIGUSR1" in err, err[-2000:]
    first = newest_step(run)
    assert first > 0
    p = ganforge(args)                              # a second SIGTERM stops at once, losing nothing written
    wait_for(lambda: max(steps_logged(run)) > first, 60)
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=120)
    assert p.returncode in (130, 143)
    assert newest_step(run) >= first and checkpoint.newest_complete(run / "checkpoints") is not None


def test_lab_headless_writes_what_it_reached_on_sigterm(tmp_path):
    p = ganforge(["lab", "--headless", "--dist", "ring", "--steps", "1000000", "--out", str(tmp_path / "lab")])
    wait_for((tmp_path / "lab").is_dir, 120)         # made once the run started, its signals handled
    time.sleep(2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err[-2000:]
    m = json.loads((tmp_path / "lab" / "metrics.json").read_text())
    assert m["stopped_by"] == "SIGTERM" and 0 < m["steps"] < 1_000_000
    for name in ("samples.npy", "final.png", "evolution.gif", "model.safetensors"):
        assert (tmp_path / "lab" / name).is_file()


# ---- the same command line continues its run --------------------------------------------------------------
def test_run_dir_starts_resumes_and_restarts_a_run_without_checkpoints(tmp_path, capsys):
    run = tmp_path / "job"
    args = ["train", *SAYS, "--run-dir", str(run)]
    assert main([*args, "--steps", "4"]) == 0
    assert newest_step(run) == 4 and (run / "config.yaml").is_file()
    assert main([*args, "--steps", "6"]) == 0      # the same line, longer: continues it
    assert newest_step(run) == 6 and "continuing" in capsys.readouterr().out
    assert main([*args, "--steps", "6"]) == 0      # done already: says so
    assert "already reached step 6" in capsys.readouterr().out
    for p in (run / "checkpoints").iterdir():      # a job killed before its first checkpoint
        p.unlink()
    assert main([*args, "--steps", "3"]) == 0
    assert "has no complete checkpoint yet: starting it again from step 0" in capsys.readouterr().out
    assert steps_logged(run)[0] <= 3 and newest_step(run) == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main([*args[:-1], str(tmp_path / "other"), "--steps", "2"]) == 2
    assert "holds other files and no run" in capsys.readouterr().err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


# ---- torchrun: a rank killed, two nodes, a node lost ----------------------------------------------------
def torchrun(args, nproc=2, extra=(), cwd=None, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", *extra,
           str(HERE / "crash_at_step.py"), *args]
    return subprocess.Popen(cmd, env={**ENV, **kw.pop("env", {})}, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def final_weights(run: Path) -> dict:
    return load_file(checkpoint.newest_complete(run / "checkpoints"))


def reference(tmp_path, steps: int) -> dict:
    assert main([*MLP, "--steps", str(steps), "--runs-dir", str(tmp_path / "ref")]) == 0
    return final_weights(next((tmp_path / "ref").iterdir()))


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_a_rank_killed_under_max_restarts_finishes_the_run_in_its_folder(tmp_path):
    args = [a for a in MLP if a != "--quiet"] + ["--steps", "8", "train.ckpt_every=2", "--runs-dir", str(tmp_path / "runs")]
    crash = {"GANFORGE_CRASH_AT": "5", "GANFORGE_CRASH_MARK": str(tmp_path / "crashed")}
    p = torchrun(args, extra=["--standalone", "--max-restarts=2"], env=crash)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    assert (tmp_path / "crashed").is_file()        # rank 1 did die, at step 5
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and f"resuming {runs[0]} at step 4 of 8" in out, out  # the newest checkpoint then
    assert newest_step(runs[0]) == 8
    assert_same(reference(tmp_path, 8), final_weights(runs[0]), initial_weights([*MLP, "--steps", "8"]))


def node(args, port, cwd, crash=None) -> subprocess.Popen:
    """One node's torchrun agent (in a process group of its own, as a machine would be) with one worker,
    started as the README says: with a store of its own for every round of workers."""
    extra = ["--nnodes=2", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=test-job",
             "--max-restarts=2"]
    env = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", **(crash or {})}
    return torchrun(args, nproc=1, extra=extra, cwd=cwd, env=env, start_new_session=True)


def listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_nodes_train_as_one_and_a_lost_node_started_again_continues(tmp_path):
    args = [*MLP, "--steps", "8", "train.ckpt_every=2", "--runs-dir", str(tmp_path / "runs")]
    want = reference(tmp_path, 8)
    init = initial_weights([*MLP, "--steps", "8"])
    for case in ("whole", "node lost"):
        runs = tmp_path / "runs"
        for p in runs.glob("*/"):
            subprocess.run(["rm", "-rf", str(p)], check=True)
        crash = {"GANFORGE_CRASH_AT": "5", "GANFORGE_CRASH_MARK": str(tmp_path / f"crashed-{len(case)}"),
                 "GANFORGE_CRASH_GROUP": "1", "GANFORGE_CRASH_RANK": "-1"} if case == "node lost" else None
        port = free_port()
        node0 = node(args, port, tmp_path)             # this node hosts the rendezvous (the c10d store
        wait_for(lambda p=port: listening(p), 60)          # lives with it: the node lost is the other one)
        node1 = node(args, port, tmp_path, crash)
        if crash:
            assert node1.wait(timeout=600) == -signal.SIGKILL   # the node died, agent and worker
            node1 = node(args, port, tmp_path)                   # and is started again, the same command
        for agent in (node0, node1):
            out, err = agent.communicate(timeout=600)
            assert agent.returncode == 0, err[-3000:]
        done = list(runs.iterdir())
        assert len(done) == 1 and newest_step(done[0]) == 8, case
        assert_same(want, final_weights(done[0]), init)


# ---- helpers ---------------------------------------------------------------------------------------------
def wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.1)


def wait_for_file(path: Path, timeout=60.0):
    wait_for(path.is_file, timeout)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_lite_under_torchrun_resumes_after_a_rank_is_killed(tmp_path):
    """The lite family on two ranks (its BatchNorm statistics per rank): rank 1 dies at step 5, torchrun starts
    the round again, and the run goes on from its newest checkpoint in its own folder to the end."""
    args = ["train", *[a for a in TINY if a != "--quiet"], "--arch", "lite", "--resolution", "16", "--batch-size", "16",
            "--steps", "8", "train.ckpt_every=2", "--runs-dir", str(tmp_path / "runs")]
    crash = {"GANFORGE_CRASH_AT": "5", "GANFORGE_CRASH_MARK": str(tmp_path / "crashed")}
    p = torchrun(args, extra=["--standalone", "--max-restarts=2"], env=crash)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    assert (tmp_path / "crashed").is_file()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and f"resuming {runs[0]} at step 4 of 8" in out, out
    assert newest_step(runs[0]) == 8 and "arch: lite" in (runs[0] / "config.yaml").read_text()
