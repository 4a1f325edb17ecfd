"""Figures to PNG images, drawn by plotly.js in one headless Chromium, as the dashboard's browser draws them.

This is what kaleido does (Plotly.toImage on plotly.py's own plotly.js, through choreographer), without
kaleido's reload of its page after every image: each tab loads the page once and draws frame after frame.
Measured side by side on 2 busy cores, 41 ESD frames at 1920x920: kaleido 1.5 (2 tabs, its batch calc_fig)
19 s, this 7 s. The page loads nothing from the network: plotly.js is inlined and there is no MathJax."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
from concurrent.futures import Future
from pathlib import Path
from threading import Thread
from typing import Callable

import choreographer
import plotly.graph_objects as go
import plotly.io as pio
from choreographer.errors import ChromeNotFoundError
from plotly.offline import get_plotlyjs
from tqdm import tqdm

from spectrascope.errors import UserError

WIDTH, HEIGHT = 960, 450  # CSS pixels of a frame whose figure sets no width or height
TABS = min(4, os.cpu_count() or 1)  # two on 2 cores: 41 ESD frames in 2.5 s instead of 4
FRAME_PIXELS_WIDE = 1920  # every frame this wide, however wide its figure: full HD, sharp on a projector
PAGE = "<!DOCTYPE html><html><head><meta charset='utf-8'><script>{plotly}</script></head><body></body></html>"
NO_BROWSER = ("exporting images needs Chromium: install it (the Debian package chromium: sudo apt-get install -y "
              "chromium; in a checkout make install does it) or point BROWSER_PATH at a Chrome or Chromium; "
              "--format html needs no browser")


class Renderer:
    """A headless Chromium with a tab per core on the drawing page, started in a thread of its own when made,
    so its start-up (about 2.5 s) overlaps reading the run and building the frames. A context manager."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = Thread(target=self._loop.run_forever, name="renderer", daemon=True)
        self._thread.start()
        self._folder = tempfile.TemporaryDirectory(prefix="spectrascope-render-")
        self._browser = None
        self._tabs = self._run(self._start())

    def _run(self, coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> list:
        page = Path(self._folder.name) / "page.html"
        page.write_text(PAGE.format(plotly=get_plotlyjs()), encoding="utf-8")
        self._browser = choreographer.Browser(headless=True)  # ChromeNotFoundError: none installed
        await self._browser.open()
        tabs = [self._browser.get_tab()] + [await self._browser.create_tab() for _ in range(TABS - 1)]
        await asyncio.gather(*(_open(tab, page.as_uri()) for tab in tabs))
        return tabs

    def png_frames(self, figures: list[go.Figure],
                   progress: Callable[[int, int], None] = lambda done, total: None) -> list[bytes]:
        """Each figure as PNG bytes, laid out at its own width and height (WIDTH, HEIGHT where it sets none)
        and drawn FRAME_PIXELS_WIDE pixels wide; progress(frames drawn, frames) after each."""
        try:
            tabs = self._tabs.result()
        except ChromeNotFoundError:
            raise UserError(NO_BROWSER) from None
        return self._run(_draw(tabs, figures, progress)).result()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._tabs.exception() is None:  # waits for the start: a browser half started is closed too
                self._run(self._browser.close()).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._folder.cleanup()


async def _draw(tabs: list, figures: list[go.Figure], progress: Callable[[int, int], None]) -> list[bytes]:
    """Each tab (each renders in a process of its own) taking the next frame to draw."""
    images: list[bytes] = [b""] * len(figures)
    queue = iter(enumerate(figures))
    with tqdm(total=len(figures), desc="rendering", unit="frame", leave=False, disable=None) as bar:

        async def work(tab) -> None:
            for index, figure in queue:
                images[index] = await _png(tab, figure)
                bar.update()
                progress(bar.n, len(figures))

        await asyncio.gather(*(work(tab) for tab in tabs))
    return images


async def _open(tab, url: str) -> None:
    await tab.send_command("Page.enable")
    loaded = tab.subscribe_once("Page.loadEventFired")
    await tab.send_command("Page.navigate", params={"url": url})
    await loaded


async def _png(tab, figure: go.Figure) -> bytes:
    width = figure.layout.width or WIDTH
    options = {"format": "png", "width": width, "height": figure.layout.height or HEIGHT,
               "scale": FRAME_PIXELS_WIDE / width, "imageDataOnly": True}
    script = f"Plotly.toImage({pio.to_json(figure, validate=False)}, {json.dumps(options)})"
    reply = await tab.send_command("Runtime.evaluate", params={"expression": script, "awaitPromise": True,
                                                               "returnByValue": True})
    result = reply.get("result", {})
    if "exceptionDetails" in result or "error" in reply:
        raise RuntimeError(f"plotly.js could not draw a frame: {result.get('exceptionDetails') or reply['error']}")
    return base64.b64decode(result["result"]["value"])
