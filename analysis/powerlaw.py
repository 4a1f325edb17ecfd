"""Power-law fit of an ESD's tail, the same numbers as weightwatcher 0.7.7's default fit, vectorised.

For every candidate xmin x_i (each value but the largest) with tail size k:
    alpha_i = 1 + k / (sum(ln x[i:]) - k ln x_i)
    D_i     = max_j |1 - (x_j / x_i)^(1 - alpha_i) - (j - i) / k|      (1 where alpha_i <= 1)
and the first argmin of D wins. weightwatcher computes every D_i in a Python loop (O(n^2)); here a
lower bound on each D_i (the same gap at a few sampled tail points, computed by the same expression, so
it can never exceed D_i) rules out nearly every candidate, and only the few left get their exact D.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EVALS_THRESH = 1e-5  # eigenvalues at or below this are not part of the fit
SMALL_N = 20  # below this many values weightwatcher uses its small-sample variant
SMALL_N_MIN_TAIL = 8
_BATCH = 16  # candidates whose exact D is computed together
_SAMPLE_OFFSETS = np.unique(np.concatenate([np.arange(8), np.geomspace(8, 1 << 20, 48).astype(np.int64)]))


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float
    xmin: float
    xmax: float
    D: float
    sigma: float
    num_pl_spikes: int

    @property
    def failed(self) -> bool:
        return self.num_pl_spikes < 0


# weightwatcher's values when no fit is possible (fewer than two eigenvalues above the threshold)
FAILED_FIT = PowerLawFit(alpha=-1.0, xmin=-1.0, xmax=math.nan, D=-1.0, sigma=-1.0, num_pl_spikes=-1)


def _gaps(x: np.ndarray, starts: np.ndarray, offsets: np.ndarray, alpha: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """|fitted CDF - empirical CDF| at x[starts + offsets] for each candidate (rows); 0 past the tail."""
    inside = offsets[None, :] < tail[:, None]
    index = np.minimum(starts[:, None] + offsets[None, :], len(x) - 1)
    gap = np.abs(1 - (x[index] / x[starts][:, None]) ** (-alpha[:, None] + 1) - offsets[None, :] / tail[:, None])
    return np.where(inside, gap, 0.0)


def _exact_D(x: np.ndarray, starts: np.ndarray, alpha: np.ndarray, tail: np.ndarray) -> np.ndarray:
    return _gaps(x, starts, np.arange(int(tail.max())), alpha, tail).max(axis=1)


def _candidates(x: np.ndarray, small: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """alpha, tail size and 'is a candidate' for every xmin index 0..n-2."""
    n = len(x)
    logs = np.log(x)
    tail = (n - np.arange(n - 1)).astype(np.float64)
    spread = np.cumsum(logs[::-1])[::-1][:-1] - tail * logs[:-1]  # sum(ln x[i:]) - k ln x_i
    with np.errstate(divide="ignore", invalid="ignore"):
        if not small:
            return 1 + tail / spread, tail, np.ones(n - 1, dtype=bool)
        usable = (tail >= SMALL_N_MIN_TAIL) & (spread > 1e-12)
        return np.where(usable, 1 + (tail - 1) / spread, 0.0), tail, usable


def _argmin_D(x: np.ndarray, alpha: np.ndarray, tail: np.ndarray, fitted: np.ndarray) -> tuple[int, float]:
    """First index of the smallest D, computing exact D only where the lower bound allows."""
    lower = np.ones(len(alpha))
    idx = np.flatnonzero(fitted)
    lower[idx] = _gaps(x, idx, _SAMPLE_OFFSETS[_SAMPLE_OFFSETS < len(x)], alpha[idx], tail[idx]).max(axis=1)
    exact = {}
    best = math.inf
    order = np.argsort(lower, kind="stable")
    for start in range(0, len(order), _BATCH):
        batch = order[start:start + _BATCH]
        batch = batch[lower[batch] <= best]
        if batch.size == 0:
            break  # sorted by bound: everything after is ruled out too
        values = np.ones(batch.size)  # D is 1 where alpha <= 1
        live = fitted[batch]
        if live.any():
            values[live] = _exact_D(x, batch[live], alpha[batch[live]], tail[batch[live]])
        exact.update(zip(batch.tolist(), values.tolist()))
        best = min(best, float(values.min()))
    return min(i for i, d in exact.items() if d == best), best


def fit_power_law(evals: np.ndarray) -> PowerLawFit:
    """Fit the tail of sorted eigenvalues `evals` (all of them; the threshold is applied here)."""
    x = np.sort(evals[evals > EVALS_THRESH]).astype(np.float64)
    n = len(x)
    if n < 2:
        return FAILED_FIT
    small = n < SMALL_N
    alpha, tail, usable = _candidates(x, small)
    fitted = usable & (alpha > 1)
    sigma = (alpha - 1) / np.sqrt(tail)
    if small:
        i, D, alpha_i = _small_n_choice(x, alpha, tail, fitted)
    else:
        i, D = _argmin_D(x, alpha, tail, fitted)
        alpha_i = alpha[i]
    xmin = x[i]
    return PowerLawFit(float(alpha_i), float(xmin), float(x[-1]), float(D), float(sigma[i]),
                       int(np.count_nonzero(evals >= xmin)))


def _small_n_choice(x: np.ndarray, alpha: np.ndarray, tail: np.ndarray, fitted: np.ndarray) -> tuple[int, float, float]:
    """weightwatcher's small-sample path: tails under 8 are no candidates and alpha uses k - 1. When no
    candidate is left it fits the whole set as one tail (updating alpha and D of index 0, not sigma)."""
    D = np.ones(len(alpha))
    idx = np.flatnonzero(fitted)
    if idx.size:
        D[idx] = _exact_D(x, idx, alpha[idx], tail[idx])
    alpha = alpha.copy()
    if not idx.size:
        n = len(x)
        spread = np.sum(np.log(x)) - n * np.log(x[0])
        if spread > 1e-12:
            alpha[0] = 1 + (n - 1) / spread
            D[0] = _exact_D(x, np.array([0]), alpha[:1], np.array([float(n)]))[0]
    i = int(np.argmin(D))
    return i, float(D[i]), float(alpha[i])
