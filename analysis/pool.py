"""The processes an analysis runs on: this process plus worker processes started once, sharing the
per-checkpoint tasks, with the cores split between them (BLAS threads spinning on oversubscribed cores
cost 10x)."""
from __future__ import annotations

import atexit
import importlib
import os
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from queue import SimpleQueue
from threading import Thread
from typing import Callable, Iterable, Iterator

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analysis.options import AnalysisError


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


def _init_worker(threads: int, randomize: bool) -> None:
    _limit_threads(threads, randomize)
    # Exit as a forked child would, without the interpreter's teardown: a worker only exits once its last
    # result has been sent.
    atexit.register(os._exit, 0)


@dataclass(frozen=True)
class Workers:
    """Worker processes that share the tasks with this process (`count` of them, this one not included)."""
    executor: ProcessPoolExecutor
    count: int


@contextmanager
def worker_pool(processes: int, randomize: bool) -> Iterator[Workers | None]:
    """`processes` at work for the whole analysis: this one and processes - 1 workers started once (None:
    this one alone, with all its threads). This process takes part, so no core waits while workers start."""
    if processes == 1:
        yield None
        return
    threads = max(1, (os.cpu_count() or 1) // processes)
    with limited_threads(threads, randomize), ProcessPoolExecutor(
            processes - 1, mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(threads, randomize)) as executor:
        yield Workers(executor, processes - 1)


def _shared_work(fn: Callable, tasks: dict[int, tuple], workers: Workers) -> Iterator[tuple[int, object]]:
    """(epoch, result) as tasks finish. The workers take tasks from the front of the queue, one at a time
    each (so none waits in a worker's queue while this process could take it), this process from the back."""
    todo, finished = deque(tasks.items()), SimpleQueue()

    def keep_a_worker_busy() -> None:
        while todo:
            try:
                epoch, args = todo.popleft()
            except IndexError:  # this process took the last one
                return
            try:
                finished.put((epoch, workers.executor.submit(fn, *args).result(), None))
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
            yield epoch, fn(*args)
            yield from results_so_far()
    finally:
        todo.clear()  # after an error here, the workers start nothing new
    for feeder in feeders:
        feeder.join()
    yield from results_so_far()


def run_tasks(fn: Callable, tasks: dict[int, tuple], workers: Workers | None, label: str,
              progress: bool, on_done: Callable[[int], None]) -> Iterable[tuple[int, object]]:
    """Yield (epoch, result) as tasks finish, shared with the workers or all in this process."""
    bar = tqdm(total=len(tasks), desc=label, unit="epoch", disable=not progress or None, leave=False)
    if workers is None:
        results = ((epoch, fn(*args)) for epoch, args in tasks.items())
    else:
        results = _shared_work(fn, tasks, workers)
    for epoch, result in results:
        yield epoch, result
        bar.update()
        on_done(epoch)
    bar.close()
