"""`spectrascope analyze`: bring a run's spectral analysis, statistics and histograms up to date."""
from __future__ import annotations

import argparse

from analysis.options import BACKENDS, DEFAULT_BINS, MAX_BINS, RANDOMIZE_EVERY
from spectrascope import command
from spectrascope.errors import UserError
from spectrascope.runs import read_run

HELP = "analyse a run's checkpoints: per-layer ESD and power-law alpha, weight statistics and histograms"


def epoch_list(text: str) -> list[int]:
    try:
        epochs = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epoch numbers, got {text!r}") from None
    if not epochs or epochs[0] < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative epoch numbers, got {text!r}")
    return epochs


def _integer_at_least(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _integer_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    return _integer_at_least(text, 0, "non-negative")


def bin_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BINS:
        raise argparse.ArgumentTypeError(f"at most {MAX_BINS} bins (a histogram has no more pixels), got {text!r}")
    return value


def device_name(text: str) -> str:
    if text != "cpu" and text.split(":")[0] != "cuda":
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu or cuda")
    return text


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `analyze` and `import`."""
    parser.add_argument("--backend", choices=BACKENDS, default="fast",
                        help="fast: our batched implementation (default); weightwatcher: the reference library")
    parser.add_argument("--device", type=device_name, default="cpu", help="cpu or cuda (fast backend only)")
    parser.add_argument("--randomize", action="store_true",
                        help="compare every epoch's ESD with its randomized (shuffled) twin: correlation traps")
    parser.add_argument("--randomize-every", type=non_negative_int, default=RANDOMIZE_EVERY, metavar="K",
                        help=f"without --randomize, randomize every K-th checkpoint and the last once training has "
                             f"ended (default {RANDOMIZE_EVERY}; 0: none)")
    parser.add_argument("--workers", type=positive_int,
                        help="processes analysing at once, this one included (default: one per core for "
                             "large runs, else 1)")
    parser.add_argument("--bins", type=bin_count, default=DEFAULT_BINS,
                        help=f"histogram bins per tensor (default {DEFAULT_BINS}, at most {MAX_BINS}); a change "
                             "recounts every epoch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_run_id(parser, "the run to analyse")
    parser.add_argument("--epochs", type=epoch_list, help="only these epochs, e.g. 0,5,10 (default: every checkpoint)")
    add_analysis_arguments(parser)


def check_device(device: str) -> str:
    """Said before any work starts; loads torch for CUDA, so only once there is work."""
    if device == "cpu":
        return device
    import torch

    if device.split(":")[0] == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    return device


def report(result, paths) -> int:
    unit = read_run(paths).unit
    print(f"run {paths.run_id}: analysed {len(result.analysed)} {unit}(s), {len(result.up_to_date)} already up to "
          "date" + (f", {len(result.errors)} failed" if result.errors else ""))
    return 1 if result.errors else 0


def run(args: argparse.Namespace) -> int:
    """analysis.runner.analyze_run, but its numerical libraries are loaded only when there is work."""
    from analysis.plan import planned_analysis

    with planned_analysis(args.data_dir, args.run_id, backend=args.backend, epochs=args.epochs,
                          randomize=args.randomize, bins=args.bins, randomize_every=args.randomize_every) as plan:
        if not plan.nothing_to_do:
            from analysis.runner import carry_out

            carry_out(plan, check_device(args.device), args.workers, progress=True)
    return report(plan.report, plan.paths)
