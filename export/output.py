"""Where an export goes: checked before any frame is drawn, then written whole or not at all (a temporary
file or folder beside the target, renamed onto it), so a failed or cancelled export leaves nothing behind."""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from spectrascope.errors import UserError
from spectrascope.runs import RunPaths, atomic_write, ensure_writable_dir


def _export_name(text: str) -> str:
    """A plain file name: the file goes into the run's exports/ folder, nowhere else."""
    if not text or text != Path(text).name or text.startswith("."):
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain file name")
    return text


def add_destination(parser: argparse.ArgumentParser, out_help: str) -> None:
    """--out FILE, or --to-run NAME: into the run's exports/ folder with progress in run.json, as the
    dashboard's Download and Report ask (export.recording)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help=out_help)
    where.add_argument("--to-run", metavar="NAME", type=_export_name,
                       help="write it as NAME in the run's exports/ folder, recording progress in run.json (what "
                            "the dashboard does)")


def destination(args: argparse.Namespace, paths: RunPaths) -> Path:
    return paths.exports / args.to_run if args.to_run else args.out


_WRITTEN = (".gif", ".mp4", ".html", ".png")  # what the exports write: an --out named for another is a slip


def check(out: Path, folder: bool, fmt: str) -> None:
    """A file to replace, or (`folder`) a new or empty folder, in a folder we can write to, not named for
    another format than `fmt` writes."""
    if out.suffix.lower() in _WRITTEN and out.suffix.lower() != f".{fmt}":
        raise UserError(f"--out {out} is named for {out.suffix} but this writes {fmt}: name it "
                        f"{out.with_suffix('.' + fmt).name}")
    if folder and out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; --format png writes one image per epoch into a folder: "
                        "name a new or empty folder")
    if folder and out.is_dir() and any(out.iterdir()):
        raise UserError(f"--out {out} already holds files; name a new or empty folder for the images")
    if not folder and out.is_dir():
        raise UserError(f"--out {out} is a folder; name the file to write")
    ensure_writable_dir(out.parent, what="folder", flag="--out")


def write_file(out: Path, data: bytes) -> None:
    atomic_write(out, lambda handle: handle.write(data))


def write_folder(out: Path, files: dict[str, bytes]) -> None:
    """The files in a folder made beside `out`, renamed onto it (a new or empty folder) once all are written."""
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        for name, data in files.items():
            (staged / name).write_bytes(data)
        staged.chmod(0o755)  # mkdtemp's 0700 would hide the images from other users
        os.replace(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
