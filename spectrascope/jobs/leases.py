"""What the team's job workers share in Redis (REDIS_URL): each run's current job, the lease of the worker
running it, and the line of jobs waiting for a worker. Every change that depends on what is there is one
Lua script, so a worker starting a job, a user cancelling it and a worker taking over a lost one never
interleave.

- The current job: `spectrascope:job:<run>` = {id, job, queue, started}. A run has at most one; a new job
  is refused while it exists (claim). A delivery whose id is not current (a broker's late redelivery, a
  job cancelled in line, one superseded by its failover) is dropped.
- The lease: `spectrascope:lease:<run>`, set only if absent by the worker that starts the job, renewed
  every third of its lifetime, with a heartbeat in the data directory (spectrascope.jobs.ledger) at each
  try. While Redis does not answer the job goes on, beating; a lease Redis forgot (it restarted empty, or
  the lease lapsed during the outage) is taken again, and the job record with it. Only a lease another
  worker holds, or a run whose current job is another, stops the job (fencing): a worker takes a job over
  only when its lease lapsed and its heartbeat stopped, so two workers never run one job.
- The line: a sorted set per queue, by submission time, for "#2 in line".
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator

PREFIX = "spectrascope"
TIMEOUT_SECONDS = 5.0  # a Redis that does not answer must not hang a page or a worker

# KEYS[1] job record, KEYS[2] line; ARGV: id, job, queue, run, time
_CLAIM = """if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], 'id', ARGV[1], 'job', ARGV[2], 'queue', ARGV[3], 'started', '0')
redis.call('zadd', KEYS[2], ARGV[5], ARGV[4])
return 1"""
# KEYS[1] job record, KEYS[2] line; ARGV: id, run -> -1 not current, else how often it was started before
_START = """if redis.call('hget', KEYS[1], 'id') ~= ARGV[1] then return -1 end
local before = tonumber(redis.call('hget', KEYS[1], 'started'))
redis.call('hset', KEYS[1], 'started', before + 1)
redis.call('zrem', KEYS[2], ARGV[2])
return before"""
# KEYS[1] job record, KEYS[2] line; ARGV: id, run
_CANCEL_IN_LINE = """if redis.call('hget', KEYS[1], 'id') ~= ARGV[1] or redis.call('hget', KEYS[1], 'started') ~= '0' then
  return 0 end
redis.call('del', KEYS[1])
redis.call('zrem', KEYS[2], ARGV[2])
return 1"""
# KEYS[1] job record; ARGV: id
_FINISH = """if redis.call('hget', KEYS[1], 'id') == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0"""
# KEYS[1] job record, KEYS[2] lease, KEYS[3] line; ARGV: old id, new id, job, run, time
_TAKE_OVER = """if redis.call('exists', KEYS[2]) == 1 or redis.call('hget', KEYS[1], 'id') ~= ARGV[1]
   or redis.call('hget', KEYS[1], 'started') == '0' then return 0 end
redis.call('hset', KEYS[1], 'id', ARGV[2], 'job', ARGV[3], 'started', '0')
redis.call('zadd', KEYS[3], ARGV[5], ARGV[4])
return 1"""
# KEYS[1] lease; ARGV: token, milliseconds
_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0"""
# KEYS[1] job record; ARGV: id, job, queue -> 1 the job is current (again), 0 another is
_RESTORE = """local current = redis.call('hget', KEYS[1], 'id')
if current == ARGV[1] then return 1 end
if current then return 0 end
redis.call('hset', KEYS[1], 'id', ARGV[1], 'job', ARGV[2], 'queue', ARGV[3], 'started', '1')
return 1"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0"""


@lru_cache(maxsize=None)
def connect(url: str):
    """One client (a connection pool) per Redis URL, with timeouts."""
    import redis  # the celery extra; only a team setup has a REDIS_URL

    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS, health_check_interval=30)


def _job_key(run_id: str) -> str:
    return f"{PREFIX}:job:{run_id}"


def _lease_key(run_id: str) -> str:
    return f"{PREFIX}:lease:{run_id}"


def _line_key(queue: str) -> str:
    return f"{PREFIX}:line:{queue}"


# --- the current job of each run -----------------------------------------------------------------


def claim(client, run_id: str, job_json: str, queue: str) -> str | None:
    """Make a new job the run's current one, in line for its queue: its id; None if the run has one."""
    job_id = secrets.token_hex(8)
    if not client.eval(_CLAIM, 2, _job_key(run_id), _line_key(queue), job_id, job_json, queue, run_id, time.time()):
        return None
    return job_id


def current(client, run_id: str) -> dict | None:
    """{"id", "job", "queue", "started"} of the run's current job, or None."""
    return client.hgetall(_job_key(run_id)) or None


def start(client, run_id: str, job_id: str, queue: str) -> int | None:
    """Mark the job started, out of line: how many times it was started before (0 the first time; more: a
    redelivery of a job whose worker was lost, to resume); None if it is no longer current."""
    before = client.eval(_START, 2, _job_key(run_id), _line_key(queue), job_id, run_id)
    return None if before < 0 else before


def cancel_in_line(client, run_id: str, entry: dict) -> bool:
    """Take a job no worker has started out of line (its delivery will be dropped); False if one started it."""
    return bool(client.eval(_CANCEL_IN_LINE, 2, _job_key(run_id), _line_key(entry["queue"]), entry["id"], run_id))


def finish(client, run_id: str, job_id: str) -> None:
    """The job ended: it is no longer the run's current job (unless another replaced it)."""
    client.eval(_FINISH, 1, _job_key(run_id), job_id)


def take_over(client, run_id: str, entry: dict, job_json: str) -> str | None:
    """Replace a started job whose lease lapsed by `job_json` (which goes on where it stopped), in line
    again: the new id; None when its lease is held, or someone else took it over first. Exactly one caller
    wins."""
    job_id = secrets.token_hex(8)
    taken = client.eval(_TAKE_OVER, 3, _job_key(run_id), _lease_key(run_id), _line_key(entry["queue"]),
                        entry["id"], job_id, job_json, run_id, time.time())
    return job_id if taken else None


def restore(client, run_id: str, job_id: str, job_json: str, queue: str) -> bool:
    """After Redis forgot it (restarted empty): the running job is the run's current one again, started.
    False when another job is current: this one was superseded."""
    return bool(client.eval(_RESTORE, 1, _job_key(run_id), job_id, job_json, queue))


def started_runs(client) -> list[tuple[str, dict]]:
    """(run id, current job) for every run whose current job a worker has started."""
    found = []
    for key in client.scan_iter(match=_job_key("*")):
        entry = client.hgetall(key)
        if entry.get("started", "0") != "0":
            found.append((key[len(_job_key("")):], entry))
    return found


def place_in_line(client, run_id: str, queue: str) -> int | None:
    """1 for the next job to start, 2 for the one after, ...; None when the run is not waiting."""
    rank = client.zrank(_line_key(queue), run_id)
    return None if rank is None else rank + 1


def job_of(entry: dict) -> dict:
    return json.loads(entry["job"])


# --- leases --------------------------------------------------------------------------------------


def lease_held(client, run_id: str) -> bool:
    return bool(client.exists(_lease_key(run_id)))


class Lease:
    """A held lease; `lost` is set once another worker holds it, or the run's job is another's: the holder
    must stop its job at once."""

    def __init__(self):
        self.lost = threading.Event()


@contextmanager
def lease(client, run_id: str, seconds: float, beat: Callable[[], None] = lambda: None,
          restored: Callable[[], bool] = lambda: True) -> Iterator[Lease | None]:
    """Hold the run's lease while inside (renewed in a thread, `beat` at each try, Redis answering or not);
    yields None, holding nothing, when another worker holds it. `restored` puts back what Redis forgot with
    the lease (the job record), False when the run's current job is another's."""
    import redis

    token, milliseconds = secrets.token_hex(8), int(seconds * 1000)
    if not client.set(_lease_key(run_id), token, nx=True, px=milliseconds):
        yield None
        return
    held, stop = Lease(), threading.Event()

    def renew():
        while not stop.wait(seconds / 3):
            try:
                if not client.eval(_RENEW, 1, _lease_key(run_id), token, milliseconds):
                    # not ours: forgotten (taken again, with the job record) or held by another (stop)
                    if not (client.set(_lease_key(run_id), token, nx=True, px=milliseconds) and restored()):
                        held.lost.set()
                        return
            except (redis.RedisError, OSError):
                pass  # Redis away: the job goes on, and the heartbeat says it lives
            try:
                beat()
            except OSError:  # the data dir away for a moment: the next beat, a third of a lease on, may land
                pass

    renewer = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
    renewer.start()
    try:
        yield held
    finally:
        stop.set()
        renewer.join()
        if not held.lost.is_set():
            try:
                client.eval(_RELEASE, 1, _lease_key(run_id), token)
            except (redis.RedisError, OSError):
                pass  # it lapses by itself
