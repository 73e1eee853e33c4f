"""Monitor: one run, live — loss and its terms, the heatmap with a step slider, collapse diagnostics, speed, ETA.

While the run is queued or running, three fragments rerun by themselves (never the whole page): the headline numbers
every refresh (1 s by default, a setting), the loss curve, the newest heatmap (an image while it follows the run)
and the collapse check every 10 s. Their controls are drawn once per page run, outside the fragments, so a refresh
re-sends only what changes. The charts that change least while training (the heatmap's diagonal bars, the
diagnostics charts) are drawn once the run ends, or on request: on a laptop that also trains, each chart the browser
redraws is CPU the training loses (issue 12). A refresh only reads — the run's row, and its new metric rows once for
all viewers (``lens_ui.live_cache``) — and each figure is built once per (run, step) for all viewers, so a refresh
that finds no new step builds nothing. A run whose step stops moving is looked at less often.
"""
from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import streamlit as st

from lens_ui.common import (PAGES, STATUS_HELP, asset, format_duration, guarded, pick_run, runs_or_stop,
                            status_badge, store)
from lens_ui.live import collapse_verdict, eta_seconds, loss_terms, steps_per_second
from lens_ui.live_cache import (curves, figure_step, heatmap_png, run_info, run_metrics, snapshot_steps,
                                snapshot_view)
from lens_ui.text import plain
from sslcore.export import metrics_csv
from sslcore.methods import METHODS

# The headline's period by the "Live refresh" setting: a newly logged step shows within one period (goal ≤ 2 s).
REFRESH_CHOICES = {"1 s": 1.0, "2 s": 2.0, "5 s": 5.0}
# While the run trains on the viewer's own machine, every chart the browser redraws is CPU the trainer's two threads
# lose (both stall when either core is taken). A changed chart is a new plotly chart in the browser (Streamlit keys
# it by its content): 30–100 ms of CPU each, and any fragment rerun costs ~20 ms more (headless Chromium, 2-core
# machine, 2026-11-26; BENCHMARKS.md "live view"). So the charts follow the run at a slower pace than the numbers,
# and the charts that change least (the diagonal bars, the diagnostics) wait for the run's end or a click.
# The loss curve and heatmap refresh at most this often (never faster than the headline). A redrawn heatmap is the
# largest part of a tab's CPU: a tab of this page took 11.0 % of a core with the charts every 5 s, 7.8 % every 10 s,
# 7.3 % with the heatmap not refreshed, 5.5 % with only the headline refreshing, 1.9 % with nothing (fake run at 28
# steps/s, headless Chromium, 4 × 12 s each, exclusive CPU lock, 2026-11-26 04:10 UTC).
CHARTS_S = 10.0
DIAGNOSTICS_S = 10.0      # the collapse check (and its charts, when shown) refresh at most this often
STALLED_S = 30.0          # a run whose step has not moved for this long (queued, evaluating, stuck) ...
STALLED_PERIOD_S = 5.0    # ... is refreshed this often until it moves again
CHART = {"displaylogo": False}
# The four diagnostics charts are a few hundred pixels wide on a projector: plotly's toolbar would cover their
# titles, so they have none (Streamlit's full-screen button still enlarges one).
SMALL_CHART = CHART | {"displayModeBar": False}
# Methods whose own matrix compares images (row i: view 1 of image i; column j: view 2 of image j), not dimensions.
IMAGE_MATRICES = ("simclr", "moco")
# Why a loss term can rise while the total falls, per method (the loss card and the curve would otherwise alarm).
ACCURACIES_EXPLAINED = {
    "contrastive_accuracy": "**contrastive accuracy**: how often a view's most similar other view in the batch is "
                            "its own partner; chance is 1 / (2 × batch − 1) = {chance:.1%}, so low values early on "
                            "still beat chance, and they rise as the views learn to find each other.",
    "online_probe_accuracy": "**online probe accuracy**: a linear classifier trained alongside on the detached "
                             "features, scored on each batch before it learns from it (chance ≈ 1 / number of "
                             "classes).",
    "relation_accuracy": "**relation accuracy**: how often the relation head tells a same-image pair from a "
                         "different-image pair (chance 50 %).",
    "train_accuracy": "**train accuracy**: the supervised baseline's accuracy on its training batches.",
}
TERMS_EXPLAINED = {
    "barlow_twins": "**Invariance** falls as the two views of each image come to agree. **Redundancy** starts near "
                    "0 — random features are barely correlated — and *rises* as the dimensions begin to carry "
                    "information (they first learn the same few features), until λ × redundancy pushes them apart. "
                    "A rising redundancy term with a falling total is this trade-off, not a failure.",
    "vicreg": "**Invariance** falls as the views agree; **covariance** often rises at first while dimensions learn "
              "similar features, and **variance** stays near 0 while every dimension keeps its spread. Watch the "
              "total.",
}


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
    # The file is written when clicked (a callable): every page open used to build the whole history's CSV, for
    # each viewer, before the page could draw (30 viewers opening at once, issue 12).
    st.download_button("Metrics so far (CSV)" if run.active else "Metrics (CSV)",
                       functools.partial(metrics_csv, store(), [run.id]),
                       file_name=f"{run.id}-metrics.csv", mime="text/csv", icon=":material/download:",
                       key="monitor.csv", help="every logged value of this run, one row each — the same file as "
                                               "`python -m sslcore export RUN --metrics csv`")
st.caption(f"{cfg.method.name} · {cfg.data.dataset} ({cfg.data.image_size} px) · backbone {cfg.method.backbone} · "
           f"{cfg.optim.epochs} epochs × batch {cfg.optim.batch_size} · lr {cfg.optim.lr:g} · augment "
           f"{cfg.augment.preset} × {cfg.augment.strength:g} · projector {cfg.method.projector_dim} · seed {cfg.seed}"
           + (f" · λ {cfg.method.lambd:g}" if cfg.method.name == "barlow_twins" else "")
           + (f" · temperature {cfg.method.temperature:g}" if cfg.method.name in ("simclr", "moco") else "")
           + ("" if cfg.method.stop_gradient or cfg.method.name != "simsiam" else " · **no stop-gradient**"))
# What the trainer said before its first step (worker.py writes "notice: …" lines): a lowered batch, skipped files.
_log = Path(store().run_dir(run.id)) / "log.txt"
for notice in dict.fromkeys(line.removeprefix("notice: ") for line in (
        _log.read_text(errors="replace").splitlines() if _log.exists() else []) if line.startswith("notice: ")):
    st.info(plain(notice), icon="ℹ️")

period = None  # seconds between the headline's refreshes; None while the run is not live
if run.active:
    choice = st.radio("Live refresh", list(REFRESH_CHOICES), horizontal=True, key="monitor.refresh",
                      help="how often this page looks for new steps. The loss curve, the heatmap and the collapse "
                           "check follow every 10 s; a run that stops moving is looked at every 5 s. On a "
                           "laptop that also trains, a slower refresh leaves more of the CPU to the training.")
    stalled = st.session_state.get("monitor.stalled", run.status == "queued")
    period = max(REFRESH_CHOICES[choice], STALLED_PERIOD_S) if stalled else REFRESH_CHOICES[choice]


def _keep_pace(run_id: str, step: int, status: str) -> None:
    """Switch to the slow pace when the step has not moved for STALLED_S (or the run waits in the queue), back
    when it moves; a fragment's period is fixed when the page draws it, so a switch is one full redraw."""
    now = time.time()
    seen = st.session_state.get("monitor.seen")
    if not seen or seen[:2] != (run_id, step):
        st.session_state["monitor.seen"] = seen = (run_id, step, now)
    stalled = status == "queued" or now - seen[2] > STALLED_S
    was = st.session_state.get("monitor.stalled", status == "queued")
    st.session_state["monitor.stalled"] = stalled
    if stalled != was:
        st.rerun(scope="app")


@guarded("Live view")
def headline(run_id: str) -> None:
    """Status, progress, step, loss, speed, elapsed time and ETA."""
    s = store()
    info = run_info(s, run_id)
    was_live = st.session_state.get("monitor.live_run") == run_id
    if was_live and not info.active:
        st.session_state["monitor.live_run"] = None
        st.rerun(scope="app")  # it just ended: one full redraw turns the timers off
    st.session_state["monitor.live_run"] = run_id if info.active else None
    if info.active:
        _keep_pace(run_id, info.step, info.status)

    cache = run_metrics(s, run_id, info.step)
    rate = steps_per_second(cache)
    eta = eta_seconds(info.step, info.total_steps, rate) if info.active else None
    pairs = cache.latest("pairs_per_s")
    st.markdown(f"{status_badge(info.status)} &nbsp; {STATUS_HELP.get(info.status, '')}")
    st.progress(info.progress, text=f"{info.progress:.0%} of {info.total_steps or '?'} steps"
                + (f" · about {format_duration(eta)} left" if eta else ""))
    # One horizontal container, not five columns: each element is a message the browser handles on every refresh
    # (5 column blocks were 5 of the headline's 13).
    row = st.container(horizontal=True, gap="medium")
    row.metric("Step", f"{info.step}", help=f"of {info.total_steps} steps")
    loss, first = cache.latest("loss"), (cache.series("loss")[1] or [None])[0]
    change = (loss - first) / abs(first) if loss is not None and first and math.isfinite(first) else None
    row.metric("Loss", _fmt(loss), delta=None if change is None else f"{change:+.0%} since the start",
               delta_color="inverse",
               help="latest logged value; the change since the first logged step (green: it fell). A few steps' "
                    "wiggles are noise of the batch: read the curve's trend, and SSL losses are not accuracies.")
    row.metric("Pairs / s", _fmt(pairs, ".0f"), help="training throughput: image pairs per second")
    elapsed = ((info.ended or time.time()) - info.started) if info.started else None
    row.metric("Elapsed", format_duration(elapsed))
    row.metric("ETA", format_duration(eta) if info.active else "—",
               help="remaining steps ÷ recent steps per second")
    if info.error:
        st.error(f"{info.status}: {plain(info.error)}", icon="💥" if info.status == "diverged" else "❌")
    if info.status == "queued":
        st.info("Waiting for a free device slot: another run is training. It starts by itself.", icon="⏳")


def loss_controls() -> tuple[bool, float, bool]:
    """The loss chart's options, drawn once per page run (a fragment's rerun re-sends every element in it, and the
    browser redraws each: only the chart itself refreshes)."""
    k1, k2, k3 = st.columns([1.3, 1.3, 0.8], vertical_alignment="bottom")
    with_terms = k1.toggle("Show the loss terms", value=True, key="monitor.terms",
                           help="the parts the loss is made of, e.g. Barlow Twins' invariance and redundancy")
    smoothing = k2.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="monitor.smoothing",
                          help="exponential moving average; the raw curve stays faint behind")
    log_y = k3.toggle("Log y", key="monitor.log", value=False)
    return with_terms, smoothing, log_y


def loss_chart(run_id: str, with_terms: bool, smoothing: float, log_y: bool) -> None:
    s = store()
    info = run_info(s, run_id)
    cache, step = run_metrics(s, run_id, info.step), figure_step(s, run_id, info.step, "charts")
    shown = ("loss", *loss_terms(set(cache.data))) if with_terms else ("loss",)
    st.plotly_chart(curves(str(s.root), run_id, step, shown, title="Loss and its terms", smoothing=smoothing,
                           log_y=log_y, empty_message="waiting for the first logged step…"),
                    key="monitor.loss_chart", config=CHART)


@guarded("Collapse diagnostics")
def diagnostics(run_id: str, charts: bool) -> None:
    s = store()
    info = run_info(s, run_id)
    cache, step = run_metrics(s, run_id, info.step), figure_step(s, run_id, info.step, "diagnostics")
    root = str(s.root)
    verdict, why = collapse_verdict(cache.latest("embedding_std"), cache.latest("rankme"), dim,
                                    cfg.optim.batch_size)
    {"healthy": st.success, "collapsed": st.error, "dimensional": st.warning, "unknown": st.info}[verdict](
        f"**Collapse check: {verdict}** — {why}. This asks whether *different images* still get different "
        "embeddings; the matrix's *diagonal* numbers above ask whether the two *views of one image* agree, which "
        "is learned later and more slowly — a low diagonal next to a healthy check is normal early on or with "
        "strong augmentation.")
    if not charts:
        st.caption(f"Learning rate now: {_fmt(cache.latest('lr'), '.2e')}. The diagnostics charts are drawn when "
                   "the run ends, or now with the switch above.")
        return
    d = st.columns(4)
    small = {"height": 230}
    ref = (("healthy ≈ 1/√D", 1 / math.sqrt(dim)),) if dim else ()
    d[0].plotly_chart(curves(root, run_id, step, ("embedding_std",), title="embedding std", reference=ref, **small),
                      key="monitor.std", config=SMALL_CHART)
    d[1].plotly_chart(curves(root, run_id, step, ("rankme",), title="RankMe (effective rank)", **small),
                      key="monitor.rankme", config=SMALL_CHART)
    d[2].plotly_chart(curves(root, run_id, step, ("alignment", "uniformity"), title="alignment & uniformity",
                             **small), key="monitor.align", config=SMALL_CHART)
    d[3].plotly_chart(curves(root, run_id, step, ("pairs_per_s",), labels=("pairs/s",), title="throughput (pairs/s)",
                             **small), key="monitor.speed", config=SMALL_CHART)
    st.caption(f"Learning rate now: {_fmt(cache.latest('lr'), '.2e')} (linear warm-up, then cosine decay).")
    accs = tuple(sorted(n for n in cache.data if "accuracy" in n))
    if accs:
        st.plotly_chart(curves(root, run_id, step, accs, title="training accuracies", height=260,
                               layout=(("xaxis_title", "step"), ("yaxis_title", "fraction of the batch"),
                                       ("margin_b", 40))), key="monitor.acc", config=CHART)
        st.caption(" ".join(ACCURACIES_EXPLAINED.get(n, f"**{n}**: computed by the method on each training batch.")
                            for n in accs).format(chance=1 / (2 * cfg.optim.batch_size - 1)))


def heatmap_controls(run_id: str, active: bool) -> tuple[str, str, int | None, bool, float | None]:
    """The heatmap's options, drawn once per page run: (kind, its label, the step chosen — None to follow the
    newest snapshot —, whether the matrix compares images, the softmax temperature or None)."""
    s = store()
    method = METHODS.get(cfg.method.name)
    kinds = {}
    if s.snapshots(run_id, "matrix") or (method is not None and method.matrix_name):
        kinds["matrix"] = method.matrix_name if method is not None and method.matrix_name else "method's matrix"
    if cfg.method.name != "barlow_twins":
        kinds["xcorr"] = "embeddings' cross-correlation"
    # One radio per run: its options and labels change with the method, and a widget re-created under an old key
    # after a run switch could show no option selected.
    kind = st.radio("Matrix", list(kinds), format_func=kinds.get, horizontal=True, key=f"monitor.kind.{run_id}",
                    index=0, help="the method's own matrix, or the cross-correlation of the two views' embeddings "
                                  "(the same picture for every method)")
    images = kind == "matrix" and cfg.method.name in IMAGE_MATRICES
    steps = snapshot_steps(s, run_id, kind, run)   # shared with the heatmap fragment; as fresh as this page run
    step = None
    if steps:
        follow = active and st.toggle("Follow latest", value=True, key="monitor.follow",
                                      help="while the run trains, show each new snapshot as it arrives; turn off "
                                           "to scrub through the earlier ones")
        if not (active and follow):
            step = st.select_slider("Snapshot at step", steps, value=steps[-1], key="monitor.step",
                                    help="drag to scrub through the snapshots taken during training")
    tau = None
    if steps and images and st.toggle(f"As the loss sees it: softmax of each row at temperature "
                                      f"{cfg.method.temperature:g}", value=True, key="monitor.softmax",
                                      help="cosine similarities of a trained network are all high, so the raw "
                                           "matrix looks uniformly red; the loss compares each row's entries after "
                                           "dividing by the temperature, and then the partner (the diagonal) "
                                           "stands out"):
        tau = cfg.method.temperature
    return kind, kinds[kind], step, images, tau


def heatmap(run_id: str, kind: str, label: str, chosen: int | None, images: bool, tau: float | None) -> None:
    """The heatmap of the chosen snapshot (``chosen``), or of the newest one while following a live run."""
    s = store()
    info = run_info(s, run_id)
    steps = snapshot_steps(s, run_id, kind, info)
    if not steps:
        fig, _, _ = snapshot_view(s, str(s.root), run_id, None, kind, label)
        st.plotly_chart(fig, key="monitor.heatmap", config=CHART)
        return
    following = chosen is None
    if following:  # the newest snapshot as of the charts' shared frame, so viewers of a fast run share figures
        frame = figure_step(s, run_id, info.step, "charts")
        step = next((x for x in reversed(steps) if x <= frame), steps[0])
        st.caption(f"Showing the newest snapshot (step {step}; {len(steps)} so far). Turn *Follow latest* off to "
                   "scrub through the earlier ones.")
    else:
        step = chosen
    unit = "image" if images else "dimension"
    title = (f"softmax(similarity / {tau:g}) over each row · step {step}" if tau else f"{label} · step {step}")
    fig, ms, diagonal = snapshot_view(s, str(s.root), run_id, step, kind, title, unit=unit,
                                      softmax_temperature=tau)
    if following and info.active:
        # While it follows a live run, the heatmap is an image: a new plotly heatmap at every snapshot was the
        # largest part of a tab's CPU (a tab of this page: 9.1 % of a core with the plotly heatmap, 6.9 % with the
        # image; fake run at 28 steps/s, headless Chromium, 4 × 12 s each, exclusive CPU lock, 2026-11-26 04:23 UTC).
        # Scrubbing (Follow latest off) and an ended run show the plotly heatmap, with its values on hover.
        st.image(heatmap_png(s, str(s.root), run_id, step, kind, tau),
                 caption=f"{title} — row i: {unit} i of view 1, column j: {unit} j of view 2; turn *Follow latest* "
                         "off for the values on hover")
    else:
        st.plotly_chart(fig, key="monitor.heatmap", config=CHART)
    c = st.columns(2)
    c[0].metric("diagonal mean", f"{ms['diag_mean']:.3f}",
                help=f"mean of the diagonal: → 1 when each {unit} agrees with itself across the two views")
    c[1].metric("diagonal > 0.9", f"{ms['diag_above_0.9']:.0%}",
                help=f"share of {unit}s whose two views agree well (above 0.9). It measures invariance, not "
                     "collapse: 0 % early in training or with strong augmentation is normal")
    c = st.columns(2)
    c[0].metric("|off-diagonal| mean", f"{ms['offdiag_abs_mean']:.3f}",
                help=f"mean |off-diagonal|: → 0 when different {unit}s are decorrelated")
    c[1].metric("|off-diagonal| max", f"{ms['offdiag_abs_max']:.3f}", help="largest |off-diagonal| value")
    st.caption(f"Top-left {ms['shape'][0]}×{ms['shape'][1]} block of the matrix, fixed scale −1 (blue) … +1 (red)"
               + ("; row i is view 1 of image i, column j view 2 of image j, so the diagonal pairs each image "
                  "with its own other view." if images else "."))
    if cfg.method.name == "barlow_twins":
        st.caption("Barlow Twins' matrix C *is* the cross-correlation of the two views' (batch-normalised) "
                   "embeddings — the diagnostic every other method shows as a second picture — so it is drawn "
                   "once.")
    if not following:  # the bars of the diagonal: a chart redrawn with every snapshot, so not while following one
        st.plotly_chart(diagonal, key="monitor.diag", config=CHART)


# The headline's place is here, at the top, but its fragment is registered last (below): see HEADLINE_LAST.
headline_slot = st.container()


@guarded("Live charts")
def charts(run_id: str, loss_options: tuple, heatmap_options: tuple) -> None:
    """The loss curve and the heatmap: one fragment, so one rerun (and its fixed cost in the browser) for both."""
    left, right = st.columns([1.25, 1])
    with left:
        loss_chart(run_id, *loss_options)
        if loss_options[0] and cfg.method.name in TERMS_EXPLAINED:
            st.caption(TERMS_EXPLAINED[cfg.method.name])
    with right:
        heatmap(run_id, *heatmap_options)


top_left, top_right = st.columns([1.25, 1], vertical_alignment="bottom")
with top_left:
    loss_options = loss_controls()
with top_right:
    heatmap_options = heatmap_controls(run.id, run.active)
# The charts' period: never faster than the headline's, and at most once per CHARTS_S.
st.fragment(charts, run_every=period and max(CHARTS_S, period))(run.id, loss_options, heatmap_options)
st.subheader("Collapse diagnostics")
diagnostics_charts = not run.active or st.toggle(
    "Draw the diagnostics charts while the run trains", value=False, key="monitor.diagnostics_charts",
    help="off by default: on a laptop that also trains, every chart the browser redraws takes CPU from the "
         "training. The charts are always drawn once the run has ended.")
st.fragment(diagnostics, run_every=period and max(DIAGNOSTICS_S, period))(run.id, diagnostics_charts)

# HEADLINE_LAST: every 10th headline refresh falls due with the charts' and the diagnostics' (the browser starts
# all the timers together when the page draws). Two fragment reruns that reach a busy server together race inside
# Streamlit (1.67): when the first one has finished before the server takes the second, the second starts a new
# script runner and the first runner's output is dropped unsent. With the headline's timer first, that lost run was
# the headline, so a new step showed a whole period later (charts every 5 s, 30 viewers: 27–45 of 480 headline
# refreshes in 15 s lost, all at those ticks; lag max 2.1 s; 2026-11-26). Registered last, its timer fires after
# the charts' at those ticks, and the charts' longer run is still going when the headline's request arrives, which
# then queues behind it (0 of 480 lost; lag max 1.4 s).
with headline_slot:
    st.fragment(headline, run_every=period)(run.id)

with st.expander("How to read this page: a healthy and a collapsed matrix", expanded=False):
    st.markdown(asset("monitor.md"))
with st.expander("Trainer log (last 40 lines)"):
    log = Path(store().run_dir(run.id)) / "log.txt"
    st.code("\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log yet)",
            language=None)
