"""Downloads against an HTTP server on 127.0.0.1 that serves files the test made."""

import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from ganforge.config import DataConfig
from ganforge.data import download as dl
from ganforge.data import idx, load_dataset
from ganforge.errors import GanforgeError

FILES: dict[str, bytes] = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.lstrip("/")
        if name.startswith("cut/"):  # promise the whole file, send half, hang up
            body = FILES[name[4:]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        if name not in FILES:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(FILES[name])))
        self.end_headers()
        self.wfile.write(FILES[name])

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def md5(b):
    return hashlib.md5(b).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success(server, tmp_path):
    FILES["a.bin"] = b"hello" * 1000
    out = dl.download(f"{server}/a.bin", tmp_path / "a.bin", md5=md5(FILES["a.bin"]), size=5000, quiet=True)
    assert out.read_bytes() == FILES["a.bin"]
    assert leftovers(tmp_path) == ["a.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    FILES["b.bin"] = b"payload" * 100
    with pytest.raises(GanforgeError, match="checksum"):
        dl.download(f"{server}/b.bin", tmp_path / "b.bin", md5="0" * 32, quiet=True)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    FILES["c.bin"] = bytes(range(256)) * 4096
    with pytest.raises(GanforgeError, match="could not download|incomplete"):
        dl.download(f"{server}/cut/c.bin", tmp_path / "c.bin", md5=md5(FILES["c.bin"]), size=len(FILES["c.bin"]),
                    quiet=True)
    assert leftovers(tmp_path) == []


def test_missing_file_tries_the_next_mirror(server, tmp_path):
    FILES["d.bin"] = b"d" * 10
    res = dl.Resource("d.bin", md5(FILES["d.bin"]), 10)
    out = dl.fetch(res, tmp_path, [f"{server}/nope", server], quiet=True)
    assert out.read_bytes() == FILES["d.bin"]


def test_named_dataset_downloads_into_the_cache(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    resources = []
    for stem, shape in (("train-images-idx3-ubyte", (6, 28, 28)), ("train-labels-idx1-ubyte", (6,)),
                        ("t10k-images-idx3-ubyte", (2, 28, 28)), ("t10k-labels-idx1-ubyte", (2,))):
        arr = rng.integers(0, 10 if len(shape) == 1 else 256, shape, dtype=np.uint8)
        raw = bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape) + arr.tobytes()
        FILES[stem + ".gz"] = gz = gzip.compress(raw)
        resources.append(dl.Resource(stem + ".gz", md5(gz), len(gz)))
    monkeypatch.setattr(idx, "MNIST_RESOURCES", resources)
    monkeypatch.setattr(idx, "MNIST_MIRRORS", [server])
    monkeypatch.delenv("GANFORGE_OFFLINE")
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    monkeypatch.setattr("ganforge.data.paths.SYSTEM_DATA_ROOT", tmp_path / "nowhere")
    data = load_dataset(DataConfig(name="mnist", resolution=28))
    assert data.images.shape == (6, 1, 28, 28)
    assert "datasets/mnist" in data.source
