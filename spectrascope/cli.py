"""The `spectrascope` command. Each sub-command is defined next to the code it runs (a `cli` module with
`add_arguments(parser)` and `run(args)`); this module only wires them up and turns bad input into one
line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import signal
import sys
from importlib import metadata

from spectrascope.errors import UserError
from analysis import cli as analysis_cli
from analysis import import_cli
from app import cli as app_cli
from app import settings
from training import cli as training_cli

COMMANDS = {"train": training_cli, "analyze": analysis_cli, "import": import_cli, "serve": app_cli}
JOBS = {"train", "analyze", "import"}  # stopped by SIGTERM like Ctrl-C, so they record what they had done


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


def _cancel_on_sigterm() -> None:
    """`kill` (as a job manager or the dashboard's Cancel sends) stops a job like Ctrl-C: it saves what it
    has done and marks itself cancelled, instead of vanishing mid-write."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spectrascope", description=__import__("spectrascope").__doc__)
    parser.add_argument("--version", action="version", version=f"spectrascope {metadata.version('spectrascope')}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        sub.add_argument("--data-dir", default=str(settings.data_dir()),
                         help="data root holding runs/ and datasets/ (default: $SPECTRASCOPE_DATA_DIR or ./data)")
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if not args.data_dir:  # Path("") would quietly mean the current folder
            raise UserError("--data-dir must not be empty; name a folder, or leave the flag out for the default")
        if args.command in JOBS:
            _cancel_on_sigterm()
        return args.handler(args) or 0
    except UserError as exc:
        print(f"spectrascope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spectrascope: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
