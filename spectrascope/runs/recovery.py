"""Damaged analysis results are set aside, not trusted: the analysis then rebuilds them from the
checkpoints instead of reporting the run up to date."""
from __future__ import annotations

from pathlib import Path

from spectrascope.runs.arrays import read_histograms
from spectrascope.runs.files import DAMAGED_FILE_ERRORS
from spectrascope.runs.paths import RunPaths
from spectrascope.runs.tables import damaged_tables


def set_aside(path: Path) -> Path:
    """Rename a damaged file to NAME.damaged (kept for the user to inspect) and return the new path."""
    return path.replace(path.with_name(path.name + ".damaged"))


def set_aside_damaged_results(paths: RunPaths) -> list[Path]:
    """Set aside each results table or histogram file that exists but does not read; returns their
    original paths."""
    damaged = damaged_tables(paths)
    try:
        read_histograms(paths)
    except DAMAGED_FILE_ERRORS:
        damaged.append(paths.histograms)
    for path in damaged:
        set_aside(path)
    return damaged
