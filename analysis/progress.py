"""Which layer of how many an analysis is on, inside the checkpoints it is analysing, and how long it has
left: a checkpoint of a transformer takes seconds to minutes (GPT-2 small: 49 layers; Llama-2-7B: 224), and
silence that long reads as a hang. Time left is estimated by matrix size, not by count: an 11008 x 4096
matrix costs 2.7 times a 4096 x 4096 one."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, NamedTuple

from tqdm import tqdm

from spectrascope.wording import about

SHOW_EVERY_SECONDS = 0.5  # the bar and run.json follow the layers at most this often


class LayerCount(NamedTuple):
    """One checkpoint's layers done and in all, the same in matrix size (values: N x M per kernel slice), and
    the layer under way (None once all are done)."""

    done: int
    total: int
    size_done: int
    size_total: int
    current: str | None = None


class LayerTotals(NamedTuple):
    """What the bar and run.json show of the checkpoints under way, summed over the processes analysing one
    each: layers done and in all, the layer under way (of the earliest checkpoint), and the seconds the whole
    analysis has left (None until there is a rate to go by)."""

    done: int | None = None
    total: int | None = None
    current: str | None = None
    seconds_left: float | None = None


NONE_UNDER_WAY = LayerTotals()


def seconds_left(counts: dict[int, LayerCount], started: dict[int, float], now: float, waiting: int) -> float | None:
    """The under way checkpoints' time left at the rate each has gone so far, and `waiting` more of the same
    size after them, as many at once as are under way now."""
    rates = {epoch: count.size_done / (now - started[epoch]) for epoch, count in counts.items()
             if count.size_done and now > started[epoch]}
    if not rates:
        return None
    left = max((counts[epoch].size_total - counts[epoch].size_done) / rate for epoch, rate in rates.items())
    per_checkpoint = sum(counts[epoch].size_total / rate for epoch, rate in rates.items()) / len(rates)
    return left + math.ceil(max(waiting, 0) / len(counts)) * per_checkpoint


class LayerProgress:
    """The layers done in the checkpoints being analysed, one per process at work, told from any thread (this
    process's own, and the one passing on the workers'). Shown on a bar and handed to `record` at most every
    SHOW_EVERY_SECONDS, as layers finish; word from a checkpoint already finished is dropped. `checkpoints`:
    how many the analysis has to do, for the time the whole of it has left."""

    def __init__(self, record: Callable[[LayerTotals], None], show: bool, clock=time.monotonic,
                 checkpoints: int = 1):
        self._record = record
        self._clock = clock
        self._lock = threading.Lock()
        self._layers: dict[int, LayerCount] = {}
        self._started: dict[int, float] = {}
        self._finished: set[int] = set()
        self._checkpoints = checkpoints
        self._shown_at = -math.inf
        # no rate from tqdm: the count covers whichever checkpoints are under way, so it jumps both ways
        self._bar = tqdm(desc="layers", bar_format="{desc}: {n}/{total} {bar} {postfix}", disable=not show or None,
                         leave=False)

    def layer_done(self, epoch: int, count: LayerCount) -> None:
        with self._lock:
            if epoch in self._finished:
                return
            self._layers[epoch] = count
            self._started.setdefault(epoch, self._clock())
            if self._clock() - self._shown_at >= SHOW_EVERY_SECONDS:
                self._shown_at = self._clock()
                self._show()

    def epoch_done(self, epoch: int) -> None:
        with self._lock:
            self._finished.add(epoch)
            self._layers.pop(epoch, None)
            self._started.pop(epoch, None)

    def totals(self) -> LayerTotals:
        with self._lock:
            return self._totals()

    def close(self) -> None:
        self._bar.close()

    def _totals(self) -> LayerTotals:
        if not self._layers:
            return NONE_UNDER_WAY
        waiting = self._checkpoints - len(self._finished) - len(self._layers)
        return LayerTotals(sum(count.done for count in self._layers.values()),
                           sum(count.total for count in self._layers.values()),
                           self._layers[min(self._layers)].current,
                           seconds_left(self._layers, self._started, self._clock(), waiting))

    def _show(self) -> None:
        totals = self._totals()
        epochs = ", ".join(map(str, sorted(self._layers)))
        self._bar.set_description(f"layers of epoch{'s' * (len(self._layers) > 1)} {epochs}", refresh=False)
        self._bar.total, self._bar.n = totals.total, totals.done
        left = f"{about(totals.seconds_left)} left" if totals.seconds_left is not None else ""
        self._bar.set_postfix_str(", ".join(filter(None, (totals.current, left))), refresh=False)
        self._bar.refresh()
        self._record(totals)
