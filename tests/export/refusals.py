"""Bad input to an export command: exit status 2, one line on stderr, and nothing written anywhere."""
from __future__ import annotations

from helpers import snapshot_tree, spectrascope


def refused(data_dir, tmp_path, *arguments, env: dict | None = None) -> str:
    """Run `spectrascope ARGUMENTS --data-dir data_dir` (with `env` added), expecting it refused; its one line."""
    before = snapshot_tree(tmp_path), snapshot_tree(data_dir)
    done = spectrascope(*arguments, "--data-dir", data_dir, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert (snapshot_tree(tmp_path), snapshot_tree(data_dir)) == before  # nothing written, not even a temporary file
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrascope: error: "), done.stderr
    return lines[0]
