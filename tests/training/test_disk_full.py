"""The data directory's disk full (docs/faults.md): training and analysis stop with one line saying so and
what to do, nothing written before is damaged, and once there is space the run resumes to the same numbers
as a run that never stopped. The disk is a real small tmpfs, so the writes fail as they would on a full
disk; mounting one needs root (CI runs as root)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import checkpoint_files, read_metrics_csv, read_run_json, run_dir, spectrascope
from spectrascope.runs import layers_frame, run_paths, update_run

pytestmark = pytest.mark.slow

DEMO = ["--preset", "demo", "--epochs", "6", "--width", "8"]
DISK_FULL = "no space left on the disk that holds"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A data dir on the ordinary disk holding run R: the demo trained and analysed without a stop."""
    data_dir = tmp_path_factory.mktemp("reference") / "data"
    for args in (("train", *DEMO), ("analyze",)):
        done = spectrascope(*args, "--run-id", "R", "--data-dir", data_dir, timeout=300)
        assert done.returncode == 0, done.stderr
    return data_dir


class SmallDisk:
    """A tmpfs of a chosen size mounted at `root`, which can be grown in place (`mount -o remount`)."""

    def __init__(self, root: Path):
        self.root = root

    def mount(self, size: int) -> Path:
        self.root.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.root)],
                                 capture_output=True, text=True)
        if mounted.returncode:
            pytest.skip(f"a small disk for this test needs `mount -t tmpfs` (root): {mounted.stderr.strip()}")
        return self.root

    def grow(self, size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.root)], check=True)

    def fill(self, leave: int) -> Path:
        """Take all but `leave` bytes of the free space with one file; returns it."""
        ballast = self.root / "ballast"
        with open(ballast, "wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(self.root).free - leave)
        return ballast


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "disk")
    yield disk
    if os.path.ismount(disk.root):
        subprocess.run(["umount", "-l", str(disk.root)], check=False)


def _without_seconds(data_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics_csv(data_dir, "R")[1]]


def _temporary_files(data_dir: Path) -> list[Path]:
    return list(run_dir(data_dir, "R").rglob(".*.tmp"))


def _status_line() -> str:
    """What the page's status line says of run R."""
    from plotly.io.json import to_json_plotly

    from app import shell

    return to_json_plotly(shell.run_status("R", None))


def test_training_on_a_full_disk_says_so_and_resumes_to_the_uninterrupted_numbers(reference, small_disk, monkeypatch):
    checkpoint = (run_dir(reference, "R") / "checkpoints" / "epoch_0000.pt").stat().st_size
    data_dir = small_disk.mount(5 * checkpoint) / "data"  # room for a few checkpoints and the training state

    stopped = spectrascope("train", *DEMO, "--run-id", "R", "--data-dir", data_dir, timeout=300)
    assert stopped.returncode == 2, stopped.stderr
    line = stopped.stderr.strip().splitlines()[-1]  # after the epochs' progress lines; no traceback
    assert "Traceback" not in stopped.stderr
    assert DISK_FULL in line and "then resume the job" in line and str(run_dir(data_dir, "R")) in line
    record = read_run_json(data_dir, "R")
    assert record["status"] == "failed" and record["error"].startswith(DISK_FULL)
    # what was written before the disk filled is whole: every checkpoint loads, the metrics are the reference's
    saved = checkpoint_files(data_dir, "R")
    assert 1 < len(saved) < 7 and not _temporary_files(data_dir)
    for name in saved:
        torch.load(run_dir(data_dir, "R") / "checkpoints" / name, weights_only=True)
    rows = _without_seconds(data_dir)
    assert rows and rows == _without_seconds(reference)[:len(rows)]

    # a job stopped by a disk too full to record why leaves its run `running`: the page says the disk is full
    update_run(run_paths(data_dir, "R"), status="running")
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(data_dir))
    ballast = small_disk.fill(leave=64 * 1024)
    assert "disk is full: free some space first" in _status_line()
    ballast.unlink()
    small_disk.grow(64 * checkpoint)
    assert "its process died" in _status_line()  # with space again, the usual words
    resumed = spectrascope("train", "--resume", "--run-id", "R", "--data-dir", data_dir, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert read_run_json(data_dir, "R")["status"] == "completed"
    assert _without_seconds(data_dir) == _without_seconds(reference)


def test_analysis_on_a_full_disk_says_so_and_the_next_analysis_completes_it(reference, small_disk):
    run_size = sum(path.stat().st_size for path in run_dir(reference, "R").rglob("*") if path.is_file())
    data_dir = small_disk.mount(3 * run_size) / "data"
    shutil.copytree(run_dir(reference, "R"), run_dir(data_dir, "R"), ignore=shutil.ignore_patterns("analysis"))
    ballast = small_disk.fill(leave=256 * 1024)  # too little for the first epoch's tables

    stopped = spectrascope("analyze", "--run-id", "R", "--data-dir", data_dir, timeout=300)
    assert stopped.returncode == 2, stopped.stderr
    assert DISK_FULL in stopped.stderr.strip().splitlines()[-1] and "Traceback" not in stopped.stderr
    analysis = read_run_json(data_dir, "R")["analysis"]
    assert analysis["status"] == "failed" and analysis["error"].startswith(DISK_FULL)
    assert not _temporary_files(data_dir)

    ballast.unlink()
    finished = spectrascope("analyze", "--run-id", "R", "--data-dir", data_dir, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert layers_frame(run_paths(data_dir, "R")).equals(layers_frame(run_paths(reference, "R")))
