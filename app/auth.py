"""HTTP Basic login for a team's dashboard, on when $SPECTRASCOPE_USERS names a users file
(spectrascope.users). Every page, asset, callback and download then needs it, except `/health` (the
container's health check). Viewers see everything; only runners start, cancel and delete jobs: their
buttons are hidden, and the callbacks behind them refuse anyone else."""
from __future__ import annotations

from flask import Flask, Response, g, has_request_context, request

from spectrascope import settings
from spectrascope.errors import UserError
from spectrascope.users import User, authenticate, read_users

OPEN_PATHS = frozenset({"/health"})
REALM = 'Basic realm="spectrascope", charset="UTF-8"'
VIEWER_REFUSAL = "Your account can look but not start, cancel or delete jobs (role viewer): ask for the runner role."

_users_memo: dict[tuple, dict[str, User]] = {}


def _users() -> dict[str, User] | None:
    """The users, read again only when the file changes (adding a user needs no restart); None: no login."""
    path = settings.users_file()
    if path is None:
        return None
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)  # written by rename: a new inode
    if key not in _users_memo:
        _users_memo.clear()
        _users_memo[key] = read_users(path)
    return _users_memo[key]


def require_login() -> Response | None:
    """Flask's before_request: None lets the request through; else the 401 asking for a login (or a 503
    when the users file cannot be read: the page stays shut rather than open to all)."""
    if request.path in OPEN_PATHS:
        return None
    try:
        users = _users()
    except (OSError, UserError) as exc:
        return Response(f"The dashboard's users file cannot be read: {exc}\n", 503, mimetype="text/plain")
    if users is None:
        return None
    credentials = request.authorization
    user = None
    if credentials is not None and credentials.type == "basic":
        user = authenticate(users, credentials.username or "", credentials.password or "")
    if user is None:
        return Response("Log in to use this dashboard.\n", 401, {"WWW-Authenticate": REALM}, mimetype="text/plain")
    g.user = user
    return None


def current_user() -> User | None:
    """Who is logged in for this request (None: login is off)."""
    return g.get("user") if has_request_context() else None


def refusal() -> str | None:
    """Why this request may not start, cancel or delete a job, or None when it may."""
    if settings.users_file() is None:
        return None
    user = current_user()
    return None if user is not None and user.may_run_jobs else VIEWER_REFUSAL


def install(server: Flask) -> None:
    server.before_request(require_login)
