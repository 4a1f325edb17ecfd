"""The run's arrays: each epoch's eigenvalues (analysis/esd/epoch_NNNN.npz, keyed by layer), those of the
shuffled weights from an analysis with --randomize (analysis/esd_randomized/epoch_NNNN.npz, the same keys) and
the weight/bias histograms of every tensor (analysis/histograms.npz, bin edges fixed per tensor across epochs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spectrascope.runs.files import write_npz
from spectrascope.runs.paths import RunPaths

Tensor = tuple[str, str]  # (layer, "weight" | "bias")


# --- eigenvalues ---------------------------------------------------------------------------------


def write_esd(paths: RunPaths, epoch: int, eigenvalues: dict[str, np.ndarray],
              randomized: dict[str, np.ndarray] | None = None) -> None:
    """The sorted eigenvalues each layer's fit used, by layer, and those of its shuffled weights (`randomized`,
    from an analysis with --randomize). An epoch analysed again without them loses its old shuffled ones: they
    were drawn from other weights."""
    if randomized:
        write_npz(paths.randomized_esd(epoch), randomized)
    else:
        paths.randomized_esd(epoch).unlink(missing_ok=True)
    write_npz(paths.esd(epoch), eigenvalues)


def _layer_array(path: Path, layer: str) -> np.ndarray | None:
    with np.load(path) as data:
        return data[layer] if layer in data.files else None


def read_eigenvalues(paths: RunPaths, epoch: int, layer: str) -> np.ndarray | None:
    """One layer's eigenvalues at one epoch (None if that layer has none); FileNotFoundError before any."""
    return _layer_array(paths.esd(epoch), layer)


def read_randomized_eigenvalues(paths: RunPaths, epoch: int, layer: str) -> np.ndarray | None:
    """One layer's eigenvalues with its weights shuffled (weightwatcher's rand_evals) at one epoch; None where
    the epoch was analysed without --randomize (or before spectrascope kept them)."""
    path = paths.randomized_esd(epoch)
    return _layer_array(path, layer) if path.exists() else None


# --- histograms ----------------------------------------------------------------------------------


def _key(part: str, layer: str, kind: str) -> str:
    """npz key of a tensor's `edges` (bins + 1) or `density` (epochs x bins) array."""
    return f"{part}:{kind}:{layer}"


def _tensor_keys(keys: list[str]) -> list[tuple[str, str, str]]:
    """(part, layer, kind) of each key; ("", "", "") for keys that name no tensor ("epochs")."""
    split = [key.split(":", 2) for key in keys]
    return [(parts[0], parts[2], parts[1]) if len(parts) == 3 else ("", "", "") for parts in split]


def write_histograms(paths: RunPaths, epochs: list[int], edges: dict[Tensor, np.ndarray],
                     densities: dict[Tensor, np.ndarray]) -> None:
    arrays = {"epochs": np.asarray(epochs, dtype=np.int64)}
    for (layer, kind), tensor_edges in edges.items():
        arrays[_key("edges", layer, kind)] = tensor_edges
        arrays[_key("density", layer, kind)] = densities[(layer, kind)]
    write_npz(paths.histograms, arrays)


def histogram_tensors(paths: RunPaths) -> list[Tensor]:
    """Every tensor with a histogram, in state_dict order (empty before any were counted)."""
    if not paths.histograms.exists():
        return []
    with np.load(paths.histograms) as data:
        return [(layer, kind) for part, layer, kind in _tensor_keys(data.files) if part == "edges"]


def read_tensor_histogram(paths: RunPaths, layer: str, kind: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(epochs, edges, densities epochs x bins) of one tensor, read without loading the others."""
    with np.load(paths.histograms) as data:
        return data["epochs"].tolist(), data[_key("edges", layer, kind)], data[_key("density", layer, kind)]


def histogram_bins(paths: RunPaths) -> int | None:
    """The bins of the saved histograms (None before any were counted), read from one tensor's edges."""
    if not paths.histograms.exists():
        return None
    with np.load(paths.histograms) as data:
        first = next((key for key in data.files if key.startswith("edges:")), None)
        return len(data[first]) - 1 if first else None


def read_histograms(paths: RunPaths) -> tuple[list[int], dict[Tensor, np.ndarray], dict[Tensor, np.ndarray]]:
    """(epochs, edges, densities) keyed by (layer, kind); empty when nothing was written yet."""
    if not paths.histograms.exists():
        return [], {}, {}
    edges, densities = {}, {}
    with np.load(paths.histograms) as data:
        epochs = data["epochs"].tolist()
        for key, (part, layer, kind) in zip(data.files, _tensor_keys(data.files)):
            if part in ("edges", "density"):
                (edges if part == "edges" else densities)[(layer, kind)] = data[key]
    return epochs, edges, densities
