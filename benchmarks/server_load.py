"""Both local pages under load: 50 clients for 20 s each, on 127.0.0.1 only.

Each server is started as a user starts it (``ganforge serve RUN --port 0`` on a short run made first;
``ganforge lab --port 0`` with training playing), then 50 client threads in this process send what the
pages send, each request on a fresh connection, until the time is up:

- serve: /api/metrics (half), /api/run, a saved sample grid, and now and then a fresh 2x4 grid;
- lab: /api/frame (most), a setting (lr_d), a control (step or play).

Reported per server: requests per second, median and 95th-percentile latency, and every kind of failure
(connection refused or reset, timeouts, 4xx, 5xx), with the kernel's listen-queue overflows and drops
(TcpExt ListenOverflows, ListenDrops in /proc/net/netstat) over the run. JSON in
``benchmarks/results/server_load.json``.

    python benchmarks/server_load.py                 # both servers, 50 clients, 20 s
    python benchmarks/server_load.py --clients 10 --seconds 5 --servers lab
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def netstat() -> dict:
    """TcpExt counters of the kernel (Linux); empty elsewhere."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            out = dict(zip(head.split()[1:], map(int, vals.split()[1:])))
    return {k: out.get(k, 0) for k in ("ListenOverflows", "ListenDrops")}


def start(cmd: list[str]) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-m", "ganforge", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        p.kill()
        raise SystemExit(f"{' '.join(cmd)} did not start: {line!r} {p.stderr.read()[-500:]}")
    return p, int(m.group(1))


def one(port: int, method: str, path: str, body: dict | None) -> tuple[int, float]:
    t = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Origin": f"http://127.0.0.1:{port}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status, time.perf_counter() - t
    finally:
        c.close()


def frame_step(port: int) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/api/frame")
        return json.loads(c.getresponse().read())["step"]
    finally:
        c.close()


def load(port: int, pick, clients: int, seconds: float) -> dict:
    """``clients`` threads sending ``pick(rng)`` requests for ``seconds``."""
    lat, codes, failures = [], {}, {}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        while time.monotonic() < end:
            method, path, body = pick(rng)
            try:
                status, dt = one(port, method, path, body)
                with lock:
                    lat.append(dt)
                    codes[status] = codes.get(status, 0) + 1
            except Exception as e:  # noqa: BLE001 (counted by kind: refused, reset, timeout, ...)
                with lock:
                    failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1

    before = netstat()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    after = netstat()
    lat.sort()
    n = len(lat)
    return {"clients": clients, "seconds": round(wall, 1), "requests": n, "requests_per_s": round(n / wall, 1),
            "latency_ms_p50": round(1000 * statistics.median(lat), 1) if lat else None,
            "latency_ms_p95": round(1000 * lat[int(0.95 * (n - 1))], 1) if lat else None,
            "status": {str(k): v for k, v in sorted(codes.items())},
            "http_5xx": sum(v for k, v in codes.items() if k >= 500),
            "http_4xx": sum(v for k, v in codes.items() if 400 <= k < 500),
            "connection_failures": failures, "resets": failures.get("ConnectionResetError", 0),
            "kernel": {k: after[k] - before.get(k, 0) for k in after}}


def serve_requests(samples: list[str]):
    def pick(rng: random.Random):
        r = rng.random()
        if r < 0.5:
            return "GET", "/api/metrics?after=0", None
        if r < 0.75:
            return "GET", "/api/run", None
        if r < 0.97:
            return "GET", "/samples/" + rng.choice(samples), None
        return "GET", f"/api/generate?seed={rng.randrange(1000)}&rows=2&cols=4", None
    return pick


def lab_requests(rng: random.Random):
    r = rng.random()
    if r < 0.8:
        return "GET", "/api/frame?after=0", None
    if r < 0.9:
        return "POST", "/api/settings", {"lr_d": rng.choice([1e-3, 5e-4])}
    return "POST", "/api/control", {"action": rng.choice(["step", "play"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--servers", nargs="+", default=["serve", "lab"], choices=["serve", "lab"])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "server_load.json")
    args = ap.parse_args()

    results = {}
    if "serve" in args.servers:
        runs = Path(tempfile.mkdtemp(prefix="server-load-"))
        subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", "quick", "--steps", "200",
                        "--runs-dir", str(runs), "--quiet"], check=True)
        run = next(runs.iterdir())
        samples = sorted(p.name for p in (run / "samples").glob("*.png"))
        p, port = start(["serve", str(run), "--port", "0"])
        try:
            results["serve"] = load(port, serve_requests(samples), args.clients, args.seconds)
        finally:
            p.terminate()
            p.wait(30)
        print("serve", json.dumps(results["serve"]), flush=True)
    if "lab" in args.servers:
        p, port = start(["lab", "--port", "0"])
        try:
            one(port, "POST", "/api/control", {"action": "play"})
            step0 = frame_step(port)
            results["lab"] = load(port, lab_requests, args.clients, args.seconds)
            results["lab"]["training_steps_during_load"] = frame_step(port) - step0
        finally:
            p.terminate()
            p.wait(30)
        print("lab", json.dumps(results["lab"]), flush=True)
    out = {"benchmark": "server_load", "clients": args.clients, "seconds": args.seconds, "results": results,
           "python": platform.python_version(), "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
