"""The browser tests' Chromium and page (tests/browser_helpers.py has the rest of what they share)."""
from __future__ import annotations

import pytest

from browser_helpers import Logs, load_dashboard, start_chromium


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; yields (driver, logs)."""
    driver = start_chromium()
    logs = Logs(driver)
    try:
        yield driver, logs
    finally:
        driver.quit()


@pytest.fixture
def page(browser, server):
    """The dashboard of the module's `server` freshly loaded, the run picker filled in; the browser's logs are
    kept after the test."""
    driver, logs = browser
    load_dashboard(driver, server)
    yield driver
    logs.drain()
