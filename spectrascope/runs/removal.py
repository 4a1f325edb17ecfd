"""Deleting a run: refused while any job holds it, and never half-done in a reader's eyes (the folder is
renamed out of runs/ first, then removed)."""
from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack

from spectrascope.runs.locks import RunBusyError, job_lock
from spectrascope.runs.paths import RunFormatError, RunPaths

JOB_LOCKS = ("job", "training", "analysis")  # every lock a job may hold; the dashboard's (which starts them) first


def delete_run(paths: RunPaths) -> None:
    """Remove the run's folder and everything in it; RunBusyError while a job works on it."""
    if not paths.run_json.exists() and not paths.root.is_dir():
        raise RunFormatError(f"no run {paths.run_id!r} at {paths.root}")
    with ExitStack() as locks:
        for job in JOB_LOCKS:
            try:
                locks.enter_context(job_lock(paths, job))
            except RunBusyError as exc:
                raise RunBusyError(f"{exc}; stop that job (Cancel, or Ctrl-C where it runs) before deleting the "
                                   "run") from None
        doomed = paths.root.parent.with_name(f".deleting-{paths.run_id}-{time.time_ns()}")  # outside runs/
        try:
            os.rename(paths.root, doomed)  # gone from runs/ at once; the locks stay held on the moved files
        except OSError as exc:
            raise RunFormatError(f"cannot delete run {paths.run_id!r}: {exc.strerror} ({paths.root})") from None
    try:
        shutil.rmtree(doomed)
    except OSError as exc:
        raise RunFormatError(f"run {paths.run_id!r} is gone from the runs, but {doomed} could not be removed "
                             f"({exc.strerror}); delete that folder by hand") from None
