"""Alerts through a real local HTTP endpoint, from the real analysis: each event arrives once, after refusals,
a kill mid-delivery, a re-analysis and a second process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from torch import nn

from helpers import SPECTRASCOPE, cli_env, spectrascope, wait_for
from spectrascope.runs import read_outbox, run_paths, update_run

PLANTED = ("random", "heavy", "trap")  # under-trained (info), then over-trained and a trap (warnings)


def planted_weight(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "heavy":  # Student-t entries: a heavy-tailed ESD, alpha < 2
        return rng.standard_t(1.2, (256, 128)) / 16
    weight = rng.standard_normal((256, 128)) / 16  # Marchenko-Pastur: alpha far above 6
    if kind == "trap":
        weight[3, 5] = 40.0  # one huge entry survives shuffling: a spike above the shuffled bulk
    return weight


def record_planted_run(data_dir, run_id: str = "planted") -> None:
    from training.recorder import RunRecorder

    rng, model = np.random.default_rng(0), nn.Sequential(nn.Linear(128, 256, bias=False))
    with RunRecorder(data_dir, run_id, total_epochs=len(PLANTED) - 1) as run:
        for epoch, kind in enumerate(PLANTED):
            with torch.no_grad():
                model[0].weight.copy_(torch.tensor(planted_weight(kind, rng), dtype=torch.float32))
            run.log_epoch(epoch, model)


class Endpoint:
    """A real HTTP server on 127.0.0.1: refuses (500) the first `refusals` POSTs, or all while `refusing`."""

    def __init__(self, refusals: int = 0):
        self.refusals, self.refusing, self.tries, self.taken = refusals, False, 0, []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.tries += 1
                    refuse = endpoint.refusing or endpoint.tries <= endpoint.refusals
                    if not refuse:
                        endpoint.taken.append((self.headers["Idempotency-Key"], body))
                self.send_response(500 if refuse else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        with self.lock:
            return [body["event_id"] for _, body in self.taken]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = []

    def make(refusals: int = 0) -> Endpoint:
        made.append(Endpoint(refusals))
        return made[-1]

    yield make
    for server in made:
        server.close()


def alert_env(url: str, **more) -> dict:
    return {"SPECTRASCOPE_ALERT_URL": url, "SPECTRASCOPE_PUBLIC_URL": "http://dash.example:8050",
            "SPECTRASCOPE_ALERT_PATIENCE": "30", **more}


def warnings_of(data_dir, run_id: str = "planted") -> list[str]:
    import csv

    with run_paths(data_dir, run_id).events_csv.open() as handle:
        return [row["event_id"] for row in csv.DictReader(handle) if row["severity"] != "info"]


def test_refused_alerts_are_retried_and_each_event_arrives_once_with_its_link(tmp_path, endpoint):
    data_dir, server = tmp_path / "data", endpoint(refusals=3)
    record_planted_run(data_dir)
    done = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "planted", "--randomize",
                        env=alert_env(server.url))
    assert done.returncode == 0, done.stderr
    expected = warnings_of(data_dir)
    assert len(expected) >= 2  # over-trained and the trap at epoch 1 (the untrained epoch 0 is only info)
    assert sorted(server.ids()) == sorted(expected) and server.tries == len(expected) + 3
    key, body = server.taken[0]
    assert key == body["event_id"] and body["run_id"] == "planted" and body["severity"] == "warning"
    assert body["link"] == f"http://dash.example:8050/?run=planted&tab=esd&layer=0&epoch={body['epoch']}"
    assert body["text"].startswith("spectrascope · planted: 0 ") and body["link"] in body["text"]
    again = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "planted", "--randomize",
                         env=alert_env(server.url))  # up to date: nothing new to say
    (run_paths(data_dir, "planted").analysis_manifest).unlink()  # every epoch analysed again
    redo = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "planted", "--randomize",
                        env=alert_env(server.url))
    assert again.returncode == redo.returncode == 0 and sorted(server.ids()) == sorted(expected)


def test_an_analysis_killed_mid_delivery_delivers_each_event_once_when_resumed(tmp_path, endpoint):
    data_dir, server = tmp_path / "data", endpoint()
    record_planted_run(data_dir)
    server.refusing = True
    process = subprocess_analysis(data_dir, server.url, tmp_path)
    wait_for(lambda: server.tries >= 3, 120, "the analysis to try the refusing endpoint", process=process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    assert server.ids() == []
    server.refusing = False
    # two at once: the one that takes the run's analysis lock first finishes the analysis and delivers; the
    # other delivers too or, when it comes while the first holds the lock, is refused as busy (exit 2)
    both = [subprocess_analysis(data_dir, server.url, tmp_path, stderr=subprocess.PIPE) for _ in range(2)]
    said = [process.communicate(timeout=120)[1] for process in both]
    outcomes = sorted((process.returncode, "is busy" in words) for process, words in zip(both, said))
    assert outcomes in ([(0, False), (0, False)], [(0, False), (2, True)]), said
    assert sorted(server.ids()) == sorted(warnings_of(data_dir)) and len(server.ids()) >= 2
    assert all(entry["delivered"] for entry in read_outbox(run_paths(data_dir, "planted")).values())


def subprocess_analysis(data_dir, url: str, cwd, stderr=subprocess.DEVNULL):
    return subprocess.Popen([*SPECTRASCOPE, "analyze", "--data-dir", str(data_dir), "--run-id", "planted",
                             "--randomize"], cwd=cwd, env={**cli_env(), **alert_env(url)},
                            stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def test_a_muted_run_and_a_higher_minimum_severity_send_nothing(tmp_path, endpoint):
    data_dir, server = tmp_path / "data", endpoint()
    record_planted_run(data_dir)
    update_run(run_paths(data_dir, "planted"), alerts_muted=True)
    muted = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "planted", env=alert_env(server.url))
    record_planted_run(data_dir, "loud")
    critical_only = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "loud",
                                 env=alert_env(server.url, SPECTRASCOPE_ALERT_MIN_SEVERITY="critical"))
    assert muted.returncode == critical_only.returncode == 0, muted.stderr + critical_only.stderr
    assert warnings_of(data_dir) and warnings_of(data_dir, "loud") and server.tries == 0
