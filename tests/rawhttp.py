"""Requests over a real socket, written byte for byte (so that tests can send what curl or urllib would
refuse to), and checks that every reply is valid JSON."""

from __future__ import annotations

import json
import socket


def exchange(port: int, data: bytes, timeout: float = 20.0) -> tuple[int, dict, bytes]:
    """Send ``data`` to 127.0.0.1:``port`` and read the reply until the server closes:
    (status, headers with lower-case names, body). Status 0: the server closed without a reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the body was read; the reply may still be there
        out = b""
        try:
            while chunk := c.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return parse(out)


def parse(out: bytes) -> tuple[int, dict, bytes]:
    if not out:
        return 0, {}, b""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


def request(port: int, method: str, path: str, body=None, *, host: str | None = None, headers: dict | None = None,
            raw_body: bytes | None = None, content_type: str | None = "application/json") -> tuple[int, dict, bytes]:
    """A request as a browser on the page would send it, unless ``host``, ``headers`` or the body say
    otherwise. ``headers`` values of None drop that header."""
    payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    h = {"Host": host or f"127.0.0.1:{port}"}
    if method == "POST":
        h["Content-Type"] = content_type
        h["Content-Length"] = str(len(payload))
    h.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in h.items() if v is not None]
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload)


def strict_json(body: bytes):
    """The body as JSON, refusing NaN and Infinity (which Python's json would accept, and a browser not)."""
    def refuse(name):
        raise AssertionError(f"reply carries {name}, which is not JSON")
    return json.loads(body, parse_constant=refuse)


def is_json_error(status: int, headers: dict, body: bytes) -> str:
    """The reply's one-line error message, checking that it is JSON with an ``error``."""
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    msg = strict_json(body)["error"]
    assert isinstance(msg, str) and "\n" not in msg and "Traceback" not in msg
    return msg
