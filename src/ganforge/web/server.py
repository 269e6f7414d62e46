"""``ganforge serve RUN``: a live page for one run, updated while it trains.

The page (``page.html``: one file, inline script, canvas charts, nothing fetched from elsewhere, so
it works offline) polls the JSON below every two seconds: loss curves, D(x) and D(G(z)), images/s,
evaluation results, the sample grids saved so far (a slider walks through training), and fresh
grids from the newest checkpoint for any seed and class. Standard-library HTTP, one thread per
request; it binds 127.0.0.1 unless told otherwise, answers only its own address (``httpbase``) and only
ever reads the run folder.

    GET /                                  the page
    GET /api/run                           name, config, checkpoint step, sample grid names
    GET /api/metrics?after=N               metrics.jsonl records from the N-th on
    GET /samples/NAME.png                  a sample grid the run saved
    GET /api/generate?seed=&rows=&cols=&class=&ema=   a grid PNG from the newest checkpoint
"""

from __future__ import annotations

import io
import json
import os
import threading
from importlib import resources
from pathlib import Path

from ganforge.web.httpbase import (
    SEED_LIMIT,
    JsonHandler,
    RequestError,
    json_reply,
    listen,
    query_int,
    raw_reply,
)

MAX_GRID = 256   # images per requested grid: keeps one request to about a second on a CPU
MAX_DRAWING = 2  # grids drawn at once (each takes the CPU); more wait up to DRAW_WAIT seconds, then 429
DRAW_WAIT = 20.0


class RunView:
    """What the page shows of a run folder, read fresh on each request (training may be writing it)."""

    def __init__(self, run: Path | None, device: str = "cpu"):
        self.run, self.device = run and Path(run), device  # run None: set later (``train --serve``)
        self._gen, self._gen_key = None, None
        self._lock = threading.Lock()  # one generator load at a time; sampling itself is read-only
        self._records, self._read_to = [], (None, 0)  # metrics.jsonl parsed so far: (inode, byte offset)
        self._metrics_lock = threading.Lock()

    def info(self) -> dict:
        """Each part on its own (``run_dir.read_run``, not strict): a damaged checkpoint leaves the samples
        and config readable, and the page says which checkpoint was passed over and why
        (``checkpoint_notes``)."""
        from ganforge.training.run_dir import read_run

        got = read_run(self.run, strict=False)
        config = got.config_text or next((n for n in got.notes if n.startswith("config.yaml")), "")
        return {"name": self.run.name, "config": f"({config})" if not got.config_text else config,
                "samples": [p.name for p in got.samples], "checkpoint_step": got.step if got.checkpoint else None,
                "checkpoint": got.checkpoint.name if got.checkpoint else None,
                "checkpoint_notes": [n for n in got.notes if not n.startswith("config.yaml")]}

    def _read_metrics(self) -> list[dict]:
        """metrics.jsonl's records, parsing only the bytes appended since the last call (the page
        polls every two seconds; a long run's file is megabytes). The logger only appends, except on a
        resume from an earlier checkpoint, which replaces the file (a new inode): then read it all."""
        path = self.run / "metrics.jsonl"
        with self._metrics_lock:
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                self._records, self._read_to = [], (None, 0)
                return []
            with f:
                ino, offset = self._read_to
                st = os.fstat(f.fileno())
                if st.st_ino != ino or st.st_size < offset:
                    self._records, offset = [], 0
                f.seek(offset)
                chunk = f.read()
            whole = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next poll
            for line in whole.splitlines():
                try:
                    self._records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-write, as read_jsonl skips it
            self._read_to = (st.st_ino, offset + len(whole))
            return self._records

    def metrics(self, after: int) -> dict:
        """Records from index ``after`` on. ``reset`` says the file was rewritten (a resume from an
        earlier checkpoint drops later records), so the page starts over."""
        records = self._read_metrics()
        reset = after > len(records)
        return {"total": len(records), "reset": reset, "records": records[0 if reset else after:]}

    def sample_file(self, name: str) -> Path | None:
        """A saved grid by bare file name, whose real path (symlinks followed) lies in the run's
        ``samples/``; anything else (paths, other files, links out of the folder) is not served."""
        if "/" in name or "\\" in name or "\0" in name or not name.endswith(".png") or name.startswith("."):
            return None
        try:
            folder = (self.run / "samples").resolve(strict=True)
            p = (folder / name).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a loop of links
            return None
        return p if p.parent == folder and p.is_file() else None

    def generator(self, ema: bool):
        from ganforge.generate import load_generator
        from ganforge.training.run_dir import resolve_checkpoint

        path = resolve_checkpoint(self.run, warn=lambda msg: None)  # info() tells the page what was skipped
        key = (path, path.stat().st_mtime_ns, ema)
        with self._lock:
            if self._gen_key != key:  # a newer checkpoint appeared: load it once
                self._gen, self._gen_key = load_generator(path, ema=ema, device=self.device), key
            return self._gen

    def grid_png(self, seed: int, rows: int, cols: int, cls: str | None, ema: bool) -> bytes:
        from ganforge.generate import class_index, sample_grid
        from ganforge.grid import grid_image, to_uint8

        gen = self.generator(ema)
        k = class_index(gen, cls) if cls not in (None, "") else None
        imgs, labels = sample_grid(gen, rows, cols, seed, k, max_images=MAX_GRID)
        buf = io.BytesIO()
        grid_image(to_uint8(imgs), nrow=cols, row_labels=labels, min_cell=64).save(buf, format="PNG")
        return buf.getvalue()


def make_handler(view: RunView):
    page = resources.files("ganforge.web").joinpath("page.html").read_bytes()
    drawing = threading.BoundedSemaphore(MAX_DRAWING)

    class Handler(JsonHandler):
        def get(self, path: str, q: dict):
            if path in ("/", "/index.html"):
                return raw_reply(page, "text/html; charset=utf-8")
            if path == "/api/run":
                return json_reply(view.info())
            if path == "/api/metrics":
                return json_reply(view.metrics(query_int(q, "after", 0, 0, 10 ** 12)))
            if path.startswith("/samples/"):
                p = view.sample_file(path[len("/samples/"):])
                if p is None:
                    raise RequestError(404, "no such sample grid")
                return raw_reply(p.read_bytes(), "image/png")
            if path == "/api/generate":
                seed = query_int(q, "seed", 0, 0, SEED_LIMIT)
                rows, cols = query_int(q, "rows", 4, 0, MAX_GRID + 1), query_int(q, "cols", 8, 0, MAX_GRID + 1)
                cls, ema = q.get("class", [None])[0], q.get("ema", ["0"])[0] in ("1", "true")
                if not drawing.acquire(timeout=DRAW_WAIT):
                    raise RequestError(429, f"{MAX_DRAWING} grids are being drawn already; try again")
                try:
                    return raw_reply(view.grid_png(seed, rows, cols, cls, ema), "image/png")
                finally:
                    drawing.release()
            raise RequestError(404, f"nothing at {path}")

    return Handler


def make_server(run: Path | None, host: str = "127.0.0.1", port: int = 8000,
                device: str = "cpu"):
    """A server for ``run`` (not yet serving: call ``serve_forever``; ``server.view.run`` may be set
    until then). ``port`` 0 picks a free one."""
    view = RunView(run, device)
    server = listen(host, port, make_handler(view), "serve")
    server.view = view
    return server


class LivePage:
    """``train --serve``: the port is taken at once (a busy one fails before a run folder exists), the
    page served in a background thread once the run folder is known, and stopped with training."""

    def __init__(self, port: int):
        self.server, self.thread = make_server(None, "127.0.0.1", port), None

    def start(self, run: Path) -> None:
        self.server.view.run = Path(run)
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-page", daemon=True)
        self.thread.start()
        print(f"live page: http://127.0.0.1:{self.server.server_address[1]}/", flush=True)

    def close(self) -> None:
        if self.thread is not None:
            self.server.shutdown()  # waits for serve_forever to return
        self.server.server_close()
