"""`spectrascope serve`: the dashboard on Dash's own server (for a team box: `gunicorn app:server`)."""
from __future__ import annotations

import argparse
import os
import socket

from analysis.run_format import ensure_writable_dir, list_runs
from app import settings
from spectrascope.errors import UserError

HELP = "serve the dashboard (http://127.0.0.1:8050 by default)"
DEMO_RUN_ID = "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8050, help="port to listen on (default 8050)")
    parser.add_argument("--demo", action="store_true",
                        help="when the data directory has no runs, start training the demo run beside the server")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloads on code changes)")


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); is another server running? "
                            "choose another --port") from None


def start_demo() -> None:
    from app import jobs

    jobs.start_detached(jobs.submit_training("demo", DEMO_RUN_ID))
    print(f"started the demo run {DEMO_RUN_ID!r}: watch it fill in on the page")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    os.environ[settings.DATA_DIR_ENV] = str(ensure_writable_dir(args.data_dir))
    settings.max_jobs()  # a bad SPECTRASCOPE_MAX_JOBS is reported now, not when the first job starts
    if not os.environ.get("WERKZEUG_RUN_MAIN"):  # not in --debug's reloaded child: its parent did this
        _check_port_free(args.host, args.port)
        if args.demo and not list_runs(args.data_dir):
            start_demo()
    from app.factory import create_app

    print(f"spectrascope dashboard on http://{args.host}:{args.port}  (data: {args.data_dir}; Ctrl-C stops it)")
    create_app().run(host=args.host, port=args.port, debug=args.debug)
    return 0
