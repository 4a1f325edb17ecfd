"""A figure as lean JSON for a page that holds many of them: numbers to float32 (seven digits, more than a plot
draws), the shared template left out (the page sets it once), and what every frame of an animation repeats
unchanged from the figure (a histogram's bin grid, each trace's style) said once, in the figure."""
from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

import figures


def template() -> dict:
    """The template every figure builder draws with."""
    return figures.TEMPLATE


def lean(figure: go.Figure | figures.Figure) -> dict:
    spec = _float32(go.Figure(figure).to_plotly_json())
    spec["layout"].pop("template", None)
    frames = spec.get("frames") or []
    for slot, trace in enumerate(spec["data"] if frames else []):  # every frame sets every trace (its slot)
        repeated = [key for key, value in frames[0]["data"][slot].items()
                    if trace.get(key) == value and all(frame["data"][slot].get(key) == value for frame in frames)]
        for frame in frames:
            for key in repeated:
                del frame["data"][slot][key]
    return spec


def to_json(spec: dict) -> str:
    """Compact JSON, safe inside a <script> element (plotly's encoder writes <, > and / escaped)."""
    return to_json_plotly(spec)


def _float32(value):
    """Plotly's base64 float64 arrays as float32, all through the nested spec."""
    if isinstance(value, dict):
        if value.get("dtype") == "f8" and "bdata" in value:
            numbers = np.frombuffer(base64.b64decode(value["bdata"]), dtype="<f8").astype("<f4")
            return {**value, "dtype": "f4", "bdata": base64.b64encode(numbers.tobytes()).decode()}
        return {key: _float32(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_float32(item) for item in value]
    return value
