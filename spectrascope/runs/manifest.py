"""analysis/manifest.json: what each epoch's saved analysis was computed from (the checkpoint's size and
mtime, the backend), whether it failed, and whether its histograms were counted."""
from __future__ import annotations

import json

from spectrascope.runs.files import atomic_write_text
from spectrascope.runs.paths import RunPaths


def checkpoint_signature(paths: RunPaths, epoch: int, backend: str) -> dict:
    """Changes whenever the checkpoint is rewritten or another backend analyses it."""
    stat = paths.checkpoint(epoch).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "backend": backend}


def read_manifest(paths: RunPaths) -> dict[int, dict] | None:
    """Entries by epoch (empty before any analysis); None when the file exists but cannot be read."""
    if not paths.analysis_manifest.exists():
        return {}
    try:
        return {int(epoch): dict(entry) for epoch, entry in json.loads(paths.analysis_manifest.read_text()).items()}
    except (ValueError, TypeError, AttributeError):
        return None


def write_manifest(paths: RunPaths, manifest: dict[int, dict]) -> None:
    atomic_write_text(paths.analysis_manifest, json.dumps({str(k): v for k, v in sorted(manifest.items())}, indent=1))
