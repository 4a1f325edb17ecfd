"""The container image and the team's compose file. Docker does not run here, so these read both files
for what a deployment relies on, and run the image's own web command for real."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from helpers import REPO, dashboard_healthy, free_port, wait_for

from spectrascope.runs import job_is_active, run_paths

DOCKERFILE = (REPO / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SPECTRASCOPE_SERVICES = ("web", "worker-train", "worker-analysis")


def _stages() -> list[str]:
    """The Dockerfile's build stages, each from its FROM line on (continuation lines joined)."""
    text = DOCKERFILE.replace("\\\n", " ")
    return re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]


def _instruction(stage: str, name: str) -> list[str]:
    return [line[len(name) + 1:].strip() for line in stage.splitlines() if line.startswith(name + " ")]


def _command(service: str) -> str:
    command = COMPOSE["services"][service].get("command", [])
    return " ".join(command) if isinstance(command, list) else command


def test_the_image_is_multi_stage_without_compilers_and_runs_as_a_user():
    build, runtime = _stages()
    assert "AS build" in build.splitlines()[0] and "-slim" in build.splitlines()[0]
    assert "-slim" in runtime.splitlines()[0] and "build-essential" in build
    assert not re.search(r"build-essential|gcc|g\+\+", runtime)  # the runtime installs wheels only
    assert "--mount=type=bind,from=build,source=/wheels" in runtime and "--no-index" in runtime
    user = _instruction(runtime, "USER")
    assert user and user[-1] not in ("root", "0")
    assert _instruction(runtime, "VOLUME") == ["/data"]


def test_the_image_chooses_cpu_torch_by_default_checks_health_and_reaps_children():
    assert re.search(r"^ARG TORCH=cpu$", DOCKERFILE, flags=re.MULTILINE)
    assert "download.pytorch.org/whl/${TORCH}" in DOCKERFILE
    (_, runtime) = _stages()
    (health,) = _instruction(runtime, "HEALTHCHECK")
    assert "/health" in health
    assert _instruction(runtime, "ENTRYPOINT") == ['["tini", "--"]'] and "tini" in runtime
    (command,) = _instruction(runtime, "CMD")
    assert "gunicorn" in command and "app.gunicorn_config" in command and "--preload" not in command


def test_the_image_has_the_browser_that_draws_export_frames():
    (_, runtime) = _stages()
    installs = " ".join(line for line in _instruction(runtime, "RUN") if "apt-get install" in line)
    assert re.search(r"\bchromium\b", installs), "GIF, MP4 and PNG exports are drawn in Chromium"


def test_gunicorn_runs_gthread_workers_without_preload():
    from app import gunicorn_config

    assert gunicorn_config.worker_class == "gthread" and gunicorn_config.preload_app is False
    assert gunicorn_config.workers >= 2


def test_compose_runs_web_redis_and_a_worker_per_queue_from_one_image_on_one_volume():
    services = COMPOSE["services"]
    assert set(services) == {"web", "redis", *SPECTRASCOPE_SERVICES}
    assert "--appendonly yes" in _command("redis")
    for name in SPECTRASCOPE_SERVICES:
        service = services[name]
        assert service["image"] == "spectrascope:latest" and "data:/data" in service["volumes"]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert int(service["environment"]["SPECTRASCOPE_VISIBILITY_TIMEOUT"]) >= 24 * 3600
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    train, analysis = shlex.split(_command("worker-train")), _command("worker-analysis")
    assert train[:4] == ["celery", "-A", "app.worker", "worker"]
    assert train[train.index("-Q") + 1] == "train" and train[train.index("--concurrency") + 1] == "1"
    assert "celery -A app.worker worker -Q analysis,celery --concurrency" in analysis
    assert "nvidia" in (REPO / "docker-compose.yml").read_text()  # the GPU reservation, commented in
    assert services["web"]["environment"]["SPECTRASCOPE_DEMO"] == "1"


@pytest.mark.slow
def test_the_image_s_web_command_serves_the_page_and_starts_the_demo_on_an_empty_data_dir(tmp_path):
    (_, runtime) = _stages()
    command = json.loads(_instruction(runtime, "CMD")[0])  # the exec form: a JSON list of words
    port = free_port()
    env = {**os.environ, "SPECTRASCOPE_DATA_DIR": str(tmp_path), "SPECTRASCOPE_BIND": f"127.0.0.1:{port}",
           "SPECTRASCOPE_DEMO": "1"}
    env.pop("REDIS_URL", None)
    web = subprocess.Popen([sys.executable, "-m", *command], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    demo = run_paths(tmp_path, "demo")
    try:
        wait_for(lambda: dashboard_healthy(f"http://127.0.0.1:{port}"), 90, "the web command to answer", process=web)
        assert demo.run_json.exists()
    finally:
        web.terminate()
        web.wait(30)
        demo.cancel_request.touch()  # the demo job runs apart from the web server: stop it
        wait_for(lambda: not job_is_active(demo, "job"), 120, "the demo job to stop")


@pytest.mark.slow
def test_the_image_s_web_command_refuses_other_machines_without_login(tmp_path):
    (_, runtime) = _stages()
    command = json.loads(_instruction(runtime, "CMD")[0])
    env = {**os.environ, "SPECTRASCOPE_DATA_DIR": str(tmp_path), "SPECTRASCOPE_BIND": f"0.0.0.0:{free_port()}"}
    for name in ("REDIS_URL", "SPECTRASCOPE_USERS", "SPECTRASCOPE_NO_LOGIN", "SPECTRASCOPE_DEMO"):
        env.pop(name, None)
    refused = subprocess.run([sys.executable, "-m", *command], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode != 0 and "set SPECTRASCOPE_NO_LOGIN=1" in refused.stderr
