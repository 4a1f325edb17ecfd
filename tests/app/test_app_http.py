"""HTTP smoke tests of the Dash app through Flask's test client, and `spectrascope serve`."""
from __future__ import annotations

import socket
import urllib.request
from contextlib import contextmanager

import pytest

from app.factory import create_app
from helpers import (
    dashboard_healthy, free_port, read_run_json, spectrascope, start_spectrascope, stderr_of, wait_for,
)
from spectrascope.runs import job_is_active, run_paths


@pytest.fixture
def client(dashboard_data):
    return create_app().server.test_client()


def _update(client, output: str, inputs: list[tuple[str, str, object]]):
    outputs = [dict(zip(("id", "property"), item.split("."))) for item in output.strip(".").split("...")]
    payload = {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
               "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
               "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"], "state": []}
    return client.post("/_dash-update-component", json=payload)


def test_the_page_its_layout_and_its_styles_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/_spectrascope/css/bootswatch/litera/bootstrap.min.css" in html and "cdn" not in html.lower()
    css = client.get("/_spectrascope/css/bootswatch/litera/bootstrap.min.css")
    assert css.status_code == 200 and b"Bootswatch" in css.data
    assert client.get("/_spectrascope/css/font/bootstrap-icons.min.css").status_code == 200
    assert client.get("/_spectrascope/css/../../../../etc/passwd").status_code == 404
    assert client.get("/health").status_code == 200
    layout = client.get("/_dash-layout").get_json()
    assert "run-picker" in str(layout) and "alpha-heatmap" in str(layout)


def test_a_callback_round_trip_returns_the_figure(client):
    response = _update(client, "training-curves.figure",
                       [("run-picker", "value", "demo"), ("run-version", "data", None), ("tabs", "active_tab", "training")])
    assert response.status_code == 200
    figure = response.get_json()["response"]["training-curves"]["figure"]
    assert {trace["name"] for trace in figure["data"]} >= {"train", "test"}


def test_the_alpha_callback_sends_pre_binned_data_only(client):
    response = _update(client, "..alpha-heatmap.figure...alpha-summary.figure..",
                       [("run-picker", "value", "demo"), ("run-version", "data", None), ("tabs", "active_tab", "alpha"),
                        ("alpha-rows", "value", "network")])
    assert response.status_code == 200 and len(response.data) < 300_000
    assert set(response.get_json()["response"]) == {"alpha-heatmap", "alpha-summary"}



@contextmanager
def listening(family: socket.AddressFamily, host: str):
    """A port something is already listening on at `host`."""
    with socket.socket(family) as taken:
        taken.bind((host, 0))
        taken.listen()
        yield taken.getsockname()[1]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_serve_refuses_a_port_in_use_and_a_bad_job_limit(tmp_path):
    with listening(socket.AF_INET, "127.0.0.1") as port:
        result = spectrascope("serve", "--data-dir", tmp_path, "--port", port)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}: another server is listening there" \
        in result.stderr and "choose another --port" in result.stderr
    result = spectrascope("serve", "--data-dir", tmp_path, "--port", "70000")
    assert result.returncode == 2 and "--port must be between 1 and 65535" in result.stderr
    result = spectrascope("serve", "--data-dir", tmp_path, env={"SPECTRASCOPE_MAX_JOBS": "-2"})
    assert result.returncode == 2 and "SPECTRASCOPE_MAX_JOBS must be a positive integer" in result.stderr


def test_serve_blames_a_bad_host_on_host_not_on_the_port(tmp_path):
    port = free_port()
    unknown = spectrascope("serve", "--data-dir", tmp_path, "--host", "nosuchhost.invalid", "--port", port)
    assert unknown.returncode == 2 and "'nosuchhost.invalid' cannot be resolved" in unknown.stderr
    malformed = spectrascope("serve", "--data-dir", tmp_path, "--host", "a..b", "--port", port)
    assert malformed.returncode == 2 and "'a..b' cannot be resolved" in malformed.stderr, malformed.stderr
    not_ours = spectrascope("serve", "--data-dir", tmp_path, "--host", "192.0.2.1", "--port", port)  # TEST-NET-1
    assert not_ours.returncode == 2 and "not available on this machine" in not_ours.stderr
    for result in (unknown, malformed, not_ours):
        assert "check --host" in result.stderr and "--port" not in result.stderr, result.stderr


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_serve_checks_an_ipv6_host_as_ipv6(tmp_path):
    with listening(socket.AF_INET6, "::1") as port:
        result = spectrascope("serve", "--data-dir", tmp_path, "--host", "::1", "--port", port)
    assert result.returncode == 2 and f"cannot listen on [::1]:{port}: another server is listening there" \
        in result.stderr


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_serve_answers_on_the_ipv6_loopback(tmp_path):
    port = free_port()
    server = start_spectrascope("serve", "--data-dir", tmp_path / "data", "--host", "::1", "--port", port, cwd=tmp_path)
    try:
        wait_for(lambda: dashboard_healthy(f"http://[::1]:{port}"), 60, "the dashboard to answer", process=server)
    finally:
        server.terminate()
        server.wait(10)


def test_serve_says_when_it_created_the_data_dir(tmp_path):
    with listening(socket.AF_INET, "127.0.0.1") as port:  # stops serve once the data dir is settled
        first = spectrascope("serve", "--data-dir", "new/deeper/dir", "--port", port, cwd=tmp_path)
        again = spectrascope("serve", "--data-dir", "new/deeper/dir", "--port", port, cwd=tmp_path)
    created = (tmp_path / "new" / "deeper" / "dir").resolve()
    assert created.is_dir() and f"{created} did not exist and was created" in first.stderr, first.stderr
    assert "did not exist" not in again.stderr


@pytest.mark.slow
def test_serve_demo_starts_the_demo_run_beside_the_dashboard(tmp_path):
    port = free_port()
    data_dir = tmp_path / "data"
    paths = run_paths(data_dir, "demo")
    server = start_spectrascope("serve", "--data-dir", data_dir, "--port", port, "--demo", cwd=tmp_path)
    try:
        wait_for(lambda: dashboard_healthy(f"http://127.0.0.1:{port}"), 60, "the dashboard to answer", process=server)
        wait_for(lambda: (read_run_json(data_dir, "demo") or {}).get("status") == "running", 60,
                 "the demo run to start training", interval=0.2)
        assert job_is_active(paths, "job")  # run by the detached job runner, not by the server
    finally:
        server.terminate()
        server.wait(10)
        paths.cancel_request.touch()  # stop the demo job too
        wait_for(lambda: not job_is_active(paths, "job"), 60, "the demo job to stop", interval=0.2)
    assert read_run_json(data_dir, "demo")["status"] in ("cancelled", "completed")


def test_serve_logs_no_line_per_request(tmp_path):
    """The page polls every 2 s: request lines would bury job starts and errors (--debug shows them)."""
    port = free_port()
    server = start_spectrascope("serve", "--data-dir", tmp_path / "data", "--port", port, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: dashboard_healthy(base), 60, "the dashboard to answer", process=server)
        for _ in range(5):
            urllib.request.urlopen(f"{base}/", timeout=10).read()
    finally:
        server.terminate()
        server.wait(10)
    log = stderr_of(server)
    assert "GET /" not in log and "spectrascope dashboard on" not in log  # the banner is stdout's
    assert "did not exist and was created" in log
