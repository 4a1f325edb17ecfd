"""Figure builders: pure functions from tables and arrays to plotly figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

import figures as builders
from helpers import Plotted

figures = Plotted(builders)  # each figure checked against plotly's schema and read as a go.Figure


def _layers(alpha: dict[tuple[int, str], float]) -> pd.DataFrame:
    rows = [{"epoch": epoch, "layer": layer, "alpha": value,
             "warning": "over-trained" if 0 < value < 2 else "under-trained" if value > 6 else ""}
            for (epoch, layer), value in alpha.items()]
    return pd.DataFrame(rows)


def test_empty_figure_says_why_and_hides_axes():
    figure = figures.empty("nothing here yet")
    assert figure.layout.annotations[0].text == "nothing here yet"
    assert figure.layout.xaxis.visible is False and not figure.data


def test_a_long_message_is_wrapped_not_clipped():
    path = "runs/" + "x" * 120 + "/metrics.csv"
    figure = figures.empty(f"{path} cannot be read ({'word ' * 40}); restore it")
    lines = figure.layout.annotations[0].text.split("<br>")
    assert len(lines) > 2 and lines[0] == path  # a long path is kept whole on a line of its own
    assert all(len(line) <= figures.MESSAGE_WIDTH for line in lines[1:])


def test_training_curves_plot_train_and_test_and_skip_empty_cells():
    metrics = pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [np.nan, 1.0, 0.5], "train_acc": [np.nan, 0.5, 0.7],
                            "test_loss": [2.3, 1.1, 0.6], "test_acc": [0.1, 0.6, 0.8], "lr": [np.nan, 0.1, 0.01]})
    figure = figures.training_curves(metrics)
    by_name = {(trace.name, trace.xaxis): trace for trace in figure.data}
    assert list(by_name[("train", "x")].x) == [1, 2]          # epoch 0 has no training numbers
    assert list(by_name[("test", "x")].y) == [0.1, 0.6, 0.8]
    assert list(by_name[("lr", "x3")].y) == [0.1, 0.01]


def test_histogram_bars_sit_on_the_fixed_bins():
    edges = np.linspace(-1, 1, 5)
    figure = figures.histogram(edges, np.array([0.1, 0.4, 0.4, 0.1]), title="w", log_y=True)
    bar = figure.data[0]
    assert np.allclose(bar.x, [-0.75, -0.25, 0.25, 0.75]) and np.allclose(bar.width, 0.5)
    assert figure.layout.yaxis.type == "log"
    assert tuple(figure.layout.xaxis.range) == (-1.0, 1.0)


def test_ridge_has_one_ridge_per_epoch_oldest_on_top_and_highlights_the_current_epoch():
    edges = np.linspace(0, 1, 11)
    densities = np.random.default_rng(0).random((4, 10))
    figure = figures.ridge(edges, densities, [0, 1, 2, 3], current=2, title="w")
    assert [trace.name for trace in figure.data] == ["epoch 0", "epoch 1", "epoch 2", "epoch 3"]
    baselines = [min(trace.y) for trace in figure.data]
    assert baselines == sorted(baselines, reverse=True)      # epoch 0 highest
    widths = [trace.line.width for trace in figure.data]
    assert widths[2] > max(widths[:2] + widths[3:])


def test_esd_draws_the_fitted_power_law_over_the_tail_only():
    rng = np.random.default_rng(1)
    eigenvalues = np.sort(rng.pareto(2.5, 500) + 1)
    fit = {"alpha": 3.5, "xmin": float(eigenvalues[300]), "num_pl_spikes": 200, "D": 0.05}
    figure = figures.esd(eigenvalues, fit, title="layer1.0.conv1 · epoch 3")
    law = next(trace for trace in figure.data if trace.name.startswith("power law"))
    assert law.x[0] == pytest.approx(fit["xmin"]) and law.x[-1] == pytest.approx(eigenvalues[-1])
    # the line is the tail's share of a normalised power-law density
    expected = 200 / 500 * 2.5 / fit["xmin"] * (np.asarray(law.x) / fit["xmin"]) ** -3.5
    assert np.allclose(law.y, expected)
    assert any(trace.name.startswith("xmin=") for trace in figure.data)
    assert "α = 3.500" in figure.layout.title.text and "tail = 200 of 500" in figure.layout.title.text
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"


def test_esd_of_a_failed_fit_shows_the_density_without_a_law():
    figure = figures.esd(np.array([0.5, 1.0, 2.0]), {"alpha": -1, "xmin": -1, "num_pl_spikes": -1}, title="fc")
    assert [trace.name for trace in figure.data] == ["ESD"]
    assert "fit failed" in figure.layout.title.text


def test_alpha_colourscale_bands_break_at_2_and_6():
    scale = figures.alpha_colourscale()
    low, high = figures.ALPHA_COLOUR_RANGE
    positions = {colour: [p * (high - low) + low for p, c in scale if c == colour] for _, colour in scale}
    assert positions[figures.OVER_TRAINED_COLOUR] == [0.0, 2.0]
    assert positions[figures.UNDER_TRAINED_COLOUR] == [6.0, 10.0]


def test_alpha_heatmap_keeps_network_order_exact_values_and_blanks_failed_fits():
    layers = _layers({(0, "conv1"): 7.5, (0, "fc"): 1.5, (1, "conv1"): 3.25, (1, "fc"): -1.0, (0, "head"): 14.0})
    heatmap = figures.alpha_heatmap(layers).data[0]
    assert list(heatmap.y) == ["conv1", "fc", "head"] and list(heatmap.x) == [0, 1]
    z = np.array(heatmap.z, dtype=float)
    assert z[0, 0] == 7.5 and z[0, 1] == 3.25 and z[1, 0] == 1.5 and np.isnan(z[1, 1])  # the fit that failed
    assert np.isnan(z[2, 1])  # not analysed
    assert z[2, 0] == 14.0 and heatmap.zmax == 10  # the exact alpha in the hover; the colour is the top band's
    assert "%{z:.4f}" in heatmap.hovertemplate and heatmap.hoverongaps is False  # blank cells say nothing


def test_alpha_summary_averages_only_fitted_layers():
    layers = _layers({(0, "a"): 3.0, (0, "b"): 5.0, (1, "a"): 2.0, (1, "b"): -1.0})
    metrics = pd.DataFrame({"epoch": [0, 1], "test_acc": [0.1, 0.9]})
    mean, accuracy = figures.alpha_summary(layers, metrics).data
    assert list(mean.y) == [4.0, 2.0] and list(accuracy.y) == [0.1, 0.9]


def test_figures_serialise_small():
    """Pre-binned data only: a 100-bin histogram is a few KB of JSON, not megabytes."""
    edges = np.linspace(-1, 1, 101)
    densities = np.random.default_rng(2).random((41, 100))
    size = len(pio.to_json(figures.ridge(edges, densities, list(range(41)), current=40, title="w")))
    assert size < 300_000


def test_a_long_run_s_ridge_shows_at_most_max_ridges_epochs_and_always_the_current_one():
    edges = np.linspace(0, 1, 11)
    epochs = list(range(500))
    figure = figures.ridge(edges, np.ones((500, 10)), epochs, current=333, title="w")
    names = [trace.name for trace in figure.data]
    assert len(names) <= figures.MAX_RIDGES + 1 and {"epoch 0", "epoch 333", "epoch 499"} <= set(names)


def test_training_curves_draw_what_a_user_s_metrics_file_has():
    figure = figures.training_curves(pd.DataFrame({"epoch": [0, 1], "test_acc": [0.1, 0.5]}))
    assert [trace.name for trace in figure.data] == ["test"]


def test_a_language_model_s_loss_keeps_its_own_range_and_a_few_steps_get_a_tick_each():
    logged = pd.DataFrame({"epoch": [10, 20, 30, 40], "train_loss": [6.84, 6.83, 6.82, 6.81], "lr": [1e-3] * 4})
    figure = figures.training_curves(logged, unit="step")
    panels = [note.text for note in figure.layout.annotations]
    assert panels == ["Loss", "Learning rate"]
    assert figure.layout.yaxis.rangemode == "normal" and figure.layout.yaxis2.rangemode == "tozero"
    assert list(figure.layout.xaxis.tickvals) == [10, 20, 30, 40]  # not 5, 15, ... on the heatmap cells' borders
    many = figures.training_curves(pd.DataFrame({"epoch": range(0, 500, 10), "train_loss": 1.0}), unit="step")
    assert many.layout.xaxis.tickvals is None  # plotly's own ticks once there are many


def test_a_histogram_clipped_to_its_bulk_says_its_tails_are_off_the_axis():
    edges = np.linspace(-1, 1, 101)
    density = np.r_[0.001, np.zeros(48), np.full(2, 40.0), np.zeros(48), 0.001]
    clipped = figures.histogram(edges, density, title="t", x_range=builders.bulk_range(edges, density))
    assert "off the axis" in clipped.layout.xaxis.title.text
    assert figures.histogram(edges, density, title="t").layout.xaxis.title.text == "value"


def test_a_log_y_histogram_has_decade_ticks_and_shows_every_non_empty_bin():
    edges = np.linspace(-1, 1, 6)
    density = np.array([0.0, 0.004, 39.411682096338296, 39.411682096338296, 2.5])
    figure = figures.histogram(edges, density, title="t", log_y=True)
    axis = figure.layout.yaxis
    assert axis.type == "log" and axis.dtick == 1 and axis.exponentformat == "power"
    assert axis.range[0] < np.log10(0.004) and axis.range[1] > np.log10(39.42)  # the smallest bar is a bar
    heights = np.asarray(figure.data[0].y, dtype=float)
    assert np.isnan(heights[0]) and heights[2] == heights[3]  # an empty bin is no bar; equal bins, equal bars
    linear = figures.histogram(edges, density, title="t")
    assert linear.layout.yaxis.type in (None, "linear") and list(linear.data[0].y) == list(density)


def test_the_accuracy_axis_beside_mean_alpha_has_round_ticks_from_0_to_100_percent():
    layers = pd.DataFrame({"epoch": [0, 1], "layer": ["fc", "fc"], "alpha": [3.0, 4.0], "warning": ["", ""]})
    metrics = pd.DataFrame({"epoch": [0, 1], "test_acc": [0.1, 0.93]})
    axis = figures.alpha_summary(layers, metrics).layout.yaxis2
    assert list(axis.tickvals) == [0, 0.2, 0.4, 0.6, 0.8, 1.0] and axis.tickformat == ".0%"
    assert axis.range[0] < 0 and axis.range[1] > 1  # 0% and 100% points are drawn whole


def test_an_esd_of_too_few_eigenvalues_draws_no_fitted_line_and_says_why():
    eigenvalues = np.geomspace(0.1, 10, 9)
    fit = {"alpha": 2.5, "xmin": 1.0, "num_pl_spikes": 5, "D": 0.1}
    figure = figures.esd(eigenvalues, fit, title="conv1")
    assert [trace.name for trace in figure.data] == ["ESD"]
    assert "only 9 eigenvalues: too few for a meaningful power-law fit" in figure.layout.annotations[0].text
    assert figure.layout.xaxis.tickmode == figure.layout.yaxis.tickmode == "array"  # 1, 2, 5 a decade
    many = figures.esd(np.geomspace(0.1, 10, 40), fit, title="layer1")
    assert [trace.name for trace in many.data][1].startswith("power law")


def test_the_view_follows_the_bulk_of_the_values_not_a_few_outliers():
    edges = np.linspace(-30, 30, 601)  # fixed bins stretched by outliers at +-30
    centres = (edges[:-1] + edges[1:]) / 2
    bulk = np.exp(-centres ** 2 / 2)
    bulk[[0, -1]] = 1e-4  # a handful of outliers at both ends
    densities = np.stack([bulk, bulk * 0.9])
    low, high = figures.bulk_range(edges, densities)
    assert -5 < low < -2.5 and 2.5 < high < 5  # the bulk, not +-30
    ridge = figures.ridge(edges, densities, [0, 1], current=1, title="t")
    assert list(ridge.layout.xaxis.range) == [low, high]
    single = figures.histogram(edges, densities[1], title="t", x_range=[low, high])
    assert list(single.layout.xaxis.range) == [low, high] and len(single.data[0].x) == 600  # the bins stay


def test_the_ridge_gives_every_epoch_room():
    edges, epochs = np.linspace(-1, 1, 21), list(range(21))
    ridge = figures.ridge(edges, np.random.default_rng(0).random((21, 20)), epochs, current=3, title="t")
    assert ridge.layout.height >= 21 * 30


def _integral(trace) -> float:
    """Area under a density drawn at the geometric centres of log bins of one width."""
    centres = np.asarray(trace.x, dtype=float)
    ratio = np.exp(np.diff(np.log(centres)).min())
    return float(np.sum(np.asarray(trace.y) * centres * (ratio - 1) / np.sqrt(ratio)))


def test_the_shuffled_weights_esd_is_drawn_over_the_real_one_on_the_same_bins():
    rng = np.random.default_rng(3)
    eigenvalues = np.sort(rng.pareto(2.5, 500) + 1)
    randomized = np.sort(rng.uniform(0.5, 4.0, 2500))  # a bulk reaching below the ESD, its largest value 4
    fit = {"alpha": 3.5, "xmin": float(eigenvalues[300]), "num_pl_spikes": 200, "D": 0.05}
    figure = figures.esd(eigenvalues, fit, title="fc · epoch 3", randomized=randomized)
    traces = {trace.name: trace for trace in figure.data}
    real, shuffled = traces["ESD"], traces["randomized (shuffled weights)"]
    steps = np.diff(np.log(np.concatenate([real.x, shuffled.x])))
    step = np.diff(np.log(real.x)).min()
    assert np.allclose(np.round(steps / step), steps / step)  # both on one grid of log bins
    assert min(shuffled.x) < min(real.x) and _integral(real) == pytest.approx(1) == _integral(shuffled)
    largest = traces[f"largest shuffled λ={randomized[-1]:.4g}"]
    assert list(largest.x) == [randomized[-1]] * 2 and max(largest.y) >= max(shuffled.y)
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "log"


def test_the_mp_bulk_edge_is_drawn_with_each_trap_above_it_marked():
    rng = np.random.default_rng(4)
    eigenvalues = np.sort(rng.pareto(2.5, 500) + 1)
    randomized = np.sort(np.concatenate([rng.uniform(0.5, 4.0, 500), [9.0, 12.0]]))  # two spikes out of the bulk
    fit = {"alpha": 3.5, "xmin": float(eigenvalues[300]), "num_pl_spikes": 200, "rand_bulk_edge": 4.2,
           "rand_num_spikes": 2}
    traces = {trace.name: trace for trace in figures.esd(eigenvalues, fit, title="fc", randomized=randomized).data}
    edge, traps = traces["MP bulk edge λ=4.2"], traces["2 correlation traps"]
    assert list(edge.x) == [4.2, 4.2] and list(traps.x) == [9.0, 12.0]
    assert max(edge.y) >= max(traces["ESD"].y) and min(traps.y) <= min(traces["ESD"].y)  # spans, and marks below
    quiet = figures.esd(eigenvalues, {**fit, "rand_bulk_edge": 20.0}, title="fc", randomized=randomized).data
    assert [t.name for t in quiet if "MP" in t.name or "trap" in t.name] == ["MP bulk edge λ=20: no trap"]
    older = figures.esd(eigenvalues, {**fit, "rand_bulk_edge": float("nan")}, title="fc", randomized=randomized).data
    assert not [t for t in older if "MP" in t.name]  # a run randomized before the edge was kept: no line


def test_an_esd_without_shuffled_eigenvalues_draws_only_the_real_one():
    names = [trace.name for trace in figures.esd(np.geomspace(0.1, 10, 40), {}, title="fc").data]
    assert names == ["ESD"]


def test_alpha_heatmap_marks_the_cells_with_correlation_traps():
    layers = _layers({(0, "0"): 3.0, (0, "2"): 4.0, (1, "0"): 3.5, (1, "2"): 5.0}).assign(
        rand_num_spikes=[0, 3, np.nan, 1])
    heatmap, traps = figures.alpha_heatmap(layers).data
    assert list(heatmap.y) == ["0", "2"]  # the layer axis stays categorical: "2" is a name
    assert list(zip(traps.x, traps.y)) == [(0, "2"), (1, "2")] and traps.name == "correlation trap"
    assert list(traps.text) == ["correlation trap: 3 spikes in the randomized ESD",
                                "correlation trap: 1 spike in the randomized ESD"]
    assert list(traps.customdata) == ["4.0000", "5.0000"]  # the hover the marker takes from its cell
    assert traps.marker.symbol == "x-thin" and traps.showlegend


def test_a_conv_s_trap_marker_says_it_raises_no_health_event():
    layers = _layers({(0, "conv1"): 3.0, (0, "fc"): 4.0}).assign(rand_num_spikes=[2, 1],
                                                                   layer_type=["conv2d", "dense"])
    _, traps = figures.alpha_heatmap(layers).data
    assert "not a health event unless traps_in_conv" in traps.text[0] and "health event" not in traps.text[1]


def test_alpha_heatmap_without_correlation_traps_has_no_markers():
    layers = _layers({(0, "fc"): 3.0, (1, "fc"): 4.0})
    assert len(figures.alpha_heatmap(layers).data) == 1  # analysed without --randomize
    assert len(figures.alpha_heatmap(layers.assign(rand_num_spikes=[0, 0])).data) == 1


def test_a_mean_alpha_that_barely_moves_is_drawn_flat_not_zoomed_into_rounding_noise():
    layers = pd.DataFrame({"epoch": [0, 1, 2], "layer": ["fc"] * 3, "alpha": [5.3, 5.3 + 1e-15, 5.3],
                           "warning": [""] * 3})
    low, high = figures.alpha_summary(layers, pd.DataFrame()).layout.yaxis.range
    assert high - low >= 0.5 and low < 5.3 < high
    moving = layers.assign(alpha=[2.0, 4.0, 6.0])
    low, high = figures.alpha_summary(moving, pd.DataFrame()).layout.yaxis.range
    assert low < 2.0 and high > 6.0 and high - low < 5.0  # a real change keeps most of the height


def test_the_alpha_heatmap_separates_blocks_of_layers_but_not_the_layers_of_a_sequential():
    names = ["transformer.wpe", "transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_fc",
             "transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_fc", "lm_head"]
    layers = pd.DataFrame({"epoch": 0, "layer": names, "alpha": 3.0, "warning": ""})
    lines = figures.alpha_heatmap(layers).layout.shapes
    assert [line.y0 for line in lines] == [0.5, 2.5, 4.5]  # before h.0, before h.1, before the head
    assert figures.block_of("layer2.1.conv1") == "layer2.1" and figures.block_of("fc") == "fc"
    sequential = pd.DataFrame({"epoch": 0, "layer": ["0", "2", "4"], "alpha": 3.0, "warning": ""})
    assert figures.alpha_heatmap(sequential).layout.shapes == ()


def test_the_mean_alpha_figure_has_an_accuracy_axis_only_where_the_run_recorded_accuracy():
    layers = pd.DataFrame({"epoch": [0, 1], "layer": ["fc", "fc"], "alpha": [3.0, 4.0], "warning": ["", ""]})
    recorded = pd.DataFrame({"epoch": [0, 1], "test_acc": [0.1, 0.6]})
    with_accuracy = figures.alpha_summary(layers, recorded)
    assert [trace.name for trace in with_accuracy.data] == ["mean alpha", "test accuracy"]
    assert with_accuracy.layout.yaxis2.title.text == "test accuracy"
    for metrics in (pd.DataFrame(), recorded.assign(test_acc=np.nan)):  # imported; a loop that logged none
        alone = figures.alpha_summary(layers, metrics)
        assert [trace.name for trace in alone.data] == ["mean alpha"] and "yaxis2" not in alone.layout


def test_runs_that_record_a_loss_but_no_accuracy_are_compared_on_the_loss_alone():
    """A language model's runs log a test loss and no accuracy: no empty accuracy panel on a made-up axis."""
    losses = {run_id: pd.DataFrame({"epoch": [0, 500, 1000], "test_acc": [np.nan] * 3, "test_loss": [3.0, 2.5, 2.2]})
              for run_id in ("a", "b")}
    curves = figures.training_overlay(losses, "step")
    assert [note.text for note in curves.layout.annotations] == ["Test loss"]
    assert [(trace.name, trace.xaxis) for trace in curves.data] == [("a", "x"), ("b", "x")]
    assert curves.layout.xaxis.title.text == "step" and curves.layout.yaxis.tickformat is None
    with_accuracy = {**losses, "c": losses["a"].assign(test_acc=[0.1, 0.5, 0.6])}
    both = figures.training_overlay(with_accuracy, "step")
    assert [note.text for note in both.layout.annotations] == ["Test accuracy", "Test loss"]
    assert both.layout.yaxis.tickformat == ".0%" and [trace.name for trace in both.data if trace.xaxis == "x"] == ["c"]


def test_log_ticks_thin_out_when_an_esd_or_a_played_window_spans_many_decades():
    narrow = figures.esd(np.geomspace(0.05, 5, 200), {}, title="fc")
    ticks = dict(zip(narrow.layout.xaxis.tickvals, narrow.layout.xaxis.ticktext))
    assert [ticks[v] for v in (0.05, 0.1, 0.2, 0.5, 5.0)] == ["0.05", "0.1", "0.2", "0.5", "5"]  # whole numbers
    wide = figures.esd(np.geomspace(1e-3, 1e9, 200), {}, title="fc")  # 12 decades: 36 labels would overlap
    assert wide.layout.xaxis.dtick == 1 and wide.layout.xaxis.exponentformat == "power"
    played = builders.share_log_axes([builders.esd(np.geomspace(0.5, 50, 200), {}, title="fc"),
                                      builders.esd(np.geomspace(1e-3, 1e9, 200), {}, title="fc")])
    shared = played[0]["layout"]["xaxis"]  # the narrow frame shown on the wide shared range
    assert shared["dtick"] == 1 and shared["tickmode"] == "linear" and shared["tickvals"] is None


def test_every_kind_of_event_has_its_hover_words():
    from figures.health import VALUE_HOVER
    from spectrascope.health.rules import KINDS

    assert set(VALUE_HOVER) == set(KINDS)


def test_a_language_model_s_step_curves_draw_only_the_panels_it_logged_and_say_step():
    """An imported Trainer run: loss and learning rate by step, no accuracy panel left empty."""
    metrics = pd.DataFrame({"epoch": [2, 4, 6], "train_loss": [4.3, 4.2, 4.1], "test_loss": [None, 4.25, None],
                            "lr": [1e-3, 5e-4, 1e-4], "train_acc": [None] * 3, "test_acc": [None] * 3})
    figure = figures.training_curves(metrics, unit="step")
    layout = figure["layout"]
    assert [note["text"] for note in layout["annotations"]] == ["Loss", "Learning rate"]
    assert layout["xaxis"]["title"]["text"] == layout["xaxis2"]["title"]["text"] == "step"
    assert "xaxis3" not in layout
    assert [(trace["name"], trace["xaxis"]) for trace in figure["data"]] == [("train", "x"), ("test", "x"),
                                                                             ("lr", "x2")]
    summary = figures.alpha_summary(pd.DataFrame({"epoch": [2, 4], "alpha": [3.0, 3.5]}), metrics, "step")
    assert summary["data"][1]["name"] == summary["layout"]["yaxis2"]["title"]["text"] == "test loss"
    assert list(summary["data"][1]["x"]) == [4]


LLAMA_KINDS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
               "mlp.up_proj", "mlp.down_proj"]


def llama_layers(blocks: int = 4, epochs=(0, 10)) -> pd.DataFrame:
    """layers.csv rows of a Llama's names: its embedding, `blocks` blocks of seven matrices, its head."""
    names = ["model.embed_tokens"] + [f"model.layers.{b}.{kind}" for b in range(blocks) for kind in LLAMA_KINDS] \
        + ["lm_head"]
    return pd.DataFrame([{"epoch": epoch, "layer": name, "alpha": 2.0 + index % 7 + epoch / 10}
                         for epoch in epochs for index, name in enumerate(names)])


def test_the_repeated_stack_and_its_matrix_kinds_come_from_the_module_names():
    stacked = builders.stack_of(list(llama_layers()["layer"].unique()))
    assert len(stacked) == 28 and stacked["model.layers.3.mlp.down_proj"] == (3, "mlp.down_proj")
    gpt2 = [f"transformer.h.{b}.{kind}" for b in range(3) for kind in ("attn.c_attn", "mlp.c_fc")]
    kinds = {place.kind for place in builders.stack_of(["transformer.wte", *gpt2]).values()}
    assert kinds == {"attn.c_attn", "mlp.c_fc"}
    resnet = ["conv1", "layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.1.conv1", "fc"]
    assert builders.stack_of(resnet) == {}  # two blocks a stage: no depth to draw
    assert builders.stack_of(["0", "2", "4"]) == {}  # an nn.Sequential's numbers are layers, not blocks


def test_alpha_by_depth_draws_a_line_per_matrix_kind_over_the_blocks():
    layers = llama_layers()
    depth = figures.alpha_by_depth(layers, 10)
    assert [trace.name for trace in depth.data] == LLAMA_KINDS
    down = depth.data[-1]
    assert list(down.x) == [0, 1, 2, 3] and depth.layout.xaxis.title.text == "block"
    expected = layers[(layers["epoch"] == 10) & layers["layer"].str.endswith("down_proj")]["alpha"]
    assert np.allclose(down.y, expected.to_numpy()) and "at epoch 10" in depth.layout.title.text
    resnet = pd.DataFrame({"epoch": 0, "layer": ["layer1.0.conv1", "fc"], "alpha": 3.0})
    assert "needs a model of at least 3 repeated blocks" in figures.alpha_by_depth(resnet, 0).layout.annotations[0].text


def test_the_heatmap_groups_its_rows_by_matrix_kind_on_request():
    layers = llama_layers(blocks=3)
    grouped = figures.alpha_heatmap(layers, by_kind=True)
    rows = list(grouped.data[0].y)
    assert rows[:3] == [f"model.layers.{b}.self_attn.q_proj" for b in range(3)]
    assert rows[-2:] == ["model.embed_tokens", "lm_head"]  # outside the stack, after it
    assert len(grouped.layout.shapes) == 7 + 1  # a line after each kind's rows, and between the two others
    assert list(figures.alpha_heatmap(layers).data[0].y)[1] == "model.layers.0.self_attn.q_proj"  # network order
