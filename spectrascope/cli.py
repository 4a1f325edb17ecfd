"""The `spectrascope` command: the top layer, wiring up the sub-commands each package defines."""
from __future__ import annotations

import argparse
import sys
from importlib import metadata

from analysis import cli as analysis_cli
from analysis import import_cli
from app import cli as app_cli
from export import cli as export_cli
from export import report_cli
from spectrascope import check_cli, command, rm_cli, submit_cli, users_cli
from training import cli as training_cli

COMMANDS = {"train": training_cli, "analyze": analysis_cli, "import": import_cli, "export": export_cli,
            "report": report_cli, "check": check_cli,
            "rm": rm_cli, "serve": app_cli, "submit": submit_cli, "user": users_cli}
JOBS = {"train", "analyze", "import", "export", "report"}  # long, heavy commands (spectrascope.command.add_command)


def build_parser() -> argparse.ArgumentParser:
    parser = command.Parser(prog="spectrascope", description=__import__("spectrascope").__doc__)
    parser.add_argument("--version", action="version", version=f"spectrascope {metadata.version('spectrascope')}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=command.Parser)
    for name, module in COMMANDS.items():
        command.add_command(commands.add_parser(name, help=module.HELP, description=module.HELP), module,
                            job=name in JOBS)
    return parser


def main(argv: list[str] | None = None) -> int:
    return command.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
