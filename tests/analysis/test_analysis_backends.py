"""The fast backend against weightwatcher 0.7.7 itself: same layers, same numbers, same eigenvalues."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from analysis.backends import AnalysisError, analyze_state_dict
from analysis_helpers import assert_backends_agree, assert_esds_agree, single_threaded, ww_details


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield
from training.model import ResNet18


def both_backends(state_dict):
    fast_rows, fast_esd, _ = analyze_state_dict(state_dict, "fast")
    ww_rows, ww_esd, _ = analyze_state_dict(state_dict, "weightwatcher")
    return fast_rows, fast_esd, ww_rows, ww_esd


def assert_same_analysis(state_dict):
    fast_rows, fast_esd, ww_rows, ww_esd = both_backends(state_dict)
    assert_backends_agree(fast_rows, ww_rows, ww_esd)
    assert_esds_agree(fast_esd, ww_esd)
    for row in fast_rows:
        assert row["num_evals"] == len(fast_esd[row["layer"]])
    return fast_rows, ww_rows


def test_resnet18_at_init():
    torch.manual_seed(0)
    rows, _ = assert_same_analysis(ResNet18(100, 3, 64).state_dict())
    # every conv and the classifier; no BatchNorm
    assert len(rows) == 21 and rows[0]["layer"] == "conv1" and rows[-1]["layer"] == "fc"
    assert {r["layer_type"] for r in rows} == {"conv2d", "dense"}


def test_resnet18_after_training():
    torch.manual_seed(1)
    model = ResNet18(10, 3, 16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    rows, _ = assert_same_analysis(model.state_dict())
    assert len(rows) == 21


def test_linear_layers_of_varied_shapes():
    torch.manual_seed(2)
    model = nn.ModuleDict({
        "tall": nn.Linear(40, 300), "wide": nn.Linear(300, 40), "square": nn.Linear(64, 64),
        "min_dim_8": nn.Linear(8, 50), "min_dim_7": nn.Linear(50, 7), "embedding": nn.Embedding(100, 16),
        "conv1d": nn.Conv1d(8, 16, 3), "norm": nn.LayerNorm(32), "one_output": nn.Linear(20, 1),
    })
    rows, _ = assert_same_analysis(model.state_dict())
    names = [r["layer"] for r in rows]
    assert names == ["tall", "wide", "square", "min_dim_8", "embedding"]
    assert {r["layer"]: (r["N"], r["M"]) for r in rows}["wide"] == (300, 40)


def test_pointwise_and_depthwise_convolutions():
    torch.manual_seed(3)
    model = nn.ModuleDict({
        "pointwise_up": nn.Conv2d(32, 64, 1), "pointwise_down": nn.Conv2d(64, 16, 1),
        "depthwise": nn.Conv2d(32, 32, 3, groups=32),  # weight (32, 1, 3, 3): 9 one-eigenvalue slices
        "depthwise_5": nn.Conv2d(24, 24, 5, groups=24),
    })
    rows, _ = assert_same_analysis(model.state_dict())
    assert {r["layer"]: r["num_evals"] for r in rows} == {
        "pointwise_up": 32, "pointwise_down": 16, "depthwise": 9, "depthwise_5": 25}


def test_layers_with_fewer_than_20_eigenvalues():
    torch.manual_seed(4)
    model = nn.ModuleDict({"linear": nn.Linear(30, 10), "conv": nn.Conv2d(1, 16, 3), "linear_12": nn.Linear(12, 40)})
    rows, _ = assert_same_analysis(model.state_dict())
    assert [r["num_evals"] for r in rows] == [10, 9, 12]


@pytest.mark.parametrize("shape", [
    (16, 32, 2, 2),   # even kernel, out < in: weightwatcher swaps N and M an even number of times
    (32, 16, 2, 2),   # even kernel, out > in
    (16, 32, 3, 3),   # odd kernel, out < in
    (2, 3, 5, 5),     # out + in < kh + kw: weightwatcher's 'channels first' branch, N and M unsorted
    (3, 2, 5, 5),
    (8, 24, 1, 3),    # rectangular kernels
    (24, 8, 3, 2),
    (2, 8, 1, 2),     # min dim * rf = 4 < 8, but weightwatcher's M is 8 here, so it is analysed: 4 eigenvalues
    (2, 2, 100, 75),  # M * rf = 15000: the largest pooled ESD weightwatcher accepts
    (2, 2, 100, 76),  # M * rf = 15200: skipped
])
def test_convolution_shapes_and_weightwatcher_dimension_quirks(shape):
    torch.manual_seed(5)
    state_dict = {"ok.weight": torch.randn(30, 20), "conv.weight": torch.randn(*shape),
                  "conv.bias": torch.randn(shape[0])}
    fast_rows, ww_rows = assert_same_analysis(state_dict)
    reference = ww_details(state_dict)
    assert [r["layer"] for r in fast_rows] == list(reference["longname"])


def test_a_layer_whose_N_exceeds_50000_is_skipped_like_weightwatcher():
    torch.manual_seed(6)
    state_dict = {"edge.weight": torch.randn(50000, 8), "over.weight": torch.randn(50001, 8)}
    rows, _ = assert_same_analysis(state_dict)
    assert [r["layer"] for r in rows] == ["edge"]


def test_a_failed_fit_matches_weightwatcher_in_both_backends():
    """Weights ~1e-4: every eigenvalue is below weightwatcher's 1e-5 threshold, so no power law is fitted;
    weightwatcher still reports the layer (alpha -1, num_pl_spikes -1) with its norm metrics."""
    torch.manual_seed(7)
    state_dict = {"ok.weight": torch.randn(30, 20), "tiny.weight": 1e-4 * torch.randn(40, 20),
                  "rank_one.weight": torch.cat([torch.zeros(39, 20), torch.ones(1, 20)])}
    fast_rows, _, _ = analyze_state_dict(state_dict, "fast")
    reference = ww_details(state_dict).set_index("longname")
    for row in fast_rows[1:]:
        expected = reference.loc[row["layer"]]
        assert (row["alpha"], row["xmin"], row["D"], row["sigma"], row["num_pl_spikes"]) == (-1, -1, -1, -1, -1)
        for key in ("lambda_max", "log_norm", "alpha_weighted", "stable_rank"):
            assert row[key] == pytest.approx(expected[key], rel=1e-6), key
    # the weightwatcher backend must report the same rows, not crash on the fit's missing xmax
    ww_rows, _, _ = analyze_state_dict(state_dict, "weightwatcher")
    assert [(r["layer"], r["num_pl_spikes"]) for r in ww_rows] == [(r["layer"], r["num_pl_spikes"]) for r in fast_rows]
    assert [r["alpha"] for r in ww_rows] == pytest.approx([r["alpha"] for r in fast_rows], rel=1e-6)
    assert all(math.isnan(r["xmax"]) for r in ww_rows[1:])


def test_an_all_zero_layer_is_reported_like_weightwatcher_not_a_crash():
    """A zero-initialised layer (common for a final classifier): weightwatcher reports it with a failed fit;
    the fast backend must not raise ZeroDivisionError (it would abort the whole run's analysis)."""
    state_dict = {"ok.weight": torch.randn(30, 20), "zero.weight": torch.zeros(40, 20)}
    reference = ww_details(state_dict).set_index("longname").loc["zero"]
    assert reference["num_pl_spikes"] == -1
    rows, _, _ = analyze_state_dict(state_dict, "fast")
    zero = {r["layer"]: r for r in rows}["zero"]
    assert (zero["alpha"], zero["num_pl_spikes"], zero["lambda_max"]) == (-1, -1, reference["lambda_max"])


def test_esds_are_the_eigenvalues_weightwatcher_fits():
    """The ESD kept by the weightwatcher backend is the one its fit used: refitting it reproduces the row."""
    torch.manual_seed(8)
    state_dict = nn.ModuleDict({"a": nn.Linear(64, 128), "b": nn.Conv2d(16, 32, 3)}).state_dict()
    reference = ww_details(state_dict).set_index("longname")
    _, fast_esd, _ = analyze_state_dict(state_dict, "fast")
    for name, evals in fast_esd.items():
        assert len(evals) == reference.loc[name, "num_evals"]
        assert evals.max() == pytest.approx(reference.loc[name, "lambda_max"], rel=1e-10)
        assert np.log10(evals.sum()) == pytest.approx(reference.loc[name, "log_norm"], rel=1e-10)


def test_finite_weights_whose_sum_overflows_are_accepted():
    # float16 sums past 65504 to inf: that alone must not make the weights non-finite
    state_dict = {"a.weight": torch.full((300, 300), 60000.0, dtype=torch.float16)}
    assert torch.isinf(state_dict["a.weight"].sum())
    rows, _, _ = analyze_state_dict(state_dict, "fast")
    assert [row["layer"] for row in rows] == ["a"]


def test_non_finite_weights_and_unknown_backends_are_refused():
    state_dict = {"a.weight": torch.randn(20, 20)}
    state_dict["a.weight"][3, 4] = float("nan")
    with pytest.raises(AnalysisError, match="a.weight"):
        analyze_state_dict(state_dict, "fast")
    state_dict["a.weight"][3, 4], state_dict["a.weight"][5, 6] = float("inf"), float("-inf")  # they sum to NaN
    with pytest.raises(AnalysisError, match="a.weight"):
        analyze_state_dict(state_dict, "fast")
    with pytest.raises(AnalysisError, match="unknown backend"):
        analyze_state_dict({"a.weight": torch.randn(20, 20)}, "numpy")
    with pytest.raises(AnalysisError, match="no analysable layer"):
        analyze_state_dict({"bn.weight": torch.ones(16), "bn.bias": torch.zeros(16)}, "fast")
