"""Layer-health events in a RunRecorder's own loop (`RunRecorder(..., on_event=callback)`).

A thread beside the loop analyses each checkpoint once it is written, by `spectrascope analyze` in a child
process (one at a time, covering every checkpoint written meanwhile; its output in the run's job.log, as the
job runner's), so training neither waits for it nor shares its interpreter with it. The events it writes
to events.csv (final once written) are handed to the callback in the training loop's own thread, at the next
`log_epoch` or when the run closes, so a script can stop (raise) or adjust on them.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from typing import Callable

from spectrascope.health.events import Event
from spectrascope.health.monitor import recorded_events
from spectrascope.runs import RunPaths, spawn_command

OnEvent = Callable[[Event], None]


class EventFollower:
    """Analyses a recording run's checkpoints as they are written; hands over the events raised."""

    def __init__(self, data_dir, paths: RunPaths, on_event: OnEvent):
        self.data_dir, self.paths, self.on_event = data_dir, paths, on_event
        self._known = {event.event_id for event in recorded_events(paths)}  # a resumed run's old events
        self._changed = threading.Condition()
        self._written = self._started_after = 0  # checkpoints written; how many when the last analysis started
        self._closing = self._stopped = False
        self._child: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._analyse_as_written, name="run-events", daemon=True)
        self._thread.start()

    def checkpoint_written(self) -> None:
        """From the recorder's writer thread, once an epoch's files are on disk."""
        with self._changed:
            self._written += 1
            self._changed.notify()

    def poll(self) -> None:
        """The callback, for each event written since the last call (in the caller's thread)."""
        for event in recorded_events(self.paths):
            if event.event_id not in self._known:
                self._known.add(event.event_id)
                self.on_event(event)

    def finish(self) -> None:
        """After the run is recorded completed: one more analysis (the default policy randomizes the last
        checkpoint only now), waited for, and every event left handed over."""
        with self._changed:
            self._written += 1
            self._closing = True
            self._changed.notify()
        self._thread.join()
        self.poll()

    def stop(self) -> None:
        """The run stopped on an error or Ctrl-C (or has finished): the analysis under way is cancelled, saving
        what it did (`spectrascope analyze` stops on SIGTERM as on Ctrl-C)."""
        with self._changed:
            self._closing = self._stopped = True
            child = self._child
            self._changed.notify()
        if child is not None and child.poll() is None:
            child.terminate()
        self._thread.join()

    def _analyse_as_written(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopped or self._closing or self._written > self._started_after)
                if self._stopped or self._written == self._started_after:
                    return
                self._started_after = self._written
                self._child = spawn_command("analyze", ("--run-id", self.paths.run_id), self.paths, self.data_dir)
            status = self._child.wait()
            if status and not self._stopped:
                print(f"spectrascope: the analysis of run {self.paths.run_id} exited with status {status}; its "
                      f"output is in {self.paths.job_log}", file=sys.stderr)
