"""An exported HTML page stands alone: opened in headless Chromium with the network off, it draws its plot,
holds a frame per epoch, plays them, loads nothing from the network and logs no error."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import pytest

from browser_helpers import WAIT
from helpers import spectrascope
from spectrascope.health.bands import most_telling_layer
from spectrascope.runs import layers_frame, run_paths

_STATE = """
const plot = document.querySelector('.js-plotly-plot');
if (!plot || !plot._fullData) return null;
const title = plot.querySelector('.gtitle');
return {traces: plot._fullData.length, frames: plot._transitionData._frames.length,
        title: title ? title.textContent : ''};
"""


def test_the_page_plays_its_frames_offline_with_nothing_loaded_from_the_network(export_data, tmp_path,
                                                                                 offline_browser):
    page = tmp_path / "fc1.html"
    done = spectrascope("export", "--data-dir", export_data, "--run", "exp", "--view", "esd", "--layer", "fc1",
                        "--format", "html", "--out", page, "--fps", "20", timeout=120)
    assert done.returncode == 0, done.stderr
    driver, logs = offline_browser
    driver.get(page.as_uri())
    state = WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(_STATE), "the plot was never drawn")
    assert state["frames"] == 4 and state["traces"] >= 1 and state["title"].startswith("fc1 · epoch 0")
    driver.find_element(By.CSS_SELECTOR, ".updatemenu-button").click()  # play
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(_STATE)["title"].startswith("fc1 · epoch 3"),
                                      "playing never reached the last epoch")
    logs.drain()
    assert logs.severe() == []
    assert page.as_uri() in logs.request_urls()  # requests are logged: the page's own is there
    assert [url for url in logs.request_urls() if not url.startswith(("file:", "data:"))] == []


@pytest.mark.parametrize("view, tensor", [("esd", ""), ("histogram", ".weight")])
def test_without_layer_the_export_shows_the_one_the_dashboard_opens_on_and_says_so(export_data, tmp_path, view,
                                                                                    tensor):
    layer = most_telling_layer(layers_frame(run_paths(export_data, "exp")))
    page = tmp_path / "page.html"
    done = spectrascope("export", "--data-dir", export_data, "--run-id", "exp", "--view", view, "--format", "html",
                        "--out", page, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"spectrascope: no --layer given: showing {layer}, the layer the dashboard opens on"
    assert f'"text":"{layer}{tensor} \\u00b7 epoch 0' in page.read_text()  # each frame's title, as plotly's JSON
