"""`spectrascope submit train|analyze ...`: hand a job to the job runner, as the page's Start does: to the
team's Celery workers when REDIS_URL is set (from any machine with the same settings), else to this
machine's runner. It returns at once; the run shows the job's progress."""
from __future__ import annotations

import argparse
import os

from analysis.options import BACKENDS
from spectrascope import command, settings
from spectrascope.errors import UserError
from spectrascope.jobs.submit import start, submit_analysis, submit_resume, submit_training
from training.cli import add_hyperparameter_arguments, overrides
from training.config import PRESETS

HELP = "queue a training or an analysis for the job runner (the team's workers when REDIS_URL is set)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, parser_class=type(parser))
    train = kinds.add_parser("train", help="queue a training run")
    train.add_argument("--preset", choices=PRESETS, help="recipe to train (required unless --resume)")
    train.add_argument("--resume", action="store_true", help="continue an interrupted, failed or cancelled run "
                                                             "from its last complete epoch, with its own config")
    command.add_run_id(train, "name of the run (default: <preset>-<date>-<time>)", required=False)
    add_hyperparameter_arguments(train)
    analyze = kinds.add_parser("analyze", help="queue an analysis of a run's checkpoints")
    command.add_run_id(analyze, "the run to analyse")
    analyze.add_argument("--backend", choices=BACKENDS, default="fast", help="fast (default) or weightwatcher")
    analyze.add_argument("--randomize", action="store_true", help="also compare with randomized ESDs")
    for kind in (train, analyze):  # also after the kind: `submit analyze --run-id R --data-dir D`
        kind.add_argument("--data-dir", default=argparse.SUPPRESS, help="as `spectrascope submit --data-dir`")


def run(args: argparse.Namespace) -> int:
    os.environ[settings.DATA_DIR_ENV] = args.data_dir  # where the job runner and the workers look too
    if args.kind == "train" and args.resume:
        job = submit_resume(_resumed_run(args), overrides(args).get("device"))
    elif args.kind == "train":
        if args.preset is None:
            raise UserError(f"submit train: --preset is required unless --resume; choose one of {', '.join(PRESETS)}")
        job = submit_training(args.preset, args.run_id, **overrides(args))
    else:
        job = submit_analysis(args.run_id, args.backend, args.randomize)
    start(job)
    where = ("on the team's workers (REDIS_URL)" if settings.redis_url()
             else f"on this machine's job runner (no REDIS_URL), data dir {args.data_dir}")
    print(f"queued spectrascope {job.command} {' '.join(job.args)} {where}")
    return 0


def _resumed_run(args: argparse.Namespace) -> str:
    """--resume takes the run's own config (only --device may change): a flag that would change it is refused
    rather than ignored."""
    if args.run_id is None:
        raise UserError("submit train --resume needs the --run-id of the run to continue")
    given = sorted(name for name in overrides(args) if name != "device") + (["preset"] if args.preset else [])
    if given:
        raise UserError("submit train --resume uses the run's own config; drop "
                        + ", ".join(f"--{name.replace('_', '-')}" for name in given))
    return args.run_id
