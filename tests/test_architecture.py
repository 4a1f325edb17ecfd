"""The one-way structure stated in pyproject.toml ([tool.importlinter]) holds: layers only point down, and
the web process, the exports, the jobs, the run format and an analysis's plan never import torch."""
from __future__ import annotations

import subprocess
import sys

from helpers import REPO

CONTRACTS = ("Layers only point down", "The web process, the exports, the jobs and the run format never import torch",
             "An analysis finds it has nothing to do without importing torch")


def test_the_import_contracts_hold():
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                             "sys.exit(lint_imports(no_cache=True))"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in CONTRACTS:
        assert f"{contract} KEPT" in result.stdout
    assert "0 broken" in result.stdout
