"""``ganforge lab``: the lab's page and its JSON, over standard-library HTTP on 127.0.0.1.

    GET  /                 the page (one offline file)
    GET  /api/frame?after=N  what to draw now, and the curves' records from the N-th on
    POST /api/control      {"action": play|pause|step|d_step|g_step|reset|slow|normal}
    POST /api/settings     {"lr_d": 0.001, ...}; a bad value answers 400 {"error", "field"}
    GET  /api/model        the model and settings as a file (safetensors)
    POST /api/model        {"model": "<the file, base64>"}: continue from it
    POST /api/points       {"csv": "x,y\n..."}: train on these points

The checks every request passes (its Host and Origin, the body's type and size, time limits) are
``ganforge.web.httpbase``'s.
"""

from __future__ import annotations

import base64
import binascii
import threading
from importlib import resources

from ganforge.errors import GanforgeError
from ganforge.lab2d.session import LabSession, check_action
from ganforge.web.httpbase import (
    MAX_BODY,
    JsonHandler,
    RequestError,
    json_reply,
    listen,
    query_int,
    raw_reply,
)

UPLOADS = {"/api/model": 96 << 20, "/api/points": 32 << 20}  # the largest bodies these uploads may carry


def make_handler(holder: dict):
    """``holder["session"]`` is read per request (the port is taken before the session starts)."""
    page = resources.files("ganforge.lab2d").joinpath("page.html").read_bytes()
    uploading = threading.Lock()

    class Handler(JsonHandler):
        def body_limit(self, path: str) -> int:
            return UPLOADS.get(path, MAX_BODY)

        def get(self, path: str, q: dict):
            if path in ("/", "/index.html"):
                return raw_reply(page, "text/html; charset=utf-8")
            if path == "/api/frame":
                return raw_reply(holder["session"].frame_json(query_int(q, "after", 0, 0, 10 ** 9)), "application/json")
            if path == "/api/model":
                data, name = holder["session"].model_bytes()
                return raw_reply(data, "application/octet-stream",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
            raise RequestError(404, f"nothing at {path}")

        def post(self, path: str, body: dict):
            session = holder["session"]
            if path == "/api/control":
                session.control(check_action(body))
                return json_reply({"ok": True, "error": session.error})
            if path == "/api/settings":
                return json_reply({"settings": session.change(body).to_dict()})
            if path in UPLOADS:
                with uploading:  # one upload at a time: each may hold tens of megabytes
                    return self.upload(session, path, body)
            raise RequestError(404, f"nothing at {path}")

        def upload(self, session, path: str, body: dict):
            if path == "/api/model":
                data = body.get("model")
                try:
                    raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
                except (binascii.Error, ValueError):
                    raw = None
                if raw is None:
                    raise RequestError(400, "the model must be the saved file, base64-encoded", "model")
                try:
                    settings = session.load_model(raw)
                except GanforgeError as err:
                    raise RequestError(400, str(err), "model") from None
                return json_reply({"settings": {**settings.to_dict(), "drawn": None}})
            text = body.get("csv")
            if not isinstance(text, str):
                raise RequestError(400, "send the file's text as {\"csv\": \"x,y\\n...\"}", "points")
            settings, said = session.load_points(text)
            return json_reply({"said": f"read {said}", "settings": {**settings.to_dict(), "drawn": None}})

    return Handler


def make_lab_server(session: LabSession | None, host: str = "127.0.0.1", port: int = 8001):
    """A server for ``session`` (or one set later with ``server.bind_session``), not yet serving."""
    holder = {"session": session}
    server = listen(host, port, make_handler(holder), "lab")
    server.bind_session = lambda s: holder.__setitem__("session", s)
    return server
