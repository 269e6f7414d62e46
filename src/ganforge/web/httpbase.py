"""What both pages' servers share: a JSON server that answers only its own Host and Origin, bounds every
body, wait and connection, and always replies valid JSON.

Any website the user visits can make the browser send requests to 127.0.0.1. So a request is answered
only when its ``Host`` is the address the server was started on (DNS rebinding gives a foreign name),
a request carrying another site's ``Origin`` is refused, and a POST must say ``Content-Type:
application/json``, which no cross-site form can send and a cross-site ``fetch`` may send only after a
preflight that this server never grants. Bodies need a ``Content-Length`` of at most ``MAX_BODY``; a
connection has ``request_timeout`` seconds to deliver its headers and body (a reaper thread closes
slower ones); at most ``MAX_CONNECTIONS`` are served at once and the listen queue holds a burst of
``LISTEN_QUEUE``. Replies never carry NaN or Infinity (they become ``null``), and an unexpected error
is answered as JSON and printed as one line, never lost with its thread.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from ganforge.errors import GanforgeError

MAX_BODY = 1 << 20        # bytes of a request body
REQUEST_TIMEOUT = 10.0    # seconds for a request's headers and body to arrive
MAX_CONNECTIONS = 64      # connections served at once; more get 503 at once
LISTEN_QUEUE = 128        # connections the kernel holds until they are accepted
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD = ("", "0.0.0.0", "::")
SEED_LIMIT = 2 ** 63      # seeds are 0 <= s < 2^63 (what torch.Generator takes)


class RequestError(GanforgeError):
    """A request refused with an HTTP status; ``field`` names the control at fault (the page shows the
    message beside it)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field


def finite(obj):
    """``obj`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj) -> bytes:
    return json.dumps(finite(obj), allow_nan=False).encode()


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(raw: bytes) -> dict:
    """A request body as a JSON object; NaN and Infinity (which Python's json accepts) are refused."""
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestError(400, "request body is not JSON (NaN and Infinity are not JSON numbers)") from None
    if not isinstance(obj, dict):
        raise RequestError(400, "request body must be a JSON object")
    return obj


def query_int(query: dict, key: str, default: int, lo: int, hi: int) -> int:
    """A whole number from the query string: ASCII digits only, ``lo <= value < hi``, else a 400."""
    raw = query.get(key, [None])[0]
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,20}", raw):
        raise RequestError(400, f"{key} must be a whole number from {lo}, not '{raw[:40]}'", key)
    value = int(raw)
    if not lo <= value < hi:
        raise RequestError(400, f"{key} must be from {lo} to {hi - 1}, not {value}", key)
    return value


def exposure_warning(host: str) -> str | None:
    """The warning for a server that listens beyond this machine, or None on loopback."""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return None
    return (f"warning: listening on {host or 'every interface'}: anyone who can reach this machine can open "
            "the page (see the run, drive the lab); use --host 127.0.0.1 to keep it to this machine")


class JsonHandler(BaseHTTPRequestHandler):
    """Checks each request (Host, Origin, body), then calls ``get(path, query)`` or ``post(path, body)``
    of the subclass, which return a reply from ``json_reply`` / ``raw_reply`` or raise. HTTP/1.0: one
    request per connection."""

    server_version = "ganforge"
    error_content_type = "application/json"

    def log_message(self, fmt, *args):  # quiet: the terminal shows training, not polling
        pass

    # ---- what subclasses implement -----------------------------------------------------------------
    def get(self, path: str, query: dict):
        raise RequestError(404, f"nothing at {path}")

    def post(self, path: str, body: dict):
        raise RequestError(404, f"nothing at {path}")

    # ---- replies -----------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        if self.request_version == "HTTP/0.9":  # a request line http.server could not read: still a status line
            self.request_version = "HTTP/1.0"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        self._send(status, dumps(obj), "application/json")

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (a bad request line, a URL or header over its limits, an unknown
        method) as JSON too."""
        self.close_connection = True
        if code == 501:  # a method http.server does not know: as refused as PUT or DELETE
            code, message = 405, f"{self.command} is not answered here; use GET or POST"
        try:
            self._json({"error": (message or self.responses.get(code, ("error",))[0]).splitlines()[0]}, code)
        except OSError:
            pass

    # ---- checks ------------------------------------------------------------------------------------
    def _check_sender(self) -> None:
        host = self.headers.get("Host")
        if not host or not self.server.host_allowed(host):
            raise RequestError(403, f"this server answers only at {self.server.url()}; "
                                    f"Host '{(host or '')[:60]}' is refused")
        origin = self.headers.get("Origin")
        if origin is not None and not self.server.origin_allowed(origin):
            raise RequestError(403, "requests from other websites are refused; open the page itself at "
                                    f"{self.server.url()}")
        if self.headers.get("Sec-Fetch-Site") == "cross-site":
            raise RequestError(403, "requests from other websites are refused")

    def body_limit(self, path: str) -> int:
        """The largest body a POST to ``path`` may carry (a subclass raises it for uploads)."""
        return MAX_BODY

    def _read_body(self, path: str) -> dict:
        if self.headers.get("Transfer-Encoding") is not None:
            raise RequestError(400, "Transfer-Encoding is not supported; send the body with a Content-Length")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise RequestError(415, "a POST must be Content-Type: application/json")
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise RequestError(411, "a POST needs a Content-Length header")
        if not re.fullmatch(r"[0-9]{1,12}", raw.strip()):
            raise RequestError(400, f"Content-Length must be a whole number of bytes, not '{raw[:40]}'")
        n, limit = int(raw), self.body_limit(path)
        if n > limit:
            raise RequestError(413, f"request body of {n:,} bytes is over the limit of {limit:,}")
        data = self.rfile.read(n)
        if len(data) < n:
            raise RequestError(400, f"request body ended after {len(data)} of {n} bytes")
        return parse_json_object(data or b"{}")

    # ---- dispatch ----------------------------------------------------------------------------------
    def setup(self):
        super().setup()
        self.server.reading(self.connection, True)

    def finish(self):
        self.server.reading(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def _answer(self, work) -> None:
        try:
            try:
                self._check_sender()
                reply = work()
            finally:
                self.server.reading(self.connection, False)  # the request is in: the reaper lets it be
            self._send(*reply)
        except RequestError as e:
            self._json({"error": str(e), **({"field": e.field} if e.field else {})}, e.status)
        except GanforgeError as e:  # a bad value or a run that cannot answer this yet
            self._json({"error": str(e), **({"field": e.field} if getattr(e, "field", None) else {})}, 400)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the client went away
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 (answer and say so: a worker never dies silently)
            line = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            print(f"{self.server.what}: unexpected error on {self.command} {self.path[:80]}: {line}",
                  file=sys.stderr, flush=True)
            try:
                self._json({"error": line}, 500)
            except OSError:
                pass

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        url = urlparse(self.path)
        self._answer(lambda: self.get(url.path, parse_qs(url.query)))

    def do_POST(self):  # noqa: N802
        url = urlparse(self.path)
        self._answer(lambda: self.post(url.path, self._read_body(url.path)))

    def _refuse_method(self):
        def refuse():
            raise RequestError(405, f"{self.command} is not answered here; use GET or POST")
        self._answer(refuse)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _refuse_method


def json_reply(obj, status: int = 200):
    return status, dumps(obj), "application/json"


def raw_reply(body: bytes, ctype: str, status: int = 200, headers: dict | None = None):
    return status, body, ctype, headers


class PageServer(ThreadingHTTPServer):
    """A threading HTTP server with the limits above. ``what`` names it in messages."""

    daemon_threads = True
    request_queue_size = LISTEN_QUEUE

    def __init__(self, address, handler, what: str = "server", asked_host: str | None = None):
        self.what = what
        self.asked_host = address[0] if asked_host is None else asked_host  # as the user wrote it
        self.request_timeout = REQUEST_TIMEOUT
        self.limit_connections(MAX_CONNECTIONS)
        self._reading_since: dict[socket.socket, float] = {}
        self._reading_lock = threading.Lock()
        self._closed = threading.Event()
        super().__init__(address, handler)
        self._names = self._host_names()
        threading.Thread(target=self._reap, name=f"{what}-reaper", daemon=True).start()

    # ---- who may ask -------------------------------------------------------------------------------
    def _host_names(self) -> set[str]:
        names = set(LOOPBACK_NAMES)
        asked = self.asked_host
        if asked not in WILDCARD:
            names.add(f"[{asked}]" if ":" in asked else asked)
        return {n.lower() for n in names}

    def url(self) -> str:
        host = self.asked_host
        shown = "127.0.0.1" if host in WILDCARD else (f"[{host}]" if ":" in host else host)
        return f"http://{shown}:{self.server_address[1]}/"

    def host_allowed(self, value: str) -> bool:
        """``value`` names this server: one of its names with its port. A server listening on every
        interface also answers any IP address literal (a rebinding attack needs a domain name)."""
        m = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?", value.strip())
        if not m:
            return False
        name, port = m.group(1).lower(), int(m.group(2) or 80)
        if port != self.server_address[1]:
            return False
        if name in self._names:
            return True
        if self.asked_host in WILDCARD:
            try:
                ipaddress.ip_address(name.strip("[]"))
                return True
            except ValueError:
                return name in (socket.gethostname().lower(), socket.getfqdn().lower())
        return False

    def origin_allowed(self, origin: str) -> bool:
        u = urlparse(origin)
        return u.scheme == "http" and not u.path.strip("/") and bool(u.netloc) and self.host_allowed(u.netloc)

    # ---- connections -------------------------------------------------------------------------------
    def limit_connections(self, n: int) -> None:
        """Serve at most ``n`` connections at once (set before serving)."""
        self.max_connections, self._slots = n, threading.Semaphore(n)

    def reading(self, conn: socket.socket, on: bool) -> None:
        """Mark ``conn`` as still delivering its request (the reaper closes it at the deadline) or done."""
        with self._reading_lock:
            if on:
                self._reading_since[conn] = time.monotonic()
            else:
                self._reading_since.pop(conn, None)

    def _reap(self) -> None:
        while not self._closed.wait(0.2):
            now = time.monotonic()
            with self._reading_lock:
                late = [c for c, t0 in self._reading_since.items() if now - t0 > self.request_timeout]
                for c in late:
                    del self._reading_since[c]
            for c in late:  # the handler's blocked read returns; it answers nothing and ends
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._overloaded(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _overloaded(self, request) -> None:
        body = dumps({"error": f"more than {self.max_connections} connections at once; try again"})
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        """An exception that escaped a handler: one line, never a traceback, and the server goes on."""
        err = sys.exc_info()[1]
        if isinstance(err, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        print(f"{self.what}: a connection failed: {type(err).__name__}: {err}".splitlines()[0],
              file=sys.stderr, flush=True)

    def server_close(self):
        self._closed.set()
        super().server_close()


def listen(host: str, port: int, handler, what: str = "server") -> PageServer:
    """A server on ``host:port`` (0 picks a free port), not yet serving; problems are one-line errors."""
    if not 0 <= port <= 65535:
        raise GanforgeError(f"port {port} is out of range; pass a port from 0 to 65535 (0 picks a free one)")
    cls = PageServer
    if ":" in host:  # an IPv6 address
        cls = type("PageServer6", (PageServer,), {"address_family": socket.AF_INET6})
    try:
        return cls((host, port), handler, what, host)
    except OSError as e:  # taken, not permitted, or an unknown host name
        raise GanforgeError(f"cannot listen on {host}:{port} ({e.strerror or e}); pass another port or host") from None


def serve_until_interrupted(server: PageServer, what: str, on_close=None) -> int:
    """Serve until Ctrl-C, printing where; then close the socket (and call ``on_close``)."""
    warning = exposure_warning(server.asked_host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"{what} at {server.url()} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if on_close is not None:
            on_close()
    return 0
