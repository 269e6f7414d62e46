"""The web export in headless Chromium: file size, time to the first image, images/s of the page's grid, and
the time a slider takes to redraw its image, for the quick model (``ganforge train --preset quick``, the
README's first command) and a 28 px DCGAN at the default width; beside them what the page's files add to
the package. Each page is opened from ``file://`` with the network cut, as a user double-clicks it.

The slider figure is the median and the 95th percentile of 40 moves, each timed from the input event to the
image painted (``window.lastOneMs``); the grid's images/s is the page's own 64-image grid, 3 loads.
Results: ``benchmarks/results/web_export.json``.

    python benchmarks/web_export.py            # ~3 minutes here (trains the quick model once)
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"quick": ["--preset", "quick"],
          "dcgan-28-ngf64": ["--data", "digits", "--resolution", "28", "--steps", "50", "model.ngf=64"]}


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("google-chrome")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def wait(driver, expr: str, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while not driver.execute_script("return " + expr):
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {expr}")
        time.sleep(0.02)
    return driver.execute_script("return " + expr)


def measure(driver, page: Path) -> dict:
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    first, grid = [], []
    for _ in range(3):
        driver.get(page.resolve().as_uri())
        first.append(wait(driver, "window.firstImageMs"))
        grid.append(wait(driver, "window.gridSeconds"))
    moves = []
    slider = driver.find_element("id", "z0")
    for i in range(40):
        driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                              slider, -2.0 + 0.1 * i)
        moves.append(driver.execute_script("return window.lastOneMs"))
    moves.sort()
    return {"html_mb": round(page.stat().st_size / 1e6, 3),
            "first_image_ms": round(statistics.median(first)),
            "grid_images_per_s": round(64 / statistics.median(grid), 1),
            "slider_redraw_ms_median": round(statistics.median(moves), 1),
            "slider_redraw_ms_p95": round(moves[int(0.95 * len(moves)) - 1], 1)}


def package_bytes() -> dict:
    folder = ROOT / "src" / "ganforge" / "webexport"
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".js", ".html", ".txt")]
    return {"files": {str(p.relative_to(folder)): p.stat().st_size for p in files},
            "total_mb": round(sum(p.stat().st_size for p in files) / 1e6, 3)}


def main() -> None:
    started = time.perf_counter()
    results = {}
    driver = chrome()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, args in MODELS.items():
                runs = Path(tmp) / name
                subprocess.run([sys.executable, "-m", "ganforge", "train", *args, "--quiet", "--runs-dir", str(runs)],
                               check=True)
                run = next(runs.iterdir())
                page = Path(tmp) / f"{name}.html"
                subprocess.run([sys.executable, "-m", "ganforge", "export", str(run), "--format", "web", "--out",
                                str(page)], check=True, capture_output=True)
                results[name] = measure(driver, page)
                print(name, results[name], flush=True)
        version = driver.capabilities.get("browserVersion")
    finally:
        driver.quit()
    out = {"benchmark": "web_export", "browser": f"headless Chromium {version}", "models": results,
           "package": package_bytes(), "benchmark_seconds": round(time.perf_counter() - started),
           "cpu": platform.processor() or platform.machine()}
    path = ROOT / "benchmarks" / "results" / "web_export.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
