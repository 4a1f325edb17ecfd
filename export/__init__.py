"""Exports of a run's views over its epochs (`spectrascope export`): videos, standalone pages, images.

    load    what a view reads from the run, every problem a one-line UserError
    frames  one figure per epoch from the dashboard's figure builders, axes fixed over the epochs; animated
    views   each view's reading and frames
    render  figures to PNG in headless Chromium
    encode  PNGs to GIF and MP4
    output  checks the target, writes it atomically
    cli     the sub-command

Torch-free, like the dashboard: it reads the run's CSV and NPZ files only."""
