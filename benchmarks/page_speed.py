"""The lab page's drawing speed: frames per second in headless Chromium while the ring trains, and the
training steps per second behind them (used by ``toy_modes.py``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time


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
