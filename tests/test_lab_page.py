"""The lab page's teaching parts in headless Chromium: samplers switched live, the model overview lit by the
phase it updates, the setup kept in the address, and files (points, models) loaded from the page."""

import threading

import pytest

from browser import chrome, console_errors, wait_for  # noqa: F401 (chrome is a fixture)
from ganforge.lab2d import modelfile
from ganforge.lab2d.server import make_lab_server
from ganforge.lab2d.session import LabSession
from ganforge.lab2d.settings import LabSettings, updated

SMALL = {"neurons": 32, "layers": 2, "batch_size": 64, "sampler": "plain"}


@pytest.fixture
def lab_page():
    session = LabSession(updated(LabSettings(), SMALL), say=lambda m: None)
    server = make_lab_server(session, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield session, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    session.close()


def js(driver, expr):
    return driver.execute_script("return " + expr)


def select(driver, key, text):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "s-" + key)).select_by_visible_text(text)


def no_console_errors(driver):
    assert [e for e in console_errors(driver) if "Failed to load resource" not in e] == []


def test_samplers_switched_live_show_what_they_keep_and_move(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    with session.lock:  # a G that has learned something, so that D has bridges to doubt
        for _ in range(300):
            session.trainer.train_step()
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    assert chrome.find_element("id", "key-sampler").get_attribute("hidden") and js(chrome, "window.lab.kept") is None
    select(chrome, "sampler", "rejection")
    share = wait_for(lambda: js(chrome, "window.lab.kept"), what="a kept share")
    assert 0 < share < 1 and not chrome.find_element("id", "key-sampler").get_attribute("hidden")
    wait_for(lambda: "keeps" in chrome.find_element("id", "sampler-note").text, what="the kept share in words")
    assert f"{round(100 * js(chrome, 'window.lab.kept'))}%" in chrome.find_element("id", "sampler-note").text
    select(chrome, "sampler", "refine")
    wait_for(lambda: js(chrome, "window.lab.kept") is None and js(chrome, "window.lab.moved"), what="moved points")
    assert "moves them" in chrome.find_element("id", "sampler-note").text
    select(chrome, "sampler", "both")
    wait_for(lambda: js(chrome, "window.lab.kept") and js(chrome, "window.lab.moved"), what="kept and moved")
    select(chrome, "sampler", "plain")
    wait_for(lambda: chrome.find_element("id", "key-sampler").get_attribute("hidden"), what="the sampler key hidden")
    assert chrome.find_element("id", "sampler-note").text == "" and session.settings.sampler == "plain"
    no_console_errors(chrome)


def test_the_overview_lights_the_network_each_step_updates(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    active = lambda: [b for b in ("G", "D", "gl", "dl")  # noqa: E731
                      if "active" in chrome.find_element("id", "ov-" + b).get_attribute("class")]
    assert active() == [] and chrome.find_element("id", "ov-dl-v").text == "-"
    chrome.find_element("id", "d_step").click()
    wait_for(lambda: active() == ["D", "dl"], what="D and its loss lit after a D step")
    assert float(chrome.find_element("id", "ov-dl-v").text) == pytest.approx(session.trainer.d_loss, abs=1e-3)
    assert "updating D" in chrome.find_element("id", "ov-note").text
    chrome.find_element("id", "g_step").click()
    wait_for(lambda: active() == ["G", "gl"], what="G and its loss lit after a G step")
    assert float(chrome.find_element("id", "ov-gl-v").text) == pytest.approx(session.trainer.g_loss, abs=1e-3)
    no_console_errors(chrome)


def test_the_address_holds_the_setup_and_reopens_it(lab_page, chrome):  # noqa: F811
    session, url = lab_page
    chrome.get(url + "#lr_d=0.0003&noise=uniform&dist=grid&pack=4")
    wait_for(lambda: session.settings.dist == "grid", what="the setup from the address")
    s = session.settings
    assert (s.lr_d, s.noise, s.pack, s.layers) == (3e-4, "uniform", 4, SMALL["layers"])
    wait_for(lambda: js(chrome, "document.getElementById('s-noise').value") == "uniform", what="the controls")
    select(chrome, "loss", "hinge")  # a change on the page goes into the address
    wait_for(lambda: "loss=hinge" in js(chrome, "location.hash"), what="the address following the page")
    link = chrome.current_url
    for part in ("lr_d=0.0003", "noise=uniform", "dist=grid", "pack=4"):
        assert part in link
    session.change({"dist": "ring", "noise": "mixture", "loss": "bce", "pack": 2, "lr_d": 1e-3})
    chrome.get("about:blank")
    chrome.get(link)  # the link reopens the same setup
    wait_for(lambda: session.settings.loss == "hinge" and session.settings.dist == "grid", what="the link's setup")
    assert session.settings.noise == "uniform" and session.settings.lr_d == 3e-4
    chrome.get("about:blank")
    chrome.get(url + "#pack=999&lr_g=0.002")  # a bad value in a link: said beside its control, the rest kept
    wait_for(lambda: "pack" in chrome.find_element("id", "err-pack").text, timeout=30, what="the bad value beside its control")
    assert session.settings.pack == 4 and session.settings.lr_g == 1e-3  # nothing of that link applied
    no_console_errors(chrome)


def test_points_and_models_load_from_the_page(lab_page, chrome, tmp_path):  # noqa: F811
    session, url = lab_page
    chrome.get(url)
    wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
    good = tmp_path / "points.csv"
    good.write_text("x,y\n" + "\n".join(f"{i % 7 - 3},{i // 7 - 3}" for i in range(49)) + "\n")
    chrome.find_element("id", "load-points").send_keys(str(good))
    wait_for(lambda: session.settings.dist == "points", what="training on the file's points")
    wait_for(lambda: chrome.find_element("id", "points-note").text == "read 49 points", what="what was read")
    assert session.trainer.step == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,oops\n5,6\n")
    chrome.find_element("id", "load-points").send_keys(str(bad))
    wait_for(lambda: "line 2" in chrome.find_element("id", "err-points").text, what="the CSV error beside it")
    assert len(session.settings.drawn) == 49  # the good points stay
    with session.lock:
        for _ in range(5):
            session.trainer.train_step()
        saved = modelfile.to_bytes(session.trainer)
    (tmp_path / "m.safetensors").write_bytes(saved)
    (tmp_path / "cut.safetensors").write_bytes(saved[: len(saved) // 2])
    chrome.find_element("id", "reset").click()
    # the page too: a page still showing the step-5 model from before the reset would let the wait for the
    # loaded model's step 5 pass before the upload ends, and the upload (which pauses) would undo the play
    wait_for(lambda: session.trainer.step == 0 and js(chrome, "window.lab.step") == 0, what="the reset")
    chrome.find_element("id", "load-model").send_keys(str(tmp_path / "cut.safetensors"))
    wait_for(lambda: "cut short" in chrome.find_element("id", "err-model").text, what="the model error beside it")
    chrome.find_element("id", "load-model").send_keys(str(tmp_path / "m.safetensors"))
    wait_for(lambda: session.trainer.step == 5 and js(chrome, "window.lab.step") == 5,
             what="the saved model's step on the page")
    assert chrome.find_element("id", "err-model").text == ""
    chrome.find_element("id", "play").click()
    wait_for(lambda: js(chrome, "window.lab.step") > 30, what="training on from the loaded model")
    no_console_errors(chrome)


def test_a_paused_run_says_which_modes_are_empty_and_colours_each_noise_piece(chrome):  # noqa: F811
    session = LabSession(updated(LabSettings(), {**SMALL, "dist": "grid"}), say=lambda m: None)
    server = make_lab_server(session, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with session.lock:  # a few steps: G has not reached every mode yet
            for _ in range(5):
                session.trainer.train_step()
            with __import__("torch").no_grad():  # and its last layer knocked aside, so that modes are empty
                session.trainer.G[-2].bias.add_(0.3)
        chrome.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait_for(lambda: js(chrome, "window.lab.frames") > 1, what="first frames")
        assert js(chrome, "window.lab.pieces") == 25  # the grid's 25 pieces, each in its own colour
        note = wait_for(lambda: chrome.find_element("id", "explain-note").text, what="the note on what went wrong")
        assert note.startswith("G now: G left") and "modes empty" in note
        assert js(chrome, "window.lab.explain") == session.trainer.frame()["explain"]
        no_console_errors(chrome)
    finally:
        server.shutdown()
        server.server_close()
        session.close()
