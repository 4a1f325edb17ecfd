"""Shared fixtures: tiny data sets in the official formats, and finished runs of the real trainer."""
from __future__ import annotations

import shutil

import pytest

from helpers import random_image_dataset, spectrascope, write_tiny_cifar


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: runs the real trainer in a subprocess (a few seconds or more); still run by default")


@pytest.fixture
def tiny_cifar(tmp_path):
    """A data dir holding a 128/64-image CIFAR-100 in the official pickle format; yields (data_dir, contents)."""
    data_dir = tmp_path / "data"
    contents = write_tiny_cifar(data_dir, n_train=128, n_test=64)
    return data_dir, contents


@pytest.fixture(scope="module")
def finished_cifar_run(tmp_path_factory):
    """`spectrascope train --preset cifar100-resnet18` for 2 epochs at width 8 on the tiny CIFAR-100.

    Returns (data_dir, run_id, contents, completed process).
    """
    data_dir = tmp_path_factory.mktemp("cifar-run") / "data"
    contents = write_tiny_cifar(data_dir, n_train=128, n_test=64)
    process = spectrascope("train", "--preset", "cifar100-resnet18", "--data-dir", data_dir, "--run-id", "r1",
                           "--epochs", "2", "--width", "8", "--batch-size", "32", "--eval-batch-size", "64",
                           cwd=data_dir.parent, timeout=300)
    return data_dir, "r1", contents, process


@pytest.fixture
def small_dataset():
    """64 random 1x8x8 training images in 10 classes (enough to build and step the trainer)."""
    return random_image_dataset()


@pytest.fixture(scope="module")
def recorded_tiny_run(tmp_path_factory):
    """One run of the tiny net recorded with RunRecorder (never analysed)."""
    from analysis_helpers import record_tiny_run

    data_dir = tmp_path_factory.mktemp("recorded") / "data"
    record_tiny_run(data_dir)
    return data_dir


@pytest.fixture
def data_dir(recorded_tiny_run, tmp_path):
    """A fresh copy of the recorded tiny run's data directory for one test."""
    shutil.copytree(recorded_tiny_run, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture(scope="session")
def analysed_demo_run(tmp_path_factory):
    """A data dir with run `demo`: the demo preset trained for 3 epochs, then analysed (the real CLI)."""
    data_dir = tmp_path_factory.mktemp("demo-run") / "data"
    for args in (("train", "--preset", "demo", "--epochs", "3", "--run-id", "demo"), ("analyze", "--run-id", "demo")):
        process = spectrascope(*args, "--data-dir", data_dir, timeout=300)
        assert process.returncode == 0, process.stderr
    return data_dir


@pytest.fixture
def dashboard_data(analysed_demo_run, tmp_path, monkeypatch):
    """A private copy of the analysed demo run, with the dashboard pointed at it."""
    shutil.copytree(analysed_demo_run, tmp_path / "dashboard")
    monkeypatch.setenv("SPECTRASCOPE_DATA_DIR", str(tmp_path / "dashboard"))
    return tmp_path / "dashboard"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server (Debian package redis-server) on a free port, without persistence; its URL."""
    from team_helpers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()
