"""Monitor: one run, live — loss and its terms, the heatmap with a step slider, collapse diagnostics, speed, ETA.

The live part is an ``st.fragment`` that reruns itself every second while the run is queued or running (only the
fragment, never the whole page) and reads only the metric rows logged since its last look.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import streamlit as st

from lens_ui.common import (PAGES, STATUS_HELP, asset, format_duration, guarded, pick_run, runs_dir,
                            runs_or_stop, status_badge, store)
from lens_ui.figures import curves_figure, diagonal_figure, heatmap_figure, matrix_stats
from lens_ui.live import MetricCache, collapse_verdict, eta_seconds, loss_terms, steps_per_second
from lens_ui.text import plain
from sslcore.methods import METHODS

REFRESH_S = 1.0          # the live fragment's period
STORE_REFRESH_S = 5.0    # how often it also lets the store repair dead runs / start queued ones


@st.cache_data(max_entries=256, show_spinner=False)
def _snapshot(root: str, run_id: str, step: int, kind: str):
    """Snapshot files never change once written, so they are cached by (folder, run, step, kind)."""
    return store().load_snapshot(run_id, step, kind)


def _cache(run_id: str) -> MetricCache:
    cache = st.session_state.get("monitor.cache")
    if cache is None or cache.run_id != run_id:
        cache = MetricCache(run_id)
        st.session_state["monitor.cache"] = cache
    return cache


def _fmt(v: float | None, spec: str = ".4g") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


st.title("📈 Monitor")
runs = runs_or_stop("No runs yet. Launch one on the **Train** page; it shows up here while it trains.")

top1, top2 = st.columns([3, 1])
with top1:
    run = pick_run(runs, key="monitor.run", prefer="active")
cfg = store().config(run.id)
dim = cfg.method.projector_dim if cfg.method.name not in ("random", "supervised") else None
with top2:
    st.page_link(PAGES["embeddings"], label="Embeddings of this run", icon="🗺️", query_params={"run": run.id})
    st.page_link(PAGES["compare"], label="Compare with others", icon="⚖️", query_params={"runs": run.id})
st.caption(f"{cfg.method.name} · {cfg.data.dataset} ({cfg.data.image_size} px) · backbone {cfg.method.backbone} · "
           f"{cfg.optim.epochs} epochs × batch {cfg.optim.batch_size} · lr {cfg.optim.lr:g} · augment "
           f"{cfg.augment.preset} × {cfg.augment.strength:g} · projector {cfg.method.projector_dim} · seed {cfg.seed}"
           + (f" · λ {cfg.method.lambd:g}" if cfg.method.name == "barlow_twins" else "")
           + (f" · temperature {cfg.method.temperature:g}" if cfg.method.name in ("simclr", "moco") else "")
           + ("" if cfg.method.stop_gradient or cfg.method.name != "simsiam" else " · **no stop-gradient**"))


@guarded("Live view")
def live(run_id: str) -> None:
    s = store()
    now = time.time()
    refresh = now - st.session_state.get("monitor.refreshed", 0) > STORE_REFRESH_S
    if refresh:
        st.session_state["monitor.refreshed"] = now
    info = s.get(run_id, refresh=refresh)
    was_live = st.session_state.get("monitor.live_run") == run_id
    if was_live and not info.active:
        st.session_state["monitor.live_run"] = None
        st.rerun(scope="app")  # it just ended: one full redraw turns the timer off
    st.session_state["monitor.live_run"] = run_id if info.active else None

    cache = _cache(run_id)
    cache.update(s, info.step)
    rate = steps_per_second(cache)
    eta = eta_seconds(info.step, info.total_steps, rate) if info.active else None
    pairs = cache.latest("pairs_per_s")

    # ---- status row ----
    st.markdown(f"{status_badge(info.status)} &nbsp; {STATUS_HELP.get(info.status, '')}")
    st.progress(info.progress, text=f"{info.progress:.0%} of {info.total_steps or '?'} steps"
                + (f" · about {format_duration(eta)} left" if eta else ""))
    m = st.columns(5)
    m[0].metric("Step", f"{info.step}", help=f"of {info.total_steps} steps")
    loss, prev = cache.latest("loss"), cache.previous("loss", 5)
    m[1].metric("Loss", _fmt(loss), delta=None if loss is None or prev is None else f"{loss - prev:+.3g}",
                delta_color="inverse", help="latest logged value; the change over the last 5 logged steps")
    m[2].metric("Pairs / s", _fmt(pairs, ".0f"), help="training throughput: image pairs per second")
    elapsed = ((info.ended or now) - info.started) if info.started else None
    m[3].metric("Elapsed", format_duration(elapsed))
    m[4].metric("ETA", format_duration(eta) if info.active else "—",
                help="remaining steps ÷ recent steps per second")
    if info.error:
        st.error(f"{info.status}: {plain(info.error)}", icon="💥" if info.status == "diverged" else "❌")
    if info.status == "queued":
        st.info("Waiting for a free device slot: another run is training. It starts by itself.", icon="⏳")

    # ---- loss and heatmap ----
    left, right = st.columns([1.25, 1])
    with left:
        terms = loss_terms(set(cache.data))
        k1, k2, k3 = st.columns([1.3, 1.3, 0.8], vertical_alignment="bottom")
        with_terms = k1.toggle("Show the loss terms", value=True, key="monitor.terms",
                               help="the parts the loss is made of, e.g. Barlow Twins' invariance and redundancy")
        shown = ["loss"] + (terms if with_terms else [])
        smoothing = k2.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="monitor.smoothing",
                              help="exponential moving average; the raw curve stays faint behind")
        log_y = k3.toggle("Log y", key="monitor.log", value=False)
        series = {name: cache.series(name) for name in shown}
        fig = curves_figure(series, title="Loss and its terms", smoothing=smoothing, log_y=log_y,
                            empty_message="waiting for the first logged step…")
        fig.update_layout(uirevision=run_id)
        st.plotly_chart(fig, key="monitor.loss_chart", config={"displaylogo": False})
    with right:
        heatmap_panel(run_id, info.active)

    # ---- collapse diagnostics and speed ----
    st.subheader("Collapse diagnostics")
    verdict, why = collapse_verdict(cache.latest("embedding_std"), cache.latest("rankme"), dim,
                                    cfg.optim.batch_size)
    {"healthy": st.success, "collapsed": st.error, "dimensional": st.warning, "unknown": st.info}[verdict](
        f"**{verdict}** — {why}")
    d = st.columns(4)
    ref = {"healthy ≈ 1/√D": 1 / math.sqrt(dim)} if dim else None
    small = dict(height=230, smoothing=0.0)
    d[0].plotly_chart(curves_figure({"embedding_std": cache.series("embedding_std")}, title="embedding std",
                                    reference=ref, **small), key="monitor.std", config={"displaylogo": False})
    d[1].plotly_chart(curves_figure({"rankme": cache.series("rankme")}, title="RankMe (effective rank)", **small),
                      key="monitor.rankme", config={"displaylogo": False})
    d[2].plotly_chart(curves_figure({"alignment": cache.series("alignment"),
                                     "uniformity": cache.series("uniformity")}, title="alignment & uniformity",
                                    **small), key="monitor.align", config={"displaylogo": False})
    d[3].plotly_chart(curves_figure({"pairs/s": cache.series("pairs_per_s")}, title="throughput (pairs/s)",
                                    **small), key="monitor.speed", config={"displaylogo": False})
    st.caption(f"Learning rate now: {_fmt(cache.latest('lr'), '.2e')} (linear warm-up, then cosine decay).")
    accs = sorted(n for n in cache.data if "accuracy" in n)
    if accs:
        st.plotly_chart(curves_figure({n: cache.series(n) for n in accs}, title="training accuracies", height=230),
                        key="monitor.acc", config={"displaylogo": False})


def heatmap_panel(run_id: str, active: bool) -> None:
    s = store()
    method = METHODS.get(cfg.method.name)
    kinds = {}
    if s.snapshots(run_id, "matrix") or (method is not None and method.matrix_name):
        kinds["matrix"] = method.matrix_name if method is not None and method.matrix_name else "method's matrix"
    kinds["xcorr"] = "embeddings' cross-correlation"
    kind = st.radio("Matrix", list(kinds), format_func=kinds.get, horizontal=True, key="monitor.kind",
                    help="the method's own matrix, or the cross-correlation of the two views' embeddings "
                         "(the same picture for every method)")
    snaps = s.snapshots(run_id, kind)
    if not snaps:
        st.plotly_chart(heatmap_figure(None, title=kinds[kind], empty_message="waiting for the first snapshot…"),
                        key="monitor.heatmap", config={"displaylogo": False})
        return
    steps = [r["step"] for r in snaps]
    s1, s2 = st.columns([3, 1.2], vertical_alignment="bottom")
    follow = active and s2.toggle("Follow latest", value=True, key="monitor.follow",
                                  help="while the run trains, show each new snapshot as it arrives; turn off to "
                                       "scrub through the earlier ones")
    if active and follow:
        step = steps[-1]
        s1.caption(f"Showing the newest snapshot (step {step} of {len(steps)} so far). Turn *Follow latest* off "
                   "to scrub through the earlier ones.")
    else:
        step = s1.select_slider("Snapshot at step", steps, value=steps[-1], key="monitor.step",
                                help="drag to scrub through the snapshots taken during training")
    matrix = _snapshot(str(runs_dir()), run_id, step, kind)
    fig = heatmap_figure(matrix, title=f"{kinds[kind]} · step {step}", height=430)
    fig.update_layout(uirevision=f"{run_id}-{kind}")
    st.plotly_chart(fig, key="monitor.heatmap", config={"displaylogo": False})
    ms = matrix_stats(matrix)
    c = st.columns(4)
    c[0].metric("diagonal", f"{ms['diag_mean']:.3f}",
                help="mean of the diagonal: → 1 when matching dimensions agree across the two views")
    c[1].metric("diag > 0.9", f"{ms['diag_above_0.9']:.0%}", help="share of dimensions that agree well")
    c[2].metric("off-diag", f"{ms['offdiag_abs_mean']:.3f}",
                help="mean |off-diagonal|: → 0 when different dimensions are decorrelated")
    c[3].metric("off-diag max", f"{ms['offdiag_abs_max']:.3f}", help="largest |off-diagonal| value")
    st.caption(f"Top-left {matrix.shape[0]}×{matrix.shape[1]} block of the matrix, fixed scale −1 (blue) … +1 (red).")
    st.plotly_chart(diagonal_figure(matrix, height=170), key="monitor.diag", config={"displaylogo": False})


with st.container():
    st.fragment(live, run_every=REFRESH_S if run.active else None)(run.id)

with st.expander("How to read this page: a healthy and a collapsed matrix", expanded=False):
    st.markdown(asset("monitor.md"))
with st.expander("Trainer log (last 40 lines)"):
    log = Path(store().run_dir(run.id)) / "log.txt"
    st.code("\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log yet)",
            language=None)
