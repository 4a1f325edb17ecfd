"""Weight and bias histograms per layer and epoch, on bin edges fixed per tensor across the whole run.

Fixed edges make an animation over epochs compare like with like. The edges cover every epoch's range
with a 5% margin, so a new epoch that widens the range only a little does not force a recount of all
the others; when it does widen past the margin, every epoch is recounted on the new edges.
"""
from __future__ import annotations

import numpy as np

from analysis.options import DEFAULT_BINS

_MARGIN = 0.05


def parameter_tensors(state_dict: dict) -> dict[tuple[str, str], np.ndarray]:
    """(layer, "weight" | "bias") -> the values, flat float32, for every floating weight or bias tensor."""
    tensors = {}
    for key, value in state_dict.items():
        layer, _, kind = key.rpartition(".")
        values = np.asarray(value)
        if kind in ("weight", "bias") and np.issubdtype(values.dtype, np.floating):
            tensors[(layer, kind)] = values.astype(np.float32, copy=False).ravel()
    return tensors


def _identity(values: np.ndarray) -> tuple:
    """Where the values live: entries of a state_dict that share it are one tensor (a head tied to its token
    embedding: GPT-2's 38.6M values, counted once instead of twice)."""
    return values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str


def once_per_tensor(function, tensors: dict, *extra: dict) -> dict:
    """key -> function(tensors[key], extra[0][key], ...), computed once for keys whose values are the same memory
    and whose extra arguments are equal."""
    done, results = {}, {}
    for key, values in tensors.items():
        arguments = [values, *(given[key] for given in extra)]
        identity = (_identity(values), *(np.asarray(argument).tobytes() for argument in arguments[1:]))
        if identity not in done:
            done[identity] = function(*arguments)
        results[key] = done[identity]
    return results


def _finite(values: np.ndarray) -> np.ndarray:
    return values if np.isfinite(values).all() else values[np.isfinite(values)]


def tensor_stats(values: np.ndarray) -> dict:
    """Summary statistics over the finite values (accumulated in float64), and how many are not finite."""
    finite = _finite(values)
    if finite.size == 0:
        mean = std = low = high = np.nan
        fro_norm = 0.0
    else:
        mean, std = float(finite.mean(dtype=np.float64)), float(finite.std(dtype=np.float64))
        low, high = float(finite.min()), float(finite.max())
        fro_norm = float(np.sqrt(finite.size * (std * std + mean * mean)))  # sum of squares = n (var + mean^2)
    return {
        "count": values.size, "mean": mean, "std": std, "min": low, "max": high, "fro_norm": fro_norm,
        "nan_count": int(np.isnan(values).sum()) if finite is not values else 0,
        "inf_count": int(np.isinf(values).sum()) if finite is not values else 0,
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
    """Normalised density (integrates to 1) of the finite values; zeros if there are none. The edges are
    evenly spaced (bin_edges), so NumPy may compute each bin instead of searching the edges: the same
    counts (it checks each value against the edges it rebuilds, which are these), 3-4x faster."""
    counts, _ = np.histogram(_finite(values), bins=len(edges) - 1, range=(edges[0], edges[-1]))
    total = counts.sum()
    if total == 0:
        return np.zeros(len(edges) - 1)
    return counts / (total * np.diff(edges))
