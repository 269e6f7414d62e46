"""The mode-collapse benchmarks of VEEGAN and PacGAN, run by the lab: ring of 8 and grid of 25 Gaussians.

For each distribution, 10 seeds of a plain GAN (the lab's settings with pack=1, no R1) and of the
lab's defaults, each trial on one CPU thread (two trials side by side), scored on 2,500 generated
points: modes captured, share of high-quality points (within 3 std of a mode), reverse KL of the mode
shares. Prints PacGAN's Table 1 with ganforge's rows added (mean and standard error over seeds).
Then, with the page open in headless Chromium while it trains, the frames per second the page draws
and the training steps per second behind them.

    python benchmarks/toy_modes.py            # writes benchmarks/results/toy_modes.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ganforge.lab.settings import LabSettings, plain
from ganforge.lab.trainer import LabTrainer

# PacGAN (Lin et al. 2018), Table 1: 10 trials each, 400 epochs of 100,000 points on a GPU
PUBLISHED = [
    ("GAN", (6.3, 98.2, 0.45), (17.3, 94.8, 0.70)),
    ("PacGAN2", (7.9, 95.6, 0.07), (23.8, 91.3, 0.13)),
    ("PacGAN4", (7.8, 95.9, 0.07), (24.8, 93.6, 0.04)),
]


def trial(job: tuple[str, str, int]) -> dict:
    torch.set_num_threads(1)
    kind, dist, seed = job
    s = plain(dist) if kind == "plain" else LabSettings(dist=dist)
    s.seed = seed
    t = LabTrainer(s)
    t.total = s.steps
    for _ in range(s.steps):
        t.train_step()
    m = t.measure()
    return {"kind": kind, "dist": dist, "seed": seed, "steps": t.step, "seconds": round(t.seconds, 2),
            "modes": m["modes"], "high_quality": round(m["high_quality"], 4), "reverse_kl": round(m["reverse_kl"], 4)}


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in ("modes", "high_quality", "reverse_kl", "seconds"):
        v = torch.tensor([float(r[key]) for r in rows], dtype=torch.float64)
        se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
        out[key] = {"mean": float(v.mean()), "se": se, "max": float(v.max())}
    return out


def table(results: dict) -> str:
    lines = ["| | ring modes (of 8) | ring high quality | ring reverse KL | grid modes (of 25) | grid high quality "
             "| grid reverse KL |", "|---|---|---|---|---|---|---|"]
    for name, ring, grid in PUBLISHED:
        lines.append(f"| {name} | {ring[0]} | {ring[1]}% | {ring[2]} | {grid[0]} | {grid[1]}% | {grid[2]} |")
    for kind, label in (("plain", "ganforge lab, plain GAN"), ("default", "ganforge lab, defaults")):
        cells = []
        for dist in ("ring", "grid"):
            s = results[kind][dist]
            cells += [f"{s['modes']['mean']:.1f} ± {s['modes']['se']:.1f}",
                      f"{100 * s['high_quality']['mean']:.1f}% ± {100 * s['high_quality']['se']:.1f}",
                      f"{s['reverse_kl']['mean']:.3f} ± {s['reverse_kl']['se']:.3f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def page_speed(seconds: float = 12.0) -> dict:
    """Frames/s the page draws and steps/s behind it, in headless Chromium, while the ring trains."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return {"skipped": "selenium is not installed"}
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_bin = shutil.which("chromedriver")
    if not browser or not driver_bin:
        return {"skipped": "no Chromium found (apt-get install chromium chromium-driver)"}
    lab = subprocess.Popen([sys.executable, "-m", "ganforge", "lab", "--port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    driver = None
    try:
        line = lab.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
        driver.get(url)
        time.sleep(2)
        driver.find_element("id", "play").click()
        time.sleep(3)  # past the first second's counts
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1.0)
            samples.append(driver.execute_script("return [window.lab.fps, window.lab.sps, window.lab.step]"))
        fps = [s[0] for s in samples if s[0]]
        sps = [s[1] for s in samples if s[1]]
        return {"fps": round(sum(fps) / len(fps), 1), "steps_per_s": round(sum(sps) / len(sps), 1),
                "seconds": seconds, "final_step": samples[-1][2]}
    finally:
        if driver is not None:
            driver.quit()
        lab.terminate()
        lab.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "toy_modes.json")
    args = ap.parse_args()

    jobs = [(kind, dist, seed) for dist in ("ring", "grid") for kind in ("plain", "default")
            for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.parallel) as pool:
        trials = []
        for r in pool.map(trial, jobs):
            trials.append(r)
            print(json.dumps(r), flush=True)
    results = {kind: {dist: summary([t for t in trials if t["kind"] == kind and t["dist"] == dist])
                      for dist in ("ring", "grid")} for kind in ("plain", "default")}
    page = {"skipped": "--no-browser"} if args.no_browser else page_speed()
    out = {"benchmark": "toy_modes", "seeds": args.seeds, "parallel": args.parallel, "summary": results,
           "page": page, "settings": {d: LabSettings(dist=d).to_dict() for d in ("ring", "grid")},
           "plain": {d: plain(d).to_dict() for d in ("ring", "grid")}, "published": PUBLISHED, "trials": trials,
           "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(table(results))
    print("page:", json.dumps(page))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
