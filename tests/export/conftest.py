"""Runs to export: an imported run of a small two-layer model, analysed, and one left unanalysed; a headless
Chromium with the network off."""
from __future__ import annotations

import pytest

from browser_helpers import Logs, start_chromium
from export_runs import write_checkpoints

@pytest.fixture(scope="session")
def export_data(tmp_path_factory):
    """A data dir with run `exp` (imported and analysed) and run `raw` (imported, never analysed)."""
    from analysis.importer import import_checkpoints
    from analysis.runner import analyze_run

    root = tmp_path_factory.mktemp("export")
    write_checkpoints(root / "checkpoints")
    data_dir = root / "data"
    import_checkpoints(root / "checkpoints", data_dir, "exp")
    analyze_run(data_dir, "exp", progress=False, workers=1)
    import_checkpoints(root / "checkpoints", data_dir, "raw")
    return data_dir


@pytest.fixture
def offline_browser():
    """(driver, logs) of a headless Chromium whose network is off: a page that needs it fails to draw."""
    driver = start_chromium()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        yield driver, Logs(driver)
    finally:
        driver.quit()
