"""The event rules on planted tables with known answers (spectrascope.health.events, docs/health.md)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from spectrascope.health.events import breaking, derive_events, event_id, health_line, open_events
from spectrascope.health.rules import Match, Rules, Thresholds, rules_from_toml


def table(alphas: dict[str, list[float]], **columns: dict[str, list]) -> pd.DataFrame:
    """layers.csv's shape: one row per (epoch, layer); a layer's extra columns given per layer as lists."""
    rows = []
    for layer, values in alphas.items():
        for epoch, alpha in enumerate(values):
            if alpha is None:
                continue
            row = {"epoch": epoch, "layer": layer, "layer_type": "dense", "num_evals": 100, "alpha": alpha,
                   "D": 0.05, "stable_rank": 10.0, "lambda_max": 3.0, "rand_num_spikes": math.nan}
            for name, per_layer in columns.items():
                if layer in per_layer:
                    row[name] = per_layer[layer][epoch]
            rows.append(row)
    return pd.DataFrame(rows)


def kinds(events) -> list[tuple[int, str, str]]:
    return [(e.epoch, e.layer, e.kind) for e in events]


def test_a_layer_wavering_at_the_band_edge_raises_one_event_and_returns_past_the_margin():
    events = derive_events(table({"fc": [3.0, 1.99, 2.01, 1.98, 2.05, 2.2, 3.0]}), Rules())
    assert kinds(events) == [(1, "fc", "over-trained"), (5, "fc", "back-in-band")]
    assert events[0].severity == "warning" and events[0].value == 1.99 and events[0].threshold == 2.0


def test_an_untrained_layer_starts_above_the_band_as_info_and_a_later_rise_is_a_warning():
    events = derive_events(table({"fc": [12.0, 4.0, 7.0]}), Rules())
    assert kinds(events) == [(0, "fc", "under-trained"), (1, "fc", "back-in-band"), (2, "fc", "under-trained")]
    assert [e.severity for e in events] == ["info", "info", "warning"]


def test_a_layer_above_the_band_from_its_first_checkpoint_counts_in_the_health_line():
    """Only epoch 0 is the untrained model: an import's first checkpoint (step 10) above the band is a warning,
    and a layer above it since epoch 0 that never came back counts once training went on."""
    imported = table({"wte": [None, 7.5, 7.4, 7.3], "h.0": [None, 3.0, 3.1, 3.2]})
    (event,) = derive_events(imported, Rules())
    assert (event.epoch, event.kind, event.severity) == (1, "under-trained", "warning")
    never_learned = derive_events(table({"fc": [12.0, 9.0, 8.5], "conv": [12.0, 4.0, 3.5]}), Rules())
    assert health_line(never_learned, 0) == "healthy at epoch 0"  # the untrained model itself: expected
    assert health_line(never_learned, 2, "step") == "1 layer under-trained since step 0"


def test_a_small_n_layer_raises_no_band_or_drift_event_since_its_alpha_is_noise():
    alphas = {"small": [3.0, 1.5, 1.4, 8.0, 3.0, 3.1, 3.0, 9.0], "large": [3.0, 1.5, 1.4, 3.0, 3.0, 3.0, 3.0, 3.0]}
    events = derive_events(table(alphas, num_evals={"small": [19] * 8, "large": [20] * 8}), Rules())
    assert kinds(events) == [(1, "large", "over-trained"), (3, "large", "back-in-band")]
    lenient = Rules(thresholds=Thresholds(min_evals=10))
    assert ("small", "over-trained") in {(e.layer, e.kind) for e in derive_events(table(alphas, num_evals={
        "small": [19] * 8, "large": [20] * 8}), lenient)}


def test_drift_is_a_step_beyond_the_layers_own_recent_steps():
    steady = [4.0, 4.1, 4.0, 4.1, 4.0, 4.1, 4.0]
    events = derive_events(table({"jumps": steady + [5.2], "noisy": [3.0, 4.5, 3.0, 4.5, 3.0, 4.5, 3.0, 4.5],
                                  "calm": steady + [4.1]}), Rules())
    assert kinds(events) == [(7, "jumps", "drift")]  # noisy's 1.5 steps are its usual; calm moved 0.1
    assert events[0].value == pytest.approx(1.2) and events[0].threshold == 0.5


def test_a_failed_fit_a_poor_one_and_recovery():
    events = derive_events(table({"fc": [3.0, -1.0, 3.0, 3.0, 3.0, 3.0]},
                                 D={"fc": [0.05, -1.0, 0.05, 0.25, 0.19, 0.17]}), Rules())
    assert kinds(events) == [(1, "fc", "fit-failed"), (2, "fc", "fit-good"), (3, "fc", "poor-fit"),
                             (5, "fc", "fit-good")]  # 0.19 is within the hysteresis of 0.2


def test_traps_count_at_randomized_epochs_only_and_not_in_convs_by_default():
    spikes = [math.nan, 0, math.nan, 2, 1, 0]
    planted = table({"fc": [3.0] * 6, "conv": [3.0] * 6}, rand_num_spikes={"fc": spikes, "conv": spikes},
                    layer_type={"fc": ["dense"] * 6, "conv": ["conv2d"] * 6})
    assert kinds(derive_events(planted, Rules())) == [(3, "fc", "trap"), (5, "fc", "trap-gone")]
    with_convs = Rules(thresholds=Thresholds(traps_in_conv=True))
    assert (3, "conv", "trap") in kinds(derive_events(planted, with_convs))


def test_non_finite_values_from_the_weight_statistics_or_the_spectrum():
    planted = table({"fc": [3.0, 3.0, 3.0], "head": [3.0, 3.0, 3.0]},
                    lambda_max={"head": [3.0, math.nan, math.nan]})
    stats = pd.DataFrame([{"epoch": e, "layer": "fc", "kind": kind, "nan_count": nan, "inf_count": 0}
                          for e, nan in enumerate([0, 5, 0]) for kind in ("weight", "bias")])
    events = derive_events(planted, Rules(), stats)
    assert kinds(events) == [(1, "fc", "non-finite"), (1, "head", "non-finite"), (2, "fc", "finite-again")]
    assert events[0].severity == "critical" and events[0].value == 10


def test_a_collapsing_stable_rank():
    events = derive_events(table({"fc": [3.0] * 4}, stable_rank={"fc": [10.0, 1.2, 1.6, 2.0]}), Rules())
    assert kinds(events) == [(1, "fc", "rank-collapse"), (3, "fc", "rank-recovered")]  # 1.6 is within 0.25


def test_event_ids_are_stable_and_epochs_after_upto_wait():
    planted = table({"fc": [3.0, 1.5, 1.5, 3.0]})
    first, again = derive_events(planted, Rules()), derive_events(planted.sample(frac=1, random_state=0), Rules())
    assert [e.event_id for e in first] == [e.event_id for e in again] == [
        event_id("fc", "over-trained", 1), event_id("fc", "back-in-band", 3)]
    assert kinds(derive_events(planted, Rules(), upto=2)) == [(1, "fc", "over-trained")]


def test_open_events_and_what_check_fails_on():
    planted = table({"stays": [3.0, 1.5, 1.6], "recovers": [3.0, 1.5, 3.0], "high": [3.0, 9.0, 9.0]})
    events = derive_events(planted, Rules())
    assert kinds(open_events(events, 2)) == [(1, "stays", "over-trained"), (1, "high", "under-trained")]
    assert kinds(breaking(events, Rules(), 2)) == [(1, "stays", "over-trained")]  # default: open over-trained
    anywhere = Rules(fail=(Match(kinds=("over-trained",), layers=("rec*",), when="any"),))
    assert kinds(breaking(events, anywhere, 2)) == [(1, "recovers", "over-trained")]


def test_ignored_layers_raise_nothing_and_severities_follow_the_rules_file():
    rules = rules_from_toml('[severity]\nover-trained = "critical"\n[[ignore]]\nlayers = ["stem*"]\n', "rules.toml")
    events = derive_events(table({"stem.conv": [1.5], "fc": [1.5]}), rules)
    assert [(e.layer, e.severity) for e in events] == [("fc", "critical")]


@pytest.mark.parametrize("text, says", [
    ("[thresholds]\nbogus = 1\n", "[thresholds] bogus is not a threshold"),
    ("[thresholds]\ndrift_window = 2.5\n", "drift_window = 2.5 must be int"),
    ("[thresholds]\nover_trained_below = 7\n", "over_trained_below must be below under_trained_above"),
    ("[severity]\ntrap = \"loud\"\n", "must be one of info, warning, critical"),
    ("[[fail]]\nkinds = [\"overtrained\"]\n", "names no kind of event: 'overtrained'"),
    ("[[fail]]\nwhen = \"later\"\n", "must be \"open\" or \"any\""),
    ("[alarm]\n", "unknown section(s) alarm"),
    ("not toml =", "is not valid TOML"),
])
def test_a_bad_rules_file_is_named_with_the_key_and_what_is_allowed(text, says):
    from spectrascope.health.rules import RulesError

    with pytest.raises(RulesError, match="rules.toml") as raised:
        rules_from_toml(text, "rules.toml")
    assert says in str(raised.value)


def test_nan_weights_whose_spectrum_could_not_be_computed_still_raise_non_finite():
    """A diverged run's last checkpoint: weight_stats.csv counts its NaNs, layers.csv has no row for it."""
    layers = table({"fc": [3.0, 3.1]})
    stats = pd.DataFrame([{"epoch": e, "layer": "fc", "kind": "weight", "nan_count": n, "inf_count": 0}
                          for e, n in ((0, 0), (1, 0), (2, 640))]
                         + [{"epoch": 2, "layer": "bn", "kind": "weight", "nan_count": 8, "inf_count": 0}])
    events = derive_events(layers, Rules(), stats)
    assert kinds(events) == [(2, "fc", "non-finite")] and events[0].severity == "critical"
    assert events[0].detail == "640 NaN/Inf value(s) in its tensors"
    assert derive_events(layers, Rules(), stats, upto=1) == []  # epoch 2's events wait while it is under way
    assert breaking(events, Rules(), latest_epoch=2) == events
