"""``ganforge lab``: the lab's page and its JSON, over standard-library HTTP on 127.0.0.1.

    GET  /                 the page (one offline file)
    GET  /api/frame?after=N  what to draw now, and the curves' records from the N-th on
    POST /api/control      {"action": play|pause|step|d_step|g_step|reset|slow|normal}
    POST /api/settings     {"lr_d": 0.001, ...}; a bad value answers 400 {"error", "field"}
"""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources
from urllib.parse import parse_qs, urlparse

from ganforge.errors import GanforgeError
from ganforge.lab.session import LabSession, check_action
from ganforge.lab.settings import SettingError
from ganforge.web.httpbase import JsonHandler, listen


def make_handler(holder: dict):
    """``holder["session"]`` is read per request (the port is taken before the session starts)."""
    page = resources.files("ganforge.lab").joinpath("page.html").read_bytes()

    class Handler(JsonHandler):
        def _guard(self, work) -> None:
            try:
                work()
            except SettingError as e:
                self._json({"error": str(e), "field": e.field}, HTTPStatus.BAD_REQUEST)
            except GanforgeError as e:
                self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as e:  # noqa: BLE001 (answer, never hang up; the trainer keeps going)
                self._json({"error": f"{type(e).__name__}: {e}".splitlines()[0]}, HTTPStatus.INTERNAL_SERVER_ERROR)

        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            session = holder["session"]

            def work():
                if url.path in ("/", "/index.html"):
                    self._send(200, page, "text/html; charset=utf-8")
                elif url.path == "/api/frame":
                    raw = parse_qs(url.query).get("after", ["0"])[0]
                    if not raw.isdigit():
                        raise GanforgeError(f"after must be a whole number, got '{raw}'")
                    self._json(session.frame(int(raw)))
                else:
                    self._json({"error": f"nothing at {url.path}"}, HTTPStatus.NOT_FOUND)
            self._guard(work)

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            session = holder["session"]

            def work():
                body = self._body()
                if url.path == "/api/control":
                    session.control(check_action(body))
                    self._json({"ok": True})
                elif url.path == "/api/settings":
                    self._json({"settings": session.change(body).to_dict()})
                else:
                    self._json({"error": f"nothing at {url.path}"}, HTTPStatus.NOT_FOUND)
            self._guard(work)

    return Handler


def make_lab_server(session: LabSession | None, host: str = "127.0.0.1", port: int = 8001):
    """A server for ``session`` (or one set later with ``server.bind_session``), not yet serving."""
    holder = {"session": session}
    server = listen(host, port, make_handler(holder))
    server.bind_session = lambda s: holder.__setitem__("session", s)
    return server
