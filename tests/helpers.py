"""Plain helpers shared by the tests (fixtures built on them live in conftest.py)."""
from __future__ import annotations

import base64
import csv
import json
import math
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.data import ImageDataset

REPO = Path(__file__).resolve().parents[1]
# the `spectrascope` command, run by the interpreter running the tests (whichever venv or install that is)
SPECTRASCOPE = (sys.executable, "-m", "spectrascope")

METRICS_HEADER = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"]


# --- a tiny CIFAR-100 in the official file format ------------------------------------------------


class Python2StylePickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote the official files: byte strings as BINSTRING opcodes.

    (Python 3's pickler writes bytes at protocol 2 as a call to `_codecs.encode`, which the official
    files never contain.)
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(path: Path, obj) -> None:
    with path.open("wb") as handle:
        Python2StylePickler(handle, protocol=2).dump(obj)


def make_cifar_split(n: int, rng: np.random.Generator, name: str) -> dict:
    return {
        "batch_label": f"{name} batch",
        "filenames": [f"img_{name}_{i}.png" for i in range(n)],
        "fine_labels": [int(x) for x in rng.integers(0, 100, n)],
        "coarse_labels": [int(x) for x in rng.integers(0, 20, n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
    }


def fine_label_names() -> list[str]:
    return [f"class_{i:02d}" for i in range(100)]


def write_tiny_cifar(data_dir: Path, n_train: int = 128, n_test: int = 64, seed: int = 0) -> dict:
    """DATA_DIR/datasets/cifar-100-python/{train,test,meta}; returns what was written, by file name."""
    folder = Path(data_dir) / "datasets" / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    contents = {
        "train": make_cifar_split(n_train, rng, "train"),
        "test": make_cifar_split(n_test, rng, "test"),
        "meta": {"fine_label_names": fine_label_names(),
                 "coarse_label_names": [f"super_{i:02d}" for i in range(20)]},
    }
    for name, obj in contents.items():
        write_py2_pickle(folder / name, obj)
    return contents


# --- the command line ----------------------------------------------------------------------------


def cli_env() -> dict:
    env = dict(os.environ)
    env.pop("SPECTRASCOPE_DATA_DIR", None)
    return env


def spectrascope(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None,
                 input: str | None = None) -> subprocess.CompletedProcess:
    """Run `spectrascope ARGS` to completion (with `env` added, `input` on stdin), capturing its output as text."""
    return subprocess.run([*SPECTRASCOPE, *map(str, args)], cwd=cwd, env={**cli_env(), **(env or {})},
                          capture_output=True, text=True, timeout=timeout, input=input)


def start_spectrascope(*args: str, cwd: Path) -> subprocess.Popen:
    """Start `spectrascope ARGS` in the background, its output going to files in cwd."""
    stamp = f"{time.monotonic_ns()}"
    stdout = open(Path(cwd) / f"stdout-{stamp}.txt", "w")
    stderr = open(Path(cwd) / f"stderr-{stamp}.txt", "w")
    process = subprocess.Popen([*SPECTRASCOPE, *map(str, args)], cwd=cwd, env=cli_env(), stdout=stdout,
                               stderr=stderr)
    process.stdout_path, process.stderr_path = stdout.name, stderr.name
    stdout.close()
    stderr.close()
    return process


def stderr_of(process: subprocess.Popen) -> str:
    return Path(process.stderr_path).read_text()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02, process: subprocess.Popen | None = None):
    """Poll until predicate() is truthy (and return it); fail after timeout or if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}) before {what}: {stderr_of(process)}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- run directories -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listens(port: int) -> bool:
    """Whether something accepts TCP connections on the local port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def dashboard_healthy(base_url: str) -> bool:
    """Whether a dashboard answers its health route."""
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out: not up (yet)
        return False


def run_dir(data_dir: Path, run_id: str) -> Path:
    return Path(data_dir) / "runs" / run_id


def read_run_json(data_dir: Path, run_id: str) -> dict | None:
    """run.json as a dict, or None while it does not exist yet."""
    try:
        return json.loads((run_dir(data_dir, run_id) / "run.json").read_text())
    except FileNotFoundError:
        return None


def read_metrics_csv(data_dir: Path, run_id: str) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of metrics.csv, cells as the raw strings in the file."""
    with (run_dir(data_dir, run_id) / "metrics.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def checkpoint_files(data_dir: Path, run_id: str) -> list[str]:
    return sorted(p.name for p in (run_dir(data_dir, run_id) / "checkpoints").glob("epoch_*.pt"))


def snapshot_tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: its bytes and mtime, to show that nothing changed."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


# --- small in-memory data sets --------------------------------------------------------------------


def random_image_dataset(n_train: int = 64, n_test: int = 16, channels: int = 1, size: int = 8,
                         classes: int = 10, seed: int = 0) -> ImageDataset:
    generator = torch.Generator().manual_seed(seed)
    images = lambda n: torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=generator)  # noqa: E731
    labels = lambda n: torch.randint(0, classes, (n,), generator=generator)  # noqa: E731
    return ImageDataset("random", images(n_train), labels(n_train), images(n_test), labels(n_test),
                        [str(i) for i in range(classes)], (0.5,) * channels, (0.25,) * channels)


# --- the OneCycle schedule, written out ------------------------------------------------------------


def one_cycle_lr(step: int, total: int, peak: float, pct_start: float) -> float:
    """OneCycleLR's documented cosine schedule (div_factor 25, final_div_factor 1e4), written out."""
    initial, final = peak / 25, peak / 25 / 1e4
    warm_end = pct_start * total - 1
    cos = lambda start, end, pct: end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)  # noqa: E731
    if step <= warm_end:
        return cos(initial, peak, step / warm_end)
    return cos(peak, final, (step - warm_end) / (total - 1 - warm_end))


class TinyMLP(nn.Module):
    """Two linear layers (16 -> 32 -> 12): the smallest model the framework tests train with their libraries."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 12)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Plotted:
    """A module of figure builders (figures, or a tab's callbacks) whose figures come back as plotly's objects:
    each plain-data figure checked against plotly's schema on the way (a misspelt property fails the test) and
    read by attribute in the tests. Whatever is not a figure passes through unchanged."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        found = getattr(self._module, name)
        if not callable(found) or isinstance(found, type):
            return found

        def plotted(*args, **kwargs):
            return as_plotly(found(*args, **kwargs))
        return plotted


def as_plotly(value):
    """A plain-data figure as a go.Figure (validated), also inside a tuple or list of outputs; anything else as is."""
    import plotly.graph_objects as go

    if isinstance(value, dict) and "data" in value and "layout" in value:
        return go.Figure({**value, "data": [{key: unpacked(item) for key, item in trace.items()}
                                            for trace in value["data"]]})
    if isinstance(value, (tuple, list)):
        return type(value)(as_plotly(item) for item in value)
    return value


def unpacked(value):
    """A typed array as plotly.js reads it ({"dtype", "bdata", "shape"}, what figures.packed sends) as NumPy."""
    if not (isinstance(value, dict) and "bdata" in value):
        return value
    array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
    return array.reshape([int(n) for n in value["shape"].split(",")]) if "shape" in value else array


def played(store: dict, epoch) -> tuple:
    """What the page draws from a store of frames (app.frames) at `epoch`, as its script does: the message
    whatever the epoch, else that epoch's frame; figures as go.Figure."""
    outputs = store.get("message") or store["frames"][store["epochs"].index(epoch)]
    return tuple(as_plotly(output) for output in outputs)
