"""`spectrascope serve`: the dashboard on Dash's own server (for a team box: `gunicorn app:server`)."""
from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path

from werkzeug.serving import select_address_family

from spectrascope import jobs, settings
from spectrascope.errors import UserError
from spectrascope.runs import ensure_writable_dir, list_runs
from spectrascope.users import read_users

HELP = "serve the dashboard (http://127.0.0.1:8050 by default)"
DEMO_RUN_ID = "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8050, help="port to listen on (default 8050)")
    parser.add_argument("--demo", action="store_true",
                        help="when the data directory has no runs, start training the demo run beside the server")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloads on code changes)")
    parser.add_argument("--no-login", action="store_true",
                        help=f"serve on a non-loopback --host without ${settings.USERS_ENV} (anyone who reaches the "
                             "port may start and delete jobs)")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_can_listen(host: str, port: int) -> None:
    """Bind where the server will, in the address family Werkzeug's server picks for `host`, so a bad
    --host or a taken --port is one line that says which, not a traceback from inside Dash."""
    family = select_address_family(host, port)
    where = _address(host, port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:  # UnicodeError: not even a valid host name (a..b)
        raise UserError(f"cannot listen on {where}: {_unresolved(host, port, exc)}; check --host") from None
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise UserError(f"cannot listen on {where}: {_bind_failure(exc)}") from None


def _unresolved(host: str, port: int, exc: Exception) -> str:
    """Why a host name gave no address: unknown, or known by an IPv6 address only, which Werkzeug's
    server does not look up (it resolves names to IPv4, and takes IPv6 as an address only)."""
    try:
        families = {entry[0] for entry in socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        families = set()
    if families == {socket.AF_INET6}:
        return f"{host!r} has only an IPv6 address, and the dashboard's server needs one written out (e.g. ::1)"
    return f"{host!r} cannot be resolved ({getattr(exc, 'strerror', None) or exc})"


def _bind_failure(exc: OSError) -> str:
    """Why a bind failed, and which option fixes it."""
    if exc.errno == errno.EADDRINUSE:
        return "another server is listening there; stop it or choose another --port"
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return ("that address is not available on this machine; check --host "
                "(127.0.0.1: this machine only, 0.0.0.0: every interface)")
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root); choose another --port"
    return f"{exc.strerror}; check --host and --port"


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_login(host: str, no_login: bool, opt_out: str = "pass --no-login") -> None:
    """Login on (a readable users file) or the page reachable from this machine only, unless asked for
    (`opt_out` says how)."""
    users_file = settings.users_file()
    if users_file is not None:
        read_users(users_file)  # a missing or malformed users file is reported now, not on every request
        print(f"spectrascope: login on: the users in {users_file}", file=sys.stderr)
    elif not _is_loopback(host) and not no_login:
        raise UserError(f"{host} opens the dashboard to other machines, and without login anyone who "
                        f"reaches it may start and delete jobs: set ${settings.USERS_ENV} to a users file "
                        f"(`spectrascope user add NAME --role runner`), or {opt_out} if that is what you want")


def _quiet_requests(debug: bool) -> None:
    """One line per request (the page polls every 2 s) only in --debug; errors and job starts always."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("werkzeug").setLevel(logging.INFO if debug else logging.WARNING)


def start_demo_if_empty() -> bool:
    """The demo run, when the data dir has no runs (a first start shows something); whether it started."""
    if list_runs(settings.data_dir()):
        return False
    jobs.start(jobs.submit_training("demo", DEMO_RUN_ID))
    return True


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    created = not Path(args.data_dir).exists()
    os.environ[settings.DATA_DIR_ENV] = str(ensure_writable_dir(args.data_dir))
    if created:  # a typo in --data-dir would otherwise look like a data dir with no runs
        print(f"spectrascope: {Path(args.data_dir).resolve()} did not exist and was created (no runs in it yet)",
              file=sys.stderr)
    settings.max_jobs()  # a bad SPECTRASCOPE_MAX_JOBS is reported now, not when the first job starts
    if not os.environ.get("WERKZEUG_RUN_MAIN"):  # not in --debug's reloaded child: its parent did this
        _check_can_listen(args.host, args.port)
        check_login(args.host, args.no_login)
        if args.demo and start_demo_if_empty():
            print(f"started the demo run {DEMO_RUN_ID!r}: watch it fill in on the page")
    from app.factory import create_app

    _quiet_requests(args.debug)
    print(f"spectrascope dashboard on http://{_address(args.host, args.port)}  "
          f"(data: {args.data_dir}; Ctrl-C stops it)")
    create_app().run(host=args.host, port=args.port, debug=args.debug)
    return 0
