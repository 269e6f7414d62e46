"""The lab's samplers on cases with a known answer, its mixture noise, points from CSV files, and model files
saved and loaded: through the library, the command line and the server."""

import base64
import json
import threading

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.lab2d import modelfile, samplers
from ganforge.lab2d.dists import MAX_POINTS, parse_csv
from ganforge.lab2d.noise import Noise, layout
from ganforge.lab2d.server import make_lab_server
from ganforge.lab2d.session import LabSession
from ganforge.lab2d.settings import LabSettings, updated
from ganforge.lab2d.trainer import LabTrainer
from rawhttp import is_json_error, request, strict_json

SMALL = {"neurons": 32, "layers": 2, "batch_size": 64}


class KnownLogit:
    """A calibrated logit given by a formula (what a D that knows the answer would say)."""

    def __init__(self, fn):
        self.fn = fn

    def logit(self, x):
        return self.fn(x)

    def gradient(self, x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(self.fn(x).sum(), x)
        return g


def test_rejection_keeps_the_half_plane_d_believes_in():
    pts = torch.rand(4000, 2) * 2 - 1
    d = KnownLogit(lambda x: torch.where(x[:, 0] < 0, torch.tensor(-30.0), torch.tensor(0.0)))
    keep, threshold = samplers.reject(d, pts, torch.Generator().manual_seed(0))
    assert threshold == 0.0
    assert (pts[keep][:, 0] >= 0).all()  # nothing from the half D rejects
    assert keep[pts[:, 0] >= 0].all()    # everything from the half it accepts


def test_refinement_moves_points_uphill_within_reach_and_bounds():
    torch.manual_seed(0)
    radius = 2.0
    pts = torch.rand(500, 2) * 4 - 2
    for centre in (torch.tensor([0.5, -0.3]), torch.tensor([5.0, 5.0])):  # the second lies off the plane
        d = KnownLogit(lambda x, c=centre: -((x - c) ** 2).sum(1))
        moved = samplers.refine(d, pts, radius)
        assert (d.logit(moved) >= d.logit(pts) - 1e-6).all()  # every point uphill (or already at the top)
        assert moved.abs().max() <= radius + 1e-6
        assert (moved - pts).norm(dim=1).max() <= samplers.MAX_MOVE * radius + 1e-5


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    t = LabTrainer(updated(LabSettings(), {**SMALL, "seed": 3}))
    for _ in range(60):
        t.train_step()
    return t


@pytest.mark.parametrize("sampler", samplers.SAMPLERS)
def test_the_same_seed_gives_the_same_points_for_every_sampler(trained, sampler, monkeypatch):
    monkeypatch.setattr(samplers, "CALIBRATE_STEPS", 30)
    a = samplers.draw(trained, samplers.calibrate(trained, sampler, 30), 300, 7, sampler)
    b = samplers.draw(trained, samplers.calibrate(trained, sampler, 30), 300, 7, sampler)
    assert a.points.shape == (300, 2) and torch.equal(a.points, b.points)
    plain = samplers.draw(trained, {}, 300, 7, "plain")
    assert torch.equal(a.plain[:300], plain.points)  # every sampler starts from G's same points


def test_a_mixture_is_separate_gaussians_evenly_spread():
    m = layout(25, 2)
    assert m.shape == (25, 2) and len({tuple(r) for r in m.tolist()}) == 25 and m.abs().max() == 1
    noise = Noise("mixture", 2, 25, 0.01)
    z, comp = noise.sample(5000, torch.Generator().manual_seed(0))
    assert (z - noise.means[comp]).norm(dim=1).max() < 0.06  # each point near its own component
    assert len(comp.unique()) == 25
    grid, shape = noise.grid()
    assert shape == [25, 5, 5] and grid.shape == (625, 2)


def write_points(path, n, rng):
    pts = rng.normal(size=(n, 2)).astype(np.float32)
    np.savetxt(path, pts, delimiter=",", header="x,y", comments="", fmt="%.4f")
    return pts


def test_points_from_csv_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    good = write_points(tmp_path / "good.csv", 200, rng)
    pts, said = parse_csv((tmp_path / "good.csv").read_text())
    assert np.allclose(np.array(pts), good, atol=1e-4) and said == "200 points"
    big = tmp_path / "big.csv"
    write_points(big, 1_000_000, rng)
    pts, said = parse_csv(big.read_text())
    assert len(pts) == MAX_POINTS and said == f"{MAX_POINTS:,} of its 1,000,000 points, chosen at random"
    assert parse_csv(big.read_text())[0] == pts  # the same choice again
    for text, needle in (("x,y\n1,2\nhello,3\n4,5\n", "line 3 of the CSV is not two numbers"),
                         ("1,2\n3,4\n", "holds 2 point(s)"), ("1,2\nnan,3\n4,5\n6,7\n", "finite numbers"),
                         ("1,2,3\n4,5,6\n7,8,9\n", "line 1"), ("", "holds 0 point(s)")):
        with pytest.raises(Exception) as e:
            parse_csv(text)
        assert needle in str(e.value) and "\n" not in str(e.value), (text, str(e.value))
    # the command line: a good file trains; a bad one is one line, exit 2
    out = tmp_path / "out"
    assert main(["lab", "--headless", "--points", str(tmp_path / "good.csv"), "steps=20", "sampler=plain",
                 *[f"{k}={v}" for k, v in SMALL.items()], "--out", str(out)]) == 0
    assert "read 200 points" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["settings"]["dist"] == "points"
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n5,6\n")
    for argv, needle in ((["--points", str(tmp_path / "bad.csv")], "line 2"),
                         (["--points", str(tmp_path / "none.csv")], "not found")):
        assert main(["lab", *argv, "--dry-run"]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err


@pytest.fixture
def lab():
    session = LabSession(updated(LabSettings(), {**SMALL, "sampler": "plain"}), say=lambda m: None)
    server = make_lab_server(session, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield session, server.server_address[1]
    server.shutdown()
    server.server_close()
    session.close()


def frame_of(port):
    return strict_json(request(port, "GET", "/api/frame")[2])


def test_a_saved_model_loads_back_to_the_same_frame(lab):
    session, port = lab
    for _ in range(5):
        assert request(port, "POST", "/api/control", {"action": "step"})[0] == 200
    status, headers, data = request(port, "GET", "/api/model")
    assert status == 200 and "attachment" in headers["content-disposition"]
    before = frame_of(port)
    assert request(port, "POST", "/api/control", {"action": "reset"})[0] == 200
    assert frame_of(port)["step"] == 0
    status, _, body = request(port, "POST", "/api/model", {"model": base64.b64encode(data).decode()})
    assert status == 200, body
    after = frame_of(port)
    for key in ("step", "fake", "heat", "manifold", "settings", "push"):
        assert after[key] == before[key], key
    t = modelfile.from_bytes(data)  # and in Python
    assert t.step == 5 and all(torch.equal(a, b) for a, b in zip(t.G.parameters(), session.trainer.G.parameters()))


def test_bad_files_answer_beside_their_control_and_training_goes_on(lab, tmp_path, capsys):
    session, port = lab
    good = modelfile.to_bytes(session.trainer)
    header = int.from_bytes(good[:8], "little")
    other = bytearray(good)
    meta = json.loads(other[8:8 + header])
    inner = json.loads(meta["__metadata__"]["ganforge_lab"])
    inner["format"] = 99
    meta["__metadata__"]["ganforge_lab"] = json.dumps(inner)
    text = json.dumps(meta).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    other = len(text).to_bytes(8, "little") + text + bytes(good[8 + header:])
    cases = [(good[: len(good) // 2], "cut short"), (b"not a model at all", "not a whole lab model file"),
             (bytes(other), "format 99")]
    for data, needle in cases:
        status, headers, body = request(port, "POST", "/api/model", {"model": base64.b64encode(data).decode()})
        assert status == 400 and needle in is_json_error(status, headers, body) and strict_json(body)["field"] == "model"
        path = tmp_path / "m.safetensors"
        path.write_bytes(data)
        assert main(["lab", "--model", str(path), "--dry-run"]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    status, headers, body = request(port, "POST", "/api/model", {"model": "%%% not base64"})
    assert status == 400 and "base64" in is_json_error(status, headers, body)
    for csv, needle in (("1,2\n3,x\n", "line 2"), ("1,2\n", "holds 1 point")):
        status, headers, body = request(port, "POST", "/api/points", {"csv": csv})
        assert status == 400 and needle in is_json_error(status, headers, body) and strict_json(body)["field"] == "points"
    for body, field in (({"sampler": "magic"}, "sampler"), ({"components": 0}, "components"),
                        ({"component_std": 0}, "component_std"), ({"model": "resnet"}, "model")):
        status, headers, raw = request(port, "POST", "/api/settings", body)
        assert status == 400 and strict_json(raw)["field"] == field
    for item, needle in (("sampler=magic", "sampler must be one of"), ("components=0", "components must be from 1")):
        assert main(["lab", item, "--dry-run"]) == 2
        assert needle in capsys.readouterr().err
    before = frame_of(port)["step"]
    assert request(port, "POST", "/api/control", {"action": "step"})[0] == 200
    assert frame_of(port)["step"] == before + 1  # the trainer kept going


def test_csv_points_over_http_and_the_live_sampler_view(lab):
    session, port = lab
    rng = np.random.default_rng(1)
    text = "x,y\n" + "\n".join(f"{a:.3f},{b:.3f}" for a, b in rng.normal(size=(300, 2)))
    status, _, body = request(port, "POST", "/api/points", {"csv": text})
    assert status == 200 and strict_json(body)["said"] == "read 300 points"
    f = frame_of(port)
    assert f["settings"]["dist"] == "points" and f["drawn_count"] == 300 and f["settings"]["drawn"] is None
    assert "sampled" not in f
    for name, keys in (("rejection", {"kept", "kept_share"}), ("refine", {"moved", "mean_move"}),
                       ("both", {"kept", "moved"})):
        assert request(port, "POST", "/api/settings", {"sampler": name})[0] == 200
        f = frame_of(port)
        assert keys <= set(f["sampled"]) and f["sampled"]["name"] == name
        if "kept" in keys:
            assert len(f["sampled"]["kept"]) == len(f["fake"]) and 0 < f["sampled"]["kept_share"] <= 1


def test_the_help_says_the_default_steps_the_settings_use():
    from ganforge.cli import lab as lab_cli

    assert lab_cli.STEPS == LabSettings().steps
