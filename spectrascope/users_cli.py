"""`spectrascope user add NAME`: add a user to the dashboard's users file, or change their password or role."""
from __future__ import annotations

import argparse
import getpass
import sys

from spectrascope import settings
from spectrascope.errors import UserError
from spectrascope.users import HASHES, ROLES, add_user

HELP = "add a dashboard user, or change one's password or role (the users file: $SPECTRASCOPE_USERS)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    add = actions.add_parser("add", help="add a user (or replace one of that name), asking for the password")
    add.add_argument("name", help="the name to log in with")
    add.add_argument("--role", choices=ROLES, default="viewer",
                     help="viewer: sees every run (default); runner: also starts, cancels and deletes jobs")
    add.add_argument("--users-file", default=settings.users_file(),
                     help="the file to write (default: $SPECTRASCOPE_USERS)")
    add.add_argument("--hash", choices=HASHES, default="bcrypt", help="how the password is hashed (default bcrypt)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin (for scripts) instead of asking")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password on: pipe it in with --password-stdin")
    password = getpass.getpass("password: ")
    if password != getpass.getpass("again: "):
        raise UserError("the two passwords differ; nothing was written")
    return password


def run(args: argparse.Namespace) -> int:
    if not args.users_file:
        raise UserError(f"no users file: set ${settings.USERS_ENV} or give --users-file")
    password = _password(args.password_stdin)
    existed = add_user(args.users_file, args.name, password, args.role, args.hash)
    print(f"{'updated' if existed else 'added'} {args.role} {args.name!r} in {args.users_file}")
    return 0
