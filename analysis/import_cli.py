"""`spectrascope import`: a folder of your own checkpoints becomes a run, then is analysed."""
from __future__ import annotations

import argparse
from pathlib import Path

from analysis.cli import add_analysis_arguments, check_device, report
from spectrascope import command
from spectrascope.runs import run_id_from

HELP = ("import a folder of checkpoints and analyse it: *.pt, *.pth, *.safetensors (the epoch from each file name), "
        "Lightning *.ckpt files or a Hugging Face Trainer's checkpoint-N folders (by step)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="folder holding one state_dict file per epoch, Lightning's .ckpt "
                                                "files, or a Hugging Face Trainer's checkpoint-N folders")
    command.add_run_id(parser, "name of the new run (default: the folder's name, made a valid run id)",
                       required=False)
    add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    device = check_device(args.device)
    run_id = args.run_id if args.run_id is not None else run_id_from(args.path.resolve().name)
    paths = import_checkpoints(args.path, args.data_dir, run_id)
    print(f"imported {args.path} -> {paths.root}")
    result = analyze_run(args.data_dir, run_id, backend=args.backend, device=device,
                         randomize=args.randomize, randomize_every=args.randomize_every, workers=args.workers,
                         bins=args.bins)
    return report(result, paths)
