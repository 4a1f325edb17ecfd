"""Turn a folder of the user's own checkpoints into an `imported` run, ready for analysis."""
from __future__ import annotations

import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from spectrascope.checkpoints import CHECKPOINT_SUFFIXES, check_checkpoint, load_state_dict, save_checkpoint
from spectrascope.errors import UserError
from spectrascope.runs import (
    RunFormatError, RunPaths, atomic_copy, ensure_writable_dir, job_lock, new_run_record, run_paths, update_run,
    write_run,
)

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def epoch_from_name(path: Path) -> int | None:
    """The last number in the file name: epoch_12.pt, model-ep3.pth, ckpt_0005.safetensors."""
    match = _LAST_NUMBER.search(path.name[: -len(path.suffix)])
    return int(match.group(1)) if match else None


def find_checkpoints(folder: Path) -> dict[int, Path]:
    if not folder.exists():
        raise UserError(f"{folder} does not exist: give the folder that holds your checkpoints")
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give the folder that holds your checkpoints")
    files = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"no checkpoints ({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}) in {folder}")
    unnumbered = [p.name for p in files if epoch_from_name(p) is None]
    if unnumbered:
        raise UserError(f"cannot tell the epoch of {', '.join(unnumbered)}: put the epoch number in each file name")
    by_epoch: dict[int, Path] = {}
    for path in files:
        epoch = epoch_from_name(path)
        if epoch in by_epoch:
            raise UserError(f"{by_epoch[epoch].name} and {path.name} both claim epoch {epoch}")
        by_epoch[epoch] = path
    return dict(sorted(by_epoch.items()))


def _copy_in(source: Path, target: Path, as_saved: bool) -> None:
    """The run's own copy of a checkpoint: its bytes where they already make a run checkpoint, else its
    tensors saved as one (unwrapped, on the CPU, in torch.save's zip format)."""
    if as_saved:
        atomic_copy(source, target)
    else:
        save_checkpoint(target, load_state_dict(source))


def import_checkpoints(source: Path, data_dir, run_id: str) -> RunPaths:
    """Check every file first (nothing is written if one is refused), then copy them in as plain state_dicts."""
    paths = run_paths(data_dir, run_id)
    if paths.root.exists():
        raise RunFormatError(f"run {run_id!r} already exists at {paths.root}: choose another --run-id")
    checkpoints = find_checkpoints(Path(source))
    checked = {epoch: check_checkpoint(path) for epoch, path in checkpoints.items()}
    wrappers = {check.key for check in checked.values()} - {None}
    for key in sorted(wrappers):
        print(f"the weights are read from the {key!r} entry of the checkpoints; their other entries (optimizer "
              "state, step, ...) are not imported", file=sys.stderr)
    ensure_writable_dir(data_dir)
    paths.root.mkdir(parents=True)
    try:
        with job_lock(paths):
            write_run(paths, new_run_record(run_id, kind="imported", preset=None,
                                            config={"source": str(Path(source).resolve())},
                                            total_epochs=max(checkpoints),
                                            provenance={"torch": metadata.version("torch")}))
            for epoch, path in checkpoints.items():
                _copy_in(path, paths.checkpoint(epoch), checked[epoch].as_saved)
            update_run(paths, status="completed", progress={"epoch": max(checkpoints), "phase": "done"})
    except BaseException:  # a half-copied run would block its id: it was ours alone, so remove it
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return paths
