"""analysis.metrics.layer_row: the norm metrics and the training-quality warning, as weightwatcher defines them."""
import math

import numpy as np
import pytest

from analysis.histograms import bin_edges, density, once_per_tensor, parameter_tensors, tensor_stats
from analysis.metrics import layer_row, warning_for
from analysis.powerlaw import FAILED_FIT, PowerLawFit, fit_power_law
from analysis.randomize import RANDOMIZE_COLUMNS
from analysis_helpers import single_threaded, weightwatcher, ww_fit_powerlaw
from spectrascope.runs.tables import LAYER_COLUMNS


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield


def fit_with_alpha(alpha: float) -> PowerLawFit:
    return PowerLawFit(alpha=alpha, xmin=1.0, xmax=9.0, D=0.1, sigma=0.2, num_pl_spikes=5)


@pytest.fixture
def evals():
    rng = np.random.default_rng(0)
    return np.sort(np.linalg.svd(rng.standard_normal((120, 40)), compute_uv=False) ** 2)


def test_norm_metrics(evals):
    fit = fit_power_law(evals)
    row = layer_row("fc", "dense", 120, 40, evals, fit)
    assert row["num_evals"] == 40
    assert row["lambda_max"] == pytest.approx(evals.max(), rel=1e-15)
    assert row["log_norm"] == pytest.approx(math.log10(evals.sum()), rel=1e-12)
    assert row["log_spectral_norm"] == pytest.approx(math.log10(evals.max()), rel=1e-12)
    assert row["stable_rank"] == pytest.approx(evals.sum() / evals.max(), rel=1e-12)
    assert row["alpha_weighted"] == pytest.approx(fit.alpha * math.log10(evals.max()), rel=1e-12)


def test_norm_metrics_use_every_eigenvalue_not_only_the_fitted_tail(evals):
    """Eigenvalues below the fit threshold still count in the norms."""
    padded = np.concatenate([np.zeros(10), np.full(5, 1e-7), evals])
    row, plain = layer_row("x", "dense", 1, 1, padded, fit_power_law(padded)), layer_row(
        "x", "dense", 1, 1, evals, fit_power_law(evals))
    assert row["num_evals"] == len(evals) + 15
    assert row["log_norm"] == pytest.approx(math.log10(evals.sum() + 5e-7), rel=1e-12)
    assert row["alpha"] == plain["alpha"] and row["num_pl_spikes"] == plain["num_pl_spikes"]


def test_fit_fields_are_copied_from_the_fit(evals):
    fit = fit_power_law(evals)
    row = layer_row("fc", "dense", 120, 40, evals, fit)
    assert (row["alpha"], row["xmin"], row["xmax"], row["D"], row["sigma"], row["num_pl_spikes"]) == (
        fit.alpha, fit.xmin, fit.xmax, fit.D, fit.sigma, fit.num_pl_spikes)
    assert row["xmax"] == evals.max()


def test_row_has_the_layers_csv_columns(evals):
    row = layer_row("fc", "dense", 120, 40, evals, fit_power_law(evals))
    assert set(row) <= set(LAYER_COLUMNS) and set(LAYER_COLUMNS) - set(row) == {"epoch", "tied_to", *RANDOMIZE_COLUMNS}


@pytest.mark.parametrize("alpha", [1.0, 1.999, 2.0, 3.5, 6.0, 6.001, 12.0])
def test_warning_thresholds_are_weightwatchers(alpha, evals):
    constants = weightwatcher().constants
    row = layer_row("fc", "dense", 120, 40, evals, fit_with_alpha(alpha))
    expected = (constants.OVER_TRAINED if alpha < constants.OVER_TRAINED_THRESH
                else constants.UNDER_TRAINED if alpha > constants.UNDER_TRAINED_THRESH else "")
    assert row["warning"] == expected


def test_warning_matches_weightwatchers_on_real_fits():
    rng = np.random.default_rng(1)
    spectra = [rng.pareto(a, 200) + 1 for a in (0.3, 0.8, 1.5, 3.0, 6.0, 9.0)]
    spectra += [np.linalg.svd(rng.standard_normal((300, 100)), compute_uv=False) ** 2]
    warnings = set()
    for evals in spectra:
        expected = ww_fit_powerlaw(evals)
        assert warning_for(fit_power_law(evals).alpha) == expected["warning"]
        warnings.add(expected["warning"])
    assert warnings == {"over-trained", "under-trained", ""}  # every branch was exercised


def test_a_failed_fit_is_flagged_and_weighted_by_alpha_minus_one(evals):
    row = layer_row("fc", "dense", 120, 40, evals, FAILED_FIT)
    assert row["warning"] == "fit-failed"
    assert row["alpha"] == -1 and row["num_pl_spikes"] == -1
    assert row["alpha_weighted"] == pytest.approx(-math.log10(evals.max()))


def test_histogram_counts_equal_a_search_of_the_edges_even_for_values_on_an_edge():
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1.0, 50.0):
        values = (rng.standard_t(3, 200_000) * scale).astype(np.float32)
        edges = bin_edges(float(values.min()), float(values.max()), 100)
        values = np.concatenate([values, edges.astype(np.float32), edges[[0, -1]].astype(np.float32), [np.nan]])
        inside = values[(values >= edges[0]) & (values <= edges[-1])]
        searched = np.bincount(np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, 99), minlength=100)
        expected = searched / (searched.sum() * np.diff(edges))
        assert np.array_equal(density(values, edges), expected)


def test_tied_weights_are_counted_once_and_reported_under_each_name(tmp_path):
    """A head tied to its token embedding (GPT-2) is one tensor under two names: counted once, as torch.save
    and the run's reader keep it one storage; an equal but separate copy is counted on its own."""
    import torch

    from spectrascope.checkpoints import load_arrays

    embedding = torch.randn(300, 16)
    torch.save({"wte.weight": embedding, "lm_head.weight": embedding, "copy.weight": embedding.clone()},
               tmp_path / "tied.pt")
    state_dict = load_arrays(tmp_path / "tied.pt")
    tensors = parameter_tensors(state_dict)
    calls = []
    stats = once_per_tensor(lambda values: calls.append(values.size) or tensor_stats(values), state_dict, tensors)
    assert set(stats) == {("wte", "weight"), ("lm_head", "weight"), ("copy", "weight")}
    assert stats[("wte", "weight")] == stats[("lm_head", "weight")] == stats[("copy", "weight")]
    assert calls == [4800, 4800]  # the tied pair once, the copy once
    edges = {key: bin_edges(-5.0, 5.0, 10) for key in tensors}
    densities = once_per_tensor(density, state_dict, tensors, {**edges, ("copy", "weight"): bin_edges(-6.0, 6.0, 10)})
    assert np.array_equal(densities[("wte", "weight")], densities[("lm_head", "weight")])
    assert not np.array_equal(densities[("wte", "weight")], densities[("copy", "weight")])  # other edges
