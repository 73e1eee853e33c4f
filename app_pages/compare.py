"""Compare: 2–4 runs side by side — loss curves on shared axes, final heatmaps, 2-D embeddings, one probe table.

The selection lives in the URL (``?runs=ID1,ID2``), so the address bar is a link a teacher can share.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from lens_ui import cached
from lens_ui.common import asset, guard, pick_runs, runs_dir, runs_or_stop, status_badge, store
from lens_ui.figures import PALETTE, curves_figure, heatmap_figure, matrix_stats, scatter_figure, shared_range
from lens_ui.tables import compare_table, protocol_label
from lens_ui.text import plain
from sslcore.methods import METHODS

st.title("⚖️ Compare")
st.caption("Pick two to four runs. The page address keeps your choice: copy it to share this comparison.")

runs = runs_or_stop("Compare needs at least two runs. Launch a lesson on the **Train** page (the “vs” lessons "
                    "start two runs at once).", at_least=2)
chosen = pick_runs(runs, key="compare.runs", label="Runs to compare (2–4)")
if len(chosen) < 2:
    st.warning("Pick at least two runs.", icon="☝️")
    st.stop()

root = str(runs_dir())
o1, o2, o3 = st.columns(3)
x_axis = o1.radio("x axis", ["epoch", "step"], horizontal=True, key="compare.x",
                  help="epochs line up runs with different batch sizes")
relative = o2.toggle("Loss relative to its first value", value=False, key="compare.relative",
                     help="methods have losses of very different sizes; dividing by the first logged value puts "
                          "every curve on the same footing (1 = where it started)")
log_y = o2.toggle("Log-scale loss", value=False, key="compare.log", help="only for losses that stay positive")
smoothing = o3.slider("Smoothing", 0.0, 0.95, 0.5, 0.05, key="compare.smoothing")


def loss_of(run_id: str):
    loss = loaded.get(run_id, {}).get("loss")
    if not loss:
        return None
    values = list(loss["value"])
    if relative and values and values[0] not in (0, None) and values[0] == values[0]:
        values = [v / abs(values[0]) for v in values]
    return loss[x_axis], values


# ---- loss curves on shared axes ----
st.subheader("Loss")
loaded = {}
for r in chosen:
    with guard(f"Reading {r.id}"):
        loaded[r.id] = cached.metrics(root, r.id, r.step)
xs, ys = [], []
for r in chosen:
    curve = loss_of(r.id)
    if curve:
        xs.append(curve[0])
        ys.append(curve[1])
x_range = shared_range(xs, pad=0.02)
y_range = shared_range(ys, log=log_y)
cols = st.columns(len(chosen))
for i, (r, col) in enumerate(zip(chosen, cols)):
    with col:
        st.markdown(f"**{plain(r.name)}**  \n{status_badge(r.status)} {r.method} · {plain(r.dataset)}")
        curve = loss_of(r.id)
        series = {"loss": curve} if curve else {}
        st.plotly_chart(curves_figure(series, smoothing=smoothing, log_y=log_y, x_title=x_axis, height=280,
                                      x_range=x_range, y_range=y_range, colours={"loss": PALETTE[i]},
                                      empty_message="no metrics yet"),
                        key=f"compare.loss.{i}", config={"displaylogo": False})

# ---- final heatmaps ----
st.subheader("Final matrices")
kind = st.radio("Matrix", ["xcorr", "matrix"], horizontal=True, key="compare.kind",
                format_func={"xcorr": "embeddings' cross-correlation (every method)",
                             "matrix": "each method's own matrix"}.get)
cols = st.columns(len(chosen))
for i, (r, col) in enumerate(zip(chosen, cols)):
    with col, guard(f"Heatmap of {r.id}"):
        snaps = store().snapshots(r.id, kind)
        method = METHODS.get(r.method)
        title = ("cross-correlation" if kind == "xcorr" else
                 (method.matrix_name if method is not None and method.matrix_name else "no own matrix"))
        if not snaps:
            st.plotly_chart(heatmap_figure(None, title=title, height=330, empty_message="no snapshot"),
                            key=f"compare.hm.{i}", config={"displaylogo": False})
            continue
        step = snaps[-1]["step"]
        m = cached.snapshot(root, r.id, step, kind)
        fig = heatmap_figure(m, title=f"{title} · step {step}", height=330)
        fig.update_traces(showscale=i == len(chosen) - 1)
        st.plotly_chart(fig, key=f"compare.hm.{i}", config={"displaylogo": False})
        s = matrix_stats(m)
        st.caption(f"mean diagonal **{s['diag_mean']:.2f}** · mean |off-diagonal| **{s['offdiag_abs_mean']:.2f}**")

# ---- 2-D embeddings ----
st.subheader("Embeddings")
embs: dict[str, dict | None] = {}
factor_options: list[str] = ["class"]
for r in chosen:
    embs[r.id] = None
    with guard(f"Embedding of {r.id}"):
        steps = cached.embedding_steps(r.id)
        if steps:
            embs[r.id] = cached.embedding(r.id, steps[-1])
            factor_options += [f for f in embs[r.id]["factors"] if f not in factor_options]
colour_by = st.selectbox("Colour the points by", factor_options, key="compare.colour")
cols = st.columns(len(chosen))
for i, (r, col) in enumerate(zip(chosen, cols)):
    with col, guard(f"Embedding of {r.id}"):
        emb = embs[r.id]
        if emb is None:
            st.info("Not evaluated yet. Finished runs are evaluated automatically; or open **Embeddings**.",
                    icon="🗺️")
            continue
        use_umap = emb["has_umap"]
        xy = emb["umap"] if use_umap else emb["pca"]
        if colour_by == "class" or colour_by not in emb["factors"]:
            colour, names = emb["labels"], emb["class_names"]
        else:
            colour, names = emb["factors"][colour_by], emb["factor_names"].get(colour_by)
        hover = [str(names[int(c)]) if names is not None and 0 <= int(c) < len(names) else str(c) for c in colour]
        fig = scatter_figure(np.asarray(xy), colour, colour_names=names, hover=hover, height=360, marker_size=5,
                             title=f"{'UMAP' if use_umap else 'PCA'} · step {emb['step']}")
        fig.update_layout(showlegend=i == len(chosen) - 1)
        st.plotly_chart(fig, key=f"compare.umap.{i}", config={"displaylogo": False})
        if not use_umap:
            st.caption("PCA shown: open this run on **Embeddings** to compute its UMAP.")

# ---- one table of probe accuracies ----
st.subheader("Probe accuracies")
entries = []
for r in chosen:
    with guard(f"Results of {r.id}"):
        entries.append((r.name if r.name != r.id else r.id, cached.latest_results(r.id)))
table = compare_table(entries)
if table.empty or all(res is None for _, res in entries):
    st.info("No evaluations yet: finished runs are evaluated automatically when training ends.", icon="⏳")
else:
    table["step"] = [str(int(v)) if v == v and v is not None else "" for v in table["step"]]
    pct = {c: st.column_config.NumberColumn(format="percent") for c in table.columns if c != "step"}
    st.dataframe(table, width="stretch", column_config=pct)
    for label, res in entries:
        if res:
            st.caption(f"**{plain(label)}** — {plain(protocol_label(res))}")
with st.expander("How to compare runs"):
    st.markdown(asset("compare.md"))
