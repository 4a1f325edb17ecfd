"""spectrascope: how a network's weights evolve while it trains, and whether each layer is healthy.

The Python API: record your own training loop with `RunRecorder`, and load a run's results with the
run-format readers (`read_run`, `metrics_frame`, `layers_frame`, ...). Names are imported on first use,
so `import spectrascope` loads no torch."""
from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "RunRecorder": "training.recorder", "TrainingDiverged": "training.recorder",
    "LightningRecorder": "training.lightning_recorder", "TrainerRecorder": "training.huggingface_recorder",
    **{name: "spectrascope.runs" for name in (
        "run_paths", "read_run", "list_runs", "metrics_frame", "layers_frame", "weight_stats_frame",
        "read_eigenvalues", "read_randomized_eigenvalues", "read_tensor_histogram", "histogram_tensors", "RunRecord",
        "RunFormatError")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spectrascope' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
