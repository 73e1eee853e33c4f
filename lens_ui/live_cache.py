"""What the live pages share across every session of one server process: the run store's upkeep, each run's metric
rows, and the figures drawn from them.

Watching a run must not cost the run (issue 12). So a viewer's refresh only reads (``RunStore.get`` is a plain
read); the store's repair — marking dead runs failed, starting queued runs — runs in one ``upkeep`` thread per runs
folder, every ``UPKEEP_S`` seconds, for everyone. A run's row is read once per ``ROW_FRESH_S`` for all viewers
(``run_info``), its snapshot list and its new metric rows once per new step (``snapshot_steps``, ``run_metrics``),
and each figure is built once per (run, frame, options) for all viewers (``curves``, ``snapshot_view``; a frame
follows the run's step at most once per ``FRAME_EVERY_S``, so viewers who refresh at different moments of a fast run
share one figure; ``heatmap_png``: the live heatmap as an image). A refresh that finds no new step builds nothing,
the built figure hands Streamlit its dict without a copy (``SettledFigure``), and Streamlit sends an unchanged large
chart as a reference to the copy the browser already holds.
"""
from __future__ import annotations

import bisect
import io
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from lens_ui.figures import HEATMAP_SCALE, curves_figure, diagonal_figure, heatmap_figure, matrix_stats
from lens_ui.live import MetricCache
from sslcore.runs import RunInfo, RunStore

UPKEEP_S = 2.0        # how often the server repairs the store (the trainer's heartbeat comes every 2 s)
# A run's row is read at most this often for all viewers (run_info). Every fragment rerun runs in a new thread, and
# the store's connections are per thread: each viewer's read opened a SQLite connection (9 % of the server's CPU with
# 10 viewers, sampled 2026-11-26). 0.2 s adds at most that to the lag (goal: a new step visible within 2 s).
ROW_FRESH_S = 0.2
MAX_POINTS = 600      # points per curve sent to the browser (a chart is ~600 px wide); longer histories thinned
# How often the figures of a live run move on, for everyone (figure_step): the loss curve and heatmap, the diagnostics.
FRAME_EVERY_S = {"charts": 1.0, "diagnostics": 4.0}

# How many times each figure kind was built in this process (the tests read it: no new step → no new figure).
BUILDS: Counter[str] = Counter()


# ---------------------------------------------------------------------------------------------------------------
# Upkeep: the store's repair on its own cadence, once per server process and runs folder
# ---------------------------------------------------------------------------------------------------------------
class Upkeep:
    """A daemon thread that calls ``RunStore.refresh()`` every ``period`` seconds until the folder goes away or
    ``stop()`` is called. An error (a locked or damaged store) is kept in ``error`` and retried next period."""

    def __init__(self, root: str, period: float = UPKEEP_S):
        self.root, self.period = root, period
        self.rounds, self.error = 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"ssl-lens-upkeep:{root}")
        self._thread.start()
        _STARTED.append(self)

    def _loop(self) -> None:
        store = None
        while not self._stop.is_set():
            if not (Path(self.root) / "runs.sqlite").exists():
                return  # the folder was removed (a test's temporary folder): nothing left to look after
            try:
                store = store or RunStore(self.root)
                store.refresh()
                self.rounds, self.error = self.rounds + 1, None
            except Exception as e:  # noqa: BLE001 — keep trying; the pages show the store's own errors
                self.error = f"{type(e).__name__}: {e}"
            self._stop.wait(self.period)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_STARTED: list[Upkeep] = []   # every upkeep of this process, so a test's teardown can stop them all


@st.cache_resource(show_spinner=False, max_entries=16)
def upkeep(root: str) -> Upkeep:
    """The one upkeep thread of this server process for the runs folder ``root``."""
    return Upkeep(root)


def stop_all_upkeep() -> None:
    """Stop every upkeep thread of this process. For tests: a page test that queued runs with the trainer patched
    out must not leave a thread that later starts real trainers for them once the patch is gone."""
    upkeep.clear()
    while _STARTED:
        _STARTED.pop().stop()


# ---------------------------------------------------------------------------------------------------------------
# A run's metric rows, read once per new step for every viewer
# ---------------------------------------------------------------------------------------------------------------
class SharedMetrics:
    """One ``MetricCache`` per run for all sessions; the lock lets one session read the new rows while the others
    wait a moment and then use them."""

    def __init__(self, run_id: str):
        self.cache = MetricCache(run_id)
        self.lock = threading.Lock()
        self.reads = 0                  # store reads done (tests: no new step → no read)
        self._read_for: int | None = None   # the run's step at the last read
        self._frames: dict[str, tuple[int, float]] = {}
        self._info: tuple[float, RunInfo] | None = None
        self._snapshots: dict[str, tuple[tuple[int, str], list[int]]] = {}

    def info(self, store: RunStore, fresh: float) -> RunInfo:
        """The run's row, read at most once per ``fresh`` seconds for everyone."""
        with self.lock:
            now = time.monotonic()
            if self._info is None or now - self._info[0] >= fresh:
                self._info = (now, store.get(self.cache.run_id))
            return self._info[1]

    def snapshot_steps(self, store: RunStore, kind: str, info: RunInfo) -> list[int]:
        """The steps of the run's ``kind`` snapshots, read again only when the run's step or status moved (the
        trainer logs a step's metrics before its snapshot: the status change of the end reads the last one)."""
        with self.lock:
            known, now = self._snapshots.get(kind), (info.step, info.status)
            if known is None or known[0] != now:
                known = self._snapshots[kind] = (now, [r["step"] for r in store.snapshots(self.cache.run_id, kind)])
            return known[1]

    def _catch_up(self, store: RunStore, step: int) -> None:
        if step != self._read_for:
            self.cache.update(store, step)
            self._read_for = step
            self.reads += 1

    def at(self, store: RunStore, step: int) -> MetricCache:
        """The run's rows up to ``step`` (the run's current step, from its row in the runs table)."""
        with self.lock:
            self._catch_up(store, step)
        return self.cache

    def frame(self, store: RunStore, step: int, name: str, every: float) -> int:
        """The step at which the figures called ``name`` are drawn, the same for every viewer: it follows the run
        at most once per ``every`` seconds. Viewers refresh at different moments, and a run logs many steps a
        second; keyed by the run's latest step, each viewer would build its own figure."""
        with self.lock:
            now = time.monotonic()
            drawn = self._frames.get(name)
            if drawn is None or now - drawn[1] >= every:
                self._catch_up(store, step)
                if drawn is None or drawn[0] != self.cache.last_step:
                    drawn = self._frames[name] = (self.cache.last_step, now)
            return drawn[0]


@st.cache_resource(show_spinner=False, max_entries=64)
def _shared_metrics(root: str, run_id: str) -> SharedMetrics:
    return SharedMetrics(run_id)


def run_metrics(store: RunStore, run_id: str, step: int) -> MetricCache:
    """All metric rows of ``run_id`` logged so far, shared by every session; the store is read only when the run's
    step moved since the last read."""
    return _shared_metrics(str(store.root), run_id).at(store, step)


def run_info(store: RunStore, run_id: str) -> RunInfo:
    """The run's row (``RunStore.get``) as read by any viewer in the last ``ROW_FRESH_S`` seconds."""
    return _shared_metrics(str(store.root), run_id).info(store, ROW_FRESH_S)


def snapshot_steps(store: RunStore, run_id: str, kind: str, info: RunInfo) -> list[int]:
    """The steps of the run's ``kind`` snapshots, read once per step of the run (``info``: its row) for everyone."""
    return _shared_metrics(str(store.root), run_id).snapshot_steps(store, kind, info)


def figure_step(store: RunStore, run_id: str, step: int, name: str) -> int:
    """The step the figures ``name`` ("charts", "diagnostics") of a run are drawn at now, for every viewer (it
    moves at most once per ``FRAME_EVERY_S[name]``)."""
    return _shared_metrics(str(store.root), run_id).frame(store, step, name, FRAME_EVERY_S[name])


def series_until(cache: MetricCache, name: str, step: int, max_points: int = MAX_POINTS) -> tuple[list, list]:
    """(steps, values) of ``name`` up to ``step`` — a figure keyed by ``step`` shows exactly that, even when
    another viewer's read has already brought newer rows — thinned to at most ``max_points`` (the last point
    always kept)."""
    x, y = cache.series(name)
    end = bisect.bisect_right(x, step)
    x, y = x[:end], y[:end]
    if len(x) <= max_points:
        return list(x), list(y)
    stride = -(-len(x) // max_points)
    keep = list(range(0, len(x) - 1, stride)) + [len(x) - 1]
    return [x[i] for i in keep], [y[i] for i in keep]


# ---------------------------------------------------------------------------------------------------------------
# Figures, built once per (run, step, options) for every viewer
# ---------------------------------------------------------------------------------------------------------------
class SettledFigure(go.Figure):
    """A figure that is finished: built once, shown many times. ``st.plotly_chart`` turns a figure into a dict on
    every call (plotly's deep copy and base64 packing: 2.9 ms for a 600-step loss chart, 0.09 ms to encode the dict
    itself; /tmp measurement 2026-11-25 on the busy 2-core machine); this one makes its dict once and hands it out
    after that. Nothing may change it once settled."""

    def __init__(self, figure: go.Figure):
        super().__init__(figure)
        self._settled = super().to_dict()

    def to_dict(self) -> dict:
        return self._settled


# st.cache_resource, not cache_data: sessions share the figure object itself (cache_data would unpickle a copy per
# rerun); st.plotly_chart only serialises it. Every argument is part of the key, so a new step is a new figure.
@st.cache_resource(show_spinner=False, max_entries=256)
def curves(root: str, run_id: str, step: int, names: tuple[str, ...], *, title: str, labels: tuple[str, ...] = (),
           smoothing: float = 0.0, log_y: bool = False, height: int = 340, reference: tuple = (),
           layout: tuple = (), empty_message: str = "no data yet") -> go.Figure:
    """``curves_figure`` of the run's metrics ``names`` (shown as ``labels`` when given) up to ``step``; ``layout``:
    (name, value) pairs for ``update_layout``, e.g. (("yaxis_title", "fraction"),)."""
    BUILDS["curves"] += 1
    cache = _shared_metrics(root, run_id).cache
    series = {label: series_until(cache, name, step) for name, label in zip(names, labels or names)}
    fig = curves_figure(series, title=title, smoothing=smoothing, log_y=log_y, height=height,
                        reference=dict(reference) or None, empty_message=empty_message)
    fig.update_layout(uirevision=run_id, **dict(layout))  # zoom and hidden traces survive the next step's figure
    return SettledFigure(fig)


@st.cache_resource(show_spinner=False, max_entries=128)
def snapshot_view(_store: RunStore, root: str, run_id: str, step: int | None, kind: str, title: str, *,
                  unit: str = "dimension", softmax_temperature: float | None = None
                  ) -> tuple[go.Figure, dict | None, go.Figure | None]:
    """The heatmap, its summary numbers and the diagonal bars of one snapshot (files never change once written);
    with ``step=None`` an empty heatmap that waits for the first one. ``_store`` (not hashed) is ``root``'s store.
    ``unit`` names the rows and columns ("dimension", "image"); with ``softmax_temperature`` the heatmap shows each
    row's softmax of similarity / temperature — the matrix as a contrastive loss sees it — and the numbers stay
    those of the raw matrix."""
    BUILDS["snapshot"] += 1
    if step is None:
        return SettledFigure(heatmap_figure(None, title=title, empty_message="waiting for the first snapshot…")), \
            None, None
    matrix = _store.load_snapshot(run_id, step, kind)
    shown = _as_shown(matrix, softmax_temperature)
    fig = heatmap_figure(shown, title=title, height=430)
    fig.update_xaxes(title=f"{unit} j (view 2)")
    fig.update_yaxes(title=f"{unit} i (view 1)")
    fig.update_layout(uirevision=f"{run_id}-{kind}")
    return (SettledFigure(fig), matrix_stats(matrix) | {"shape": matrix.shape},
            SettledFigure(diagonal_figure(matrix, height=170)))


def _as_shown(matrix: np.ndarray, softmax_temperature: float | None) -> np.ndarray:
    """The matrix as the heatmap shows it: raw, or each row's softmax of similarity / temperature."""
    if not softmax_temperature:
        return matrix
    sims = matrix.astype(float) / softmax_temperature
    probs = np.exp(sims - sims.max(1, keepdims=True))
    return probs / probs.sum(1, keepdims=True)


HEATMAP_PX = 384   # the live heatmap image's side, about the plotly heatmap's


@st.cache_resource(show_spinner=False, max_entries=64)
def heatmap_png(_store: RunStore, root: str, run_id: str, step: int, kind: str,
                softmax_temperature: float | None = None) -> bytes:
    """The snapshot as a PNG on the heatmap's fixed −1…+1 scale (HEATMAP_SCALE), each value a square of pixels,
    row 0 at the top — what the Monitor shows while it follows a live run. A new plotly heatmap costs the browser
    a full chart build at every snapshot; an image is decoded and drawn. Built once per snapshot for all viewers."""
    import plotly.colors
    from PIL import Image

    BUILDS["png"] += 1
    m = _as_shown(_store.load_snapshot(run_id, step, kind).astype(float), softmax_temperature)
    palette = np.array([plotly.colors.unlabel_rgb(c) for c in plotly.colors.sample_colorscale(
        plotly.colors.get_colorscale(HEATMAP_SCALE), np.linspace(0, 1, 256))]).round().astype(np.uint8)
    index = np.clip(np.rint((np.nan_to_num(m) + 1) / 2 * 255), 0, 255).astype(np.intp)
    scale = max(1, HEATMAP_PX // max(m.shape))
    image = Image.fromarray(palette[index]).resize((m.shape[1] * scale, m.shape[0] * scale), Image.NEAREST)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
