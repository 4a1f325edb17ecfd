"""The files a run's dashboard job talks through: job.log (the output of its commands, started here) and
`.cancel` (present while someone asks the job to stop; any process may create it)."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from spectrascope import settings
from spectrascope.command import PARENT_PID_ENV

from spectrascope.runs.files import now_iso
from spectrascope.runs.paths import RunPaths


@contextmanager
def open_job_log(paths: RunPaths, heading: str | None = None) -> Iterator[BinaryIO]:
    """job.log opened for appending, after a time-stamped heading line when one is given."""
    with paths.job_log.open("ab") as log:
        if heading:
            log.write(f"\n[{now_iso()}] {heading}\n".encode())
            log.flush()
        yield log


def spawn_command(command: str, args: tuple[str, ...], paths: RunPaths, data_dir=None) -> subprocess.Popen:
    """The CLI in a child process, its output appended to job.log (`log_start` marks where its own lines
    begin). Its OpenMP threads wait passively (spectrascope.command), so two jobs share the cores, and it
    dies with this process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_PID_ENV: str(os.getpid())}
    with open_job_log(paths, f"spectrascope {command} {' '.join(args)}") as log:
        child = subprocess.Popen([sys.executable, "-m", "spectrascope", command, "--data-dir",
                                  str(data_dir or settings.data_dir()), *args], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        child.log_start = log.tell()
    return child


def job_log_tail(paths: RunPaths, since: int = 0, lines: int = 5) -> str:
    """The last lines job.log got after byte `since` (one command's, though others may interleave)."""
    try:
        with paths.job_log.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def request_cancel(paths: RunPaths) -> None:
    paths.cancel_request.touch()


def cancel_requested(paths: RunPaths) -> bool:
    return paths.cancel_request.exists()


def clear_cancel_request(paths: RunPaths) -> None:
    paths.cancel_request.unlink(missing_ok=True)
