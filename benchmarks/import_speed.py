"""Whole-command speed: `spectrascope import` of a folder of ResNet-18 checkpoints vs a plain weightwatcher loop.

Writes full-size ResNet-18 (CIFAR-100 head) state_dicts whose weights drift a little further from init
each epoch (so no two files are alike), the way a training script saves them, then times in turn, each
as a fresh process from start-up to exit, as a user would meet it:
- `spectrascope import FOLDER --run-id ...`: every file checked, copied into a new run, then analysed
  (ESD + fit, weight statistics, histograms) with the default settings;
- weightwatcher 0.7.7 at its defaults, as its users run it on saved checkpoints:
  `for f in files: WeightWatcher(model=torch.load(f)).analyze()` (ESD + fit only);
- `spectrascope analyze` on the imported run, now up to date: what every later command costs.
Prints each one's median over --repeats and the ratio of the first two medians.

    python benchmarks/import_speed.py                  # 8 checkpoints, 3 repeats: about 2 minutes on 2 cores
    python benchmarks/import_speed.py --wrapped        # {'model_state_dict': ..., 'optimizer': ...} files
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from training.model import ResNet18

WEIGHTWATCHER_LOOP = """
import sys
import torch
import weightwatcher as ww
for path in sys.argv[1:]:
    ww.WeightWatcher(model=torch.load(path){key}).analyze()
"""
WRAPPER_KEY = "model_state_dict"


def write_checkpoints(folder: Path, checkpoints: int, wrapped: bool) -> list[Path]:
    torch.manual_seed(0)
    model = ResNet18(100, 3, 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    files = []
    for epoch in range(checkpoints):
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.ndim > 1:  # a heavy-tailed drift, growing with training
                    parameter.add_(0.02 * parameter.std() * torch.distributions.StudentT(3.0).sample(parameter.shape))
        files.append(folder / f"epoch_{epoch}.pt")
        saved = {WRAPPER_KEY: model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        torch.save(saved if wrapped else model.state_dict(), files[-1])
    return files


def seconds(command: list[str]) -> float:
    """Wall time of a fresh process, start-up and exit included."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def spectrascope(*args: str) -> list[str]:
    return [sys.executable, "-m", "spectrascope", *args]


def row(label: str, times: list[float], checkpoints: int) -> str:
    median = statistics.median(times)
    return (f"{label:<34} {median:7.2f} s  {median / checkpoints:6.3f} s/checkpoint   "
            f"({', '.join(f'{t:.2f}' for t in times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command; medians are compared")
    parser.add_argument("--wrapped", action="store_true",
                        help="checkpoints as training scripts often save them, weights beside the optimizer state "
                             "(converted on import, not copied)")
    args = parser.parse_args()

    loop = WEIGHTWATCHER_LOOP.format(key=f"[{WRAPPER_KEY!r}]" if args.wrapped else "")
    imports, loops, analyses = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        folder, data = Path(scratch) / "checkpoints", str(Path(scratch) / "data")
        folder.mkdir()
        files = write_checkpoints(folder, args.checkpoints, args.wrapped)
        size = files[0].stat().st_size
        for repeat in range(args.repeats):  # interleaved, so a busy spell on the machine hits both
            imports.append(seconds(spectrascope("import", str(folder), "--run-id", f"r{repeat}", "--data-dir", data)))
            loops.append(seconds([sys.executable, "-c", loop, *map(str, files)]))
            analyses.append(seconds(spectrascope("analyze", "--run-id", f"r{repeat}", "--data-dir", data)))
    print(f"ResNet-18 (CIFAR-100 head), {args.checkpoints} checkpoints of {size / 1e6:.0f} MB"
          f"{' (wrapped)' if args.wrapped else ''}, {args.repeats} runs each, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; whole commands, start-up included")
    print(row("spectrascope import:", imports, args.checkpoints))
    print(row("weightwatcher loop:", loops, args.checkpoints))
    print(f"{'ratio (medians):':<34} {statistics.median(loops) / statistics.median(imports):7.1f}x")
    print(row("spectrascope analyze (up to date):", analyses, args.checkpoints))


if __name__ == "__main__":
    main()
