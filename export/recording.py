"""An export made for the dashboard (`--to-run NAME`): written into the run's exports/ folder, with its status
and progress in run.json's `export` (as an analysis records itself), under the run's export lock, so the
page shows it as a job and offers the file once it is done."""
from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

from spectrascope.runs import RunPaths, job_lock, update_run

Progress = Callable[[int, int], None]  # (frames drawn, frames in all)
SAVE_EVERY_SECONDS = 0.5  # progress reaches run.json at most this often


def recorder(paths: RunPaths, command: str, name: str | None):
    """recorded(...) for a dashboard export, else a progress callback that records nothing."""
    return recorded(paths, command, name) if name else nullcontext(lambda done, total: None)


@contextmanager
def recorded(paths: RunPaths, command: str, name: str) -> Iterator[Progress]:
    with job_lock(paths, "export"):
        paths.exports.mkdir(exist_ok=True)
        update_run(paths, export={"status": "running", "command": command, "file": name, "frames_done": 0,
                                  "frames_total": None, "error": None})
        saved_at = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal saved_at
            if done == total or time.monotonic() - saved_at >= SAVE_EVERY_SECONDS:
                update_run(paths, export={"frames_done": done, "frames_total": total})
                saved_at = time.monotonic()

        try:
            yield progress
        except KeyboardInterrupt:
            update_run(paths, export={"status": "cancelled", "error": "cancelled by the user"})
            raise
        except BaseException as exc:
            update_run(paths, export={"status": "failed", "error": str(exc) or type(exc).__name__})
            raise
        update_run(paths, export={"status": "completed"})
