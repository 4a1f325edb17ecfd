"""`spectrascope analyze`: bring a run's spectral analysis, statistics and histograms up to date."""
from __future__ import annotations

import argparse

from analysis.options import BACKENDS, DEFAULT_BINS, MAX_BINS
from spectrascope.errors import UserError

HELP = "analyse a run's checkpoints: per-layer ESD and power-law alpha, weight statistics and histograms"


def epoch_list(text: str) -> list[int]:
    try:
        epochs = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epoch numbers, got {text!r}") from None
    if not epochs or epochs[0] < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative epoch numbers, got {text!r}")
    return epochs


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def bin_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BINS:
        raise argparse.ArgumentTypeError(f"at most {MAX_BINS} bins (a histogram has no more pixels), got {text!r}")
    return value


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `analyze` and `import`."""
    parser.add_argument("--backend", choices=BACKENDS, default="fast",
                        help="fast: our batched implementation (default); weightwatcher: the reference library")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (fast backend only)")
    parser.add_argument("--randomize", action="store_true",
                        help="also compare each ESD with its randomized (shuffled) twin: correlation traps")
    parser.add_argument("--workers", type=positive_int,
                        help="processes analysing at once, this one included (default: one per core for "
                             "large runs, else 1)")
    parser.add_argument("--bins", type=bin_count, default=DEFAULT_BINS,
                        help=f"histogram bins per tensor (default {DEFAULT_BINS}, at most {MAX_BINS}); a change "
                             "recounts every epoch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-id", "--run", dest="run", required=True, help="run id to analyse")
    parser.add_argument("--epochs", type=epoch_list, help="only these epochs, e.g. 0,5,10 (default: every checkpoint)")
    add_analysis_arguments(parser)


def check_device(device: str) -> str:
    import torch

    if device.split(":")[0] == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    if device != "cpu" and device.split(":")[0] != "cuda":
        raise UserError(f"unknown device {device!r}; use cpu or cuda")
    return device


def report(result, run_id: str) -> int:
    print(f"run {run_id}: analysed {len(result.analysed)} epoch(s), {len(result.up_to_date)} already up to date"
          + (f", {len(result.errors)} failed" if result.errors else ""))
    return 1 if result.errors else 0


def run(args: argparse.Namespace) -> int:
    from analysis.runner import analyze_run

    result = analyze_run(args.data_dir, args.run, backend=args.backend, epochs=args.epochs,
                         device=check_device(args.device), randomize=args.randomize, workers=args.workers,
                         bins=args.bins)
    return report(result, args.run)
