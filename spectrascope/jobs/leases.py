"""What the team's job workers share in Redis (REDIS_URL): which job is current for each run, who runs it,
and the line of jobs waiting for a worker.

- The current job: `spectrascope:job:<run>` holds the id of the run's last submitted job and what it runs.
  A delivery of any other id (a broker's late redelivery, a job superseded by its own failover) is
  dropped, so nothing runs twice.
- The lease: `spectrascope:lease:<run>`, set only if absent (`SET NX PX`) by the worker that starts the
  job, renewed by it every third of its lifetime. A lease that lapsed while the job is marked started
  means the worker is gone (`kill -9`, host lost): whoever sees it first takes the failover guard and
  submits the job again. Flock on a volume shared between hosts does not exclude across them; the lease
  does.
- The line: a sorted set per queue, by submission time, for "#2 in line".
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from spectrascope import settings

PREFIX = "spectrascope"
_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0"""


def connect(url: str | None = None):
    import redis  # the celery extra; only a team setup has a REDIS_URL

    return redis.Redis.from_url(url or settings.redis_url(), decode_responses=True)


def _job_key(run_id: str) -> str:
    return f"{PREFIX}:job:{run_id}"


def _lease_key(run_id: str) -> str:
    return f"{PREFIX}:lease:{run_id}"


def _line_key(queue: str) -> str:
    return f"{PREFIX}:line:{queue}"


# --- the current job of each run -----------------------------------------------------------------


def make_current(client, run_id: str, job_json: str, queue: str) -> str:
    """Record a newly submitted job as the run's current one, in line for its queue; its id."""
    job_id = secrets.token_hex(8)
    client.hset(_job_key(run_id), mapping={"id": job_id, "job": job_json, "queue": queue, "started": 0})
    client.zadd(_line_key(queue), {run_id: time.time()})
    return job_id


def current(client, run_id: str) -> dict | None:
    """{"id", "job", "queue", "started"} of the run's current job, or None."""
    entry = client.hgetall(_job_key(run_id))
    return entry or None


def is_current(client, run_id: str, job_id: str) -> bool:
    return client.hget(_job_key(run_id), "id") == job_id


def mark_started(client, run_id: str, queue: str) -> None:
    client.hset(_job_key(run_id), "started", 1)
    client.zrem(_line_key(queue), run_id)


def finish(client, run_id: str, job_id: str) -> None:
    """The job ended (however): it is no longer the run's current job."""
    if is_current(client, run_id, job_id):
        client.delete(_job_key(run_id))


def started_runs(client) -> list[tuple[str, dict]]:
    """(run id, current job) for every run whose current job a worker has started."""
    found = []
    for key in client.scan_iter(match=_job_key("*")):
        entry = client.hgetall(key)
        if entry.get("started") == "1":
            found.append((key[len(_job_key("")):], entry))
    return found


def place_in_line(client, run_id: str, queue: str) -> int | None:
    """1 for the next job to start, 2 for the one after, ...; None when the run is not waiting."""
    rank = client.zrank(_line_key(queue), run_id)
    return None if rank is None else rank + 1


def leave_line(client, run_id: str, queue: str) -> None:
    client.zrem(_line_key(queue), run_id)


# --- leases --------------------------------------------------------------------------------------


def lease_held(client, run_id: str) -> bool:
    return bool(client.exists(_lease_key(run_id)))


def take_over(client, job_id: str) -> bool:
    """The failover guard: True for exactly one caller per lost job."""
    return bool(client.set(f"{PREFIX}:failover:{job_id}", 1, nx=True, ex=24 * 3600))


@contextmanager
def lease(client, run_id: str, seconds: float) -> Iterator[bool]:
    """Hold the run's lease while inside (renewed in a thread); yields False, holding nothing, when another
    worker holds it."""
    token, milliseconds = secrets.token_hex(8), int(seconds * 1000)
    if not client.set(_lease_key(run_id), token, nx=True, px=milliseconds):
        yield False
        return
    stop = threading.Event()

    def renew():
        while not stop.wait(seconds / 3):
            client.eval(_RENEW, 1, _lease_key(run_id), token, milliseconds)

    renewer = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        client.eval(_RELEASE, 1, _lease_key(run_id), token)


def job_of(entry: dict) -> dict:
    return json.loads(entry["job"])
