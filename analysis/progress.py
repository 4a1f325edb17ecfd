"""Which layer of how many an analysis is on, inside the checkpoints it is analysing: a checkpoint of a
transformer takes seconds to minutes (GPT-2 small: 49 layers), and silence that long reads as a hang."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

from tqdm import tqdm

SHOW_EVERY_SECONDS = 0.5  # the bar and run.json follow the layers at most this often

LayerTotals = tuple[int, int] | tuple[None, None]  # (layers done, layers in all); (None, None): none under way


class LayerProgress:
    """The layers done in the checkpoints being analysed, one per process at work, told from any thread (this
    process's own, and the one passing on the workers'). Shown on a bar and handed to `record` at most every
    SHOW_EVERY_SECONDS, as layers finish; word from a checkpoint already finished is dropped."""

    def __init__(self, record: Callable[[int | None, int | None], None], show: bool, clock=time.monotonic):
        self._record = record
        self._clock = clock
        self._lock = threading.Lock()
        self._layers: dict[int, tuple[int, int]] = {}  # epoch -> (done, total)
        self._finished: set[int] = set()
        self._shown_at = -math.inf
        # no rate or time left: the count covers whichever checkpoints are under way, so it jumps both ways
        self._bar = tqdm(desc="layers", bar_format="{desc}: {n}/{total} {bar}", disable=not show or None, leave=False)

    def layer_done(self, epoch: int, done: int, total: int) -> None:
        with self._lock:
            if epoch in self._finished:
                return
            self._layers[epoch] = (done, total)
            if self._clock() - self._shown_at >= SHOW_EVERY_SECONDS:
                self._shown_at = self._clock()
                self._show()

    def epoch_done(self, epoch: int) -> None:
        with self._lock:
            self._finished.add(epoch)
            self._layers.pop(epoch, None)

    def totals(self) -> LayerTotals:
        with self._lock:
            return self._totals()

    def close(self) -> None:
        self._bar.close()

    def _totals(self) -> LayerTotals:
        if not self._layers:
            return None, None
        return sum(done for done, _ in self._layers.values()), sum(total for _, total in self._layers.values())

    def _show(self) -> None:
        done, total = self._totals()
        epochs = ", ".join(map(str, sorted(self._layers)))
        self._bar.set_description(f"layers of epoch{'s' * (len(self._layers) > 1)} {epochs}", refresh=False)
        self._bar.total, self._bar.n = total, done
        self._bar.refresh()
        self._record(done, total)
