"""What layer health costs: event detection against the analysis it follows, the randomized ESD (correlation
traps) per checkpoint, and how soon an alert reaches a local HTTP endpoint after its epoch's analysis is
written. Full-size ResNet-18 (CIFAR-100 head) checkpoints, built as benchmarks/analysis_speed.py builds them.

    python benchmarks/health_overhead.py                   # 8 checkpoints; about 2 minutes on 2 cores
    python benchmarks/health_overhead.py --checkpoints 4 --randomized 1

Measured in one run:
- analysis: `analyze_run` of every checkpoint (events included, as `spectrascope analyze` runs it), without
  randomized ESDs;
- events: `update_events` as a training run calls it, once per checkpoint as each lands, over the table so
  far (read the tables, derive, write events.csv); the ratio to the analysis is the overhead (target <= 5%);
- randomize: the same analysis of `--randomized` checkpoints with and without `--randomize`;
- default policy: the first run analysed again from scratch under the default randomization policy (every
  RANDOMIZE_EVERY-th checkpoint and the last), against its plain analysis;
- alert latency: one more checkpoint analysed with SPECTRASCOPE_ALERT_URL set to a local server, from the
  moment its layers.csv is written to the arrival of the first alert it raised (target <= 2 s).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from analysis_speed import build_run
from analysis.options import RANDOMIZE_EVERY
from analysis.plan import randomized_epochs
from analysis.runner import analyze_run
from spectrascope.health.monitor import update_events
from spectrascope.health.rules import load_rules
from spectrascope.runs import run_paths


def seconds_of(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def event_seconds(data_dir: str, checkpoints: int) -> float:
    paths, rules = run_paths(data_dir, "bench"), load_rules()
    return sum(seconds_of(lambda: update_events(paths, rules, upto=epoch)) for epoch in range(checkpoints))


def alert_latency(data_dir: str, checkpoints: int) -> float:
    """Seconds from the new checkpoint's layers.csv write to the first alert's arrival."""
    arrivals = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            arrivals.append(time.time())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    paths = run_paths(data_dir, "bench")
    shutil.rmtree(paths.analysis)  # every epoch's events are new again: some of them warnings
    os.environ["SPECTRASCOPE_ALERT_URL"] = f"http://127.0.0.1:{server.server_port}/"
    os.environ["SPECTRASCOPE_ALERT_MIN_SEVERITY"] = "info"
    try:
        analyze_run(data_dir, "bench", epochs=[0], progress=False, workers=1, randomize_every=0)
        written = paths.layers_csv.stat().st_mtime
    finally:
        del os.environ["SPECTRASCOPE_ALERT_URL"], os.environ["SPECTRASCOPE_ALERT_MIN_SEVERITY"]
        server.shutdown()
    assert arrivals, "no alert arrived"
    return min(arrivals) - written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--randomized", type=int, default=2, help="checkpoints timed with and without --randomize")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        print(f"building {args.checkpoints} ResNet-18 checkpoints", flush=True)
        build_run(data_dir, args.checkpoints, "resnet18")
        analysis = seconds_of(lambda: analyze_run(data_dir, "bench", progress=False, randomize_every=0))
        events = event_seconds(data_dir, args.checkpoints)
        results["analysis s/checkpoint"] = analysis / args.checkpoints
        results["events s/checkpoint"] = events / args.checkpoints
        results["events / analysis"] = events / analysis
        shutil.rmtree(run_paths(data_dir, "bench").analysis)
        policy = seconds_of(lambda: analyze_run(data_dir, "bench", progress=False))
        results["default policy: checkpoints randomized"] = len(randomized_epochs(list(range(args.checkpoints)),
                                                                                 RANDOMIZE_EVERY, finished=True))
        results["default policy adds, share of the analysis"] = (policy - analysis) / analysis
        results["alert latency s"] = alert_latency(data_dir, args.checkpoints)
    with tempfile.TemporaryDirectory() as data_dir:
        build_run(data_dir, args.randomized, "resnet18")
        plain = seconds_of(lambda: analyze_run(data_dir, "bench", progress=False, randomize_every=0))
        shutil.rmtree(run_paths(data_dir, "bench").analysis)
        randomized = seconds_of(lambda: analyze_run(data_dir, "bench", randomize=True, progress=False))
        results["plain s/checkpoint"] = plain / args.randomized
        results["randomized s/checkpoint"] = randomized / args.randomized
        results["randomize adds, share of the analysis"] = (randomized - plain) / plain
    for name, value in results.items():
        print(f"{name:40s} {value:.4f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
