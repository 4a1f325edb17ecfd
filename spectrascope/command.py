"""How a `spectrascope` sub-command runs, for the umbrella CLI and for `python -m training` / `python -m
analysis` alike: bad input becomes one line on stderr and exit status 2, and a job command stopped by
SIGTERM (`kill`, the dashboard's Cancel) stops like Ctrl-C, saving what it has done.

Each sub-command is defined next to the code it runs: a module with HELP, `add_arguments(parser)` and
`run(args)`. A bottom layer: it knows no sub-command."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from types import ModuleType

from spectrascope import settings
from spectrascope.errors import UserError


PARENT_PID_ENV = "SPECTRASCOPE_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """The message names the subcommand once (the program is named where UserError is printed)."""
        subcommand = self.prog.partition(" ")[2]
        raise UserError(f"{subcommand + ': ' if subcommand else ''}{message} (see {self.prog} --help)")


def add_command(parser: argparse.ArgumentParser, module: ModuleType, job: bool) -> None:
    """The module's flags and handler, with the --data-dir every command takes. A `job` (train, analyze,
    import) is long and heavy: see _cancel_on_sigterm and _share_cores."""
    parser.add_argument("--data-dir", default=str(settings.data_dir()),
                        help="data root holding runs/ and datasets/ (default: $SPECTRASCOPE_DATA_DIR or ./data)")
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run, job=job)


def add_run_id(parser: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    """--run-id, with --run as its alias, into `args.run_id`: every command that names one run takes both
    spellings, so one learnt on `train` works on `export` too."""
    parser.add_argument("--run-id", "--run", dest="run_id", metavar="RUN_ID", required=required, help=help)


def _cancel_on_sigterm() -> None:
    """`kill` stops a job like Ctrl-C: it saves what it has done and marks itself cancelled, instead of
    vanishing mid-write."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _share_cores() -> None:
    """Passive OpenMP threads, unless the user chose a policy: by default each of torch's threads spins on
    its core between parallel regions, and beside one busy process on 2 cores a demo training took 60x as
    long (benchmarks/busy_neighbour.py). OpenMP reads the policy when torch loads, after this."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the process `parent_pid` (this one's parent) dies, however it dies: a job's processes
    must not run on unsupervised after a `kill -9` of their worker (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before the line above: nobody would send the signal
        os._exit(1)


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse and run one command; its exit status."""
    try:
        args = parser.parse_args(argv)
        if not args.data_dir:  # Path("") would quietly mean the current folder
            raise UserError("--data-dir must not be empty; name a folder, or leave the flag out for the default")
        if args.job:
            _cancel_on_sigterm()
            _share_cores()
            if os.environ.get(PARENT_PID_ENV):  # started by a job supervisor: end with it
                die_with_parent(int(os.environ[PARENT_PID_ENV]))
        return args.handler(args) or 0
    except UserError as exc:
        print(f"spectrascope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spectrascope: cancelled", file=sys.stderr)
        return 130


def main_for(name: str, module: ModuleType) -> int:
    """`python -m PACKAGE ...`: the same as `spectrascope NAME ...`."""
    parser = Parser(prog=f"spectrascope {name}", description=module.HELP)
    add_command(parser, module, job=True)
    return run(parser)
