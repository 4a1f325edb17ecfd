"""The processes an analysis runs on: this process plus worker processes started once, sharing the
per-checkpoint tasks, with the cores split between them (BLAS threads spinning on oversubscribed cores
cost 10x). The workers tell this process which layer they are on through a pipe."""
from __future__ import annotations

import atexit
import importlib
import os
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from multiprocessing.connection import Connection
from queue import SimpleQueue
from threading import Event, Thread
from typing import Callable, Iterable, Iterator

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analysis.options import AnalysisError
from analysis.progress import LayerProgress

ORPHAN_CHECK_SECONDS = 1.0  # how often a worker looks whether its analysis is still there
_RELAY_POLL_SECONDS = 0.1  # how soon the thread passing on the workers' layer progress sees it is done
_layer_pipe = None  # in a worker process: (connection, lock) to send its tasks' layer progress through


def _loaded_torch():
    """torch where this process has loaded it (CUDA, the weightwatcher backend, a file only torch reads):
    the CPU analysis itself never loads it."""
    return sys.modules.get("torch")


def _limit_threads(threads: int, randomize: bool) -> threadpool_limits:
    """Every library with a thread pool is loaded first (SciPy's OpenBLAS for the eigenvalues; with
    randomize, SciPy's statistics and scikit-learn), so the limits cover them all. Leaving the returned
    context restores BLAS's threads."""
    for module in ("analysis.spectrum", "analysis.randomize")[: 2 if randomize else 1]:
        importlib.import_module(module)
    if _loaded_torch():
        _loaded_torch().set_num_threads(threads)
    return threadpool_limits(threads)


@contextmanager
def limited_threads(threads: int, randomize: bool = False) -> Iterator[None]:
    """`threads` BLAS (and torch) threads in this process while inside, the previous counts after."""
    torch_threads = _loaded_torch() and _loaded_torch().get_num_threads()
    try:
        with _limit_threads(threads, randomize):
            yield
    finally:
        if torch_threads:
            _loaded_torch().set_num_threads(torch_threads)


def _exit_when_orphaned(parent_pid: int) -> None:
    """A worker whose analysis was killed (-9: its Celery worker lost) would idle on, holding its memory. Not
    prctl's PDEATHSIG: that fires when the *thread* that started the worker ends, and the pool starts them
    from whichever thread submits."""
    while os.getppid() == parent_pid:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(1)


def _init_worker(threads: int, randomize: bool, layer_pipe: Connection, lock, parent_pid: int) -> None:
    global _layer_pipe
    Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    _limit_threads(threads, randomize)
    _layer_pipe = layer_pipe, lock
    # Exit as a forked child would, without the interpreter's teardown: a worker only exits once its last
    # result has been sent.
    atexit.register(os._exit, 0)


def _send_layer_done(epoch: int, count) -> None:
    """In a worker: one layer's progress (a LayerCount), to the analysing process (one message at a time from
    all workers)."""
    connection, lock = _layer_pipe
    with lock:
        connection.send((epoch, count))


def _telling_layers(fn: Callable, epoch: int, args: tuple):
    """In a worker: the task, which tells the analysing process each layer it has done."""
    return fn(*args, on_layer=partial(_send_layer_done, epoch))


@dataclass(frozen=True)
class Workers:
    """Worker processes that share the tasks with this process (`count` of them, this one not included)."""
    executor: ProcessPoolExecutor
    count: int
    layers: Connection  # (epoch, layers done, layers in all) from the workers' tasks


@contextmanager
def worker_pool(processes: int, randomize: bool) -> Iterator[Workers | None]:
    """`processes` at work for the whole analysis: this one and processes - 1 workers started once (None:
    this one alone, with all its threads). This process takes part, so no core waits while workers start."""
    if processes == 1:
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // processes)
    context = get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    with receiver, sender, limited_threads(threads, randomize), ProcessPoolExecutor(
            processes - 1, mp_context=context, initializer=_init_worker,
            initargs=(threads, randomize, sender, context.Lock(), os.getpid())) as executor:
        yield Workers(executor, processes - 1, receiver)


@contextmanager
def _relayed(workers: Workers, layers: LayerProgress) -> Iterator[None]:
    """The workers' layer progress passed on to `layers` by a thread of this process while inside, and at the
    end every message still in the pipe: a worker sends its last before its task's result."""
    leaving = Event()

    def relay() -> None:
        while not leaving.is_set() or workers.layers.poll():
            if workers.layers.poll(_RELAY_POLL_SECONDS):
                layers.layer_done(*workers.layers.recv())

    thread = Thread(target=relay, daemon=True)
    thread.start()
    try:
        yield
    finally:
        leaving.set()
        thread.join()


def _shared_work(here: Callable[[int, tuple], object], there: Callable[[int, tuple], object],
                 tasks: dict[int, tuple], workers: Workers) -> Iterator[tuple[int, object]]:
    """(epoch, result) as tasks finish, each run here (in this process) or there (in a worker). The workers take
    tasks from the front of the queue, one at a time each (so none waits in a worker's queue while this process
    could take it), this process from the back."""
    todo, finished = deque(tasks.items()), SimpleQueue()

    def keep_a_worker_busy() -> None:
        while todo:
            try:
                epoch, args = todo.popleft()
            except IndexError:  # this process took the last one
                return
            try:
                finished.put((epoch, there(epoch, args), None))
            except BaseException as exc:  # noqa: BLE001  (raised again in this process's own thread)
                finished.put((epoch, None, exc))
                todo.clear()  # the analysis stops: start nothing new
                return

    def results_so_far() -> Iterator[tuple[int, object]]:
        while not finished.empty():
            epoch, result, error = finished.get()
            if isinstance(error, BrokenProcessPool):
                raise AnalysisError("a worker process died (out of memory?); the epochs done are saved: run the "
                                    "same command again to go on, with --workers 1 to use less memory") from None
            if error is not None:
                raise error
            yield epoch, result

    feeders = [Thread(target=keep_a_worker_busy, daemon=True) for _ in range(workers.count)]
    for feeder in feeders:
        feeder.start()
    try:
        while todo:
            try:
                epoch, args = todo.pop()
            except IndexError:
                break
            yield epoch, here(epoch, args)
            yield from results_so_far()
    finally:
        todo.clear()  # after an error here, the workers start nothing new
    for feeder in feeders:
        feeder.join()
    yield from results_so_far()


def run_tasks(fn: Callable, tasks: dict[int, tuple], workers: Workers | None, label: str, progress: bool,
              on_done: Callable[[int], None], layers: LayerProgress | None = None) -> Iterable[tuple[int, object]]:
    """Yield (epoch, result) as tasks finish, shared with the workers or all in this process. Given `layers`,
    each task is called with on_layer=(a LayerCount) and its word reaches `layers`, wherever it runs."""
    bar = tqdm(total=len(tasks), desc=label, unit="epoch", disable=not progress or None, leave=False)

    def here(epoch: int, args: tuple):
        return fn(*args) if layers is None else fn(*args, on_layer=partial(layers.layer_done, epoch))

    def there(epoch: int, args: tuple):
        call = (fn, *args) if layers is None else (_telling_layers, fn, epoch, args)
        return workers.executor.submit(*call).result()

    with nullcontext() if workers is None or layers is None else _relayed(workers, layers):
        results = ((e, here(e, args)) for e, args in tasks.items()) if workers is None else _shared_work(
            here, there, tasks, workers)
        for epoch, result in results:
            if layers is not None:
                layers.epoch_done(epoch)
            yield epoch, result
            bar.update()
            on_done(epoch)
    bar.close()
