"""`spectrascope export` on a machine with no Chromium at all (no BROWSER_PATH, none on PATH, in the usual
places or in choreographer's own download): one line naming the Debian package to install, exit status 2."""
from __future__ import annotations

import subprocess
import sys

from helpers import REPO, cli_env, snapshot_tree

# the real command, with choreographer's browser lookup finding nothing: the real Chromium stays installed
NO_BROWSER_EXPORT = """import sys
from choreographer.browsers.chromium import Chromium
Chromium.find_browser = classmethod(lambda cls, **options: None)
from spectrascope.cli import main
sys.exit(main(sys.argv[1:]))"""


def test_export_without_a_browser_names_the_package_to_install(export_data, tmp_path):
    env = cli_env()
    env.pop("BROWSER_PATH", None)
    before = snapshot_tree(export_data)
    done = subprocess.run([sys.executable, "-c", NO_BROWSER_EXPORT, "export", "--run", "exp", "--view", "esd",
                           "--layer", "fc1", "--format", "gif", "--out", str(tmp_path / "esd.gif"),
                           "--data-dir", str(export_data)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("spectrascope: error: exporting images needs Chromium")
    assert "the Debian package chromium: sudo apt-get install -y chromium" in line
    assert "--format html needs no browser" in line
    assert not any(tmp_path.iterdir()) and snapshot_tree(export_data) == before
