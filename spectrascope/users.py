"""Who may use a team's dashboard: the users file that $SPECTRASCOPE_USERS names, one user per line,

    NAME:HASH:ROLE

HASH is a bcrypt (`$2b$...`) or argon2 (`$argon2id$...`) password hash; ROLE is `viewer` (sees every run)
or `runner` (also starts, cancels and deletes jobs); blank lines and lines starting with # are ignored.
`spectrascope user add` writes it (mode 0600); the web process only reads it, again whenever it changes,
so adding a user needs no restart.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import argon2
import bcrypt

from spectrascope.errors import UserError
from spectrascope.runs.files import atomic_write_text

ROLES = ("viewer", "runner")
HASHES = ("bcrypt", "argon2")
HASH_PREFIXES = ("$2", "$argon2")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72
_NAME = re.compile(r"[A-Za-z0-9_.@-]+")
_PROCESS_PEPPER = secrets.token_bytes(16)  # what the verified-password memo is keyed by, never the password


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    role: str

    @property
    def may_run_jobs(self) -> bool:
        return self.role == "runner"


def _parse_line(line: str, number: int, path: Path) -> User:
    parts = line.split(":")
    if len(parts) != 3 or not _NAME.fullmatch(parts[0]) or not parts[1].startswith(HASH_PREFIXES) \
            or parts[2] not in ROLES:
        raise UserError(f"{path}, line {number}: expected NAME:HASH:ROLE with a bcrypt or argon2 HASH and ROLE one of "
                        f"{', '.join(ROLES)}; write the file with `spectrascope user add`")
    return User(*parts)


def read_users(path: Path) -> dict[str, User]:
    """Every user by name. A missing or malformed file is an error: a typo must not open the page to all."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the users file {path}: {getattr(exc, 'strerror', None) or exc}; "
                        "create it with `spectrascope user add NAME`") from None
    users = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            user = _parse_line(line.strip(), number, path)
            if user.name in users:
                raise UserError(f"{path}, line {number}: {user.name!r} is there twice; keep one line per user")
            users[user.name] = user
    return users


def check_new_user(name: str, password: str, role: str) -> None:
    if not _NAME.fullmatch(name):
        raise UserError(f"user name {name!r}: use letters, digits and _ . @ - only")
    if role not in ROLES:
        raise UserError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise UserError(f"the password must have at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")


def hash_password(password: str, scheme: str = "bcrypt") -> str:
    if scheme == "argon2":
        return argon2.PasswordHasher().hash(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def add_user(path: Path, name: str, password: str, role: str, scheme: str = "bcrypt") -> bool:
    """Add or replace one user, keeping the others; True when the user existed. Written whole, mode 0600."""
    check_new_user(name, password, role)
    path = Path(path)
    users = read_users(path) if path.exists() else {}
    existed = name in users
    users[name] = User(name, hash_password(password, scheme), role)
    atomic_write_text(path, "".join(f"{u.name}:{u.password_hash}:{u.role}\n" for u in users.values()), mode=0o600)
    return existed


_verified: set[tuple[str, bytes]] = set()


@lru_cache(maxsize=1)
def _unknown_user_hash() -> bytes:
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt())


def _matches(password: str, stored: str) -> bool:
    try:
        if stored.startswith("$argon2"):
            return argon2.PasswordHasher().verify(stored, password)
        return bcrypt.checkpw(password.encode(), stored.encode())
    except (ValueError, argon2.exceptions.Argon2Error):  # a damaged hash, or beyond bcrypt's 72 bytes
        return False


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user whose name and password these are, else None. A hash takes 0.1-0.25 s to check by design,
    and the page polls every 2 s, so a pair verified once is remembered (by a keyed digest, never the
    password itself) for as long as the user's hash stays the same."""
    user = users.get(name)
    if user is None:
        bcrypt.checkpw(password.encode()[:MAX_PASSWORD_BYTES], _unknown_user_hash())  # as slow as a known name
        return None
    memo = (user.password_hash, hashlib.blake2b(password.encode(), key=_PROCESS_PEPPER).digest())
    if memo in _verified:
        return user
    if _matches(password, user.password_hash):
        _verified.add(memo)
        return user
    return None
