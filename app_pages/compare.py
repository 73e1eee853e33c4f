"""Compare, W&B-style: a table of every run — status, method, dataset, key settings, final metrics — whose selected
rows are the comparison; columns that differ across the chosen runs are marked. Below it, any logged metric of the
chosen runs overlaid on one chart (x = step, epoch or wall time), the final matrices and embeddings side by side, a
one-line verdict for the class, and the chosen runs' metrics as CSV.

The choice lives in the page address (``?runs=ID1,ID2``): the address bar is a link a teacher can share. Each run
keeps one colour on every chart of the page.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from lens_ui import cached
from lens_ui.common import asset, guard, runs_dir, runs_or_stop, status_badge, store
from lens_ui.figures import NAMED_COLOURS, heatmap_figure, matrix_stats, scatter_figure
from lens_ui.overlay import SCALES, X_AXES, auto_scale, curve, overlay_figure, run_colours, safe_label
from lens_ui.runs_table import (COLUMN_VIEWS, DIFFERS, class_verdict, differing_columns, filter_runs,
                                mark_differences, runs_frame, view_columns)
from lens_ui.tables import compare_table, protocol_label
from lens_ui.text import plain
from sslcore.export import metrics_csv
from sslcore.methods import METHODS

SIDE_BY_SIDE = 4   # matrices and embeddings: more panels than this are too narrow to read on a projector
# Markdown colours its text by name only: the palette's first five have one; the rest are drawn in grey.
MARKDOWN_COLOURS = {"#1f77b4": "blue", "#d62728": "red", "#2ca02c": "green", "#9467bd": "violet", "#ff7f0e": "orange"}

st.title("⚖️ Compare")
st.caption("Tick runs in the table to compare them. The page address keeps your choice: copy it to share this "
           "comparison.")

runs = runs_or_stop("Compare needs at least two runs. Launch a lesson on the **Train** page (the “vs” lessons "
                    "start two runs at once).", at_least=2)
by_id = {r.id: r for r in runs}
root = str(runs_dir())


# ---- the choice, from the page address ----
def _default_choice() -> list[str]:
    finished = [r.id for r in runs if r.status == "finished"]
    return (finished or [r.id for r in runs])[:2]


raw = st.query_params.get("runs") or ""
if raw != st.session_state.get("compare.url"):   # a new link (or the first visit): it sets the choice
    st.session_state["compare.url"] = raw
    wanted = [w for w in raw.split(",") if w]
    missing = [w for w in wanted if w not in by_id]
    if missing:
        st.warning(f"Run(s) {plain(', '.join(missing))} from the link do not exist in this runs folder.", icon="🔎")
    st.session_state["compare.chosen"] = [w for w in wanted if w in by_id] or _default_choice()
    st.session_state["compare.generation"] = st.session_state.get("compare.generation", 0) + 1
chosen: list[str] = [i for i in st.session_state["compare.chosen"] if i in by_id]


# ---- the runs table ----
st.subheader("Runs")
frame = None
with guard("Reading the runs"):
    frame = runs_frame([cached.run_row(root, r.id, r.step, r.status) for r in runs])
if frame is None:   # the error is shown above; nothing below can be drawn without the table
    st.stop()
f1, f2, f3 = st.columns([2, 2, 2])
search = f1.text_input("Filter", key="compare.filter", placeholder="name, id, method or dataset",
                       help="shows only the runs whose name, id, method or dataset contains this text")
statuses = f2.multiselect("Status", sorted(frame["status"].unique()), key="compare.status",
                          placeholder="every status")
only_chosen = f3.toggle("Only the ticked runs", key="compare.only_chosen",
                        help="the table of the comparison alone (untick a run to drop it)")
view = f3.radio("Columns", list(COLUMN_VIEWS), format_func=COLUMN_VIEWS.get, horizontal=True,
                key="compare.columns", help="key: the run and its class accuracy (fits a projector); that differ: the "
                                           "settings and results that are not the same for every chosen run; all: "
                                           "every setting and every probe (scroll sideways)")
shown = filter_runs(frame, search, statuses)
if only_chosen:
    shown = shown[shown.index.isin(chosen)]
differing = differing_columns(frame, chosen)

columns = view_columns(list(shown.columns), view, differing)
table = mark_differences(shown[columns], differing)
positions = [shown.index.get_loc(i) for i in chosen if i in shown.index]


def _highlight(data):
    """A pale yellow on the chosen runs' cells of every differing column, as W&B marks differences."""
    chosen_rows = data.index.isin(chosen)
    styles = np.where(chosen_rows[:, None] & np.array([c.startswith(DIFFERS) for c in data.columns])[None, :],
                      "background-color: #fff3b0", "")
    return type(data)(styles, index=data.index, columns=data.columns)


ACCURACIES = ("kNN ", "linear ", "online probe", "fine-tuned", "scratch")
percent = [c for c in table.columns if c.removeprefix(DIFFERS).startswith(ACCURACIES)]
config = {c: st.column_config.NumberColumn(c, format="percent", width="small") for c in percent}
config |= {"name": st.column_config.TextColumn("run", pinned=True, width="medium"),
           DIFFERS + "lr": st.column_config.NumberColumn(DIFFERS + "lr", format="%.2g"),
           "lr": st.column_config.NumberColumn("lr", format="%.2g"),
           "final loss": st.column_config.NumberColumn("final loss", format="%.4g"),
           DIFFERS + "final loss": st.column_config.NumberColumn(DIFFERS + "final loss", format="%.4g")}
# A new link, filter or column set is a new table, which starts from the current choice (selection_default).
table_key = (f"compare.table.{st.session_state['compare.generation']}."
             f"{hash((search, tuple(statuses), only_chosen, tuple(columns)))}")
st.session_state["compare.table_key"] = table_key   # where the table's selection lives (tests set it there)
event = st.dataframe(table.style.apply(_highlight, axis=None), key=table_key, on_select="rerun",
                     selection_mode="multi-row", selection_default={"selection": {"rows": positions}},
                     hide_index=True, column_config=config, width="stretch")
st.caption(f"{len(shown)} of {len(frame)} runs shown · ticked rows are compared below · "
           f"{DIFFERS.strip()} marks a column whose value differs across the chosen runs · click a header to sort.")

selected = [shown.index[p] for p in event.selection.rows if p < len(shown)]
new_choice = [i for i in chosen if i not in shown.index or i in selected] + [i for i in selected if i not in chosen]
if new_choice != chosen:
    chosen = new_choice
    st.session_state["compare.chosen"] = chosen
value = ",".join(chosen)
if (st.query_params.get("runs") or "") != value:
    if value:
        st.query_params["runs"] = value
    elif "runs" in st.query_params:
        del st.query_params["runs"]
    st.session_state["compare.url"] = value

if len(chosen) < 2:
    st.info("Tick at least two runs in the table to compare them.", icon="☝️")
    st.stop()

picked = [by_id[i] for i in chosen]


def _swatch(colour: str) -> str:
    return f":{MARKDOWN_COLOURS.get(colour, 'gray')}[●]"


colours = run_colours(chosen)
st.markdown("  ·  ".join(f"{_swatch(colours[r.id])} **{plain(r.name)}** {status_badge(r.status)} {plain(r.method)}"
                         for r in picked))

verdict = class_verdict(frame, chosen)
if verdict:
    st.success(plain(verdict), icon="🎓")
with st.expander("Probe accuracies next to the baselines, and how they were measured"):
    entries = []
    for r in picked:
        with guard(f"Results of {r.id}"):
            entries.append((r.name, cached.latest_results(r.id)))
    probes = compare_table(entries)
    if probes.empty or all(res is None for _, res in entries):
        st.info("No evaluations yet: finished runs are evaluated automatically when training ends.", icon="⏳")
    else:
        probes = probes.reset_index()
        probes["step"] = [str(int(v)) if v == v and v is not None else "" for v in probes["step"]]
        columns = {c: st.column_config.NumberColumn(c, format="percent", width="small")
                   for c in probes.columns if c not in ("run", "step")}
        columns["run"] = st.column_config.TextColumn("run", pinned=True, width="large")
        st.dataframe(probes, hide_index=True, width="stretch", column_config=columns)
        for label, res in entries:
            if res:
                st.caption(f"**{plain(label)}** — {plain(protocol_label(res))}")

# ---- metric curves, overlaid ----
st.subheader("Metrics, overlaid")
loaded = {}
for r in picked:
    with guard(f"Reading {r.id}"):
        loaded[r.id] = cached.metrics(root, r.id, r.step)
names = sorted({m for series in loaded.values() for m in series})
defaults = [m for m in ("loss", "eval/knn/class", "online_probe_accuracy") if m in names]
o1, o2, o3, o4 = st.columns([3, 2, 2, 2])
metrics_shown = o1.multiselect("Metrics", names, default=defaults, key="compare.metrics",
                               help="any logged metric: loss terms, RankMe, embedding std, evaluations (eval/…)")
x_axis = o2.radio("x axis", list(X_AXES), horizontal=True, key="compare.x",
                  format_func={"step": "step", "epoch": "epoch", "wall": "wall time"}.get,
                  help="epochs line up runs with different batch sizes; wall time shows which run got there first")
scale = o3.selectbox("y scale", ["auto", *SCALES], key="compare.scale",
                     format_func=lambda s: "auto (÷ first value when sizes differ > 10×)" if s == "auto" else SCALES[s],
                     help="Barlow Twins' loss is in the hundreds, SimCLR's a few units: on one raw axis the small "
                          "one is a flat line at 0, so 'auto' divides each curve by its first value when needed")
smoothing = o4.slider("Smoothing", 0.0, 0.95, 0.5, 0.05, key="compare.smoothing")
log_y = o4.toggle("Log y", key="compare.log", help="only for metrics that stay positive")
for metric in metrics_shown:
    lines = {}
    for r in picked:
        series = loaded.get(r.id, {}).get(metric)
        if series and series["value"]:
            x, y = curve(series, x_axis)
            lines[r.id] = (r.name, x, y)
    if not lines:
        st.caption(f"{plain(metric)}: not logged by the chosen runs.")
        continue
    chosen_scale = auto_scale([y for _, _, y in lines.values()]) if scale == "auto" else scale
    st.plotly_chart(overlay_figure(metric, lines, colours, x_axis=x_axis, scale=chosen_scale, smoothing=smoothing,
                                   log_y=log_y), key=f"compare.curve.{metric}", config={"displaylogo": False})

# ---- final matrices, side by side ----
panels = picked[:SIDE_BY_SIDE]
if len(picked) > SIDE_BY_SIDE:
    st.caption(f"Matrices and embeddings: the first {SIDE_BY_SIDE} chosen runs (more are too narrow to read).")
st.subheader("Final matrices")
kind = st.radio("Matrix", ["xcorr", "matrix"], horizontal=True, key="compare.kind",
                format_func={"xcorr": "embeddings' cross-correlation (every method)",
                             "matrix": "each method's own matrix"}.get)


def panel_title(r, what: str) -> str:
    return f"<span style='color:{colours[r.id]}'>●</span> {safe_label(r.name)}<br><sup>{what}</sup>"


cols = st.columns(len(panels))
for r, col in zip(panels, cols):
    with col, guard(f"Heatmap of {r.id}"):
        snaps = store().snapshots(r.id, kind)
        method = METHODS.get(r.method)
        what = ("cross-correlation" if kind == "xcorr" else
                (method.matrix_name if method is not None and method.matrix_name else "no own matrix"))
        if not snaps:
            st.plotly_chart(heatmap_figure(None, title=panel_title(r, what), height=360, empty_message="no snapshot"),
                            key=f"compare.hm.{r.id}", config={"displaylogo": False})
            continue
        step = snaps[-1]["step"]
        m = cached.snapshot(root, r.id, step, kind)
        fig = heatmap_figure(m, title=panel_title(r, f"{what} · step {step}"), height=360)
        fig.update_layout(margin=dict(t=70))
        st.plotly_chart(fig, key=f"compare.hm.{r.id}", config={"displaylogo": False})
        s = matrix_stats(m)
        st.caption(f"mean diagonal **{s['diag_mean']:.2f}** · mean |off-diagonal| **{s['offdiag_abs_mean']:.2f}**")

# ---- embeddings, side by side, one projection for all ----
st.subheader("Embeddings")
embs: dict[str, dict | None] = {}
factor_options: list[str] = ["class"]
for r in panels:
    embs[r.id] = None
    with guard(f"Embedding of {r.id}"):
        steps = cached.embedding_steps(r.id)
        if steps:
            embs[r.id] = cached.embedding(r.id, steps[-1])
            factor_options += [f for f in embs[r.id]["factors"] if f not in factor_options]
available = [e for e in embs.values() if e is not None]
use_umap = bool(available) and all(e["has_umap"] for e in available)
colour_by = st.selectbox("Colour the points by", factor_options, key="compare.colour")
if available and not use_umap:
    st.caption("PCA for every run, so the panels compare alike: a run without its UMAP yet gets one on "
               "**Embeddings**.")
cols = st.columns(len(panels))
for r, col in zip(panels, cols):
    with col, guard(f"Embedding of {r.id}"):
        emb = embs[r.id]
        if emb is None:
            st.info(f"{plain(r.name)}: not evaluated yet. Finished runs are evaluated automatically; or open "
                    f"**Embeddings**.", icon="🗺️")
            continue
        xy = emb["umap"] if use_umap else emb["pca"]
        if colour_by == "class" or colour_by not in emb["factors"]:
            colour, names = emb["labels"], emb["class_names"]
        else:
            colour, names = emb["factors"][colour_by], emb["factor_names"].get(colour_by)
        hover = [str(names[int(c)]) if names is not None and 0 <= int(c) < len(names) else str(c) for c in colour]
        fig = scatter_figure(np.asarray(xy), colour, colour_names=names, hover=hover, height=420, marker_size=5,
                             title=panel_title(r, f"{'UMAP' if use_umap else 'PCA'} · step {emb['step']}"),
                             named_colours=NAMED_COLOURS if colour_by == "colour" else {})
        fig.update_layout(margin=dict(t=70), legend=dict(orientation="h", yanchor="top", y=-0.05, x=0))
        st.plotly_chart(fig, key=f"compare.umap.{r.id}", config={"displaylogo": False})

# ---- export ----
st.subheader("Export")
with guard("Writing the CSV"):
    st.download_button("Metrics of the chosen runs (CSV)", metrics_csv(store(), chosen), key="compare.csv",
                       file_name="ssl-lens-metrics.csv", mime="text/csv", icon=":material/download:",
                       help="every logged value, one row each: run_id, run_name, metric, step, epoch, wall_time, "
                            "value — the same file as `python -m sslcore export RUN --metrics csv`")
st.caption("TensorBoard event files and the projector's files: `python -m sslcore export RUN --tensorboard DIR` "
           "or `--projector DIR` (see README).")
with st.expander("How to compare runs"):
    st.markdown(asset("compare.md"))
