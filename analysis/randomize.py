"""Randomized-ESD comparison (weightwatcher's `randomize=True`): correlation traps.

Shuffling a weight matrix's entries destroys its learned correlations; eigenvalues of the shuffled
matrix that still stand out of the Marchenko-Pastur bulk are "correlation traps". Same procedure and
formulas as weightwatcher 0.7.7:
- rand_evals: ESD of the shuffled matrices (5 replicas pooled when the layer has < 100 eigenvalues);
  max_rand_eval is its largest value;
- rand_distance: Jensen-Shannon distance between the sorted ESD and one shuffled replica's (weightwatcher
  draws a fresh replica for it; we use the first one already drawn, an equally random draw);
- rand_num_spikes: eigenvalues of rand_evals (rescaled to unit mean) above the fitted MP bulk edge
  plus its Tracy-Widom margin, sigma fitted by a brute-force grid search against a kernel density;
- rand_bulk_edge (ours): that edge plus margin in the ESD's own units, so a plot can draw it over rand_evals
  and mark the spikes above it (weightwatcher's rand_bulk_max is the edge alone, without the margin).
weightwatcher refits the (sigma-independent) kernel density at each of ~200 grid points; here it is
fitted once per layer, and shuffles and eigenvalues are batched: the same numbers, far faster.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats
from sklearn.neighbors import KernelDensity

from analysis.layers import LayerMatrices
from analysis.spectrum import eigenvalues

RANDOMIZE_COLUMNS = ("max_rand_eval", "rand_distance", "rand_num_spikes", "rand_bulk_edge")
_DENSITY_FLOOR = 0.01  # grid points where the kernel density is below this are left out of the fit
_BANDWIDTH = 0.1


def shuffled_eigenvalues(layer: LayerMatrices, replicas: int, rng: np.random.Generator,
                         device: str = "cpu") -> list[np.ndarray]:
    """The sorted ESD of each of `replicas` copies of the layer, each matrix's entries shuffled on its own."""
    stack = layer.matrices
    flat = stack.reshape(stack.shape[0], -1)
    return [eigenvalues(LayerMatrices(layer.name, layer.layer_type, layer.N, layer.M, layer.rf,
                                      rng.permuted(flat, axis=1).reshape(stack.shape)), device)
            for _ in range(replicas)]


def _mp_residual(sigma, grid: np.ndarray, density: np.ndarray, Q: float) -> float:
    """Sum of squared differences between the MP (or quarter-circle, Q = 1) density and the kernel density."""
    if Q == 1:
        with np.errstate(invalid="ignore"):
            curve = np.nan_to_num((1 / (np.pi * sigma * sigma)) * np.sqrt(4 - grid ** 2))
        return float(np.sum((curve - density) ** 2))
    y = 1 / Q
    b = np.power(sigma * (1 + np.sqrt(1 / Q)), 2)
    a = np.power(sigma * (1 - np.sqrt(1 / Q)), 2)
    peak = grid[np.where(density == density.max())][0]
    if (b < peak) | (b > grid.max()) | (a > peak):
        return 1000.0 ** 2 * len(density)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.nan_to_num((1 / (2 * np.pi * sigma * sigma * grid * y)) * np.sqrt((b - grid) * (grid - a)))
    return float(np.sum((curve - density) ** 2))


def fit_mp_sigma(values: np.ndarray, Q: float) -> float:
    """weightwatcher's fit_density_with_range: grid search over sigma (polished by fmin)."""
    scale = np.sqrt(np.max(values) / np.square(1 + 1 / np.sqrt(Q)))
    to_fit = np.sqrt(values) if Q == 1 else values
    kde = KernelDensity(kernel="linear", bandwidth=_BANDWIDTH).fit(to_fit.reshape(-1, 1))
    grid = np.linspace(0, np.max(to_fit) + 0.5, 1000)
    density = np.exp(kde.score_samples(grid[:, None]))
    keep = density > _DENSITY_FLOOR
    best = optimize.brute(_mp_residual, (slice(0.05 * scale, 2.0 * scale, 0.01 * scale),),
                          args=(grid[keep], density[keep], Q), full_output=True)
    return float(best[0][0])


def mp_spikes(values: np.ndarray, N: int, M: int) -> tuple[int, float]:
    """The eigenvalues above the MP bulk edge + Tracy-Widom margin (fitted after rescaling to unit mean), and
    that threshold in the units of `values`; -1 and NaN where no bulk can be fitted (an all-zero matrix), as
    weightwatcher gives -1 where its mp_fit fails."""
    total = np.sum(values)
    if not np.isfinite(total) or total <= 0:
        return -1, float("nan")
    scale = len(values) / total
    scaled = values * scale
    sigma = fit_mp_sigma(scaled, N / M)
    edge = with_tracy_widom((sigma * (1 + 1 / np.sqrt(N / M))) ** 2, N, M)
    return int(np.count_nonzero(scaled > edge)), float(edge / scale)


def with_tracy_widom(bulk_max: float, N: int, M: int) -> float:
    """The MP bulk edge of a unit-mean ESD plus weightwatcher's Tracy-Widom margin: spikes lie above it."""
    return float(bulk_max + np.sqrt(1 / np.sqrt(N / M) * np.power(bulk_max, 2 / 3) * np.power(M, -2 / 3)))


def randomized_metrics(layer: LayerMatrices, evals: np.ndarray, rng: np.random.Generator,
                       device: str = "cpu") -> tuple[dict, np.ndarray]:
    """The RANDOMIZE_COLUMNS of the layer, and rand_evals: the ESD they were measured on, to draw."""
    replicas = shuffled_eigenvalues(layer, 5 if layer.M * layer.rf < 100 else 1, rng, device)  # weightwatcher's rule
    rand_evals, one_replica = np.sort(np.concatenate(replicas)), replicas[0]
    spikes, edge = mp_spikes(rand_evals, layer.N, layer.M)
    distance = float(np.sqrt((stats.entropy(evals, (evals + one_replica) / 2)
                              + stats.entropy(one_replica, (evals + one_replica) / 2)) / 2))
    metrics = {"max_rand_eval": float(np.max(rand_evals)), "rand_distance": distance, "rand_num_spikes": spikes,
               "rand_bulk_edge": edge}
    return metrics, rand_evals
