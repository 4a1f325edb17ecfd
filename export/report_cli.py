"""`spectrascope report`: one standalone HTML page about a run, to send to someone who has nothing installed: a
summary, its configuration, training curves, alpha heatmap with the health events, every layer's ESD and
histogram over the epochs, and the last epoch's table."""
from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from importlib import metadata
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path

from export import output
from spectrascope import command

HELP = ("write one standalone HTML report of a run (summary, configuration, training curves, alpha heatmap and health, "
        "every layer's ESD and histogram animations, the last epoch's table); it opens offline")
ALL_EPOCHS = (None, None)
FPS = 4.0  # epochs a second when a layer's animation plays


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command.add_run_id(parser, "the run to report on")
    output.add_destination(parser, "the HTML file to write")


def run(args: argparse.Namespace) -> int:
    from export import load, recording  # here: pandas loads in 0.3 s

    paths = load.open_run(args.data_dir, args.run_id)
    out = output.destination(args, paths)
    with recording.recorder(paths, "report", args.to_run) as progress:
        page, layers = _page(paths, out, progress)
        output.write_file(out, page.encode())
    print(f"wrote {out}: {layers} layers, {len(page) / 1e6:.1f} MB")
    return 0


def _page(paths, out: Path, progress) -> tuple[str, int]:
    """The report's HTML, and how many layers it shows; progress(layers drawn, layers) as they come."""
    from plotly.offline import get_plotlyjs  # here: plotly and pandas load in 0.5 s

    import figures
    from export import compact, load, report
    from spectrascope.health.monitor import run_events
    from spectrascope.health.rules import load_rules
    from spectrascope.runs import read_run

    table, _ = load.layer_table(paths, ALL_EPOCHS)
    output.check(out, folder=False, fmt="html")
    record, metrics = read_run(paths), load.metrics(paths)
    names, counted = load.layer_names(table), load.counted_tensors(paths)
    layers = []
    with ProcessPoolExecutor(min(len(names), os.cpu_count() or 1), mp_context=get_context("fork")) as pool:
        for plots in pool.map(_layer, repeat(paths), names, [(name, "weight") in counted for name in names]):
            layers.append(plots)
            progress(len(layers), len(names))
    curves = None if metrics.empty else compact.lean(
        figures.training_curves(metrics, non_finite_from=record.non_finite_from, unit=record.unit))
    summary = figures.alpha_summary(table, metrics, record.unit)
    learning = figures.learning_curve(metrics)
    summary["layout"]["title"] = {"text": "mean alpha" + (f" and {learning[1]}" if learning else "")
                                          + f" per {record.unit}"}
    rules = load_rules()
    page = report.page(report.Report(
        record=record, table=table, curves=curves, events=run_events(paths, rules), rules_source=rules.source,
        heatmap=compact.lean(figures.alpha_heatmap(table, record.unit)),
        mean_alpha=compact.lean(summary),
        layers=layers, written_by=f"Written by spectrascope {metadata.version('spectrascope')} on "
                                  f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC."), get_plotlyjs())
    return page, len(layers)


def _layer(paths, layer: str, has_histogram: bool):
    """A layer's two animations, in a worker process: building the figures (plotly's objects validate every
    property they are given) is nearly all of a report's time, and layers are drawn independently. Forked, so
    the workers start with plotly loaded."""
    from export import compact, frames, report, views
    from spectrascope.runs import read_run

    unit = read_run(paths).unit

    def animation(epochs_and_frames) -> dict:
        epochs, drawn = epochs_and_frames
        return compact.lean(frames.animated(drawn, epochs, FPS, unit))

    histogram = animation(views.histogram(paths, layer, "weight", ALL_EPOCHS)) if has_histogram else None
    return report.LayerPlots(layer, animation(views.esd(paths, layer, "weight", ALL_EPOCHS)), histogram)
