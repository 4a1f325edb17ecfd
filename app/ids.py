"""Ids of the frame's components that the tabs listen to: here, not in app.shell, which imports the tabs."""

RUN_PICKER = "run-picker"
RUN_VERSION = "run-version"
TAB_STRIP = "tabs"
LIVE_INTERVAL = "live-interval"
