"""An export's frames: one figure per epoch, drawn by the dashboard's own figure builders, every axis fixed over
all the epochs exported so that motion on screen means change in the weights; and the same frames as one
animated figure with play/pause and a slider. Pure: data in, figures out (plotly's objects: an export's frames are
read, restyled and joined, and the checks of plotly.graph_objects cost little beside drawing them)."""
from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go

import figures
from export.load import Spectrum, TensorHistogram

SLIDER_PIXELS = 110  # below an animated figure: its play button and slider


def histogram_frames(tensor: TensorHistogram, unit: str = "epoch") -> list[go.Figure]:
    """The tensor's histogram per epoch on its fixed bins, over the bulk of all its epochs' values."""
    x_range = figures.bulk_range(tensor.edges, tensor.densities)
    return [go.Figure(figures.histogram(tensor.edges, density, title=f"{tensor.layer}.{tensor.kind} · {unit} {epoch}",
                                        x_range=x_range, y_over=tensor.densities))
            for epoch, density in zip(tensor.epochs, tensor.densities)]


def esd_frames(epochs: list[int], spectra: list[Spectrum], unit: str = "epoch") -> list[go.Figure]:
    """One layer's ESD per epoch (spectra in the order of epochs), with its power law, xmin and alpha."""
    drawn = [figures.esd(spectrum.eigenvalues, spectrum.fit, randomized=spectrum.randomized,
                         title=f"{spectrum.layer} · {unit} {epoch}") for epoch, spectrum in zip(epochs, spectra)]
    return [go.Figure(frame) for frame in figures.share_log_axes(drawn)]


def grid_frames(epochs: list[int], spectra: list[list[Spectrum]], unit: str = "epoch") -> list[go.Figure]:
    """Every layer's ESD side by side per epoch; each panel keeps its own axes across epochs."""
    drawn = [figures.esd_grid([(s.layer, s.eigenvalues, s.fit) for s in layers],
                              title=f"every layer's ESD · {unit} {epoch}") for epoch, layers in zip(epochs, spectra)]
    return [go.Figure(frame) for frame in figures.share_log_axes(drawn)]


def alpha_frames(table: pd.DataFrame, epochs: list[int], unit: str = "epoch") -> list[go.Figure]:
    """The epoch x layer alpha heatmap filling in: at each epoch the later cells are blank, so every frame has
    the same epochs and layers on its axes."""
    frames = []
    for epoch in epochs:
        later = table["epoch"] > epoch
        shown = table.assign(alpha=table["alpha"].mask(later), warning=table["warning"].mask(later, ""))
        if "rand_num_spikes" in shown:
            shown["rand_num_spikes"] = shown["rand_num_spikes"].mask(later, 0)
        heatmap = go.Figure(figures.alpha_heatmap(shown, unit))
        frames.append(heatmap.update_layout(title=f"alpha per layer · {unit} {epoch}"))
    return frames


def _slot(trace, seen: dict) -> tuple:
    """What a trace is, the same in every frame: its type, axes and role (the first word of its name: `power`
    for the fitted line whatever its alpha), and which of several alike it is."""
    role = re.match(r"[^\W\d_]*", trace.name or "").group()
    key = (trace.type, trace.xaxis, trace.yaxis, role)
    seen[key] = seen.get(key, -1) + 1
    return (*key, seen[key])


def _by_slot(frame: go.Figure) -> dict:
    seen = {}
    return {_slot(trace, seen): trace for trace in frame.data}


def animated(frames: list[go.Figure], epochs: list[int], fps: float, unit: str = "epoch") -> go.Figure:
    """The frames as one figure that plays over the epochs, with play/pause and an epoch slider. A plotly frame
    updates the figure's traces by position and keeps what it does not set, so each kind of trace keeps one
    position (its slot) in every frame; a frame without it (a fit that failed at that epoch) hides it."""
    per_frame = [_by_slot(frame) for frame in frames]
    slots = list(dict.fromkeys(slot for traces in per_frame for slot in traces))
    first = {slot: next(traces[slot] for traces in per_frame if slot in traces) for slot in slots}

    def in_frame(traces: dict, slot: tuple):
        kind = type(first[slot])
        return kind(traces[slot], visible=True) if slot in traces else kind(visible=False)

    opening = [in_frame(per_frame[0], slot) if slot in per_frame[0] else type(first[slot])(first[slot], visible=False)
               for slot in slots]  # a slot's first trace, hidden, styles it until a frame shows it
    figure = go.Figure(data=opening, layout=frames[0].layout)
    figure.frames = [go.Frame(name=str(epoch), data=[in_frame(traces, slot) for slot in slots],
                              layout=dict(title=frame.layout.title, annotations=frame.layout.annotations))
                     for epoch, frame, traces in zip(epochs, frames, per_frame)]
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(frame=dict(duration=1000 / fps, redraw=True), transition=dict(duration=0), fromcurrent=True)
    height = (frames[0].layout.height or 450) + SLIDER_PIXELS
    margin = frames[0].layout.margin.to_plotly_json()
    return figure.update_layout(
        height=height, margin={**margin, "b": margin.get("b", 0) + SLIDER_PIXELS},
        updatemenus=[dict(type="buttons", direction="left", x=0, y=0, xanchor="left", yanchor="top",
                          pad=dict(t=60, r=10), showactive=False,
                          buttons=[dict(label="▶ play", method="animate", args=[None, play]),
                                   dict(label="❚❚ pause", method="animate", args=[[None], still])])],
        sliders=[dict(active=0, x=0.12, len=0.88, y=0, yanchor="top", pad=dict(t=50),
                      currentvalue=dict(prefix=f"{unit} ", xanchor="right"),  # clear of the buttons
                      steps=[dict(label=str(epoch), method="animate", args=[[str(epoch)], still])
                             for epoch in epochs])])
