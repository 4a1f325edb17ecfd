"""`spectrascope rm`: delete runs (refused while a job works on one, or a team's job claims it)."""
from __future__ import annotations

import argparse
import os

from spectrascope import jobs, settings
from spectrascope.runs import delete_run, run_paths

HELP = "delete runs: their folders, checkpoints and analysis (refused while a job works on one)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="the runs to delete")


def run(args: argparse.Namespace) -> int:
    os.environ[settings.DATA_DIR_ENV] = args.data_dir  # where the jobs look too
    for run_id in args.run_ids:
        paths = run_paths(args.data_dir, run_id)
        jobs.refuse_while_team_job(run_id)
        delete_run(paths)
        print(f"deleted run {run_id} ({paths.root})")
    return 0
