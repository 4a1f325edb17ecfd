"""analysis.powerlaw.fit_power_law against weightwatcher's own fit (WW_powerlaw.WWFit) on many spectra."""
import numpy as np
import pytest

from analysis.powerlaw import fit_power_law
from analysis_helpers import EVALS_THRESH, assert_near_tie, single_threaded, ww_fit, ww_fit_powerlaw


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield

FIELDS = ("alpha", "xmin", "D", "sigma", "num_pl_spikes")


def ours(evals):
    with np.errstate(all="ignore"):
        fit = fit_power_law(np.sort(evals))
    return {"alpha": fit.alpha, "xmin": fit.xmin, "D": fit.D, "sigma": fit.sigma, "num_pl_spikes": fit.num_pl_spikes}


def reference(evals):
    """WWFit on the values above the threshold; num_pl_spikes as weightwatcher counts it (all evals >= xmin)."""
    fit = ww_fit(evals)
    return {"alpha": fit.alpha, "xmin": fit.xmin, "D": fit.D, "sigma": fit.sigma,
            "num_pl_spikes": int(np.count_nonzero(evals >= fit.xmin))}


def differing(a: dict, b: dict, rtol=1e-6) -> list[str]:
    return [k for k in FIELDS if not np.isclose(a[k], b[k], rtol=rtol, atol=0, equal_nan=True)]


def assert_fits_agree(spectra: list[np.ndarray]) -> None:
    """All fields within 1e-6 on at least 99% of spectra; the rest must be near-ties of weightwatcher's D."""
    bad = []
    for evals in spectra:
        a, b = ours(evals), reference(evals)
        keys = differing(a, b)
        if keys:
            bad.append((evals, a, b, keys))
    assert len(spectra) - len(bad) >= 0.99 * len(spectra), f"{len(bad)} of {len(spectra)} fits differ: {bad[:3]}"
    for evals, a, b, keys in bad:
        assert_near_tie(evals, a, b, keys)


def marchenko_pastur(rng, n, aspect=2.0, scale=1.0):
    """Squared singular values of an (aspect*n) x n Gaussian matrix."""
    W = rng.standard_normal((max(int(aspect * n), n), n)) * scale
    return np.linalg.svd(W, compute_uv=False) ** 2


def test_marchenko_pastur_spectra():
    rng = np.random.default_rng(0)
    spectra = [marchenko_pastur(rng, n, aspect, scale)
               for n in (20, 21, 33, 64, 150, 512) for aspect in (1.0, 1.5, 4.0) for scale in (0.01, 1.0)]
    assert_fits_agree(spectra)


def test_heavy_tailed_spectra():
    rng = np.random.default_rng(1)
    spectra = [rng.pareto(shape, n) + 1 for n in (20, 25, 100, 400, 1500) for shape in (0.5, 1.0, 2.0, 4.0)]
    # a Marchenko-Pastur bulk with a few large outliers, like a trained layer
    spectra += [np.concatenate([marchenko_pastur(rng, n), 50 * (rng.pareto(1.5, 5) + 1)]) for n in (40, 300)]
    # squared singular values of a Student-t matrix: a heavy-tailed ESD
    spectra += [np.linalg.svd(rng.standard_t(2.5, (3 * n, n)), compute_uv=False) ** 2 for n in (50, 200)]
    assert_fits_agree(spectra)


def test_a_large_spectrum():
    """Big enough that the pruned search skips most candidates (the ESD size of a wide conv layer)."""
    rng = np.random.default_rng(2)
    assert_fits_agree([marchenko_pastur(rng, 1500, 1.3), rng.pareto(1.8, 4000) + 1, rng.lognormal(0, 1.5, 5000)])


@pytest.mark.parametrize("n", range(2, 20))
def test_small_n_uses_weightwatchers_small_sample_fit(n):
    rng = np.random.default_rng(100 + n)
    spectra = [rng.pareto(2.0, n) + 1, marchenko_pastur(rng, n), rng.lognormal(0, 2, n), np.arange(1.0, n + 1)]
    assert_fits_agree(spectra)


def test_exactly_20_values_uses_the_standard_fit():
    rng = np.random.default_rng(3)
    spectra = [rng.pareto(2.0, 20) + 1 for _ in range(10)] + [marchenko_pastur(rng, 20) for _ in range(10)]
    assert_fits_agree(spectra)


def test_duplicated_values():
    rng = np.random.default_rng(4)
    spectra = [
        np.full(5, 3.0), np.full(12, 2.0), np.full(19, 2.0), np.full(20, 2.0), np.full(60, 0.5),
        np.repeat(rng.pareto(2, 9) + 1, 2), np.repeat(rng.pareto(2, 30) + 1, 3),
        np.round(rng.pareto(1.5, 80) + 1, 1), rng.integers(1, 5, 40).astype(float),
        rng.integers(1, 4, 12).astype(float),
        np.concatenate([rng.pareto(2, 40) + 1, np.full(10, 100.0)]),  # a block of equal top values
        np.concatenate([np.full(30, 0.5), rng.pareto(2, 30) + 1]),   # a block of equal bottom values
    ]
    assert_fits_agree(spectra)


def test_values_at_or_below_the_threshold_are_not_fitted_but_count_nowhere():
    rng = np.random.default_rng(5)
    tail = rng.pareto(2, 50) + 1
    evals = np.concatenate([np.zeros(20), np.full(5, EVALS_THRESH), rng.uniform(0, EVALS_THRESH, 10), tail])
    assert_fits_agree([evals])
    assert ours(evals) == pytest.approx(ours(tail))


def test_the_whole_fit_matches_weightwatchers_fit_powerlaw():
    """weightwatcher's fit_powerlaw (what analyze() calls): threshold, fit and num_pl_spikes together."""
    rng = np.random.default_rng(6)
    for evals in (marchenko_pastur(rng, 80), rng.pareto(1.2, 300) + 1, np.arange(1.0, 12.0), np.array([1.0, 2.0])):
        expected = ww_fit_powerlaw(evals)
        got = ours(evals)
        assert differing(got, expected) == [], (got, expected)


@pytest.mark.parametrize("evals", [
    np.array([]), np.array([4.0]), np.array([0.0, 0.0, 3.0]), np.array([1e-7, EVALS_THRESH, 2.0]), np.zeros(30),
], ids=["empty", "one", "one-above", "threshold-is-excluded", "all-zero"])
def test_fewer_than_two_values_above_the_threshold_is_a_failed_fit(evals):
    with np.errstate(all="ignore"):
        fit = fit_power_law(evals)
    assert fit.failed
    expected = ww_fit_powerlaw(evals)
    assert expected["status"] == "failed"
    assert (fit.alpha, fit.xmin, fit.D, fit.sigma, fit.num_pl_spikes) == (
        expected["alpha"], expected["xmin"], expected["D"], expected["sigma"], expected["num_pl_spikes"]) == (
        -1, -1, -1, -1, -1)


def test_two_values_above_the_threshold_are_fitted():
    fit = fit_power_law(np.array([0.0, 1.0, 2.0]))
    assert not fit.failed and fit.num_pl_spikes >= 1
    assert fit.xmax == 2.0
