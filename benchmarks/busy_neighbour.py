"""A training beside a busy process: `spectrascope train` alone, then beside one busy-looping process.

torch's OpenMP threads spin on their cores between parallel regions by default; beside another process
that wants a core they fight it for every time slice (a 20-epoch demo once took 618 s instead of ~10 s
on 2 cores). The CLI makes its threads wait passively. This times the same demo training, each in a
fresh `spectrascope train` process (start-up included):
- alone;
- beside one busy process, as the CLI runs it (passive threads);
- beside one busy process with spinning threads (`OMP_WAIT_POLICY=ACTIVE`, torch's default before);
and prints each slowdown against the alone time of the same run. Target: at most 1.8x beside one busy
process on 2 cores.

    python benchmarks/busy_neighbour.py             # 5-epoch demo, 3 repeats: about 3 minutes on 2 cores
    python benchmarks/busy_neighbour.py --epochs 2 --repeats 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
BUSY_LOOP = "while True: pass"


@contextmanager
def busy_neighbour():
    """One process that wants a whole core for as long as it runs."""
    process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        yield
    finally:
        process.kill()
        process.wait()


def time_training(data_dir: Path, run_id: str, epochs: int, policy: str | None) -> float:
    """Seconds of one `spectrascope train --preset demo`, start-up included."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMP_")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "spectrascope", "train", "--preset", "demo", "--epochs", str(epochs),
                    "--run-id", run_id, "--data-dir", str(data_dir)], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="demo epochs per training")
    parser.add_argument("--repeats", type=int, default=3, help="trainings per setting (the median is shown)")
    args = parser.parse_args()
    settings = {"alone": (False, None), "beside a busy process (the CLI)": (True, None),
                "beside a busy process, spinning threads": (True, "ACTIVE")}
    times: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # interleaved, so a change in the machine's load touches all alike
            for number, (name, (busy, policy)) in enumerate(settings.items()):
                with busy_neighbour() if busy else nullcontext():
                    times[name].append(time_training(Path(tmp), f"r{repeat}-{number}", args.epochs, policy))
    alone = statistics.median(times["alone"])
    print(f"demo preset, {args.epochs} epochs, median of {args.repeats}; {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads by default)")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:42s} {median:6.1f} s  ({', '.join(f'{s:.1f}' for s in seconds)})  {median / alone:4.2f}x")


if __name__ == "__main__":
    main()
