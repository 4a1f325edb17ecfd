"""Weight and bias histograms per layer and epoch, on bin edges fixed per tensor across the whole run.

Fixed edges make an animation over epochs compare like with like. The edges cover every epoch's range
with a 5% margin, so a new epoch that widens the range only a little does not force a recount of all
the others; when it does widen past the margin, every epoch is recounted on the new edges.
"""
from __future__ import annotations

import numpy as np
import torch

DEFAULT_BINS = 100
STAT_COLUMNS = ("epoch", "layer", "kind", "count", "mean", "std", "min", "max", "fro_norm", "nan_count", "inf_count")
_MARGIN = 0.05


def parameter_tensors(state_dict: dict) -> dict[tuple[str, str], np.ndarray]:
    """(layer, "weight" | "bias") -> the values as float64, for every floating weight or bias tensor."""
    tensors = {}
    for key, value in state_dict.items():
        layer, _, kind = key.rpartition(".")
        if kind in ("weight", "bias") and torch.is_tensor(value) and value.is_floating_point():
            tensors[(layer, kind)] = value.detach().cpu().to(torch.float64).numpy().ravel()
    return tensors


def tensor_stats(values: np.ndarray) -> dict:
    """Summary statistics over the finite values, and how many are not finite."""
    finite = values[np.isfinite(values)]
    empty = finite.size == 0
    return {
        "count": values.size,
        "mean": np.nan if empty else float(finite.mean()),
        "std": np.nan if empty else float(finite.std()),
        "min": np.nan if empty else float(finite.min()),
        "max": np.nan if empty else float(finite.max()),
        "fro_norm": float(np.sqrt(np.sum(finite * finite))),
        "nan_count": int(np.isnan(values).sum()),
        "inf_count": int(np.isinf(values).sum()),
    }


def bin_edges(low: float, high: float, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Edges over [low, high] plus a margin; a constant tensor (say BatchNorm's initial 1s) gets a
    small window around its value."""
    span = high - low
    margin = _MARGIN * span if span > 0 else _MARGIN * max(abs(low), 1.0)
    return np.linspace(low - margin, high + margin, bins + 1)


def covers(edges: np.ndarray, low: float, high: float) -> bool:
    return bool(edges[0] <= low and high <= edges[-1])


def density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Normalised density (integrates to 1) of the finite values; zeros if there are none."""
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    total = counts.sum()
    if total == 0:
        return np.zeros(len(edges) - 1)
    return counts / (total * np.diff(edges))
