"""A team worker that stops taking jobs is found out and exits. A worker can stay connected to Redis, look
alive to the process list and answer nothing (kombu < 5.4 after a broker restart: celery/celery#9054);
Docker does not restart a container for being unhealthy, so the worker checks itself: while idle, it sends
a probe to its own direct queue (Celery's worker_direct) and waits for its consumer to receive it. Two
probes missed in a row, Redis answering: it logs why and exits with status 1, and its restart policy
(compose, systemd) brings a fresh one."""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time

from spectrascope import settings

TASK = "spectrascope.probe"
MISSES_TO_EXIT = 2
EXIT_GRACE_SECONDS = 30  # for a warm shutdown, before the worker is ended outright
log = logging.getLogger("spectrascope.jobs")


def register(app) -> None:
    app.task(name=TASK, ignore_result=True)(_probe)


def _probe(nonce: str) -> str:
    """Nothing to do: what counts is that the worker's consumer received it."""
    return nonce


def watch(app, hostname: str, stop: threading.Event) -> None:
    """In the worker's main process, from worker_ready on: probe while idle every probe_seconds."""
    import redis
    from celery import signals
    from celery.utils.nodenames import worker_direct
    from celery.worker import state

    received, arrived = set(), threading.Event()

    @signals.task_received.connect(weak=False)
    def on_received(request, **_):
        if request.name == TASK:
            received.add(request.id)
            arrived.set()

    interval, misses = settings.probe_seconds(), 0
    while not stop.wait(interval):
        if state.reserved_requests:  # at work: its queue's prefetch is taken; probed once idle again
            continue
        nonce = secrets.token_hex(8)
        try:
            app.send_task(TASK, args=(nonce,), task_id=nonce, queue=worker_direct(hostname), expires=interval)
        except (redis.RedisError, OSError):
            continue  # Redis away: no fault of this worker's
        deadline = time.monotonic() + interval
        while nonce not in received and arrived.wait(max(0.0, deadline - time.monotonic())):
            arrived.clear()  # an earlier probe, late: wait on for this one
        arrived_in_time = nonce in received
        received.clear()
        if arrived_in_time or state.reserved_requests:  # a job came in meanwhile: the probe waits behind it
            misses = 0
            continue
        misses += 1
        log.warning("worker %s did not receive its probe within %.0f s (%d of %d)", hostname, interval, misses,
                    MISSES_TO_EXIT)
        if misses >= MISSES_TO_EXIT:
            _exit_deaf(hostname, state)
            return


def _exit_deaf(hostname: str, state) -> None:
    log.error("worker %s stopped taking jobs from its queues (connected, but its consumer receives nothing): "
              "exiting with status 1 so that its supervisor starts it again", hostname)
    state.should_stop = 1  # a warm shutdown, exit status 1
    ender = threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(1,))
    ender.daemon = True
    ender.start()
