"""How every sub-command runs (spectrascope.command): job commands share the cores."""
from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from helpers import REPO

from spectrascope import command


def _policy_seen_by(job: bool) -> str | None:
    """OMP_WAIT_POLICY as a command's handler (where torch gets imported) sees it."""
    seen = {}
    module = SimpleNamespace(HELP="", add_arguments=lambda parser: None,
                             run=lambda args: seen.setdefault("policy", os.environ.get("OMP_WAIT_POLICY")) and 0)
    parser = command.Parser(prog="spectrascope test")
    command.add_command(parser, module, job=job)
    assert command.run(parser, []) == 0
    return seen["policy"]


def test_a_job_command_s_openmp_threads_wait_passively(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(command, "_cancel_on_sigterm", lambda: None)  # leave pytest's SIGTERM alone
    assert _policy_seen_by(job=True) == "PASSIVE"


def test_a_policy_the_user_set_is_kept_and_other_commands_set_none(monkeypatch):
    monkeypatch.setattr(command, "_cancel_on_sigterm", lambda: None)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert _policy_seen_by(job=True) == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert _policy_seen_by(job=False) is None


@pytest.mark.parametrize("argv", [["train", "--preset", "demo"], ["analyze", "--run-id", "r"],
                                  ["import", "folder", "--run-id", "r"]])
def test_parsing_a_job_command_does_not_load_torch(argv):
    """OpenMP reads the policy once, when torch loads: that must come after the parser, in the handler."""
    script = f"import sys; from spectrascope import cli; cli.build_parser().parse_args({argv!r}); print(sorted(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "'torch'" not in result.stdout


@pytest.mark.parametrize("command_line", [["train", "--preset", "demo"], ["analyze"], ["import", "folder"],
                                          ["export", "--view", "alpha", "--format", "html", "--out", "a.html"],
                                          ["report", "--out", "r.html"], ["submit", "analyze"]])
def test_every_command_naming_a_run_takes_run_id_and_run_alike(command_line):
    from spectrascope import cli

    parser = cli.build_parser()
    for spelling in ("--run-id", "--run"):
        assert parser.parse_args([*command_line, spelling, "r"]).run_id == "r"
    sub = parser._subparsers._group_actions[0].choices[command_line[0]]
    if command_line[0] == "submit":
        sub = sub._subparsers._group_actions[0].choices["analyze"]
    assert "--run-id RUN_ID, --run RUN_ID" in " ".join(sub.format_help().split())
