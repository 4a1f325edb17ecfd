"""Export speed: `spectrascope export` and `spectrascope report` on a flagship-sized run, each timed as a fresh
process from start to end, as a user runs them.

The run is dashboard_latency.py's (built once, then reused): CIFAR ResNet-18 at full width, epochs 0..40,
21 analysed layers, perturbed copies of the initialised model, really analysed. Timed:
- a 41-frame MP4 of one layer's ESD (the layer with the most eigenvalues): target <= 10 s on 2 cores;
- a 41-frame `grid` MP4 of all 21 layers' ESDs: target <= 60 s;
- the report (every layer's ESD and histogram animations): target <= 30 s;
and the report opened in a fresh headless Chromium with the network off, until its overview (training curves,
heatmap, mean alpha) is drawn: target <= 3 s. Each is printed with its ratio target / measured (above 1: within
the target), the output's size, and the load average before and after, since on 2 cores any other busy process
shows in every number.

    python benchmarks/export_speed.py                  # builds the run once (~1 min on 2 cores), then ~1.5 min
    python benchmarks/export_speed.py --repeat 3       # the median of 3 runs of each
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dashboard_latency import RUN_ID, ensure_run  # the flagship-sized run, built the same way

SPECTRASCOPE = (sys.executable, "-m", "spectrascope")  # the installed command, run by this interpreter
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
OVERVIEW_DRAWN = ("return [...document.querySelectorAll('.plot')].filter(p => !p.closest('details'))"
                  ".every(p => p.dataset.drawn)")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def open_seconds(page: Path) -> float:
    """A fresh Chromium (empty code cache, as a colleague opening the file) from navigation until the overview
    is drawn; its network is off, so a page that needs it would never finish."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                    "downloadThroughput": -1, "uploadThroughput": -1})
        driver.get(page.as_uri())
        WebDriverWait(driver, 60, poll_frequency=0.02).until(lambda d: d.execute_script(OVERVIEW_DRAWN))
        return driver.execute_script("return performance.now()") / 1000  # since navigation started
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "spectrascope-bench-dashboard",
                        help="where the run is built (shared with dashboard_latency.py)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the median is shown")
    parser.add_argument("--rebuild", action="store_true", help="build the run again even if a complete one exists")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    ensure_run(data_dir, 40, args.rebuild)
    import pandas as pd

    layers = pd.read_csv(data_dir / "runs" / RUN_ID / "analysis" / "layers.csv")
    largest = str(layers.sort_values("num_evals", kind="stable").iloc[-1]["layer"])
    run = ("--data-dir", str(data_dir), "--run", RUN_ID)
    with tempfile.TemporaryDirectory(prefix="export-speed-") as scratch:
        out = Path(scratch)
        cases = [  # name, command, output, target seconds
            (f"ESD MP4 of {largest}", [*SPECTRASCOPE, "export", *run, "--view", "esd", "--layer", largest,
                                       "--format", "mp4", "--out", str(out / "esd.mp4")], out / "esd.mp4", 10.0),
            ("grid MP4, 21 layers", [*SPECTRASCOPE, "export", *run, "--view", "grid", "--format", "mp4",
                                     "--out", str(out / "grid.mp4")], out / "grid.mp4", 60.0),
            ("report", [*SPECTRASCOPE, "report", *run, "--out", str(out / "report.html")], out / "report.html", 30.0),
        ]
        print(f"{len(layers['epoch'].unique())} epochs x {len(layers['layer'].unique())} layers; "
              f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for name, command, output, target in cases:
            seconds = statistics.median(timed(command) for _ in range(args.repeat))
            print(f"{name:28s} {seconds:6.1f} s  target {target:4.0f} s  ratio {target / seconds:5.2f}  "
                  f"{output.stat().st_size / 1e6:5.1f} MB  (load average {os.getloadavg()[0]:.2f})", flush=True)
        if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
            seconds = statistics.median(open_seconds(out / "report.html") for _ in range(args.repeat))
            print(f"{'report opened (offline)':28s} {seconds:6.1f} s  target    3 s  ratio {3 / seconds:5.2f}")
        else:
            print(f"report opened: not measured ({CHROMIUM} and {CHROMEDRIVER} are needed)")


if __name__ == "__main__":
    main()
