"""``ganforge lab``: the lab's page and its JSON, over standard-library HTTP on 127.0.0.1.

    GET  /                 the page (one offline file)
    GET  /api/frame?after=N  what to draw now, and the curves' records from the N-th on
    POST /api/control      {"action": play|pause|step|d_step|g_step|reset|slow|normal}
    POST /api/settings     {"lr_d": 0.001, ...}; a bad value answers 400 {"error", "field"}

The checks every request passes (its Host and Origin, the body's type and size, time limits) are
``ganforge.web.httpbase``'s.
"""

from __future__ import annotations

from importlib import resources

from ganforge.lab.session import LabSession, check_action
from ganforge.web.httpbase import JsonHandler, RequestError, json_reply, listen, query_int, raw_reply


def make_handler(holder: dict):
    """``holder["session"]`` is read per request (the port is taken before the session starts)."""
    page = resources.files("ganforge.lab").joinpath("page.html").read_bytes()

    class Handler(JsonHandler):
        def get(self, path: str, q: dict):
            if path in ("/", "/index.html"):
                return raw_reply(page, "text/html; charset=utf-8")
            if path == "/api/frame":
                return raw_reply(holder["session"].frame_json(query_int(q, "after", 0, 0, 10 ** 9)), "application/json")
            raise RequestError(404, f"nothing at {path}")

        def post(self, path: str, body: dict):
            session = holder["session"]
            if path == "/api/control":
                session.control(check_action(body))
                return json_reply({"ok": True, "error": session.error})
            if path == "/api/settings":
                return json_reply({"settings": session.change(body).to_dict()})
            raise RequestError(404, f"nothing at {path}")

    return Handler


def make_lab_server(session: LabSession | None, host: str = "127.0.0.1", port: int = 8001):
    """A server for ``session`` (or one set later with ``server.bind_session``), not yet serving."""
    holder = {"session": session}
    server = listen(host, port, make_handler(holder), "lab")
    server.bind_session = lambda s: holder.__setitem__("session", s)
    return server
