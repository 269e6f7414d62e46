"""``ganforge serve`` over real sockets: only its own Host and Origin, files only from the run's samples
(symlinks resolved), numbers range-checked, bodies bounded, valid JSON always, slow and many clients."""

import os
import subprocess
import sys
import threading
import time

import pytest

from ganforge.cli import main
from ganforge.web.server import make_server
from rawhttp import exchange, is_json_error, request, strict_json

TINY = ["--preset", "quick", "--data", "digits", "--resolution", "16", "model.ngf=8", "model.ndf=8",
        "model.z_dim=16", "--quiet", "--device", "cpu", "train.sample_every=5", "train.ckpt_every=5"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    assert main(["train", *TINY, "--steps", "10", "--runs-dir", str(root / "runs")]) == 0
    return next((root / "runs").iterdir())


@pytest.fixture
def served(run):
    server = make_server(run, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_only_its_own_host_and_origin_are_answered(served):
    _, port = served
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert request(port, "GET", "/api/run", host=host)[0] == 200, host
    for path in ("/api/run", "/api/metrics", "/samples/step-00000005.png", "/api/generate", "/"):
        for kw in ({"host": f"attacker.example:{port}"}, {"host": f"127.0.0.1:{port + 1}"},
                   {"headers": {"Origin": "http://attacker.example"}}, {"headers": {"Host": None}},
                   {"headers": {"Sec-Fetch-Site": "cross-site"}}):
            status, headers, body = request(port, "GET", path, **kw)
            assert status == 403, (path, kw, status)
            is_json_error(status, headers, body)
    status, _, body = request(port, "GET", "/api/run", headers={"Origin": f"http://localhost:{port}"})
    assert status == 200 and strict_json(body)["checkpoint_step"] == 10


def test_samples_are_served_only_from_inside_the_samples_folder(run, served, tmp_path):
    _, port = served
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not really, and not the run's")
    links = {"link-out.png": secret, "link-config.png": run / "config.yaml", "link-loop.png": run / "samples" / "link-loop.png"}
    try:
        for name, target in links.items():
            (run / "samples" / name).symlink_to(target)
        (run / "samples" / "link-in.png").symlink_to(run / "samples" / "step-00000005.png")
        for name in links:
            status, headers, body = request(port, "GET", f"/samples/{name}")
            assert status == 404 and b"not really" not in body, name
            is_json_error(status, headers, body)
        status, headers, body = request(port, "GET", "/samples/link-in.png")  # a link within the folder
        assert status == 200 and body == (run / "samples" / "step-00000005.png").read_bytes()
    finally:
        for name in [*links, "link-in.png"]:
            (run / "samples" / name).unlink(missing_ok=True)


@pytest.mark.parametrize("query,needle", [
    ("seed=99999999999999999999999", "seed"), ("seed=9223372036854775808", "seed"), ("seed=-1", "seed"),
    ("seed=%C2%B2", "seed"), ("seed=%D9%A3", "seed"), ("rows=-1", "rows"), ("cols=1e3", "cols"),
    ("rows=300", "rows"), ("rows=100&cols=100", "at most 256"),
])
def test_numbers_in_requests_are_range_checked(served, query, needle):
    _, port = served
    status, headers, body = request(port, "GET", f"/api/generate?{query}")
    assert status == 400 and needle in is_json_error(status, headers, body), query
    assert request(port, "GET", "/api/generate?seed=9223372036854775807&rows=1&cols=1")[0] == 200
    for after in ("%C2%B2", "-2", "abc"):
        assert request(port, "GET", f"/api/metrics?after={after}")[0] == 400


def test_bodies_methods_and_odd_requests_get_json_refusals(served):
    _, port = served
    head = f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    for extra, code in (("Content-Length: -1\r\n", 400), ("Content-Length: abc\r\n", 400), ("", 411),
                        ("Transfer-Encoding: chunked\r\n", 400), ("Content-Length: 99999999\r\n", 413),
                        ("Content-Length: 2\r\n", 404)):
        status, headers, body = exchange(port, (head + extra + "\r\n").encode() + b"{}")
        assert status == code, (extra, status)
        is_json_error(status, headers, body)
    status, headers, body = request(port, "POST", "/api/run", {}, content_type="text/plain")
    assert status == 415
    for method in ("PUT", "DELETE", "OPTIONS"):
        status, headers, body = request(port, method, "/api/run")
        assert status == 405 and is_json_error(status, headers, body)
    status, headers, body = exchange(port, f"BREW /api/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert status == 405 and is_json_error(status, headers, body)
    status, headers, body = exchange(port, b"GET /api/run HTTP/1.1 extra\r\n\r\n")
    assert status == 400 and "Bad request" in is_json_error(status, headers, body)


def test_non_finite_numbers_in_the_run_reach_the_page_as_null(run, served):
    _, port = served
    metrics = run / "metrics.jsonl"
    before = metrics.read_bytes()
    try:
        with open(metrics, "a") as f:  # what a diverged run's logger writes
            f.write('{"kind": "train", "step": 11, "d_loss": NaN, "g_loss": Infinity, "D(x)": -Infinity}\n')
        status, _, body = request(port, "GET", "/api/metrics?after=0")
        last = strict_json(body)["records"][-1]
        assert status == 200 and last["d_loss"] is None and last["g_loss"] is None and last["D(x)"] is None
    finally:
        metrics.write_bytes(before)


def test_slow_clients_are_dropped_and_drawing_is_bounded(served, monkeypatch):
    import socket

    server, port = served
    server.request_timeout = 1.0
    slow = []
    for _ in range(20):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /api/run HTTP/1.1\r\nHost: 127.0.0.1")
        slow.append(c)
    t = time.monotonic()
    assert request(port, "GET", "/api/run")[0] == 200
    assert time.monotonic() - t < 1.0
    time.sleep(1.6)
    for c in slow:
        assert c.recv(100) == b""
        c.close()
    # at most two grids are drawn at once; the rest wait their turn and are answered
    view, busy, peak = server.view, [0], [0]
    real = view.grid_png
    lock = threading.Lock()

    def counted(*a, **k):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        try:
            time.sleep(0.2)
            return real(*a, **k)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(view, "grid_png", counted)
    codes = []
    threads = [threading.Thread(target=lambda i=i: codes.append(request(port, "GET", f"/api/generate?seed={i}")[0]))
               for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert codes == [200] * 6 and peak[0] == 2


def test_a_non_loopback_host_warns(run):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "serve", str(run), "--host", "0.0.0.0", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        warning = p.stderr.readline()
        line = p.stdout.readline()
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert warning.startswith("warning: listening on 0.0.0.0") and "anyone who can reach" in warning
    assert "serving" in line and "http://127.0.0.1:" in line
