"""The 2-D lab: metrics against known answers, distributions, determinism, headless files, errors, and
the page driven in a real headless Chromium."""

import json
import math
import threading

import numpy as np
import pytest
import torch

from browser import chrome, console_errors, wait_for  # noqa: F401 (chrome is a fixture)
from ganforge.cli import main
from ganforge.lab2d import dists
from ganforge.lab2d.metrics import grid_divergence, mode_metrics
from ganforge.lab2d.settings import LabSettings, SettingError, updated

QUICK = ["steps=40", "batch_size=64", "neurons=32", "layers=2"]


# ---- metrics ---------------------------------------------------------------------------------------
def test_points_exactly_on_every_mode_score_perfectly():
    centers, std = dists.modes("grid")
    m = mode_metrics(centers.repeat(100, 1), centers, std)
    assert (m["modes"], m["high_quality"], m["num_modes"]) == (25, 1.0, 25)
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-6)


def test_all_points_on_one_mode():
    centers, std = dists.modes("ring")
    m = mode_metrics(centers[3:4].repeat(500, 1), centers, std)
    assert (m["modes"], m["high_quality"]) == (1, 1.0)
    assert m["reverse_kl"] == pytest.approx(math.log(8))  # KL(one-hot || uniform over 8)


def test_points_far_from_every_mode():
    centers, std = dists.modes("ring")
    m = mode_metrics(torch.full((100, 2), 5.0), centers, std)
    assert (m["modes"], m["high_quality"]) == (0, 0.0)
    half = torch.cat([centers[:2].repeat(50, 1), torch.full((100, 2), 5.0)])  # half near 2 modes
    m = mode_metrics(half, centers, std)
    assert (m["modes"], m["high_quality"]) == (2, 0.5) and m["reverse_kl"] == pytest.approx(math.log(4))


def test_the_three_std_edge():
    centers, std = dists.modes("ring")
    p = centers[:1] + torch.tensor([[2.9 * std, 0.0], [3.1 * std, 0.0]])
    assert mode_metrics(p, centers, std)["high_quality"] == 0.5


def test_grid_divergence_is_zero_for_the_same_points_and_grows_apart():
    g = torch.Generator().manual_seed(0)
    a = dists.sample("ring", 4000, g)
    assert grid_divergence(a, a, 1.5)["kl"] == pytest.approx(0, abs=1e-9)
    far = grid_divergence(a, torch.zeros(4000, 2), 1.5)
    near = grid_divergence(a, dists.sample("ring", 4000, g), 1.5)
    assert far["kl"] > 10 * near["kl"] and 0 < near["js"] < far["js"] <= math.log(2) + 1e-6


# ---- distributions -------------------------------------------------------------------------------
def test_ring_and_grid_sample_their_modes_evenly():
    for name in ("ring", "grid"):
        centers, std = dists.modes(name)
        pts = dists.sample(name, 20000, torch.Generator().manual_seed(1))
        m = mode_metrics(pts, centers, std)
        # a 2-D Gaussian keeps 1 - exp(-9/2) = 98.9% of its mass within 3 standard deviations
        assert m["modes"] == len(centers) and m["reverse_kl"] < 0.01
        assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)
        d = torch.cdist(pts, centers).min(1).values
        assert d.pow(2).mean().sqrt() == pytest.approx(std * math.sqrt(2), rel=0.05)  # 2-D Gaussian spread


def test_every_distribution_samples_what_it_claims():
    g = torch.Generator().manual_seed(2)
    moons = dists.sample("moons", 4000, g)
    assert (moons[:, 1] > 0.3).float().mean() > 0.3 and (moons[:, 1] < -0.1).float().mean() > 0.2  # two arcs
    spiral = dists.sample("spiral", 4000, g)
    assert spiral.norm(dim=1).max() < 1.2 and spiral.norm(dim=1).min() < 0.1
    line = dists.sample("line", 4000, g)
    assert abs(np.corrcoef(line.T.numpy())[0, 1]) > 0.99
    two = dists.sample("two-clusters", 8000, g)
    assert (two[:, 0] < 0).float().mean() == pytest.approx(0.75, abs=0.03)
    dis = dists.sample("disjoint", 8000, g)
    assert len({(round(x / 2), round(y / 2)) for x, y in dis.tolist()}) <= 4
    drawn = dists.sample("drawn", 1000, g, drawn=[[0, 0], [1, 1], [-1, 1]])
    assert torch.cdist(drawn, torch.tensor([[0.0, 0], [1, 1], [-1, 1]])).min(1).values.max() < 0.3
    for name in dists.DISTS:
        pts = dists.sample(name, 100, g, drawn=[[0, 0], [1, 1], [-1, 1]])
        assert pts.shape == (100, 2) and pts.dtype == torch.float32 and torch.isfinite(pts).all()


# ---- settings and errors -------------------------------------------------------------------------
@pytest.mark.parametrize("changes,field", [({"dist": "nope"}, "dist"), ({"lr_d": "0"}, "lr_d"),
                                           ({"lr_g": -1}, "lr_g"), ({"layers": 0}, "layers"),
                                           ({"dist": "drawn", "drawn": [[0, 0]]}, "drawn"),
                                           ({"pack": 5}, "pack"), ({"z_dim": 3}, "z_dim"), ({"lr": 1}, "lr"),
                                           ({"neurons": "many"}, "neurons")])
def test_bad_settings_name_their_field(changes, field):
    with pytest.raises(SettingError) as e:
        updated(LabSettings(), changes)
    assert e.value.field == field and "\n" not in str(e.value)


@pytest.mark.parametrize("argv,needle", [(["--dist", "nope"], "dist must be one of"), (["lr_d=0"], "positive"),
                                         (["layers=0"], "layers"), (["--dist", "drawn"], "at least 3 points"),
                                         (["nokey"], "KEY=VALUE")])
def test_bad_command_lines_are_one_line_errors(capsys, argv, needle):
    assert main(["lab", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err


def test_a_busy_port_is_a_one_line_error(capsys):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        assert main(["lab", "--port", str(s.getsockname()[1])]) == 2
        assert "cannot listen" in capsys.readouterr().err
    finally:
        s.close()


# ---- headless ------------------------------------------------------------------------------------
def test_headless_writes_four_files_and_the_same_seed_repeats(tmp_path):
    for name in ("a", "b", "c"):
        seed = "3" if name != "c" else "4"
        assert main(["lab", "--headless", "--dist", "grid", "--seed", seed, *QUICK, "--out", str(tmp_path / name)]) == 0
    a = np.load(tmp_path / "a" / "samples.npy")
    assert a.shape == (10000, 2) and a.dtype == np.float32
    assert np.array_equal(a, np.load(tmp_path / "b" / "samples.npy"))
    assert not np.array_equal(a, np.load(tmp_path / "c" / "samples.npy"))
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["steps"] == 40 and m["settings"]["dist"] == "grid" and m["seconds"] > 0
    assert {"modes", "high_quality", "reverse_kl", "kl", "js"} <= set(m["final"])
    from PIL import Image

    with Image.open(tmp_path / "a" / "final.png") as im:
        assert im.size[0] > 300
    with Image.open(tmp_path / "a" / "evolution.gif") as im:
        assert im.n_frames > 10


# ---- the page in a real browser -----------------------------------------------------------------
@pytest.fixture
def lab_page():
    from ganforge.lab2d.server import make_lab_server
    from ganforge.lab2d.session import LabSession

    session = LabSession(updated(LabSettings(), {"neurons": 32, "layers": 2, "batch_size": 64}))
    server = make_lab_server(session, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield session, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    session.close()


def js(driver, expr):
    return driver.execute_script("return " + expr)


def retype(field, text):
    """Select the field's text, type over it and leave the field (as a person does: one change event)."""
    from selenium.webdriver.common.keys import Keys

    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text + Keys.TAB)


def test_page_plays_pauses_steps_and_takes_settings(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 2, what="first frames")
    assert js(chrome, "window.lab.step") == 0
    chrome.find_element("id", "step").click()  # one step moves the counter by one
    wait_for(lambda: js(chrome, "window.lab.step") == 1, what="the step counter at 1")
    chrome.find_element("id", "d_step").click()
    wait_for(lambda: js(chrome, "window.lab.step") == 2, what="a D step counted")
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.step") > 30, what="steps while playing")
    f0 = js(chrome, "window.lab.frames")
    wait_for(lambda: js(chrome, "window.lab.frames") > f0 + 5, what="frames advancing while playing")
    chrome.find_element("id", "play").click()  # pause
    wait_for(lambda: not session.playing, what="the pause")
    with session.lock:  # the iteration under way when the pause came has finished
        s0 = session.trainer.step
    wait_for(lambda: js(chrome, "window.lab.step") == s0, what="the page showing the paused step")
    f1 = js(chrome, "window.lab.frames")
    wait_for(lambda: js(chrome, "window.lab.frames") > f1 + 3, what="frames still drawn while paused")
    assert session.trainer.step == s0 and js(chrome, "window.lab.step") == s0  # paused: no training
    # a learning rate, then the distribution, changed from the page
    lr = chrome.find_element("id", "s-lr_d")
    retype(lr, "0.0003")
    wait_for(lambda: session.settings.lr_d == 3e-4, what="lr_d taking effect")
    assert all(g["lr"] == 3e-4 for g in session.trainer.opt_d.param_groups)
    from selenium.webdriver.support.ui import Select

    Select(chrome.find_element("id", "s-dist")).select_by_visible_text("grid")
    wait_for(lambda: session.settings.dist == "grid" and js(chrome, "window.lab.step") == 0,
             what="the grid distribution in place")
    wait_for(lambda: js(chrome, "document.getElementById('status').textContent").find("/25") > 0, what="25 modes")
    # bad values: a message beside the control, and the trainer goes on
    retype(lr, "-1")
    wait_for(lambda: "positive" in chrome.find_element("id", "err-lr_d").text, what="the lr error beside it")
    layers = chrome.find_element("id", "s-layers")
    retype(layers, "0")
    wait_for(lambda: "layers" in chrome.find_element("id", "err-layers").text, what="the layers error")
    assert session.settings.lr_d == 3e-4 and session.settings.layers == 2
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.step") > 20, what="training after the errors")
    assert js(chrome, "window.lab.errors") == 0
    assert [e for e in console_errors(chrome) if "Failed to load resource" not in e] == []


def test_page_trains_a_drawn_distribution(lab_page, chrome):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains

    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    view = chrome.find_element("id", "view")
    chrome.find_element("id", "use-drawn").click()  # too few points: the error shows beside the button
    wait_for(lambda: "at least 3" in chrome.find_element("id", "err-drawn").text, what="the drawn error")
    for dx, dy in ((-120, -80), (100, -60), (0, 120), (60, 60)):
        ActionChains(chrome).move_to_element_with_offset(view, dx, dy).click().perform()
    assert chrome.find_element("id", "ndrawn").text == "4"
    chrome.find_element("id", "use-drawn").click()
    wait_for(lambda: session.settings.dist == "drawn", what="the drawn distribution")
    assert len(session.settings.drawn) == 4
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.step") > 50, what="training on the drawn points")
    assert chrome.find_element("id", "err-drawn").text == ""
    assert [e for e in console_errors(chrome) if "Failed to load resource" not in e] == []


def test_page_shows_a_failed_step_beside_the_status_and_recovers_after_reset(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    with session.lock:  # a G whose weights blew up, as a learning rate of 1e308 once made it
        session.trainer.G[0].weight.data.fill_(float("inf"))
    chrome.find_element("id", "play").click()
    wait_for(lambda: "diverged" in chrome.find_element("id", "err-status").text, what="the error beside the status")
    assert "reset" in chrome.find_element("id", "err-status").text and not session.playing
    f0 = js(chrome, "window.lab.frames")
    wait_for(lambda: js(chrome, "window.lab.frames") > f0 + 3, what="frames still drawn after the failure")
    chrome.find_element("id", "reset").click()
    wait_for(lambda: chrome.find_element("id", "err-status").text == "", what="the error cleared by reset")
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.step") > 30, what="training again after reset")
    assert js(chrome, "window.lab.errors") == 0
    assert [e for e in console_errors(chrome) if "Failed to load resource" not in e] == []


@pytest.mark.parametrize("lr,learns", [(1e-3, True), (1e-12, False)])
def test_the_lab_learns_the_ring_and_not_without_a_learning_rate(lr, learns):
    """A fixed seed: a few hundred steps take G from no mode to several, and the grid KL far down; with
    learning rates of ~0 nothing moves (a G or D that never steps would look like this)."""
    from ganforge.lab2d.trainer import LabTrainer

    t = LabTrainer(updated(LabSettings(), {"seed": 0, "lr_g": lr, "lr_d": lr, "noise": "uniform"}))
    before = t.measure()
    for _ in range(300):
        t.train_step()
    after = t.measure()
    assert before["modes"] == 0 and before["high_quality"] == 0
    if learns:
        assert after["modes"] >= 3 and after["kl"] < before["kl"] / 3, after
    else:
        assert after["modes"] == 0 and after["kl"] == pytest.approx(before["kl"], rel=1e-3), after


def test_page_has_its_colour_key_a_play_hint_and_axes_before_points(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    key = chrome.find_element("id", "key").text
    for word in ("real", "fake", "G's push", "manifold", "D's verdict: fake", "real"):
        assert word in key, key
    assert js(chrome, "window.lab.hint") is True
    assert "hint" in chrome.find_element("id", "play").get_attribute("class")
    # no loss yet at step 0: the chart still has its axes (pixels drawn on the canvas)
    drawn = js(chrome, "(() => { const c = document.getElementById('c-loss'); "
                       "return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v > 0); })()")
    assert drawn
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.hint") is False, what="the hint gone once playing")
    assert "hint" not in chrome.find_element("id", "play").get_attribute("class")
