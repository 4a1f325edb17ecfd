"""One row of analysis/layers.csv (columns: spectrascope.runs.LAYER_COLUMNS): a layer's ESD summarised as
weightwatcher summarises it."""
from __future__ import annotations

import numpy as np

from analysis.powerlaw import PowerLawFit
from spectrascope.health.bands import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE


def warning_for(alpha: float, failed: bool = False) -> str:
    if failed:
        return "fit-failed"
    if alpha < OVER_TRAINED_BELOW:
        return "over-trained"
    if alpha > UNDER_TRAINED_ABOVE:
        return "under-trained"
    return ""


def layer_row(layer: str, layer_type: str, N: int, M: int, evals: np.ndarray, fit: PowerLawFit) -> dict:
    """Norm metrics use every eigenvalue; alpha, xmin, D, sigma and the tail come from the fit.
    An all-zero layer gets NaN/-inf norms, as weightwatcher reports it, not an error."""
    total, lambda_max = np.sum(evals), np.max(evals)  # numpy scalars: 0/0 is NaN, log10(0) is -inf
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "layer": layer, "layer_type": layer_type, "N": N, "M": M, "num_evals": len(evals),
            "alpha": fit.alpha, "alpha_weighted": float(fit.alpha * np.log10(lambda_max)), "xmin": fit.xmin,
            "xmax": fit.xmax, "D": fit.D, "sigma": fit.sigma, "num_pl_spikes": fit.num_pl_spikes,
            "lambda_max": float(lambda_max), "log_norm": float(np.log10(total)),
            "log_spectral_norm": float(np.log10(lambda_max)), "stable_rank": float(total / lambda_max),
            "warning": warning_for(fit.alpha, fit.failed),
        }
