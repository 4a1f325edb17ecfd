"""`spectrascope check`: layer health for CI pipelines and scripts. Exit 0 when every run is healthy under the
rules, 1 when an event breaks one, 2 on bad input (an unknown run, one not analysed, a bad rules file)."""
from __future__ import annotations

import argparse
import json

from spectrascope.errors import UserError
from spectrascope.health.events import breaking, latest_epoch
from spectrascope.health.monitor import run_events
from spectrascope.health.rules import Rules, load_rules
from spectrascope.runs import layers_frame, read_run, run_paths

HELP = "check runs' layer health against rules: exit 0 healthy, 1 when a rule fires, 2 on bad input"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", nargs="+", metavar="RUN", help="the runs to check")
    parser.add_argument("--rules", metavar="FILE",
                        help="a TOML rules file (docs/health.md); default $SPECTRASCOPE_HEALTH_RULES, else by "
                             "default: any layer over-trained or trapped at its latest epoch, any NaN/Inf")
    parser.add_argument("--json", action="store_true", help="print one JSON object per run instead of text")


def _verdict(data_dir, run_id: str, rules: Rules) -> dict:
    paths = run_paths(data_dir, run_id)
    record = read_run(paths)
    table = layers_frame(paths)
    if table.empty:
        raise UserError(f"run {run_id!r} has no analysis to check: run `spectrascope analyze --run-id {run_id}`")
    events = run_events(paths, rules)
    latest = latest_epoch(table, events)
    broken = breaking(events, rules, latest)
    return {"run": run_id, "unit": record.unit, "latest": latest, "layers": int(table["layer"].nunique()),
            "healthy": not broken, "breaking": [event.row() for event in broken]}


def _text(verdict: dict) -> str:
    head = f"{verdict['run']}: {verdict['unit']} {verdict['latest']}, {verdict['layers']} layers: "
    if verdict["healthy"]:
        return head + "healthy"
    lines = [head + f"{len(verdict['breaking'])} event(s) break the rules"]
    lines += [f"  {verdict['unit']} {e['epoch']}  {e['layer']}  {e['kind']} ({e['severity']}): {e['detail']}"
              for e in verdict["breaking"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rules = load_rules(args.rules)
    verdicts = [_verdict(args.data_dir, run_id, rules) for run_id in args.run_ids]  # all read before any is said
    for verdict in verdicts:
        print(json.dumps(verdict) if args.json else _text(verdict))
    return 0 if all(verdict["healthy"] for verdict in verdicts) else 1
