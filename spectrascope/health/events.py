"""Layer-health events from a run's tables: pure, so the analysis, the page, the report and `check` derive the
same events from the same tables.

Each layer walks its analysed epochs in order through one small state machine per family of kinds
(rules.FAMILIES); an event is raised where a state is entered, so a layer that stays out of the band raises
one event, not one per epoch, and the band's hysteresis keeps 1.99, 2.01, 1.98 one event too. The rules,
with their default thresholds, are in docs/health.md."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spectrascope.health.bands import fitted
from spectrascope.health.rules import FAMILY_OF, RESOLVING, Rules, severity_rank
from spectrascope.wording import counted


@dataclass(frozen=True)
class Event:
    event_id: str  # the same for the same (layer, kind, epoch) whoever derives it, however often
    epoch: int  # or step, in a run numbered by step
    layer: str
    kind: str
    severity: str
    value: float  # what crossed the threshold: alpha, its change, D, spikes, stable rank, NaN/Inf count
    threshold: float
    detail: str  # one line a person reads

    def row(self) -> dict:
        return dict(vars(self))  # asdict() deep-copies each field: 2/3 of the Health tab's time on 3,500 events


def event_id(layer: str, kind: str, epoch: int) -> str:
    return hashlib.blake2b(f"{layer}\0{kind}\0{epoch}".encode(), digest_size=8).hexdigest()


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class _Layer:
    """One layer's states as its epochs are walked, and the events it raised."""

    def __init__(self, name: str, rules: Rules):
        self.name, self.rules, self.t = name, rules, rules.thresholds
        self.band: str | None = None
        self.fit: str | None = None
        self.trapped: bool | None = None  # None until the first epoch that says
        self.collapsed: bool | None = None
        self.non_finite: bool | None = None
        self.alphas: list[float] = []
        self.events: list[Event] = []

    def raise_event(self, epoch: int, kind: str, value: float, threshold: float, detail: str,
                    first: bool = False) -> None:
        if self.rules.ignored(kind, self.name):
            return
        severity = self.rules.severity[kind]
        if first and epoch == 0 and kind == "under-trained" and severity_rank(severity) > severity_rank("info"):
            severity = "info"  # the untrained model (epoch 0) starts above the band: expected, not news
        self.events.append(Event(event_id(self.name, kind, epoch), epoch, self.name, kind, severity,
                                 float(value), float(threshold), detail))

    def step(self, epoch: int, row: dict, non_finite: float) -> None:
        self._finite(epoch, _number(row.get("lambda_max")), non_finite)
        alpha, num_evals = _number(row.get("alpha")), _number(row.get("num_evals"))
        self._fit(epoch, alpha, _number(row.get("D")), num_evals)
        if fitted(alpha) and not num_evals < self.t.min_evals:  # a small-n fit's alpha is noise
            self._band(epoch, alpha)
            self._drift(epoch, alpha)
        self._trap(epoch, _number(row.get("rand_num_spikes")), str(row.get("layer_type", "")))
        self._rank(epoch, _number(row.get("stable_rank")))

    def non_finite_only(self, epoch: int, non_finite: float) -> None:
        """An epoch with NaN/Inf weights whose spectral analysis failed (layers.csv has no row for it)."""
        self._finite(epoch, math.nan, non_finite)

    def _band(self, epoch: int, alpha: float) -> None:
        t, was = self.t, self.band
        low, high, margin = t.over_trained_below, t.under_trained_above, t.band_hysteresis
        if alpha < low:
            now = "over-trained"
        elif alpha > high:
            now = "under-trained"
        elif was == "over-trained" and alpha < low + margin or was == "under-trained" and alpha > high - margin:
            now = was  # not far enough back inside the band yet
        else:
            now = "healthy"
        if now == was:
            return
        self.band = now
        if now == "over-trained":
            self.raise_event(epoch, now, alpha, low, f"alpha {alpha:.3g} < {low:g}", first=was is None)
        elif now == "under-trained":
            self.raise_event(epoch, now, alpha, high, f"alpha {alpha:.3g} > {high:g}", first=was is None)
        elif was is not None:
            bound = low + margin if was == "over-trained" else high - margin
            self.raise_event(epoch, "back-in-band", alpha, bound, f"alpha {alpha:.3g} back in {low:g}–{high:g}")

    def _drift(self, epoch: int, alpha: float) -> None:
        t = self.t
        self.alphas.append(alpha)
        if len(self.alphas) < t.drift_window + 2:
            return
        steps = np.diff(self.alphas[-(t.drift_window + 2):])
        history, change = steps[:-1], steps[-1]
        allowed = max(t.drift_min_change, t.drift_sigmas * float(np.sqrt(np.mean(history ** 2))))
        if abs(change) > allowed:
            self.raise_event(epoch, "drift", change, allowed,
                             f"alpha moved {change:+.3g} in one step (allowed ±{allowed:.3g} from the last "
                             f"{t.drift_window})")

    def _fit(self, epoch: int, alpha: float, D: float, num_evals: float) -> None:
        t, was = self.t, self.fit
        if not fitted(alpha):
            now = "failed"
        elif num_evals >= t.min_evals and (D > t.poor_fit_D_above or was == "poor" and D > t.poor_fit_D_above
                                           - t.fit_hysteresis):
            now = "poor"
        else:
            now = "good"
        if now == was:
            return
        self.fit = now
        if now == "failed":
            self.raise_event(epoch, "fit-failed", alpha, 0, "no power law fitted")
        elif now == "poor":
            self.raise_event(epoch, "poor-fit", D, t.poor_fit_D_above, f"fit's D {D:.3g} > {t.poor_fit_D_above:g}")
        elif was is not None:
            self.raise_event(epoch, "fit-good", D, t.poor_fit_D_above, f"fitted again, D {D:.3g}")

    def _switched(self, state: str, now: bool) -> bool | None:
        """True or False when the yes/no `state` turns on or off (a layer starting off is no change), else None."""
        was = getattr(self, state)
        setattr(self, state, now)
        return None if now == was or (was is None and not now) else now

    def _trap(self, epoch: int, spikes: float, layer_type: str) -> None:
        t = self.t
        if math.isnan(spikes) or (layer_type == "conv2d" and not t.traps_in_conv):
            return  # not randomized at this epoch, or a conv's pooled count
        switched = self._switched("trapped", spikes >= t.trap_min_spikes)
        if switched:
            self.raise_event(epoch, "trap", spikes, t.trap_min_spikes,
                             f"{spikes:.0f} eigenvalue(s) of the shuffled weights above the MP bulk edge")
        elif switched is False:
            self.raise_event(epoch, "trap-gone", spikes, t.trap_min_spikes,
                             "no eigenvalue of the shuffled weights above the MP bulk edge")

    def _rank(self, epoch: int, stable_rank: float) -> None:
        t = self.t
        if math.isnan(stable_rank):
            return
        bound = t.rank_collapse_below + (t.rank_hysteresis if self.collapsed else 0)
        switched = self._switched("collapsed", stable_rank < bound)
        if switched:
            self.raise_event(epoch, "rank-collapse", stable_rank, t.rank_collapse_below,
                             f"stable rank {stable_rank:.3g} < {t.rank_collapse_below:g}")
        elif switched is False:
            self.raise_event(epoch, "rank-recovered", stable_rank, bound, f"stable rank {stable_rank:.3g}")

    def _finite(self, epoch: int, lambda_max: float, non_finite: float) -> None:
        """Non-finite: NaN/Inf counted in the layer's tensors (weight_stats.csv), or a NaN/Inf spectrum."""
        switched = self._switched("non_finite", non_finite > 0 or not math.isfinite(lambda_max))
        if switched:
            detail = f"{non_finite:.0f} NaN/Inf value(s) in its tensors" if non_finite else "its spectrum is NaN/Inf"
            self.raise_event(epoch, "non-finite", non_finite, 0, detail)
        elif switched is False:
            self.raise_event(epoch, "finite-again", 0, 0, "all its values are finite again")


NO_SPECTRUM = "_no_spectrum"  # marks a row made from weight_stats.csv alone


def _non_finite_counts(stats: pd.DataFrame | None) -> dict[tuple[int, str], float]:
    """(epoch, layer) -> NaN + Inf values in the layer's weight and bias."""
    if stats is None or stats.empty or "nan_count" not in stats:
        return {}
    bad = stats.assign(bad=stats["nan_count"].fillna(0) + stats["inf_count"].fillna(0))
    return {(int(e), str(layer)): float(n) for (e, layer), n in bad.groupby(["epoch", "layer"])["bad"].sum().items()}


def derive_events(layers: pd.DataFrame, rules: Rules, stats: pd.DataFrame | None = None,
                  upto: int | None = None) -> list[Event]:
    """Every event of the run's layers table (and its weight statistics, for NaN/Inf), by epoch then layer order;
    only epochs up to `upto` when given (an analysis under way: a later epoch's events wait for the earlier ones)."""
    if layers.empty:
        return []
    if upto is not None:
        layers = layers[layers["epoch"] <= upto]
    non_finite = _non_finite_counts(stats)
    rows = layers.to_dict("records")
    analysed = {(int(row["epoch"]), str(row["layer"])) for row in rows}
    names = {name for _, name in analysed}
    rows += [{"epoch": epoch, "layer": name, NO_SPECTRUM: True} for (epoch, name), count in non_finite.items()
             if count > 0 and name in names and (epoch, name) not in analysed and (upto is None or epoch <= upto)]
    walkers: dict[str, _Layer] = {}
    for row in sorted(rows, key=lambda row: int(row["epoch"])):
        name, epoch = str(row["layer"]), int(row["epoch"])
        walker = walkers.get(name) or walkers.setdefault(name, _Layer(name, rules))
        if row.get(NO_SPECTRUM):  # a checkpoint so far gone that no spectrum could be computed: its NaN/Inf
            walker.non_finite_only(epoch, non_finite[(epoch, name)])
        else:
            walker.step(epoch, row, non_finite.get((epoch, name), 0.0))
    order = {name: i for i, name in enumerate(layers["layer"].unique())}
    found = [event for walker in walkers.values() for event in walker.events]
    return sorted(found, key=lambda e: (e.epoch, order[e.layer]))


def latest_epoch(layers: pd.DataFrame, events: list[Event]) -> int:
    """The epoch a run's health is told at: its last analysed, or a later one whose weights went NaN/Inf so
    far that no spectrum could be computed (it has events but no rows)."""
    return max([int(layers["epoch"].max())] + [event.epoch for event in events])


def open_events(events: list[Event], latest_epoch: int) -> list[Event]:
    """The events whose state still holds at `latest_epoch`: for each layer and family its last event, unless
    that one resolved it (back in band, trap gone, ...); a drift, a one-step event, only at `latest_epoch`."""
    last: dict[tuple[str, str], Event] = {}
    for event in events:
        last[(event.layer, FAMILY_OF[event.kind])] = event
    return [event for event in last.values()
            if event.kind not in RESOLVING and (event.kind != "drift" or event.epoch == latest_epoch)]


def breaking(events: list[Event], rules: Rules, latest_epoch: int) -> list[Event]:
    """The events a `[[fail]]` rule matches (what `spectrascope check` fails on): for `when = "open"`, only
    while their state still holds at `latest_epoch`."""
    still = {event.event_id for event in open_events(events, latest_epoch)}
    return [event for event in events if any(
        rule.matches(event.kind, event.layer) and (rule.when == "any" or event.event_id in still)
        for rule in rules.fail)]


STATE_WORDS = {"trap": "trapped", "drift": "drifting", "fit-failed": "with no fit", "poor-fit": "poorly fitted",
               "rank-collapse": "with collapsed rank", "non-finite": "NaN/Inf"}


def counted_events(events: list[Event], latest_epoch: int) -> list[Event]:
    """What a run's health line counts: warnings and worse that still hold at `latest_epoch`, and every layer
    still out of the band, one above it since the untrained model (epoch 0, an info event) from epoch 1 on."""
    return [e for e in open_events(events, latest_epoch) if severity_rank(e.severity) >= severity_rank("warning")
            or e.kind in ("over-trained", "under-trained") and e.epoch < latest_epoch]


def health_line(events: list[Event], latest_epoch: int, unit: str = "epoch") -> str:
    """What a run's health is at its latest epoch (counted_events), in words for its line in the run picker:
    "3 layers over-trained since epoch 12 · 1 trap since epoch 4", or "healthy at epoch 20"."""
    still = counted_events(events, latest_epoch)
    if not still:
        return f"healthy at {unit} {latest_epoch}"
    parts = []
    for kind in dict.fromkeys(e.kind for e in sorted(still, key=lambda e: e.epoch)):
        found = [e for e in still if e.kind == kind]
        since = "at" if kind == "drift" else "since"
        parts.append(f"{counted(len(found), 'layer')} {STATE_WORDS.get(kind, kind)} {since} {unit} "
                     f"{min(e.epoch for e in found)}")
    return " · ".join(parts)
