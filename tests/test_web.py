"""``ganforge serve``: the live page's JSON, sample grids and fresh samples, over 127.0.0.1."""

import io
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.web.server import RunView, make_server

web_make_server = make_server  # the real one, for tests that watch it being called

TINY = ["--data", "digits", "--resolution", "16", "model.ngf=8", "model.ndf=8", "model.z_dim=16", "--quiet",
        "train.sample_every=5", "train.ckpt_every=10", "train.log_every=2"]


def train(tmp_path, *extra):
    assert main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), *extra]) == 0
    return sorted((tmp_path / "runs").iterdir())[-1]


@pytest.fixture
def serve():
    servers = []

    def start(run):
        server = make_server(run, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        host, port = server.server_address[:2]

        def get(path):
            """(status, content type, body) for a GET of ``path``."""
            try:
                with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=60) as r:
                    return r.status, r.headers["Content-Type"], r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers["Content-Type"], e.read()
        return get

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def png(body: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(body))
    im.load()
    return im


def test_page_run_info_metrics_and_samples(tmp_path, serve):
    run = train(tmp_path, "--steps", "10")
    get = serve(run)
    status, ctype, body = get("/")
    assert status == 200 and ctype.startswith("text/html") and b"/api/metrics" in body

    info = json.loads(get("/api/run")[2])
    assert info["name"] == run.name and info["checkpoint_step"] == 10
    assert info["samples"] == sorted(p.name for p in (run / "samples").glob("*.png")) and len(info["samples"]) >= 2
    assert "arch: dcgan" in info["config"]

    lines = (run / "metrics.jsonl").read_text().splitlines()
    m = json.loads(get("/api/metrics?after=0")[2])
    assert m["total"] == len(lines) and not m["reset"] and m["records"] == [json.loads(x) for x in lines]
    assert json.loads(get(f"/api/metrics?after={len(lines) - 1}")[2])["records"] == [json.loads(lines[-1])]
    rewritten = json.loads(get(f"/api/metrics?after={len(lines) + 3}")[2])  # the file shrank (a resume)
    assert rewritten["reset"] and len(rewritten["records"]) == len(lines)

    name = info["samples"][0]
    status, ctype, body = get(f"/samples/{name}")
    assert status == 200 and ctype == "image/png" and body == (run / "samples" / name).read_bytes()
    Image.new("L", (4, 4)).save(tmp_path / "outside.png")  # a picture the page must not reach
    assert (run / "samples" / "../../../outside.png").resolve() == (tmp_path / "outside.png").resolve()
    for bad in ("/samples/../../../outside.png", f"/samples/{tmp_path / 'outside.png'}", "/samples/..%2Fconfig.yaml",
                "/samples/%2e%2e/metrics.jsonl", "/samples/nothing.png", "/samples/.hidden.png", "/checkpoints/x",
                "/api/metrics?after=x"):
        status, ctype, body = get(bad)
        assert status in (400, 404) and "error" in json.loads(body), bad


def test_metrics_are_read_as_they_are_appended_and_again_when_replaced(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    view = RunView(run)
    assert view.metrics(0) == {"total": 0, "reset": False, "records": []}  # no file yet
    f = run / "metrics.jsonl"
    f.write_text('{"step": 1}\n{"step": 2}\n')
    assert view.metrics(0)["records"] == [{"step": 1}, {"step": 2}]
    with open(f, "a") as fh:
        fh.write('{"step": 3}\n{"ste')  # the logger is mid-way through a line
    assert view.metrics(2) == {"total": 3, "reset": False, "records": [{"step": 3}]}
    with open(f, "a") as fh:
        fh.write('p": 4}\n')
    assert view.metrics(3)["records"] == [{"step": 4}]
    # a resume rewrites the file (temp file + rename): fewer records, though here more bytes
    new = [{"step": 1, "note": "kept by the resume"}, {"step": 9, "note": "written after it"}]
    tmp = run / "new.jsonl"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in new))
    assert tmp.stat().st_size > f.stat().st_size
    tmp.replace(f)
    assert view.metrics(4) == {"total": 2, "reset": True, "records": new}
    f.unlink()
    assert view.metrics(0)["total"] == 0


def test_fresh_samples_follow_the_newest_checkpoint(tmp_path, serve):
    run = train(tmp_path, "--steps", "10", "--arch", "cdcgan")
    get = serve(run)
    status, ctype, a = get("/api/generate?seed=3&rows=2&cols=3&class=7")
    assert status == 200 and ctype == "image/png"
    assert get("/api/generate?seed=3&rows=2&cols=3&class=7")[2] == a  # seeded: the same grid again
    assert get("/api/generate?seed=4&rows=2&cols=3&class=7")[2] != a
    one_class = png(a)
    every_class = png(get("/api/generate?seed=3&rows=2&cols=3")[2])  # conditional: a row per class
    assert every_class.height > 4 * one_class.height

    for query, message in (("class=99", "class must be in 0..9"), ("rows=100&cols=100", "at most 256"),
                           ("seed=x", "seed must be a whole number"), ("rows=0", "at least one row")):
        status, _, body = get(f"/api/generate?{query}")
        assert status == 400 and message in json.loads(body)["error"], query

    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 0
    assert json.loads(get("/api/run")[2])["checkpoint_step"] == 20
    assert get("/api/generate?seed=3&rows=2&cols=3&class=7")[2] != a  # the new weights, not a stale copy


def test_unconditional_run_refuses_a_class_and_a_run_without_checkpoint_says_so(tmp_path, serve):
    run = train(tmp_path, "--steps", "4")
    get = serve(run)
    status, _, body = get("/api/generate?class=1")
    assert status == 400 and "not conditional" in json.loads(body)["error"]
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    status, _, body = get("/api/generate")
    assert status == 400 and "no checkpoint yet" in json.loads(body)["error"]
    assert json.loads(get("/api/run")[2])["checkpoint_step"] is None


def test_serve_errors_are_one_line(tmp_path, capsys, serve):
    assert main(["serve", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: run") and "not found" in err and err.count("\n") == 1
    run = train(tmp_path, "--steps", "2")
    busy = make_server(run, port=0)
    try:
        port = str(busy.server_address[1])
        assert main(["serve", str(run), "--port", port]) != 0
        err = capsys.readouterr().err
        assert "cannot listen on" in err and "another port" in err and err.count("\n") == 1
        runs = sorted((tmp_path / "runs").iterdir())
        assert main(["train", *TINY, "--runs-dir", str(tmp_path / "runs"), "--serve", "--serve-port", port]) != 0
        err = capsys.readouterr().err
        assert "cannot listen on" in err and err.count("\n") == 1
        assert sorted((tmp_path / "runs").iterdir()) == runs  # refused before a run folder was made
        for bad in (["--port", "70000"], ["--port", "-1"], ["--host", "no-such-host.invalid"]):
            assert main(["serve", str(run), *bad]) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert ("out of range" if bad[0] == "--port" else "cannot listen on") in err
    finally:
        busy.server_close()


def test_train_serves_the_page_while_it_trains(tmp_path, monkeypatch):
    import ganforge.web.server as web

    made = []
    monkeypatch.setattr(web, "make_server", lambda *a, **k: made.append(web_make_server(*a, **k)) or made[-1])
    rc = []
    t = threading.Thread(target=lambda: rc.append(main(
        ["train", *TINY, "--steps", "1000000", "--minutes", "0.1", "--runs-dir", str(tmp_path / "runs"),
         "--serve", "--serve-port", "0"])))
    t.start()
    try:
        deadline = time.time() + 60
        while not made and time.time() < deadline:
            time.sleep(0.05)
        assert made, "no page was started"
        url = f"http://127.0.0.1:{made[0].server_address[1]}/"
        seen = set()
        while t.is_alive() and len(seen) < 2:
            with urllib.request.urlopen(url + "api/metrics", timeout=10) as r:
                seen.add(json.loads(r.read())["total"])  # grows as training logs
            time.sleep(0.3)
        assert len(seen) >= 2, seen
    finally:
        t.join(120)
    assert rc == [0]
    with pytest.raises(urllib.error.URLError):  # the page stops with training
        urllib.request.urlopen(url, timeout=5)
