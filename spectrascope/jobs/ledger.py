"""What the data directory records of a team's jobs, so that Redis is only the queue: each run's job as it
was submitted (RunPaths.team_job: {id, job, queue}) and the heartbeat of the worker running it
(RunPaths.team_heartbeat: {id, worker, time}). A Redis that restarts empty forgets its jobs and leases; a
worker that cannot reach Redis cannot renew a lease. Neither stops a job: a fresh heartbeat says it lives,
and a job Redis forgot is queued again from its record here (spectrascope.jobs.team)."""
from __future__ import annotations

import json
import os
import socket
import time

from spectrascope.runs import RunFormatError, RunPaths, atomic_write, run_paths, runs_root


def _write(path, data: dict) -> None:
    atomic_write(path, lambda handle: handle.write(json.dumps(data).encode()))


def _read(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none, or cut off by a lost disk: as if none
        return None


def record(paths: RunPaths, job_id: str, job_json: str, queue: str) -> None:
    """The run's job as submitted (or taken over): what to queue again if Redis forgets it."""
    _write(paths.team_job, {"id": job_id, "job": job_json, "queue": queue})


def recorded(paths: RunPaths) -> dict | None:
    return _read(paths.team_job)


def forget(paths: RunPaths, job_id: str) -> None:
    """The job ended: its record and heartbeat go (unless a newer job of the run replaced them)."""
    for path in (paths.team_job, paths.team_heartbeat):
        if (_read(path) or {}).get("id") == job_id:
            path.unlink(missing_ok=True)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(paths: RunPaths, job_id: str) -> None:
    _write(paths.team_heartbeat, {"id": job_id, "worker": worker_name(), "time": time.time()})


def alive(paths: RunPaths, seconds: float) -> bool:
    """Did the worker running the run's job beat within `seconds`? (Hosts share a clock through NTP.)"""
    heartbeat = _read(paths.team_heartbeat)
    return heartbeat is not None and time.time() - float(heartbeat.get("time", 0)) < seconds


def recorded_runs(data_dir) -> list[RunPaths]:
    """Every run of the data dir with a team job on record."""
    found = []
    for folder in sorted(runs_root(data_dir).glob("*/")):
        try:
            paths = run_paths(data_dir, folder.name)
        except RunFormatError:  # a folder that is no run; scan_runs reports it
            continue
        if paths.team_job.exists():
            found.append(paths)
    return found
