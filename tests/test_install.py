"""`make install` sets up the system packages (scripts/system-packages): the real script and the real Makefile,
run with a PATH of stand-ins, so a package can be missing, apt-get and sudo record what they were asked to do,
and nothing is installed or removed for real."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import REPO

SCRIPT = REPO / "scripts" / "system-packages"
TOOLS = ("chromium", "chromedriver", "redis-server")
INSTALL = "install -y -q --no-install-recommends"


def _stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def machine(tmp_path: Path, *, missing=("redis-server",), uid=0, apt=True, sudo: bool | None = None) -> dict:
    """The environment of a machine where the commands `missing` are not found: a PATH holding only stand-ins
    (the tools present, `id -u` saying uid, apt-get and sudo -n writing their arguments to calls.log)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    for tool in set(TOOLS) - set(missing):
        _stand_in(folder, tool, "exit 0")
    _stand_in(folder, "id", f'echo "id $*" >> {log}; echo {uid}')
    if apt:
        _stand_in(folder, "apt-get", f'echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {log}')
    if sudo is not None:  # None: no sudo at all; False: sudo that needs a password
        _stand_in(folder, "sudo", f'echo "sudo $*" >> {log}; [ "$1" = -n ] && shift; "$@"' if sudo else
                  "exit 1")
    os.symlink(shutil.which("env"), folder / "env")
    return {"PATH": str(folder)}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def check(env: dict, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(SCRIPT)], env={**env, **extra}, capture_output=True, text=True,
                          timeout=30)


def test_everything_present_is_silent_and_calls_nothing(tmp_path):
    done = check(machine(tmp_path, missing=()))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert calls(tmp_path) == []


def test_as_root_with_apt_a_missing_package_is_installed(tmp_path):
    done = check(machine(tmp_path, missing=("redis-server", "chromedriver")))
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == ["id -u", "apt-get update -q DEBIAN_FRONTEND=",
                               f"apt-get {INSTALL} chromium-driver redis-server DEBIAN_FRONTEND=noninteractive"]


def test_without_root_but_with_passwordless_sudo_it_installs_through_sudo(tmp_path):
    done = check(machine(tmp_path, uid=1000, sudo=True))
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == ["id -u", "sudo -n true",
                               "sudo -n apt-get update -q", "apt-get update -q DEBIAN_FRONTEND=",
                               f"sudo -n env DEBIAN_FRONTEND=noninteractive apt-get {INSTALL} redis-server",
                               f"apt-get {INSTALL} redis-server DEBIAN_FRONTEND=noninteractive"]


@pytest.mark.parametrize("sudo", [None, False], ids=["no sudo", "sudo asks a password"])
def test_without_root_or_sudo_it_prints_the_one_command_to_run_and_fails(tmp_path, sudo):
    done = check(machine(tmp_path, uid=1000, sudo=sudo))
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.splitlines() == ["spectrascope needs the system packages redis-server: run  "
                                        "sudo apt-get install -y redis-server  then make again"]
    assert not any(call.startswith("apt-get") for call in calls(tmp_path))


def test_without_apt_get_it_names_the_commands_and_packages_and_fails(tmp_path):
    done = check(machine(tmp_path, missing=("chromium",), apt=False))
    assert done.returncode != 0 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "the commands chromium (Debian packages chromium)" in line and "package manager" in line


def test_the_escape_hatch_skips_the_check(tmp_path):
    done = check(machine(tmp_path, uid=1000), SPECTRASCOPE_SKIP_SYSTEM_PACKAGES="1")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert calls(tmp_path) == []


def _make_install(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    """The real `make install`, with a venv (elsewhere) already installed: only the system packages are left."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml
    return subprocess.run([shutil.which("make"), "-C", str(REPO), "install", f"VENV={venv}"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_make_install_checks_the_system_packages_every_time_and_installs_as_root(tmp_path):
    done = _make_install(tmp_path, machine(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"apt-get {INSTALL} redis-server DEBIAN_FRONTEND=noninteractive" in calls(tmp_path)


def test_make_install_stops_with_the_one_line_where_it_cannot_install(tmp_path):
    done = _make_install(tmp_path, machine(tmp_path, uid=1000))
    assert done.returncode != 0
    assert ("spectrascope needs the system packages redis-server: run  sudo apt-get install -y redis-server  "
            "then make again") in done.stderr.splitlines()[0]
    assert "venv" not in done.stdout  # make stopped before anything else
