"""Overlaid metric curves for Compare (plotly, no Streamlit): every chosen run on one chart per metric, each run in
its own colour on every chart, x = step / epoch / wall time.

Losses of different methods differ by orders of magnitude (SimCLR ≈ 5 next to Barlow Twins ≈ 800): on one raw
y-axis the small one is a flat line at 0. ``scale`` puts them on one footing — each curve divided by its first
value, or stretched to 0–1 between its own minimum and maximum — and ``auto_scale`` picks that when the ranges
are more than ``SPREAD_LIMIT`` apart.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from lens_ui.figures import PALETTE, ema

X_AXES = {"step": "step", "epoch": "epoch", "wall": "wall time (minutes since the run started)"}
SCALES = {"raw": "raw values", "first": "÷ first value (1 = where it started)", "minmax": "0–1 per run (min → max)"}
SPREAD_LIMIT = 10.0


def run_colours(run_ids: Sequence[str]) -> dict[str, str]:
    """One colour per run, by its place in the comparison — the same on every chart of the page."""
    return {run_id: PALETTE[i % len(PALETTE)] for i, run_id in enumerate(run_ids)}


def safe_label(text: str) -> str:
    """Plotly draws <b>, <a href> … in titles and legends: a run name is shown as the text it is."""
    return html.escape(" ".join(str(text).split()))


def curve(series: dict[str, list], x_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one metric of one run; wall time in minutes since the run's first row."""
    y = np.asarray(series["value"], dtype=float)
    if x_axis == "wall":
        wall = np.asarray(series["wall_time"], dtype=float)
        return (wall - wall[0]) / 60 if wall.size else wall, y
    return np.asarray(series[x_axis], dtype=float), y


def rescale(y: np.ndarray, scale: str) -> np.ndarray:
    finite = y[np.isfinite(y)]
    if scale == "first" and finite.size and finite[0] != 0:
        return y / abs(finite[0])
    if scale == "minmax" and finite.size:
        lo, hi = finite.min(), finite.max()
        return (y - lo) / (hi - lo) if hi > lo else np.zeros_like(y)
    return y


def auto_scale(curves: Sequence[np.ndarray]) -> str:
    """'first' when the curves' typical sizes differ more than SPREAD_LIMIT×, else 'raw'."""
    sizes = [float(np.median(np.abs(y[np.isfinite(y)]))) for y in curves if np.isfinite(y).any()]
    sizes = [s for s in sizes if s > 0]
    return "first" if len(sizes) > 1 and max(sizes) / min(sizes) > SPREAD_LIMIT else "raw"


def overlay_figure(metric: str, runs: dict[str, tuple[str, np.ndarray, np.ndarray]], colours: dict[str, str], *,
                   x_axis: str = "step", scale: str = "raw", smoothing: float = 0.0, log_y: bool = False,
                   height: int = 320) -> go.Figure:
    """``runs``: {run_id: (run name, x, y)}. One line per run in its colour; axis titles say what is drawn."""
    fig = go.Figure()
    for run_id, (name, x, y) in runs.items():
        y = rescale(np.asarray(y, dtype=float), scale)
        colour, label = colours[run_id], safe_label(name)
        if smoothing > 0 and len(y) > 2:
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=1), opacity=0.25,
                                     showlegend=False, hoverinfo="skip"))
            y = ema(y, smoothing)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers" if len(y) < 3 else "lines", name=label,
                                 line=dict(color=colour, width=2),
                                 hovertemplate=f"{label}<br>{X_AXES[x_axis]} %{{x:.3g}}<br>{safe_label(metric)} "
                                               f"%{{y:.4g}}<extra></extra>"))
    y_title = safe_label(metric) if scale == "raw" else f"{safe_label(metric)} ({SCALES[scale]})"
    fig.update_layout(title=dict(text=safe_label(metric), x=0, xanchor="left"), height=height,
                      margin=dict(l=10, r=10, t=60, b=10), hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                      xaxis_title=X_AXES[x_axis], yaxis_title=y_title)
    if log_y and scale != "minmax":
        fig.update_yaxes(type="log")
    return fig
