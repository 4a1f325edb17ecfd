"""Weight and bias histograms per layer and epoch, on bin edges fixed per tensor across the whole run.

Fixed edges make an animation over epochs compare like with like. The edges cover every epoch's range
with a 5% margin, so a new epoch that widens the range only a little does not force a recount of all
the others; when it does widen past the margin, every epoch is recounted on the new edges.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from analysis.layers import dtype_of, identity_of
from analysis.options import DEFAULT_BINS

_MARGIN = 0.05
_CHUNK = 1 << 15
# how near an edge (in bins, times the bins and the largest edge in bins) a value is placed by comparing it with
# the edges: thousands of times the rounding of a value's position and of the edges themselves
_NEAR_EDGE = 1e-12


def parameter_tensors(state_dict: Mapping) -> dict[tuple[str, str], str]:
    """(layer, "weight" | "bias") -> its state_dict key, for every floating weight or bias tensor (read nothing)."""
    tensors = {}
    for key in state_dict:
        layer, _, kind = key.rpartition(".")
        if kind in ("weight", "bias") and np.issubdtype(dtype_of(state_dict, key), np.floating):
            tensors[(layer, kind)] = key
    return tensors


def once_per_tensor(function, state_dict: Mapping, tensors: dict[tuple[str, str], str], *extra: dict) -> dict:
    """(layer, kind) -> function(its values flat as float32, extra[0][(layer, kind)], ...), each tensor read when
    its turn comes and let go after (a checkpoint bigger than memory is fine), computed once for entries that
    are one tensor with equal extra arguments."""
    done, results = {}, {}
    for which, key in tensors.items():
        extras = [given[which] for given in extra]
        identity = (identity_of(state_dict, key), *(np.asarray(argument).tobytes() for argument in extras))
        if identity not in done:
            values = np.asarray(state_dict[key]).astype(np.float32, copy=False).ravel()
            done[identity] = function(values, *extras)
        results[which] = done[identity]
    return results


def _finite(values: np.ndarray) -> np.ndarray:
    return values if np.isfinite(values).all() else values[np.isfinite(values)]


def _chunks(values: np.ndarray) -> Iterator[np.ndarray]:
    """The values in pieces of 32K: float64 temporaries of 256 KB stay in the cache and malloc reuses them
    (at 512 KB each is mapped afresh, 2.5x slower), where one over a whole tensor (GPT-2's embedding: 300 MB)
    costs a page fault every 4 KB."""
    return (values[start:start + _CHUNK] for start in range(0, values.size, _CHUNK))


def _squared_deviations(values: np.ndarray, mean: float) -> float:
    """sum((x - mean)^2) in float64, as np.std sums it, but a chunk at a time: np.std makes a float64 copy of
    the whole tensor first."""
    total = 0.0
    for chunk in _chunks(values):
        deviations = np.subtract(chunk, mean, dtype=np.float64)
        total += float(np.dot(deviations, deviations))
    return total


def tensor_stats(values: np.ndarray) -> dict:
    """Summary statistics over the finite values (accumulated in float64), and how many are not finite. A
    finite float64 sum proves every value finite (NaN and Inf propagate; float32 values cannot overflow it)."""
    total = float(values.sum(dtype=np.float64))
    finite = values if np.isfinite(total) else _finite(values)
    if finite is not values:
        total = float(finite.sum(dtype=np.float64))
    if finite.size == 0:
        mean = std = low = high = np.nan
        fro_norm = 0.0
    else:
        mean = total / finite.size
        std = float(np.sqrt(_squared_deviations(finite, mean) / finite.size))
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


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram's counts on evenly spaced edges (values outside them not counted), 2x faster: each value's
    bin follows from its position, a chunk at a time, and only values within rounding of an edge are placed
    by comparing them with the edges, as np.histogram compares them all."""
    bins = len(edges) - 1
    scale = bins / (edges[-1] - edges[0])
    near = _NEAR_EDGE * (bins + max(abs(edges[0]), abs(edges[-1])) * scale)
    counts = np.zeros(bins, dtype=np.int64)
    for chunk in _chunks(values):
        if chunk.min() < edges[0] or chunk.max() > edges[-1]:
            chunk = chunk[(chunk >= edges[0]) & (chunk <= edges[-1])]
        position = np.subtract(chunk, edges[0], dtype=np.float64)
        position *= scale
        index = position.astype(np.intp)
        near_an_edge = np.abs(position - index - 0.5) > 0.5 - near
        if near_an_edge.any():
            index[near_an_edge] = np.minimum(np.searchsorted(edges, chunk[near_an_edge], side="right") - 1, bins - 1)
        counts += np.bincount(index, minlength=bins)
    return counts


def density(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Normalised density (integrates to 1) of the finite values on evenly spaced edges (bin_edges); zeros
    if there are none."""
    counts = _bin_counts(_finite(values), edges)
    total = counts.sum()
    if total == 0:
        return np.zeros(len(edges) - 1)
    return counts / (total * np.diff(edges))
