"""A team's moving parts for the tests: a real redis-server that can be killed and started again on its port,
and real Celery workers, each in its own folder as on a host of its own."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from helpers import free_port, listens, wait_for

REDIS_SERVER = Path("/usr/bin/redis-server")


class RedisServer:
    """redis-server on a free port of 127.0.0.1; `append_only`: it keeps its data in `folder` across a kill
    (appendfsync always, so a kill -9 loses nothing), else it comes back empty."""

    def __init__(self, folder: Path, append_only: bool = False):
        assert REDIS_SERVER.exists(), "these tests need redis-server (Debian package redis-server)"
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.append_only, self.port = folder, append_only, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.append_only
                       else ["--appendonly", "no"])
        self.process = subprocess.Popen([str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--dir", str(self.folder), *persistence],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: listens(self.port), 20, "redis-server to listen", interval=0.05, process=self.process)

    def kill(self) -> None:
        """As a crash or a lost box: no shutdown, no save."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Worker:
    """`celery -A app.worker worker -Q QUEUES` in its own folder (a host of its own), logging to a file."""

    def __init__(self, home: Path, env: dict, queues: str, name: str):
        home.mkdir(parents=True, exist_ok=True)
        self.name, self.log = name, home / "worker.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "-Q", queues, "-n", f"{name}@%h",
                 "--concurrency", "2" if "analysis" in queues else "1", "--loglevel", "info"],
                cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: "ready." in self.log.read_text(), 90, f"the {name} worker to be ready", interval=0.1,
                 process=self.process)

    def ran(self, command: str, run_id: str) -> bool:
        return f"running {command} of {run_id}" in self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
