"""`spectrascope rm`: delete runs (refused while a job works on one)."""
from __future__ import annotations

import argparse

from spectrascope.runs.paths import run_paths
from spectrascope.runs.removal import delete_run

HELP = "delete runs: their folders, checkpoints and analysis (refused while a job works on one)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="the runs to delete")


def run(args: argparse.Namespace) -> int:
    for run_id in args.run_ids:
        paths = run_paths(args.data_dir, run_id)
        delete_run(paths)
        print(f"deleted run {run_id} ({paths.root})")
    return 0
