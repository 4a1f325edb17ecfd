"""The layers of a checkpoint already analysed while the rest are under way: `analysis/partial/epoch_NNNN/`
holds one file per finished layer (its layers.csv row, its eigenvalues and, randomized, those of its shuffled
weights), each written atomically, beside the checkpoint signature they belong to. An analysis killed inside
a big checkpoint (a 7B model's takes most of an hour on 2 cores) goes on from its last finished layer; the
folder goes once the epoch's rows are saved in layers.csv."""
from __future__ import annotations

import json
import shutil

import numpy as np

from spectrascope.runs.files import DAMAGED_FILE_ERRORS, atomic_write_text, write_npz
from spectrascope.runs.paths import RunPaths

_SIGNATURE = "signature.json"
FinishedLayer = tuple[dict, np.ndarray, np.ndarray | None]  # row, eigenvalues, randomized eigenvalues


def finished_layers(paths: RunPaths, epoch: int, signature: dict) -> dict[str, FinishedLayer]:
    """layer -> what was kept of it, where the kept layers belong to this checkpoint and settings; else none
    (and what another checkpoint or setting left is cleared)."""
    folder = paths.partial(epoch)
    try:
        kept = json.loads((folder / _SIGNATURE).read_text())
    except (OSError, ValueError):
        kept = None
    if kept != signature:
        drop_finished_layers(paths, epoch)
        return {}
    finished = {}
    for path in sorted(folder.glob("layer_*.npz")):
        try:
            with np.load(path) as data:
                row = json.loads(str(data["row"]))
                finished[row["layer"]] = (row, data["evals"], data["randomized"] if "randomized" in data else None)
        except (OSError, *DAMAGED_FILE_ERRORS):  # a file is whole or absent (atomic); anything else: redo it
            continue
    return finished


def keep_finished_layer(paths: RunPaths, epoch: int, signature: dict, index: int, row: dict, evals: np.ndarray,
                        randomized: np.ndarray | None) -> None:
    folder = paths.partial(epoch)
    if not (folder / _SIGNATURE).exists():
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / _SIGNATURE, json.dumps(signature))
    arrays = {"row": np.array(json.dumps(row, default=lambda value: value.item())), "evals": evals}  # NumPy scalars
    if randomized is not None:
        arrays["randomized"] = randomized
    write_npz(folder / f"layer_{index:05d}.npz", arrays)


def drop_finished_layers(paths: RunPaths, epoch: int) -> None:
    shutil.rmtree(paths.partial(epoch), ignore_errors=True)
