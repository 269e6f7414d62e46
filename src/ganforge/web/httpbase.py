"""What both pages' servers share: a quiet JSON-speaking request handler and a listening socket whose
problems (a busy port, a bad host) are one-line errors."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ganforge.errors import GanforgeError


class JsonHandler(BaseHTTPRequestHandler):
    server_version = "ganforge"

    def log_message(self, fmt, *args):  # quiet: the terminal shows training, not polling
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _body(self, limit: int = 1 << 20) -> dict:
        """The request's JSON object body (at most ``limit`` bytes)."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise GanforgeError(f"request body over {limit} bytes")
        try:
            obj = json.loads(self.rfile.read(n) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GanforgeError("request body is not JSON") from None
        if not isinstance(obj, dict):
            raise GanforgeError("request body must be a JSON object")
        return obj


def listen(host: str, port: int, handler) -> ThreadingHTTPServer:
    """A threading server on ``host:port`` (0 picks a free port), not yet serving."""
    if not 0 <= port <= 65535:
        raise GanforgeError(f"port {port} is out of range; pass a port from 0 to 65535 (0 picks a free one)")
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:  # taken, not permitted, or an unknown host name
        raise GanforgeError(f"cannot listen on {host}:{port} ({e.strerror}); pass another port or host") from None
    server.daemon_threads = True
    return server


def serve_until_interrupted(server: ThreadingHTTPServer, what: str, on_close=None) -> int:
    """Serve until Ctrl-C, printing where; then close the socket (and call ``on_close``)."""
    host, port = server.server_address[:2]
    print(f"{what} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if on_close is not None:
            on_close()
    return 0
