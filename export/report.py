"""`spectrascope report`'s page: one standalone HTML file, put together from what the command read and drew.
Pure: data and figure specs in, text out.

The page must open fast however many layers the run has, so only the run's overview is drawn on opening;
each layer's figures' JSON waits in a <script type="application/json"> element beside its place and is drawn when it
first scrolls into view (a layer's animations when the reader opens that layer). plotly.js and the figures'
shared template are in the page once."""
from __future__ import annotations

import html
import itertools
import json
from dataclasses import dataclass

import pandas as pd

import figures
from export import compact, health
from spectrascope.health.bands import HEALTHY, OVER_TRAINED, UNDER_TRAINED, band, counts_at_last_epoch
from spectrascope.health.events import Event, open_events
from spectrascope.health.rules import severity_rank
from spectrascope.runs import LAYER_COLUMNS, RunRecord
from training.config import MODEL

FIRST_TABLES = ("config", "provenance")  # of run.json's objects, shown first; the others follow
LEFT_OUT = ("export",)  # of run.json: the dashboard's latest export, this very report's job perhaps
NUMBER_DIGITS = 5  # significant digits in the table, as the Metrics tab shows them

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;color:#212529;margin:0 auto;max-width:1280px;padding:0 24px 48px}
h1{margin:24px 0 4px}h2{margin-top:40px;border-bottom:1px solid #dee2e6;padding-bottom:4px}h3{margin:20px 0 6px}
nav a{margin-right:16px}.muted{color:#6c757d}.tables{display:flex;flex-wrap:wrap;gap:8px 40px;align-items:start}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:left}
th{background:#f8f9fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.wide{overflow-x:auto}
.swatch{display:inline-block;width:2.2em;height:.9em;border:1px solid #ced4da;vertical-align:middle;margin-right:6px}
details{border:1px solid #dee2e6;border-radius:4px;margin:6px 0}details[open]{padding-bottom:8px}
summary{cursor:pointer;padding:6px 10px;font-weight:600}summary .muted{font-weight:400}
.plot{min-height:120px}
"""

# Draws the overview's plots at once and a layer's when they first come into view (the layer opened); a click on
# the heatmap opens that layer at that epoch.
SCRIPT = """
const TEMPLATE = JSON.parse(document.getElementById('template').textContent);
const STILL = {mode: 'immediate', frame: {duration: 0, redraw: true}, transition: {duration: 0}};
function showEpoch(div) {
  if (div.dataset.epoch && div.dataset.drawn) Plotly.animate(div, [div.dataset.epoch], STILL);
}
function draw(div) {
  const spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
  spec.layout.template = TEMPLATE;
  return Plotly.newPlot(div, {data: spec.data, layout: spec.layout, frames: spec.frames,
                              config: {displaylogo: false, responsive: true}})
    .then(() => {
      div.dataset.drawn = 'yes';
      if (div.id === 'alpha-heatmap') div.on('plotly_click', openLayer);
      showEpoch(div);
    });
}
function openLayer(event) {
  const point = event.points[0];
  const layer = document.querySelector(`details[data-layer="${CSS.escape(point.y)}"]`);
  if (!layer) return;
  layer.open = true;
  layer.scrollIntoView();
  layer.querySelectorAll('.plot').forEach(div => { div.dataset.epoch = String(point.x); showEpoch(div); });
}
const seen = new IntersectionObserver(entries => entries.forEach(entry => {
  if (entry.isIntersecting) { seen.unobserve(entry.target); draw(entry.target); }
}), {rootMargin: '300px'});
document.querySelectorAll('.plot').forEach(div => div.closest('details') ? seen.observe(div) : draw(div));
"""


@dataclass(frozen=True)
class LayerPlots:
    """One layer's animations over the epochs (lean figure specs); no histogram where none was counted."""
    layer: str
    esd: dict
    histogram: dict | None


@dataclass(frozen=True)
class Report:
    record: RunRecord
    table: pd.DataFrame  # analysis/layers.csv
    curves: dict | None  # the training curves' spec; None without metrics.csv
    heatmap: dict
    mean_alpha: dict
    layers: list[LayerPlots]
    events: list[Event]  # the run's health events (spectrascope.health.events)
    rules_source: str  # the rules they were derived by
    written_by: str  # which spectrascope, when


def page(report: Report, plotly_js: str) -> str:
    title = f"spectrascope report · run {report.record.id}"
    counter = itertools.count()  # numbers the figure specs in page order
    sections = [_summary(report), _configuration(report.record), _training(report, counter),
                _alpha(report, counter), _layers(report, counter), _last_epoch(report.table, report.record.unit)]
    nav = " ".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in
                   (("summary", "Summary"), ("configuration", "Configuration"), ("training", "Training"),
                    ("alpha", "Alpha"),
                    ("layers", "Layers"), ("last-epoch", f"Last {report.record.unit}")))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_text(title)}</title>"
            f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style>"
            f"<script>{plotly_js}</script></head><body>"
            f"<h1>{_text(title)}</h1><p class='muted'>{_text(report.written_by)}</p><nav>{nav}</nav>"
            + "".join(sections)
            + f"<script type='application/json' id='template'>{compact.to_json(compact.template())}</script>"
            f"<script>{SCRIPT}</script></body></html>")


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def _plot(spec: dict, counter, element_id: str = "") -> str:
    """A place for the figure, drawn when it comes into view, with its spec beside it."""
    spec_id = f"spec-{next(counter)}"
    id_attribute = f" id='{element_id}'" if element_id else ""
    return (f"<div class='plot'{id_attribute} data-spec='{spec_id}'></div>"
            f"<script type='application/json' id='{spec_id}'>{compact.to_json(spec)}</script>")


def _cell(value) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return f"<td>{_text('' if value is None else value)}</td>"


def _key_values(title: str, values: dict) -> str:
    rows = "".join(f"<tr><th>{_text(key)}</th>{_cell(value)}</tr>" for key, value in values.items())
    return f"<div><h3>{_text(title)}</h3><table>{rows or '<tr><td>(none)</td></tr>'}</table></div>"


def _model(record: RunRecord) -> str:
    """What was trained, as far as run.json says."""
    config = record.config
    if record.kind == "imported":
        return f"checkpoints imported from {config.get('source', 'a folder')} ({config.get('layout', 'files')})"
    if record.preset:
        shape = "".join(f", {word} {config[key]}" for key, word in (("width", "width"), ("dataset", "on"))
                        if key in config)
        return f"{MODEL}{shape}, preset {record.preset}"
    return "a model trained in the user's own loop, recorded by spectrascope"


def _left_band(table: pd.DataFrame, events: list[Event], unit: str) -> str:
    """The layers out of the healthy band at the last epoch (as the band counts beside it count them), since when
    the health events say, in the order they left; those that left it and came back counted."""
    last = table[table["epoch"] == table["epoch"].max()]
    out = {row["layer"]: (band(row["alpha"]), row["alpha"]) for row in last.to_dict("records")
           if band(row["alpha"]) in (OVER_TRAINED, UNDER_TRAINED)}
    since = {e.layer: e.epoch for e in events if e.layer in out and e.kind == out[e.layer][0]}
    left = {e.layer for e in events if e.kind in (OVER_TRAINED, UNDER_TRAINED)}
    lines = [f"<li>{_text(layer)}: {kind}" + (f" since {unit} {since[layer]}" if layer in since else "")
             + f" (alpha {alpha:.3g})</li>" for layer, (kind, alpha) in sorted(
                 out.items(), key=lambda item: since.get(item[0], -1))]
    listed = (f"<ul>{''.join(lines)}</ul>" if lines
              else f"<p>No layer is out of the band at {unit} {int(last['epoch'].max())}.</p>")
    back = len(left - set(out))
    return listed + (f"<p class='muted'>{back} more left it and came back.</p>" if back else "")


def _summary(report: Report) -> str:
    """What a reader asks first: which model, how many layers and epochs, its alpha and bands at the last epoch."""
    record, table, unit = report.record, report.table, report.record.unit
    epochs = sorted(int(epoch) for epoch in table["epoch"].unique())
    last = epochs[-1]
    types = table.drop_duplicates("layer")["layer_type"].value_counts()
    counted = f"{len(epochs)} analysed, {unit} {epochs[0]} to {last}"
    if record.kind == "trained" and record.progress.total_epochs:
        counted += f"; trained {record.progress.epoch or 0} of {record.progress.total_epochs}"
    fitted = table.loc[(table["epoch"] == last) & (table["alpha"] > 0), "alpha"]
    facts = {"model": _model(record), "status": record.status + (f": {record.error}" if record.error else ""),
             "layers": f"{len(table['layer'].unique())} analysed ("
                       + ", ".join(f"{count} {kind}" for kind, count in types.items()) + ")",
             f"{unit}s": counted,
             f"mean alpha at {unit} {last}": (f"{fitted.mean():.3f} over {len(fitted)} fitted layers" if len(fitted)
                                               else "no layer has a fit")}
    count_rows = "".join(f"<tr><td>{_band_label(name)}</td><td class='num'>{count}</td></tr>"
                         for name, count in counts_at_last_epoch(table).items())
    return (f"<section id='summary'><h2>Summary</h2><div class='tables'>{_key_values('run ' + record.id, facts)}"
            f"<div><h3>Layers per band at {unit} {last}</h3><table><tr><th>band</th><th>layers</th></tr>{count_rows}"
            f"</table></div><div><h3>Layers that left the band</h3>{_left_band(table, report.events, unit)}</div>"
            f"</div></section>")


def _applying(values: dict, unit: str) -> dict:
    """The values that say something: none empty, none counted in epochs for a run numbered by step."""
    kept = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _applying(value, unit)
        if value not in (None, "", {}, []) and (unit == "epoch" or "epoch" not in key):
            kept[key] = value
    return kept


def _configuration(record: RunRecord) -> str:
    """run.json's values that apply: its plain values, then config and provenance, then its other objects; an
    imported run was not trained here, so it has no training progress."""
    data = _applying({key: value for key, value in record.to_dict().items() if key not in LEFT_OUT}, record.unit)
    if record.kind == "imported":
        data.pop("progress", None)
    plain = {key: value for key, value in data.items() if not isinstance(value, dict)}
    objects = [key for key in FIRST_TABLES if key in data] + [
        key for key, value in data.items() if isinstance(value, dict) and key not in FIRST_TABLES]
    tables = [_key_values("run", plain)] + [_key_values(key, data[key]) for key in objects]
    return (f"<section id='configuration'><h2>Configuration and provenance</h2>"
            f"<p class='muted'>From the run's run.json, its empty values left out.</p>"
            f"<div class='tables'>{''.join(tables)}</div></section>")


def _training(report: Report, counter) -> str:
    if report.curves is None:
        why = ("no training log was imported with its checkpoints (a Trainer's trainer_state.json or a Lightning "
               "CSVLogger's metrics.csv)"
               if report.record.kind == "imported" else "no epoch was recorded in metrics.csv")
        body = f"<p class='muted'>No training curves: {_text(why)}.</p>"
    else:
        body = _plot(report.curves, counter)
    return f"<section id='training'><h2>Training curves</h2>{body}</section>"


def _band_label(name: str) -> str:
    """The band's swatch as the Alpha tab's legend draws it: the healthy band shades light to dark, as alpha
    goes from 2 to 6 on the heatmap."""
    colour, meaning = health.BANDS[name]
    if name == HEALTHY:
        colour = f"linear-gradient(to right, {', '.join(figures.HEALTHY_COLOURS)})"
    return f"<span class='swatch' style='background:{colour}'></span>{_text(name)} ({_text(meaning)})"


def _alpha(report: Report, counter) -> str:
    last, unit = int(report.table["epoch"].max()), report.record.unit
    shown = [e for e in report.events if severity_rank(e.severity) >= severity_rank("warning")]
    still = {e.event_id for e in open_events(report.events, last)}
    if shown:
        rows = "".join(f"<tr><td class='num'>{e.epoch}</td><td>{_text(e.layer)}</td><td>{_text(e.kind)}</td>"
                       f"<td>{_text(e.severity)}</td><td>{_text(e.detail)}</td>"
                       f"<td>{'yes' if e.event_id in still else ''}</td></tr>" for e in shown)
        events = (f"<table><tr><th>{unit}</th><th>layer</th><th>event</th><th>severity</th><th>what</th>"
                  f"<th>still so at {unit} {last}</th></tr>{rows}</table>")
    else:
        events = "<p>No warning: every layer stayed healthy.</p>"
    summary = (f"<h3>Health events</h3><p class='muted'>Warnings and worse, as the Health tab and "
               f"<code>spectrascope check</code> derive them ({_text(report.rules_source)}).</p>{events}")
    return (f"<section id='alpha'><h2>Alpha per layer and {unit}</h2>{summary}"
            f"<p class='muted'>Click a cell to open that layer's animations at that {unit}.</p>"
            f"{_plot(report.heatmap, counter, 'alpha-heatmap')}{_plot(report.mean_alpha, counter)}</section>")


def _layers(report: Report, counter) -> str:
    last = report.table[report.table["epoch"] == report.table["epoch"].max()].set_index("layer")
    unit, parts = report.record.unit, []
    for plots in report.layers:
        row = last.loc[plots.layer] if plots.layer in last.index else None
        about = (f"not analysed at the last {unit}" if row is None else
                 f"{row['layer_type']} {row['N']}×{row['M']} · alpha {row['alpha']:.3f} "
                 f"({band(row['alpha'])}) at {unit} {int(report.table['epoch'].max())}")
        histogram = (_plot(plots.histogram, counter) if plots.histogram is not None
                     else "<p class='muted'>No weight histogram was counted for this layer.</p>")
        parts.append(f"<details data-layer='{_text(plots.layer)}'><summary>{_text(plots.layer)} "
                     f"<span class='muted'>{_text(about)}</span></summary>"
                     f"{_plot(plots.esd, counter)}{histogram}</details>")
    return (f"<section id='layers'><h2>Layers over the {unit}s</h2><p class='muted'>Each layer's eigenvalue "
            f"spectrum (ESD) with its fitted power law, and its weight histogram, one frame per {unit}: open a "
            f"layer, then play or drag the slider.</p>{''.join(parts)}</section>")


def _format(value, kind: str) -> str:
    if pd.isna(value):
        return ""
    if kind == "f":
        return f"{value:.{NUMBER_DIGITS}g}"
    return str(int(value)) if kind == "i" else str(value)


def _last_epoch(table: pd.DataFrame, unit: str) -> str:
    """layers.csv at the last epoch, as the Metrics tab shows it: its columns that hold a value, numbers to
    NUMBER_DIGITS significant digits, alpha on its band's colour."""
    epoch = int(table["epoch"].max())
    rows = table[table["epoch"] == epoch].dropna(axis="columns", how="all")
    columns = [name for name in LAYER_COLUMNS if name in rows]
    kinds = {name: rows[name].dtype.kind for name in columns}
    head = "".join(f"<th>{_text(unit if name == 'epoch' else name)}</th>" for name in columns)
    body = []
    for record in rows.to_dict("records"):
        cells = []
        for name in columns:
            style = (f" style='background:{health.BANDS[band(record[name])][0]}'"
                     if name == "alpha" else "")
            number = " class='num'" if kinds[name] in "fi" else ""
            cells.append(f"<td{number}{style}>{_text(_format(record[name], kinds[name]))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<section id='last-epoch'><h2>Every layer at {unit} {epoch}</h2><p class='muted'>analysis/layers.csv "
            f"at the last analysed {unit}, numbers to {NUMBER_DIGITS} significant digits.</p>"
            f"<div class='wide'><table><tr>{head}</tr>{''.join(body)}</table></div></section>")
