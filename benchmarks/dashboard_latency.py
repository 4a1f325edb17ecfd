"""Dashboard latency: server-side time and size of every figure/table callback, on a flagship-sized run,
served the way a team box serves it (`gunicorn -w 2 app:server`).

Builds (or reuses) a run the size of the flagship: CIFAR ResNet-18 (width 64, CIFAR-100 head), epochs
0..40, written with the real `RunRecorder`. Nothing is trained: epoch 0 is the initialised model and each
later checkpoint is a cheaply perturbed copy (a growing heavy-tailed drift plus a growing rank-2 spike per
weight matrix, so the spectra and alphas move), with plausible metrics rows. Then the real analysis
(`analyze_run`, defaults) writes layers.csv, esd/*.npz, weight_stats.csv and histograms.npz.

Then it starts gunicorn with two workers on that data dir and POSTs to /_dash-update-component the JSON
the Dash renderer sends (output, outputs, inputs, state, changedPropIds), one request at a time, for each
callback, and prints per callback:
- 1st:  the first request after the server started (empty cache; per-worker lazy imports land here);
- cold: requests each made right after clearing DATA_DIR/cache (the OS page cache stays warm);
- warm: p50/p95 over --requests requests with the cache filled (the epoch-driven callbacks step through
  epochs, as the play button does);
- the response size (largest, and gzipped for reference: the app serves it uncompressed);
and, after all requests, each worker's RSS. Targets: warm p95 <= 50 ms (100 ms for the transformer-sized runs),
each figure response <= 300 KB, each web worker's RSS <= 300 MB; every number is printed with its ratio to the
target and PASS/FAIL.
The exit status is 0 whatever the verdicts (it is a benchmark, not a test).

    python benchmarks/dashboard_latency.py               # builds the run once (~1-2 min on 2 cores), then ~20 s
    python benchmarks/dashboard_latency.py --rebuild     # throw the run away and build it again
    python benchmarks/dashboard_latency.py --requests 100 --cold 10   # steadier percentiles

With `--model gpt2-small` the runs are transformer-sized instead: three runs of GPT-2 small's 75 weight
matrices over 200 checkpoints numbered by step, their analysis synthesised at the real sizes and fitted for real
(benchmarks/transformer_runs.py says how), and the Compare tab is measured with all three (overlaid curves,
mean alpha and the alpha difference; one layer's alpha, ESD and histogram overlaid):

    python benchmarks/dashboard_latency.py --model gpt2-small   # builds the runs once (~5 min), then ~1 min

Run it on an idle machine: on 2 cores any other busy process shows in every number (it prints how many
cores other processes used while it measured, and warns when that is not close to zero).
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.frames import FRAMES_PER_WINDOW
from spectrascope.runs import RunFormatError, checkpoint_epochs, histogram_tensors, read_run, run_paths

REPO = Path(__file__).resolve().parent.parent  # gunicorn runs here, as `gunicorn app:server` does

RUN_ID = "resnet18-cifar100-bench"
TRANSFORMER_RUNS = ("gpt2-small-a", "gpt2-small-b", "gpt2-small-c")
MARKER = "benchmarks/dashboard_latency.py v1"  # in the run's config: a run with this id built by someone else is not reused
TARGET_P95_MS = {"resnet18": 50.0, "gpt2-small": 100.0}  # issue 13: the flagship on 2 cores; transformer-sized
TARGET_RESPONSE_KB = 300.0
TARGET_RSS_MB = 300.0
UPDATE_PATH = "/_dash-update-component"


# --- the run ------------------------------------------------------------------------------------


def run_state(data_dir: Path, last_epoch: int) -> str:
    """"absent", "foreign" (not built by this script), "partial", "trained" (not fully analysed) or "complete"."""
    paths = run_paths(data_dir, RUN_ID)
    if not paths.run_json.exists():
        return "absent" if not paths.root.exists() else "partial"
    try:
        record = read_run(paths)
    except RunFormatError:
        return "foreign"
    if (record.config if isinstance(record.config, dict) else {}).get("benchmark") != MARKER:
        return "foreign"
    epochs = list(range(last_epoch + 1))
    if record.status != "completed" or checkpoint_epochs(paths) != epochs or not paths.metrics_csv.exists():
        return "partial"
    files = [paths.layers_csv, paths.weight_stats_csv, paths.histograms, *(paths.esd(e) for e in epochs)]
    if record.analysis_state.status != "completed" or not all(path.exists() for path in files):
        return "trained"
    import pandas as pd

    analysed = set(pd.read_csv(paths.layers_csv, usecols=["epoch"])["epoch"].unique().tolist())
    return "complete" if analysed == set(epochs) else "trained"


def metrics_row(epoch: int, last_epoch: int, rng: np.random.Generator) -> dict:
    """A plausible flagship row: accuracy climbing to ~76 %, mixup train loss above test loss, OneCycle lr."""
    t = epoch / last_epoch
    progress = (1 - math.exp(-3.5 * t)) / (1 - math.exp(-3.5))
    test_acc = 0.01 + 0.755 * progress + (rng.normal(0, 0.004) if epoch else 0.0)
    test_loss = math.log(100) - (math.log(100) - 0.95) * progress + (rng.normal(0, 0.02) if epoch else 0.0)
    if epoch == 0:  # the untrained model, evaluated before training
        return {"test_loss": test_loss, "test_acc": test_acc, "seconds": 3.2}
    peak, warmup = 0.1, 0.3
    if t <= warmup:
        lr = peak / 25 + (peak - peak / 25) * (1 - math.cos(math.pi * t / warmup)) / 2
    else:
        lr = peak / 25 / 1e4 + (peak - peak / 25 / 1e4) * (1 + math.cos(math.pi * (t - warmup) / (1 - warmup))) / 2
    return {"train_loss": test_loss + 0.85 - 0.2 * progress + rng.normal(0, 0.02),
            "train_acc": 0.82 * test_acc + rng.normal(0, 0.004), "test_loss": test_loss, "test_acc": test_acc,
            "lr": lr, "seconds": 31.0 + rng.normal(0, 0.6)}


def build_run(data_dir: Path, last_epoch: int) -> None:
    """Epoch 0 = the initialised ResNet-18; epoch e = init + drift(e) + a rank-2 spike growing with e."""
    import torch

    from training.model import ResNet18
    from training.recorder import RunRecorder

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = ResNet18(100, 3, 64)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    drift = {name: torch.zeros_like(p) for name, p in base.items()}
    spikes = {}
    for name, p in base.items():
        if p.ndim > 1:  # singular values ~2x the bulk edge (std * (sqrt(rows) + sqrt(cols))) by the last epoch
            rows, cols = p.shape[0], p[0].numel()
            u = torch.nn.functional.normalize(torch.randn(rows, 2), dim=0)
            v = torch.nn.functional.normalize(torch.randn(2, cols), dim=1)
            edge = float(p.std()) * (rows ** 0.5 + cols ** 0.5)
            spikes[name] = u @ torch.diag(torch.tensor([2.0 * edge, 1.2 * edge])) @ v
    config = {"benchmark": MARKER, "model": "resnet18", "width": 64, "dataset": "cifar100", "epochs": last_epoch,
              "note": "synthetic: perturbed copies of the initialised model, no training"}
    started = time.perf_counter()
    with RunRecorder(data_dir, RUN_ID, config=config, total_epochs=last_epoch,
                     provenance={"device": "cpu", "seed": 0}) as run:
        for epoch in range(last_epoch + 1):
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if epoch == 0:
                        continue
                    if p.ndim > 1:
                        heavy = torch.randn(p.shape) ** 3 / 15 ** 0.5  # unit variance, heavy tails, cheap
                        drift[name] += 0.02 * base[name].std() * heavy
                        p.copy_(base[name] + drift[name] + (epoch / last_epoch) * spikes[name].view_as(p))
                    else:  # norm weights and biases, the fc bias: a random walk, so bias histograms move too
                        drift[name] += 0.01 * torch.randn_like(p)
                        p.copy_(base[name] + drift[name])
            run.log_epoch(epoch, model, **metrics_row(epoch, last_epoch, rng))
            if epoch % 10 == 0 or epoch == last_epoch:
                print(f"  checkpoint {epoch}/{last_epoch} ({time.perf_counter() - started:.0f} s)", flush=True)


def ensure_run(data_dir: Path, last_epoch: int, rebuild: bool) -> None:
    paths = run_paths(data_dir, RUN_ID)
    state = run_state(data_dir, last_epoch)
    if state == "foreign":
        raise SystemExit(f"{paths.root} exists and was not built by this benchmark: choose another --data-dir")
    if state == "complete" and not rebuild:
        print(f"reusing the complete run {paths.root}", flush=True)
        return
    if state in ("partial", "complete") or (state == "trained" and rebuild):
        print(f"removing the {'previous' if rebuild else 'incomplete'} run {paths.root}", flush=True)
        shutil.rmtree(paths.root)
        state = "absent"
    if state == "absent":
        print(f"building run {paths.root}: {last_epoch + 1} ResNet-18 checkpoints (no training)", flush=True)
        build_run(data_dir, last_epoch)
    else:  # trained, analysis incomplete: start it afresh (its manifest may claim epochs whose files are gone)
        shutil.rmtree(paths.analysis, ignore_errors=True)
    from analysis.runner import analyze_run

    print("analysing it (analysis.runner.analyze_run, defaults)", flush=True)
    started = time.perf_counter()
    report = analyze_run(data_dir, RUN_ID)
    print(f"  analysis done in {time.perf_counter() - started:.0f} s"
          f"{f', errors: {report.errors}' if report.errors else ''}", flush=True)
    if run_state(data_dir, last_epoch) != "complete":
        raise SystemExit(f"the analysis of {paths.root} is still incomplete; see the messages above")


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(data_dir: Path, port: int, workers: int, scratch: Path) -> tuple[subprocess.Popen, float, Path]:
    """`gunicorn -w N -b 127.0.0.1:port app:server`; waits until every worker has loaded the app."""
    ready = scratch / "ready"
    ready.mkdir()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]  # this interpreter's
    hooked = not (REPO / "gunicorn.conf.py").exists()  # else -c would override the project's own config
    if hooked:  # a hook that says when each worker has loaded the app
        conf = scratch / "gunicorn_ready.py"
        conf.write_text(f"import pathlib\n\ndef post_worker_init(worker):\n"
                        f"    pathlib.Path({str(ready)!r}, str(worker.pid)).touch()\n")
        command += ["-c", str(conf)]
    command.append("app:server")
    log = scratch / "gunicorn.log"
    env = {**os.environ, "SPECTRASCOPE_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        if (len(list(ready.iterdir())) >= workers) if hooked else health_ok(port):
            if not hooked:
                time.sleep(5)  # no hook: give the other workers time to load
            return process, time.perf_counter() - started, log
        time.sleep(0.1)
    stop_gunicorn(process)
    raise SystemExit(f"gunicorn did not get ready in 120 s:\n{log.read_text()[-4000:]}")


def health_ok(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def busy_cpu_seconds(server: subprocess.Popen) -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds of this benchmark and its server)."""
    import psutil

    total = psutil.cpu_times()
    busy = sum(getattr(total, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))
    ours = 0.0
    master = psutil.Process(server.pid)
    for process in (psutil.Process(), master, *master.children()):
        times = process.cpu_times()
        ours += times.user + times.system
    return busy, ours


def worker_rss_mb(process: subprocess.Popen) -> dict[int, float]:
    import psutil

    return {child.pid: child.memory_info().rss / 2**20 for child in psutil.Process(process.pid).children()}


# --- requests -----------------------------------------------------------------------------------


def http_json(port: int, method: str, path: str, body: bytes | None = None) -> tuple[float, int, bytes]:
    """(seconds, status, body) of one request on a fresh connection (gunicorn's sync workers close it anyway)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json", "Accept": "application/json"} if body is not None else {}
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, response.status, data


def split_outputs(output: str) -> list[tuple[str, str]]:
    """Dash's output string ("a.b" or "..a.b...c.d..") as (id, property) pairs, any "@hash" kept."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(part.rsplit(".", 1)) for part in parts]


class Callback:
    """One server-side callback, as /_dash-dependencies describes it, and the payloads the renderer sends."""

    def __init__(self, dependency: dict):
        self.output = dependency["output"]
        self.outputs = [{"id": cid, "property": prop.split("@")[0]} for cid, prop in split_outputs(self.output)]
        self.inputs = [(item["id"], item["property"]) for item in dependency["inputs"]]
        self.state = [(item["id"], item["property"]) for item in dependency.get("state", [])]

    def payload(self, values: dict, changed: str | None = None) -> bytes:
        """The request body: every input and state from `values` (missing ones: null)."""
        def filled(items):
            return [{"id": cid, "property": prop, "value": values.get(f"{cid}.{prop}")} for cid, prop in items]

        changed = changed or f"{self.inputs[0][0]}.{self.inputs[0][1]}"
        body = {"output": self.output, "outputs": self.outputs if len(self.outputs) > 1 else self.outputs[0],
                "inputs": filled(self.inputs), "changedPropIds": [changed], "parsedChangedPropsIds": [changed]}
        if self.state:
            body["state"] = filled(self.state)
        return json.dumps(body).encode()


def find_callback(dependencies: list[dict], target: str) -> Callback | None:
    """The server callback whose outputs include `target` ("id.property"; one with allow_duplicate counts)."""
    for dependency in dependencies:
        if dependency.get("clientside_function"):
            continue
        if any(f"{cid}.{prop.split('@')[0]}" == target for cid, prop in split_outputs(dependency["output"])):
            return Callback(dependency)
    return None


class Measured:
    def __init__(self, label: str, kind: str):
        self.label, self.kind = label, kind  # kind: "figure", "table" or "poll"
        self.first = math.nan
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.sizes: list[int] = []
        self.gzipped = 0
        self.errors: list[str] = []

    def record(self, seconds: float, status: int, body: bytes, bucket: list | None) -> None:
        problem = f"HTTP {status}: {body[:300].decode(errors='replace')}" if status not in (200, 204) else None
        if problem is None and self.kind != "poll":
            problem = placeholder(body)
        if problem:  # a timing of an error page or a "nothing to show" figure would flatter the app
            self.errors.append(problem)
            return
        if bucket is not None:
            bucket.append(seconds * 1000)
        if len(body) >= max(self.sizes, default=0):
            self.gzipped = len(gzip.compress(body, 6))
        self.sizes.append(len(body))


def placeholder(body: bytes) -> str | None:
    """Why a figure/table response shows nothing (an empty figure with a message, an empty table), else None."""
    for component, props in json.loads(body)["response"].items():
        for prop, value in props.items():
            if prop == "figure" and not (value or {}).get("data"):
                notes = [note.get("text") for note in (value or {}).get("layout", {}).get("annotations", [])]
                return f"{component}.figure is a placeholder: {notes}"
            if prop == "data" and not value:
                return f"{component}.data is empty"
    return None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


# --- main ---------------------------------------------------------------------------------------


def scenarios(run_id: str, version, options, layer_hist: str, layer_esd: str, epochs: list[int],
              compared: list[str]) -> list[dict]:
    """What a user does with each tab. `values(i)` gives the i-th request's inputs. The views played over
    epochs are sent a window of 50 epochs' frames at a time (app.frames) and step through the windows, newest
    first, as the slider does; the ridge and the metrics table step back through the epochs one by one (one
    request per epoch); with `compared` runs, the Compare tab too."""
    def stepping(i: int) -> int:
        return epochs[-1 - (i % len(epochs))]

    windows = -(-len(epochs) // FRAMES_PER_WINDOW)

    def window(i: int) -> int:
        return windows - 1 - (i % windows)

    common = {"run-picker.value": run_id, "run-version.data": version}
    unit = "step" if epochs[-1] > 1000 else "epoch"
    weights = {**common, "tabs.active_tab": "weights", "weights-layer.value": layer_hist,
               "weights-kind.value": "weight", "weights-log-y.value": False}
    return [
        {"label": "training curves", "target": "training-curves.figure", "kind": "figure",
         "values": lambda i: {**common, "tabs.active_tab": "training"}},
        {"label": f"weights histogram frames ({layer_hist})", "target": "weights-frames.data",
         "kind": "figure", "changed": "weights-window.data",
         "values": lambda i: {**weights, "weights-view.value": "epoch", "weights-window.data": window(i)}},
        {"label": f"weights ridge ({len(epochs)} {unit}s, {layer_hist})", "target": "weights-histogram.figure",
         "kind": "figure", "changed": "weights-epoch.value",
         "values": lambda i: {**weights, "weights-view.value": "ridge", "weights-epoch.value": stepping(i)}},
        {"label": f"ESD frames ({layer_esd})", "target": "esd-frames.data", "kind": "figure",
         "changed": "esd-window.data",
         "values": lambda i: {**common, "tabs.active_tab": "esd", "esd-layer.value": layer_esd,
                              "esd-window.data": window(i)}},
        {"label": "alpha heatmap + summary", "target": "alpha-heatmap.figure", "kind": "figure",
         "values": lambda i: {**common, "tabs.active_tab": "alpha"}},
        {"label": "health timeline + table", "target": "health-timeline.figure", "kind": "figure",
         "values": lambda i: {**common, "tabs.active_tab": "health", "health-kinds.value": None,
                              "health-severities.value": ["info", "warning", "critical"] if i % 2 else
                              ["warning", "critical"]}},
        {"label": "metrics table", "target": "metrics-table.data", "kind": "table", "changed": "metrics-epoch.value",
         "values": lambda i: {**common, "tabs.active_tab": "metrics", "metrics-epoch.value": stepping(i)}},
        {"label": "run status", "target": "run-status.children", "kind": "table", "values": lambda i: common},
        {"label": "run-picker refresh (2 s poll)", "target": "run-picker.options", "kind": "poll",
         "values": lambda i: {"live-interval.n_intervals": i + 1, "run-picker.value": run_id,
                              "run-picker.options": options}},
        {"label": "run-version check (2 s poll)", "target": "run-version.data", "kind": "poll",
         "values": lambda i: {"live-interval.n_intervals": i + 1, "run-picker.value": run_id,
                              "run-version.data": version}},
        {"label": "job list (2 s poll)", "target": "job-list.children", "kind": "poll",
         "values": lambda i: {"live-interval.n_intervals": i + 1}},
    ] + ([] if len(compared) < 2 else [
        {"label": f"compare overview ({len(compared)} runs)", "target": "compare-curves.figure", "kind": "figure",
         "values": lambda i: {"compare-runs.value": compared, "tabs.active_tab": "compare"}},
        {"label": f"compare layer alpha ({len(compared)} runs)", "target": "compare-layer-alpha.figure",
         "kind": "figure", "values": lambda i: {"compare-runs.value": compared, "tabs.active_tab": "compare",
                                                "compare-layer.value": layer_esd}},
        {"label": f"compare layer frames ({len(compared)} runs)", "target": "compare-frames.data",
         "kind": "figure", "changed": "compare-window.data",
         "values": lambda i: {"compare-runs.value": compared, "tabs.active_tab": "compare",
                              "compare-layer.value": layer_esd, "compare-window.data": window(i)}},
    ])


def verdict(value: float, target: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{'PASS' if value <= target else 'FAIL'} ({value / target:.2f}x target)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("resnet18", "gpt2-small"), default="resnet18",
                        help="the flagship-sized run, or three transformer-sized runs numbered by step")
    parser.add_argument("--data-dir", type=Path, help="default: spectrascope-bench-dashboard[-gpt2] in the temp dir")
    parser.add_argument("--epochs", type=int, default=40, help="last epoch of the ResNet run (the flagship: 40)")
    parser.add_argument("--checkpoints", type=int, default=200, help="checkpoints of each transformer-sized run")
    parser.add_argument("--requests", type=int, default=30, help="warm requests per callback")
    parser.add_argument("--cold", type=int, default=5, help="cold requests per callback (cache cleared before each)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--rebuild", action="store_true", help="build the run again even if a complete one exists")
    args = parser.parse_args()
    suffix = "-gpt2" if args.model == "gpt2-small" else ""
    data_dir = (args.data_dir or Path(tempfile.gettempdir()) / f"spectrascope-bench-dashboard{suffix}").resolve()
    total_started = time.perf_counter()

    if args.model == "gpt2-small":
        run_id, compared = TRANSFORMER_RUNS[0], list(TRANSFORMER_RUNS)
        ensure_transformer_runs(data_dir, args.checkpoints, args.rebuild)
    else:
        run_id, compared = RUN_ID, []
        ensure_run(data_dir, args.epochs, args.rebuild)
    import diskcache
    import pandas as pd

    paths = run_paths(data_dir, run_id)
    layers = pd.read_csv(paths.layers_csv)
    epochs = sorted(int(e) for e in layers["epoch"].unique())
    layer_esd = str(layers.sort_values("num_evals", kind="stable").iloc[-1]["layer"])  # the largest ESD
    weight_tensors = [layer for layer, kind in histogram_tensors(paths) if kind == "weight"]
    layer_hist = layer_esd if layer_esd in weight_tensors else weight_tensors[-1]

    port = args.port or free_port()
    cache = diskcache.Cache(str(data_dir / "cache"))  # the app's shared cache (its settings are kept)
    cache.clear()
    with tempfile.TemporaryDirectory(prefix="dashboard-latency-") as scratch:
        print(f"starting gunicorn -w {args.workers} -b 127.0.0.1:{port} app:server "
              f"(SPECTRASCOPE_DATA_DIR={data_dir})", flush=True)
        server, boot_seconds, log = start_gunicorn(data_dir, port, args.workers, Path(scratch))
        try:
            rss_boot = worker_rss_mb(server)
            started, (busy, ours) = time.perf_counter(), busy_cpu_seconds(server)
            results = measure(port, cache, args, run_id, compared, layer_hist, layer_esd, epochs)
            seconds, (busy_end, ours_end) = time.perf_counter() - started, busy_cpu_seconds(server)
            contention = (max(0.0, (busy_end - busy) - (ours_end - ours)) / seconds, seconds)
            rss_after = worker_rss_mb(server)
        except BaseException:
            print(f"gunicorn log (tail):\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            stop_gunicorn(server)
        cache.close()

    report(results, args, data_dir, paths, layers, boot_seconds, rss_boot, rss_after, contention,
           time.perf_counter() - total_started)


def ensure_transformer_runs(data_dir: Path, checkpoints: int, rebuild: bool) -> None:
    import transformer_runs  # beside this script

    for seed, run_id in enumerate(TRANSFORMER_RUNS):
        if transformer_runs.is_built(data_dir, run_id, checkpoints) and not rebuild:
            print(f"reusing the run {run_id}", flush=True)
            continue
        shutil.rmtree(run_paths(data_dir, run_id).root, ignore_errors=True)
        print(f"building {run_id}: GPT-2 small's analysis at {checkpoints} checkpoints (synthetic spectra, real fits)",
              flush=True)
        transformer_runs.build(data_dir, run_id, checkpoints, seed)


def measure(port: int, cache, args, run_id: str, compared: list[str], layer_hist: str, layer_esd: str,
            epochs: list[int]) -> list[Measured]:
    _, status, body = http_json(port, "GET", "/_dash-dependencies")
    if status != 200:
        raise SystemExit(f"GET /_dash-dependencies: HTTP {status}")
    dependencies = json.loads(body)

    # The values the page holds once it has loaded: the run picker's options and the run's version.
    picker = find_callback(dependencies, "run-picker.options")
    version_cb = find_callback(dependencies, "run-version.data")
    _, _, body = http_json(port, "POST", UPDATE_PATH, picker.payload({"live-interval.n_intervals": 0}))
    options = json.loads(body)["response"]["run-picker"]["options"]
    _, _, body = http_json(port, "POST", UPDATE_PATH, version_cb.payload(
        {"live-interval.n_intervals": 0, "run-picker.value": run_id}, changed="run-picker.value"))
    version = json.loads(body)["response"]["run-version"]["data"]
    cache.clear()  # so that "1st" starts from an empty cache too

    plans = []
    for scenario in scenarios(run_id, version, options, layer_hist, layer_esd, epochs, compared):
        callback = find_callback(dependencies, scenario["target"])
        if callback is None:
            print(f"  (skipped {scenario['label']}: no callback outputs {scenario['target']})")
            continue
        plans.append((scenario, callback, Measured(scenario["label"], scenario["kind"])))

    def request(scenario, callback, i):
        return http_json(port, "POST", UPDATE_PATH, callback.payload(scenario["values"](i), scenario.get("changed")))

    print(f"measuring {len(plans)} callbacks: 1st, {args.cold} cold, {args.requests} warm requests each", flush=True)
    for scenario, callback, result in plans:  # the first request of each, right after the server started
        seconds, status, body = request(scenario, callback, 0)
        result.record(seconds, status, body, None)
        result.first = seconds * 1000 if status in (200, 204) else math.nan
    for scenario, callback, result in plans:
        started_label = time.perf_counter()
        for _ in range(args.cold):
            cache.clear()
            result.record(*request(scenario, callback, 0), result.cold)
        for i in range(args.requests):  # warm-up: every distinct request once, so each has its cache entries
            request(scenario, callback, i)
        for i in range(args.requests):
            result.record(*request(scenario, callback, i), result.warm)
        print(f"  {result.label}: {time.perf_counter() - started_label:.1f} s", flush=True)
    return [result for _, _, result in plans]


def report(results, args, data_dir, paths, layers, boot_seconds, rss_boot, rss_after, contention,
           total_seconds) -> None:
    import dash

    npz_mb = paths.histograms.stat().st_size / 2**20
    print()
    model = "GPT-2 small shapes" if args.model == "gpt2-small" else "ResNet-18 width 64"
    print(f"Dashboard latency — run {paths.run_id}: {model}, {layers['epoch'].nunique()} checkpoints x "
          f"{layers['layer'].nunique()} analysed layers ({len(layers)} layers.csv rows, "
          f"histograms.npz {npz_mb:.1f} MiB)")
    print(f"gunicorn -w {args.workers} (sync), {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"dash {dash.__version__}; client on the same host, one request at a time; workers ready "
          f"{boot_seconds:.1f} s after start")
    others_cores, seconds = contention
    print(f"other processes on this machine used {others_cores:.2f} cores on average during the {seconds:.0f} s "
          "of requests")
    if others_cores > 0.15:  # two cores: anything else running shows up in every number below
        print("WARNING: other processes competed for the CPUs; rerun on an idle machine for numbers to quote")
    print(f"data dir {data_dir}; 1st = first request after server start (empty cache), cold = cache cleared "
          f"before each of {args.cold}, warm = {args.requests} requests, cache filled")
    print()
    header = (f"{'callback':<44} {'1st':>7} {'cold p50':>9} {'cold max':>9} {'warm p50':>9} {'warm p95':>9} "
              f"{'size KB':>8} {'gzip KB':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        size = max(r.sizes, default=0) / 1024
        print(f"{r.label:<44} {r.first:>7.1f} {percentile(r.cold, 50):>9.1f} {max(r.cold, default=math.nan):>9.1f} "
              f"{percentile(r.warm, 50):>9.1f} {percentile(r.warm, 95):>9.1f} {size:>8.1f} {r.gzipped / 1024:>8.1f}")
    print("(times in ms, server round trip on localhost; size = largest response body)")
    print()
    print("Targets")
    failures = 0
    for r in results:
        p95 = percentile(r.warm, 95)
        line = f"  {r.label:<44} warm p95 {p95:6.1f} ms: {verdict(p95, TARGET_P95_MS[args.model])}"
        failures += not p95 <= TARGET_P95_MS[args.model]
        if r.kind != "poll":
            size = max(r.sizes, default=0) / 1024
            line += f"   response {size:6.1f} KB: {verdict(size, TARGET_RESPONSE_KB)}"
            failures += not size <= TARGET_RESPONSE_KB
        print(line)
        for error in r.errors[:3]:
            print(f"      error ({len(r.errors)} in all): {error}")
            failures += 1
    for pid, rss in sorted(rss_after.items()):
        print(f"  gunicorn worker {pid:<8} RSS {rss:6.0f} MB (after boot {rss_boot.get(pid, math.nan):4.0f} MB): "
              f"{verdict(rss, TARGET_RSS_MB)}")
        failures += not rss <= TARGET_RSS_MB
    if not rss_after:
        print("  gunicorn workers: none found")
    print()
    print(f"{'all targets met' if not failures else f'{failures} target(s) missed'}; "
          f"benchmark took {total_seconds:.0f} s")


if __name__ == "__main__":
    main()
