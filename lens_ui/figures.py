"""Plotly figure builders for the pages (no Streamlit here, so they are unit-testable on their own).

Every heatmap uses the same fixed diverging scale, −1 (blue) … 0 (white) … +1 (red), so two matrices can be
compared by eye; every loss figure can share its axes with others (``x_range`` / ``y_range``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from sslcore.data import PALETTE as NAMED_HUES

# Colours that stay apart for 2–4 runs and for a loss and its terms.
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22"]
# Factor values that name a colour ("red", "cyan", …) are drawn in that colour: the shapes dataset's own palette.
NAMED_COLOURS = {name: "#%02x%02x%02x" % tuple(round(255 * c) for c in rgb) for name, rgb in NAMED_HUES.items()}
FILTERED_OUT = "rgba(150,150,150,0.25)"
HEATMAP_SCALE = "RdBu_r"   # −1 blue, 0 white, +1 red
_MARGIN = dict(l=10, r=10, t=40, b=10)
# Plotly's toolbar stacked down the right edge: across the top (its default) it covered the titles of charts a few
# hundred pixels wide whenever the pointer was on them (the browser test's projector check finds that).
_TOOLBAR = dict(orientation="v")


def ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with debiasing; NaNs are skipped (carried over)."""
    v = np.asarray(values, dtype=float)
    if smoothing <= 0 or v.size == 0:
        return v
    out = np.empty_like(v)
    acc, weight = 0.0, 0.0
    for i, x in enumerate(v):
        if math.isfinite(x):
            acc = smoothing * acc + (1 - smoothing) * x
            weight = smoothing * weight + (1 - smoothing)
        out[i] = acc / weight if weight > 0 else float("nan")
    return out


def _empty(title: str, message: str, height: int) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#888"))
    fig.update_layout(modebar=_TOOLBAR, title=title, height=height, margin=_MARGIN, xaxis=dict(visible=False),
                      yaxis=dict(visible=False))
    return fig


def curves_figure(series: dict[str, tuple[Sequence[float], Sequence[float]]], *, title: str = "",
                  smoothing: float = 0.0, log_y: bool = False, x_title: str = "step", y_title: str = "",
                  x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None,
                  height: int = 340, colours: dict[str, str] | None = None,
                  reference: dict[str, float] | None = None, empty_message: str = "no data yet") -> go.Figure:
    """Line per series ``name: (x, y)``; with smoothing the raw line stays faint behind the smoothed one.
    ``reference`` draws dashed horizontal lines (e.g. a healthy value)."""
    if not any(len(x) for x, _ in series.values()):
        return _empty(title, empty_message, height)
    fig = go.Figure()
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = (colours or {}).get(name, PALETTE[i % len(PALETTE)])
        y = np.asarray(y, dtype=float)
        if smoothing > 0:
            fig.add_trace(go.Scatter(x=list(x), y=y, mode="lines", name=f"{name} (raw)", showlegend=False,
                                     line=dict(color=colour, width=1), opacity=0.25, hoverinfo="skip"))
            y = ema(y, smoothing)
        fig.add_trace(go.Scatter(x=list(x), y=y, mode="lines+markers" if len(x) < 3 else "lines", name=name,
                                 line=dict(color=colour, width=2)))
    for label, value in (reference or {}).items():
        fig.add_hline(y=value, line=dict(dash="dash", color="#888", width=1), annotation_text=label,
                      annotation_position="top left")
    small = height < 300
    # The legend goes below the tick labels (and the x title), with room made for it: at y −0.12 it sat on the
    # ticks, and at the top right plotly's toolbar covered it whenever the pointer was on the chart.
    legend = dict(orientation="h", yanchor="top", y=-0.25 if small else -0.32, xanchor="left", x=0)
    margin = _MARGIN | {"b": 55 if small else 100} if len(series) > 1 else _MARGIN | ({} if small else {"b": 40})
    fig.update_layout(modebar=_TOOLBAR, title=title, height=height, margin=margin, hovermode="x unified",
                      legend=legend,
                      showlegend=len(series) > 1, xaxis_title=None if small else x_title, yaxis_title=y_title)
    if log_y:
        fig.update_yaxes(type="log")
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return fig


def shared_range(values: Sequence[Sequence[float]], *, log: bool = False, pad: float = 0.05
                 ) -> tuple[float, float] | None:
    """One axis range covering every finite value (log axes take log10 ranges, as plotly wants)."""
    flat = np.concatenate([np.asarray(v, dtype=float) for v in values if len(v)] or [np.array([])])
    flat = flat[np.isfinite(flat)]
    if log:
        flat = flat[flat > 0]
        flat = np.log10(flat) if flat.size else flat
    if flat.size == 0:
        return None
    lo, hi = float(flat.min()), float(flat.max())
    span = hi - lo or abs(hi) or 1.0
    return lo - pad * span, hi + pad * span


def heatmap_figure(matrix: np.ndarray | None, *, title: str = "", height: int = 420,
                   empty_message: str = "no snapshot yet") -> go.Figure:
    """A k×k matrix on the fixed −1…1 diverging scale, row 0 at the top, square cells."""
    if matrix is None or np.size(matrix) == 0:
        return _empty(title, empty_message, height)
    m = np.asarray(matrix, dtype=float)
    fig = go.Figure(go.Heatmap(
        z=m, zmin=-1, zmax=1, zmid=0, colorscale=HEATMAP_SCALE,
        colorbar=dict(title="value", tickvals=[-1, -0.5, 0, 0.5, 1], thickness=12),
        hovertemplate="row %{y}, column %{x}<br>value %{z:.3f}<extra></extra>"))
    fig.update_layout(modebar=_TOOLBAR, title=title, height=height, margin=_MARGIN)
    fig.update_xaxes(showgrid=False, constrain="domain", title="dimension j")
    fig.update_yaxes(showgrid=False, autorange="reversed", scaleanchor="x", constrain="domain",
                     title="dimension i")
    return fig


def matrix_stats(matrix: np.ndarray) -> dict[str, float]:
    """Diagonal and off-diagonal summaries of a square matrix (what 'identity-like' means, in numbers)."""
    m = np.asarray(matrix, dtype=float)
    d = np.diagonal(m)
    off = m[~np.eye(m.shape[0], dtype=bool)] if m.shape[0] > 1 else np.zeros(1)
    return {"diag_mean": float(d.mean()), "diag_min": float(d.min()),
            "diag_above_0.9": float((d > 0.9).mean()),
            "offdiag_abs_mean": float(np.abs(off).mean()), "offdiag_abs_max": float(np.abs(off).max())}


def diagonal_figure(matrix: np.ndarray, *, height: int = 200) -> go.Figure:
    """The diagonal values as bars (1 everywhere for a perfect identity)."""
    d = np.diagonal(np.asarray(matrix, dtype=float))
    fig = go.Figure(go.Bar(x=list(range(d.size)), y=d, marker_color=np.where(d > 0.9, "#d62728", "#f4a582"),
                           hovertemplate="dimension %{x}: %{y:.3f}<extra></extra>"))
    fig.add_hline(y=1.0, line=dict(dash="dash", color="#888", width=1))
    fig.update_layout(modebar=_TOOLBAR, title="diagonal", height=height, margin=_MARGIN,
                      yaxis=dict(range=[-1.05, 1.05]),
                      xaxis_title="dimension", bargap=0.1)
    return fig


def scatter_figure(xy: np.ndarray, colour: Sequence[Any], *, colour_names: Sequence[str] | None = None,
                   title: str = "", hover: Sequence[str] | None = None, height: int = 520,
                   selected: Sequence[int] | None = None, highlight: Sequence[int] | None = None,
                   marker_size: int = 7, shown: Sequence[bool] | None = None,
                   named_colours: dict[str, str] | None = None) -> go.Figure:
    """A 2-D (WebGL ``Scattergl``) or 3-D (``Scatter3d``) embedding, one trace per colour value so the legend
    names them; a value whose name is a colour ("red") is drawn in that colour (``named_colours``, by default the
    shapes dataset's palette), the others take ``PALETTE`` in turn.

    ``customdata`` of every point is its row index in ``xy`` (what a selection or hover event reports).
    ``highlight`` rings the given rows (e.g. a query image's nearest neighbours); rows where ``shown`` is False
    (filtered out) are drawn faint grey in one trace of their own."""
    xy = np.asarray(xy, dtype=float)
    three_d = xy.ndim == 2 and xy.shape[1] >= 3
    colour = np.asarray(colour)
    hover = list(hover) if hover is not None else [str(i) for i in range(len(xy))]
    keep = np.ones(len(xy), bool) if shown is None else np.asarray(shown, bool)
    named = NAMED_COLOURS if named_colours is None else named_colours
    chosen = set(selected) if selected is not None else None

    def points(rows: np.ndarray, name: str, marker: dict, **kw) -> go.Scattergl | go.Scatter3d:
        coords = dict(x=xy[rows, 0], y=xy[rows, 1]) | (dict(z=xy[rows, 2]) if three_d else {})
        if three_d:
            marker = marker | dict(size=max(2, marker["size"] // 2))
            return go.Scatter3d(**coords, mode="markers", name=name, customdata=rows, marker=marker,
                                text=[hover[r] for r in rows], hovertemplate="%{text}<extra></extra>", **kw)
        return go.Scattergl(**coords, mode="markers", name=name, customdata=rows, marker=marker,
                            text=[hover[r] for r in rows], hovertemplate="%{text}<extra></extra>", **kw)

    fig = go.Figure()
    cycle = 0
    for value in np.unique(colour):
        rows = np.flatnonzero((colour == value) & keep)
        name = colour_names[int(value)] if colour_names is not None and _is_index(value, colour_names) else str(value)
        if name in named:
            hue = named[name]
        else:
            hue, cycle = PALETTE[cycle % len(PALETTE)], cycle + 1
        if not len(rows):
            continue
        extra = {} if three_d or chosen is None else {
            "selectedpoints": [j for j, r in enumerate(rows) if r in chosen]}
        fig.add_trace(points(rows, name, dict(size=marker_size, color=hue, opacity=0.85, line=dict(width=0)),
                             **extra))
    hidden = np.flatnonzero(~keep)
    if len(hidden):
        fig.add_trace(points(hidden, "filtered out", dict(size=marker_size, color=FILTERED_OUT, line=dict(width=0)),
                             hoverinfo="skip"))
    if highlight is not None and len(highlight):
        h = np.asarray(list(highlight), dtype=int)
        fig.add_trace(points(h, "neighbours", dict(size=marker_size + 8, color="rgba(0,0,0,0)",
                                                  line=dict(width=2, color="black"))))
    # A title inside the figure sits under plotly's toolbar: pages write it above the chart instead.
    fig.update_layout(modebar=_TOOLBAR, title=title or None, height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      dragmode="orbit" if three_d else "pan",
                      # below the plot: on the right, the toolbar covered the legend's names while hovering
                      legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.02, x=0),
                      clickmode="event+select")
    if three_d:
        axis = dict(showticklabels=False, title="", zeroline=False)
        fig.update_layout(scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"))
    else:
        fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
        fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x")
    return fig


def _is_index(value: Any, names: Sequence[str]) -> bool:
    try:
        return 0 <= int(value) < len(names) and float(value) == int(value)
    except (TypeError, ValueError):
        return False
