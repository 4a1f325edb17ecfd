"""What counts as an event, how severe each kind is, what `spectrascope check` fails on and what no one is told
of: one small TOML file (docs/health.md), the same for the analysis, the alerts, the page and `check`.

Every key is optional; a file names only what it changes:

    [thresholds]
    over_trained_below = 2.0
    [severity]
    poor-fit = "warning"
    [[fail]]                 # check fails on events these match (none given: DEFAULT_FAIL)
    kinds = ["over-trained", "trap"]
    layers = ["*"]           # globs on the layer name
    when = "open"            # "open": still so at the layer's latest epoch; "any": at any epoch
    [[ignore]]               # events dropped everywhere
    kinds = ["*"]
    layers = ["conv1"]
    [alerts]
    min_severity = "warning"
"""
from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from spectrascope import settings
from spectrascope.errors import UserError
from spectrascope.health.bands import OVER_TRAINED_BELOW, UNDER_TRAINED_ABOVE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEVERITIES = ("info", "warning", "critical")

# kind -> (default severity, what it means); the order is the page's
KINDS = {
    "over-trained": ("warning", "alpha fell below the healthy band"),
    "under-trained": ("warning", "alpha rose above the healthy band (info at a layer's first epoch: an "
                                 "untrained layer is expected there)"),
    "back-in-band": ("info", "alpha came back into the healthy band, past the hysteresis margin"),
    "drift": ("warning", "alpha moved more in one step than the layer's recent steps explain"),
    "trap": ("warning", "the shuffled weights' ESD has eigenvalues above its Marchenko-Pastur bulk edge"),
    "trap-gone": ("info", "a correlation trap is gone"),
    "fit-failed": ("info", "no power law could be fitted"),
    "poor-fit": ("info", "the power-law fit's KS distance D rose above its threshold"),
    "fit-good": ("info", "the fit is good again"),
    "rank-collapse": ("warning", "the stable rank fell below its threshold: one direction dominates"),
    "rank-recovered": ("info", "the stable rank recovered"),
    "non-finite": ("critical", "the layer's weights or spectrum hold NaN or Inf"),
    "finite-again": ("info", "the layer's values are finite again"),
}
# kind -> the state it enters; the kinds of one family close each other ("open" events, check's `when`)
FAMILIES = {
    "band": ("over-trained", "under-trained", "back-in-band"), "drift": ("drift",), "trap": ("trap", "trap-gone"),
    "fit": ("fit-failed", "poor-fit", "fit-good"), "rank": ("rank-collapse", "rank-recovered"),
    "finite": ("non-finite", "finite-again"),
}
RESOLVING = {"back-in-band", "trap-gone", "fit-good", "rank-recovered", "finite-again"}
FAMILY_OF = {kind: family for family, kinds in FAMILIES.items() for kind in kinds}


class RulesError(UserError):
    """A rules file that cannot be used; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Thresholds:
    """How events are derived (docs/health.md gives each rule)."""

    over_trained_below: float = OVER_TRAINED_BELOW
    under_trained_above: float = UNDER_TRAINED_ABOVE
    band_hysteresis: float = 0.1  # alpha must come this far back inside the band to count as back
    drift_window: int = 5  # the steps of history a step's change is held against
    drift_sigmas: float = 3.0  # a change beyond this many RMS of those steps' changes...
    drift_min_change: float = 0.5  # ...and beyond this much alpha is drift
    min_evals: int = 20  # layers with fewer eigenvalues raise no band, drift or poor-fit event (small-n fits)
    poor_fit_D_above: float = 0.2
    fit_hysteresis: float = 0.02
    trap_min_spikes: int = 1
    traps_in_conv: bool = False  # a conv's pooled kernel slices differ in scale: its count is not traps
    rank_collapse_below: float = 1.5
    rank_hysteresis: float = 0.25


@dataclass(frozen=True)
class Match:
    """Events of these kinds on layers matching these globs; `when` "open" (still so at the layer's latest
    epoch) or "any"."""

    kinds: tuple[str, ...] = ("*",)
    layers: tuple[str, ...] = ("*",)
    when: str = "any"

    def matches(self, kind: str, layer: str) -> bool:
        return (any(fnmatch.fnmatchcase(kind, k) for k in self.kinds)
                and any(fnmatch.fnmatchcase(layer, glob) for glob in self.layers))


DEFAULT_FAIL = (Match(kinds=("over-trained", "trap"), when="open"), Match(kinds=("non-finite",), when="any"))


@dataclass(frozen=True)
class Rules:
    thresholds: Thresholds = field(default_factory=Thresholds)
    severity: dict[str, str] = field(default_factory=lambda: {kind: s for kind, (s, _) in KINDS.items()})
    fail: tuple[Match, ...] = DEFAULT_FAIL
    ignore: tuple[Match, ...] = ()
    alert_min_severity: str = "warning"
    source: str = "the default rules"

    def ignored(self, kind: str, layer: str) -> bool:
        return any(match.matches(kind, layer) for match in self.ignore)


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def _problem(source: str, where: str, what: str) -> RulesError:
    return RulesError(f"{source}: {where} {what}")


def _thresholds(table: dict, source: str) -> Thresholds:
    defaults = Thresholds()
    values, known = {}, [f.name for f in fields(Thresholds)]
    for name, value in table.items():
        if name not in known:
            raise _problem(source, f"[thresholds] {name}", f"is not a threshold; known: {', '.join(known)}")
        wanted = type(getattr(defaults, name))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (wanted is bool) != isinstance(value, bool) or wanted is not bool and (
                not number or wanted is int and value != int(value)):
            raise _problem(source, f"[thresholds] {name} = {value!r}", f"must be {wanted.__name__}")
        if wanted is not bool and value < 0:
            raise _problem(source, f"[thresholds] {name} = {value!r}", "must not be negative")
        values[name] = wanted(value)
    thresholds = replace(defaults, **values)
    if not thresholds.over_trained_below < thresholds.under_trained_above:
        raise _problem(source, "[thresholds]", "over_trained_below must be below under_trained_above")
    return thresholds


def _strings(value, where: str, source: str) -> tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _problem(source, where, "must be a string or a list of strings")
    return tuple(value)


def _matches(entries, section: str, source: str, default_when: str) -> tuple[Match, ...]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _problem(source, f"[[{section}]]", "must be an array of tables")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"[[{section}]] #{number}"
        unknown = set(entry) - {"kinds", "layers", "when"}
        if unknown:
            raise _problem(source, where, f"has unknown key(s) {', '.join(sorted(unknown))}; use kinds, layers, when")
        kinds = _strings(entry.get("kinds", "*"), f"{where} kinds", source)
        for kind in kinds:
            if not any(fnmatch.fnmatchcase(known, kind) for known in KINDS):
                raise _problem(source, f"{where} kinds", f"names no kind of event: {kind!r}; kinds: {', '.join(KINDS)}")
        when = entry.get("when", default_when)
        if when not in ("open", "any"):
            raise _problem(source, f"{where} when = {when!r}", "must be \"open\" or \"any\"")
        found.append(Match(kinds, _strings(entry.get("layers", "*"), f"{where} layers", source), when))
    return tuple(found)


def _severity(value, where: str, source: str) -> str:
    if value not in SEVERITIES:
        raise _problem(source, f"{where} = {value!r}", f"must be one of {', '.join(SEVERITIES)}")
    return value


def rules_from_toml(text: str, source: str) -> Rules:
    """Rules from a TOML text; a RulesError names the file, the key and what is allowed."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source} is not valid TOML: {exc}") from None
    unknown = set(table) - {"thresholds", "severity", "fail", "ignore", "alerts"}
    if unknown:
        raise _problem(source, "top level", f"has unknown section(s) {', '.join(sorted(unknown))}; "
                                            "use thresholds, severity, fail, ignore, alerts")
    rules = Rules(source=source)
    severity = dict(rules.severity)
    for kind, value in table.get("severity", {}).items():
        if kind not in KINDS:
            raise _problem(source, f"[severity] {kind}", f"is not a kind of event; kinds: {', '.join(KINDS)}")
        severity[kind] = _severity(value, f"[severity] {kind}", source)
    alerts = table.get("alerts", {})
    if set(alerts) - {"min_severity"}:
        raise _problem(source, "[alerts]", "takes only min_severity")
    return replace(
        rules, thresholds=_thresholds(table.get("thresholds", {}), source), severity=severity,
        fail=_matches(table["fail"], "fail", source, "open") if "fail" in table else DEFAULT_FAIL,
        ignore=_matches(table.get("ignore", []), "ignore", source, "any"),
        alert_min_severity=_severity(alerts.get("min_severity", rules.alert_min_severity), "[alerts] min_severity",
                                     source))


def load_rules(path: str | os.PathLike | None = None) -> Rules:
    """The rules in `path`, else in $SPECTRASCOPE_HEALTH_RULES, else the defaults."""
    path = path or settings.health_rules_file()
    if path is None:
        return Rules()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RulesError(f"rules file {path} cannot be read ({exc.strerror or exc}); give a TOML file "
                         f"(docs/health.md)") from None
    return rules_from_toml(text, str(path))
