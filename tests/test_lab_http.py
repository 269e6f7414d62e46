"""The lab's server over real sockets, without a browser: it steps and takes settings, refuses bad
values, bad bodies and other websites with JSON that names the problem, never lets its trainer die,
and holds against slow, many and heavy clients."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ganforge.lab2d.server import make_lab_server
from ganforge.lab2d.session import LabSession
from ganforge.lab2d.settings import LabSettings, updated
from rawhttp import exchange, is_json_error, request, strict_json

SMALL = {"neurons": 32, "layers": 2, "batch_size": 64}


@pytest.fixture
def lab():
    said = []
    session = LabSession(updated(LabSettings(), SMALL), say=said.append)
    server = make_lab_server(session, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    yield session, server, port, said
    server.shutdown()
    server.server_close()
    session.close()


def frame(port: int) -> dict:
    status, headers, body = request(port, "GET", "/api/frame")
    assert status == 200, body[:300]
    return strict_json(body)


def post(port: int, path: str, body, **kw):
    return request(port, "POST", path, body, **kw)


def wait_for(pred, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def still_steps(port: int) -> None:
    """The trainer answers a step with the counter one higher."""
    before = frame(port)["step"]
    status, _, body = post(port, "/api/control", {"action": "step"})
    assert status == 200, body
    assert frame(port)["step"] == before + 1


# ---- what a page does ------------------------------------------------------------------------------
def test_a_step_moves_the_counter_by_one_and_settings_take(lab):
    session, _, port, _ = lab
    assert frame(port)["step"] == 0
    still_steps(port)
    status, _, body = post(port, "/api/settings", {"lr_d": 3e-4})
    assert status == 200 and strict_json(body)["settings"]["lr_d"] == 3e-4
    assert session.settings.lr_d == 3e-4
    status, _, body = request(port, "GET", "/")
    assert status == 200 and b"ganforge lab" in body


@pytest.mark.parametrize("body,field", [
    ({"lr_g": 1e308}, "lr_g"), ({"lr_d": 1e30}, "lr_d"), ({"lr_d": 0}, "lr_d"), ({"gp_weight": 1e9}, "gp_weight"),
    ({"seed": 99999999999999999999999}, "seed"), ({"seed": -1}, "seed"),
    ({"spectral_norm": "maybe"}, "spectral_norm"), ({"spectral_norm": [0]}, "spectral_norm"),
    ({"layers": True}, "layers"), ({"layers": 2.5}, "layers"), ({"dist": 7}, "dist"),
    ({"dist": "ring", "drawn": {"any": ["json"]}}, "drawn"), ({"drawn": [[0, 0], [1, "x"], [2, 2]]}, "drawn"),
    ({"drawn": [[0, 0], [1, 1], [True, 2]]}, "drawn"), ({"drawn": [[0, 0]] * 20001}, "drawn"),
    ({"neurons": 1024, "layers": 8, "batch_size": 8192, "d_steps": 20, "g_steps": 20}, "neurons"),
    ({"batch_size": 8192}, "batch_size"), ({"no_such_setting": 1}, "no_such_setting"),
])
def test_bad_settings_answer_400_naming_the_field_and_change_nothing(lab, body, field):
    session, _, port, _ = lab
    if field == "batch_size":  # near the cost limit already: the batch is what tips it over
        assert post(port, "/api/settings", {"neurons": 512, "layers": 4, "batch_size": 512})[0] == 200
    before = session.settings.to_dict()
    status, headers, raw = post(port, "/api/settings", body)
    msg = is_json_error(status, headers, raw)
    assert status == 400 and strict_json(raw)["field"] == field, (msg, field)
    assert session.settings.to_dict() == before
    still_steps(port)


@pytest.mark.parametrize("text,needle", [
    (b'{"lr_d": Infinity}', "not JSON"), (b'{"r1": NaN}', "not JSON"), (b'{"gp_weight": -Infinity}', "not JSON"),
    (b"{not json", "not JSON"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "not JSON"), (b'"lr"', "JSON object"),
])
def test_bad_json_answers_400_and_is_never_applied(lab, text, needle):
    session, _, port, _ = lab
    before = session.settings.to_dict()
    status, headers, body = post(port, "/api/settings", None, raw_body=text)
    assert status == 400 and needle in is_json_error(status, headers, body)
    assert session.settings.to_dict() == before


def test_unknown_paths_actions_and_methods(lab):
    _, _, port, _ = lab
    for method, path, code in (("GET", "/api/nothing", 404), ("POST", "/api/nothing", 404), ("PUT", "/", 405),
                               ("DELETE", "/api/frame", 405), ("GET", "/" + "a" * 70000, 414)):
        status, headers, body = request(port, method, path, {} if method == "POST" else None)
        assert status == code, (method, path, status)
        is_json_error(status, headers, body)
    status, headers, body = post(port, "/api/control", {"action": "explode"})
    assert status == 400 and "unknown action" in is_json_error(status, headers, body)
    for after in ("%C2%B2", "x", "-1", "1e3", "99999999999999999999999"):  # '²' is a digit to Python, not here
        status, headers, body = request(port, "GET", f"/api/frame?after={after}")
        assert status == 400 and "after" in is_json_error(status, headers, body), after


# ---- other websites --------------------------------------------------------------------------------
def test_other_websites_cannot_drive_the_lab(lab):
    session, _, port, _ = lab
    before = session.settings.to_dict()
    attacks = [
        ({"Origin": "http://evil.example"}, "application/json", None, 403),
        ({}, "text/plain", None, 415),                                    # a cross-site form or simple fetch
        ({}, "application/x-www-form-urlencoded", None, 415),
        ({"Origin": "null"}, "application/json", None, 403),
        ({"Origin": f"http://127.0.0.1:{port + 1}"}, "application/json", None, 403),  # another local page
        ({"Sec-Fetch-Site": "cross-site"}, "application/json", None, 403),
        ({}, "application/json", f"evil.example:{port}", 403),            # DNS rebinding
        ({}, "application/json", f"127.0.0.1:{port + 1}", 403),
        ({"Host": None}, "application/json", None, 403),
    ]
    for headers, ctype, host, code in attacks:
        for path, body in (("/api/settings", {"lr_d": 0.002}), ("/api/control", {"action": "play"})):
            status, h, raw = post(port, path, body, headers=headers, content_type=ctype, host=host)
            assert status == code, (headers, ctype, host, status)
            is_json_error(status, h, raw)
    status, h, raw = request(port, "GET", "/api/frame", host=f"evil.example:{port}")
    assert status == 403 and "answers only at" in is_json_error(status, h, raw)
    assert session.settings.to_dict() == before and not session.playing
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert request(port, "GET", "/api/frame", host=host)[0] == 200, host
    ok = post(port, "/api/settings", {"lr_d": 0.002}, headers={"Origin": f"http://localhost:{port}"})
    assert ok[0] == 200 and session.settings.lr_d == 0.002


# ---- bodies ----------------------------------------------------------------------------------------
def test_bodies_need_an_honest_length_and_the_limit_always_holds(lab):
    session, _, port, _ = lab
    head = f"POST /api/settings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    cases = [("Content-Length: -1\r\n", 400), ("Content-Length: abc\r\n", 400), ("Content-Length: 1e3\r\n", 400),
             ("", 411), ("Transfer-Encoding: chunked\r\n", 400), (f"Content-Length: {(1 << 20) + 1}\r\n", 413)]
    for extra, code in cases:
        status, headers, body = exchange(port, (head + extra + "\r\n").encode() + b'{"lr_d": 0.002}')
        assert status == code, (extra, status, body)
        is_json_error(status, headers, body)
    # a huge body behind a negative length: refused at the headers, never read into memory
    rss = _rss_mib()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall((head + "Content-Length: -1\r\n\r\n").encode())
        sent, chunk = 0, b"x" * (1 << 20)
        try:
            while sent < 200 << 20:
                c.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 200 << 20 and _rss_mib() - rss < 50
    assert session.settings.lr_d == LabSettings().lr_d
    still_steps(port)


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


# ---- a trainer that fails or blows up ---------------------------------------------------------------
def test_a_failing_step_pauses_with_the_error_and_reset_brings_training_back(lab):
    session, _, port, said = lab

    def broken():
        raise RuntimeError("value cannot be converted to type float without overflow")

    session.trainer.phase_step = broken
    assert post(port, "/api/control", {"action": "play"})[0] == 200
    wait_for(lambda: frame(port)["error"], what="the error in the frame")
    f = frame(port)
    assert "overflow" in f["error"] and not f["playing"] and not session.playing
    assert any("overflow" in line for line in said)  # and on the command line
    assert post(port, "/api/control", {"action": "reset"})[0] == 200
    f = frame(port)
    assert f["error"] is None and f["step"] == 0
    still_steps(port)
    assert post(port, "/api/control", {"action": "play"})[0] == 200
    wait_for(lambda: frame(port)["step"] > 20, what="training after reset")


def test_a_blown_up_run_replies_valid_json_and_says_so(lab):
    session, _, port, _ = lab
    with session.lock:  # what lr_g=1e308 used to do: G's weights become infinite
        session.trainer.G[0].weight.data.fill_(float("inf"))
    assert post(port, "/api/control", {"action": "play"})[0] == 200
    wait_for(lambda: frame(port)["error"], what="the divergence message")
    status, _, body = request(port, "GET", "/api/frame?after=0")
    f = strict_json(body)  # no bare NaN or Infinity anywhere in it
    assert status == 200 and "diverged" in f["error"] and "reset" in f["error"] and not f["playing"]
    assert post(port, "/api/control", {"action": "reset"})[0] == 200
    assert frame(port)["error"] is None
    still_steps(port)


# ---- heavy settings, slow and many clients -----------------------------------------------------------
def test_the_heaviest_allowed_settings_leave_the_page_answered(lab):
    session, _, port, _ = lab
    heavy = {"neurons": 512, "layers": 4, "batch_size": 1024, "d_steps": 1, "g_steps": 1}
    assert post(port, "/api/settings", heavy)[0] == 200
    assert post(port, "/api/control", {"action": "play"})[0] == 200
    wait_for(lambda: session.trainer.step >= 1, what="a heavy step")
    worst = 0.0
    for body in ({"lr_d": 5e-4}, {"action": "pause"}):
        t = time.monotonic()
        path = "/api/settings" if "lr_d" in body else "/api/control"
        assert post(port, path, body)[0] == 200
        assert request(port, "GET", "/api/frame")[0] == 200
        worst = max(worst, time.monotonic() - t)
    assert session.settings.lr_d == 5e-4 and not session.playing
    assert worst < 3.0, f"answered after {worst:.1f} s while a heavy step ran"


def test_slow_clients_are_dropped_while_others_are_answered(lab):
    _, server, port, _ = lab
    server.request_timeout = 1.0
    slow = []
    for _ in range(20):  # headers sent slowly, never finished
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /api/frame HTTP/1.1\r\nHost: 127.0.0.1")
        slow.append(c)
    t = time.monotonic()
    assert request(port, "GET", "/api/frame")[0] == 200
    assert time.monotonic() - t < 1.0
    time.sleep(1.6)
    for c in slow:  # closed by the server without a reply
        assert c.recv(100) == b""
        c.close()


def established_to(port: int) -> int:
    """Server-side sockets on ``port`` whose handshake the kernel completed (state 01 in /proc/net/tcp);
    with the listen queue full, further clients stay half-open (SYN_RECV) or unanswered."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state = line.split()[1:4]
            n += int(local.rsplit(":", 1)[1], 16) == port and state == "01"
    return n


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads the kernel's socket table (Linux)")
def test_a_burst_of_fifty_clients_waits_in_the_listen_queue_and_is_answered():
    session = LabSession(updated(LabSettings(), SMALL), say=lambda m: None)
    server = make_lab_server(session, "127.0.0.1", 0)
    port = server.server_address[1]
    conns = []
    try:  # not accepting yet: the kernel's listen queue alone must hold the burst
        for _ in range(50):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(f"GET /api/frame HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            conns.append(c)
        time.sleep(0.2)
        assert established_to(port) == 50
        threading.Thread(target=server.serve_forever, daemon=True).start()
        replies = []
        for c in conns:
            c.settimeout(30)
            out = b""
            while chunk := c.recv(65536):
                out += chunk
            replies.append(out.split(b" ", 2)[1])
        assert replies == [b"200"] * 50
    finally:
        for c in conns:
            c.close()
        server.shutdown()
        server.server_close()
        session.close()


def test_more_connections_than_the_cap_get_503_at_once(lab):
    _, server, port, _ = lab
    server.limit_connections(3)
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    for c in held:
        c.sendall(b"GET / HTTP/1.1\r\n")  # unfinished: each holds a slot
    time.sleep(0.3)
    status, headers, body = request(port, "GET", "/api/frame")
    assert status == 503 and "connections at once" in is_json_error(status, headers, body)
    for c in held:
        c.close()
    time.sleep(0.3)
    assert request(port, "GET", "/api/frame")[0] == 200


def test_a_non_loopback_host_warns_and_the_flag_has_help(tmp_path):
    from ganforge.web.httpbase import exposure_warning

    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    p = subprocess.Popen([sys.executable, "-m", "ganforge", "lab", "--host", "0.0.0.0", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        warning = p.stderr.readline()
        line = p.stdout.readline()
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert "anyone who can reach this machine" in warning and "lab at http://" in line
    out = subprocess.run([sys.executable, "-m", "ganforge", "lab", "--help"], capture_output=True, text=True).stdout
    assert "anyone who can reach the machine" in " ".join(out.split())


def test_setting_values_from_the_command_line_convert_strictly(capsys):
    from ganforge.cli import main

    for item, needle in (("spectral_norm=maybe", "true or false"), ("layers=2.5", "whole number"),
                         ("lr_d=nan", "finite"), ("lr_g=inf", "finite"), ("seed=-3", "seed must be from 0")):
        assert main(["lab", item, "--dry-run"]) == 2, item
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, (item, err)
    assert main(["lab", "spectral_norm=1", "layers=2", "--dry-run"]) == 0
