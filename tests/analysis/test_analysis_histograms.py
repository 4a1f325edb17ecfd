"""Weight statistics and histogram counts, computed a chunk at a time: NumPy's numbers, edge cases included."""
import numpy as np
import pytest

from analysis.histograms import bin_edges, density, tensor_stats


def on_and_beside_every_edge(edges: np.ndarray) -> np.ndarray:
    """float32 values exactly on each edge and one step either side, where rounding decides the bin."""
    on = edges.astype(np.float32)
    return np.concatenate([on, np.nextafter(on, np.float32(-np.inf)), np.nextafter(on, np.float32(np.inf))])


@pytest.mark.parametrize("scale, offset, bins", [(1.0, 0.0, 100), (1e-4, 1.0, 100), (30.0, -7.0, 7), (1e-7, 0.0, 1),
                                                 (0.02, 300.0, 100)])  # far from 0: the edges' rounding counts
def test_densities_are_numpys_for_values_on_beside_and_outside_the_edges(scale, offset, bins):
    rng = np.random.default_rng(bins)
    values = (offset + scale * rng.standard_t(3, 100_000)).astype(np.float32)
    edges = bin_edges(float(values.min()), float(values.max()), bins)
    narrower = bin_edges(float(np.quantile(values, 0.2)), float(np.quantile(values, 0.8)), bins)
    for tensor_edges in (edges, narrower):  # narrower: a fifth of the values outside on each side
        tested = np.concatenate([values, on_and_beside_every_edge(tensor_edges), [np.nan, np.inf]]).astype(np.float32)
        finite = tested[np.isfinite(tested)]
        expected, _ = np.histogram(finite, bins=bins, range=(tensor_edges[0], tensor_edges[-1]), density=True)
        np.testing.assert_allclose(density(tested, tensor_edges), expected, rtol=1e-12, atol=0)  # one value off: 1e-5


def test_statistics_are_numpys_in_float64_over_the_finite_values():
    rng = np.random.default_rng(0)
    for values in (rng.standard_normal(200_000).astype(np.float32) * 0.02 + 5,  # mean far above std
                   np.full(70_000, 1.0, np.float32),  # a LayerNorm weight at init: std exactly 0
                   np.array([1.0, np.nan, 2.0, np.inf, -np.inf, 4.0], np.float32)):
        finite = values[np.isfinite(values)].astype(np.float64)
        stats = tensor_stats(values)
        assert stats["count"] == values.size
        assert (stats["nan_count"], stats["inf_count"]) == (np.isnan(values).sum(), np.isinf(values).sum())
        for key, expected in (("mean", finite.mean()), ("std", finite.std()), ("min", finite.min()),
                              ("max", finite.max()), ("fro_norm", np.linalg.norm(finite))):
            assert stats[key] == pytest.approx(expected, rel=1e-12, abs=1e-15), key


def test_a_value_on_an_edge_counts_in_the_bin_above_it_and_the_last_edge_in_the_last_bin():
    edges = np.linspace(-1.0, 1.0, 5)  # -1, -0.5, 0, 0.5, 1: every edge a float32
    values = np.array([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0], np.float32)
    np.testing.assert_allclose(density(values, edges) * np.diff(edges) * values.size, [1, 1, 2, 2])
