"""Embeddings: what a run's representation encodes — a UMAP or PCA of the test images, in 2-D or 3-D, coloured by
class or by any factor (colour factors in their own colours), filtered by any value, thumbnails on hover, the k
nearest neighbours of a clicked image, and the kNN / linear / factor-probe table with each row's goal.

Nothing heavy runs inside a script run: evaluating a checkpoint is a background process, UMAP a background thread
(with PCA shown meanwhile), and the page follows their progress in a fragment.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from lens_ui import cached, classroom, jobs
from lens_ui.common import asset, format_duration, guard, guarded, pick_run, runs_or_stop, store
from lens_ui.figures import curves_figure, scatter_figure
from lens_ui.hover import hover_thumbnails
from lens_ui.images import enlarge
from lens_ui.tables import probe_table, protocol_label
from lens_ui.text import plain
from sslcore.evaluate import eval_history, latest_results, umap_is_warm
from sslcore.evaluate.embed_3d import instructive_query, pca_3d, umap_3d

CHART_KEY = "emb_scatter"
NEIGHBOUR_COUNTS = [4, 8, 12, 16, 24]
BASELINES = ("raw pixels", "random backbone")


@st.cache_data(max_entries=16, show_spinner="Projecting to 3-D…")
def _projection_3d(path: str, mtime: float, kind: str, _features: np.ndarray) -> np.ndarray:
    """3-D PCA (instant) or UMAP (a warm fit takes seconds) of an embedding file's features."""
    return umap_3d(_features) if kind == "UMAP" else pca_3d(_features)


@st.cache_data(max_entries=16, show_spinner=False)
def _default_query(path: str, mtime: float, _features: np.ndarray, _labels: np.ndarray, _factors: dict) -> int:
    return instructive_query(np.asarray(_features, dtype=np.float32), _labels, _factors)


def with_goals(table: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """One protocol's columns of the probe table (``protocol``: "kNN" or "linear"), with what each row should do —
    the class above the baselines, a nuisance factor below them (a representation that learned to ignore colour
    predicts it worse than raw pixels do) — and whether the run did, per baseline. Narrow enough for a projector."""
    higher = table.index == "class"
    out = pd.DataFrame({"goal": np.where(higher, "↑ higher", "↓ lower")}, index=table.index)
    ours = table.get(f"{protocol} · this run")
    out["this run"] = ours
    for base in BASELINES:
        theirs = table.get(f"{protocol} · {base}")
        if ours is None or theirs is None:
            continue
        out[base] = theirs
        met = np.where(higher, ours > theirs, ours < theirs)
        out[f"met vs {base}"] = np.where(ours.isna() | theirs.isna(), "—", np.where(met, "✅", "❌"))
    if "chance" in table:
        out["chance"] = table["chance"]
    return out


st.title("🗺️ Embeddings")
st.caption("Every point is a test image, placed by the run's representation: similar representations land close "
           "together. Hover a point to see its image; click one (or draw a box / lasso) to list its nearest "
           "neighbours.")
runs = runs_or_stop("No runs yet. Train one first: finished runs are evaluated automatically.")

c1, c2 = st.columns([3, 1.2])
with c1:
    run = pick_run(runs, key="emb.run", prefer="finished")
s = store()
ckpt_steps = [step for step, _ in s.checkpoints(run.id)]
emb_steps = cached.embedding_steps(run.id)
all_steps = sorted(set(ckpt_steps) | set(emb_steps))
if not all_steps:
    st.info(f"This run has no checkpoint yet ({run.status}). A checkpoint is written at the end of every epoch; "
            "come back then.", icon="⏳")
    if run.error:
        st.error(plain(run.error))
    st.stop()
with c2:
    if st.session_state.get("emb.step") not in all_steps:
        st.session_state["emb.step"] = emb_steps[-1] if emb_steps else all_steps[-1]
    step = st.selectbox("Checkpoint step", all_steps, key="emb.step",
                        format_func=lambda x: f"step {x}" + (" · evaluated" if x in emb_steps else ""),
                        help="the checkpoints kept (by default the last two, every fifth epoch's and the final "
                             "one) and the evaluated steps, which have an embedding")


@guarded("Following background work")
def progress_panel(kind: str, run_id: str, step_: int) -> None:
    job = jobs.get(kind, run_id, step_)
    if job is None:
        return
    if job.running:
        st.progress(job.fraction, text=f"{job.message} · {format_duration(time.time() - job.started)}")
    elif job.error:
        st.error(f"{'Evaluation' if kind == 'eval' else 'UMAP'} failed: {plain(job.error)}")
    elif st.session_state.get(f"emb.job_seen.{kind}.{run_id}.{step_}") != job.started:
        st.session_state[f"emb.job_seen.{kind}.{run_id}.{step_}"] = job.started
        st.rerun(scope="app")  # finished: redraw the page with the new results


def follow(kind: str) -> None:
    job = jobs.get(kind, run.id, step)
    live = job is not None and job.running
    st.fragment(progress_panel, run_every=1.0 if live else None)(kind, run.id, step)


# ---- not evaluated yet: evaluate in the background ----
if step not in emb_steps:
    job = jobs.get("eval", run.id, step)
    st.info(f"Step {step} has not been evaluated yet. Evaluation extracts features of the training and test "
            "images, fits the kNN and linear probes on the class and on every factor, and compares with raw "
            "pixels and a random backbone. It runs in the background (about a minute on a CPU).", icon="🧪")
    if not classroom.can_manage(run):
        st.caption("In classroom mode only the run's owner (or the teacher) starts its evaluation.")
    elif job is None or (not job.running):
        if st.button(f"🧪 Evaluate step {step}", type="primary", key="emb.evaluate"):
            jobs.start_eval(run.id, step)
            st.rerun()
    follow("eval")
    st.stop()

emb = cached.embedding(run.id, step)
results = cached.latest_results(run.id, step)

# ---- UMAP (background) or PCA ----
if not emb["has_umap"] and jobs.auto_umap():
    jobs.start_umap(run.id, step)  # idempotent: one job per (run, step)
umap_job = jobs.get("umap", run.id, step)
options = ["UMAP", "PCA"] if emb["has_umap"] else ["PCA"]
o1, o2, o3, o4 = st.columns([1.1, 0.6, 1.3, 1.2], vertical_alignment="bottom")
projection = o1.radio("Projection", options, horizontal=True, key="emb.projection",
                      help="UMAP keeps neighbourhoods; PCA (instant) keeps the directions of largest variance")
three_d = o2.toggle("3-D", key="emb.3d", help="three components instead of two; drag to turn the cloud")
factor_names = list(emb["factors"])
colour_by = o3.selectbox("Colour by", ["class"] + factor_names, key="emb.colour",
                         help="the class, or a nuisance factor the representation should ignore")
n_neighbours = o4.select_slider("Neighbours k", NEIGHBOUR_COUNTS, value=8, key="emb.k",
                                help="how many nearest neighbours of the query to show")
if not emb["has_umap"]:
    with st.container(horizontal=True, vertical_alignment="center"):
        if umap_job is None or (umap_job.done and umap_job.error):
            st.caption("This step has only a PCA projection so far.")
            if st.button("🗺️ Compute UMAP", key="emb.umap"):
                jobs.start_umap(run.id, step)
                st.rerun()
        else:
            st.caption("UMAP is being computed in the background; PCA meanwhile.")
        follow("umap")

mtime = cached.embedding_file(run.id, step).stat().st_mtime
if three_d:
    if projection == "UMAP" and not umap_is_warm():
        st.caption("A 3-D UMAP needs UMAP's compiled code, still warming up in the background: 3-D PCA meanwhile.")
        projection = "PCA"
    xy = np.asarray(_projection_3d(emb["path"], mtime, projection, emb["features"]), dtype=float)
else:
    xy = np.asarray(emb["umap"] if projection == "UMAP" else emb["pca"], dtype=float)
labels = np.asarray(emb["labels"])
class_names = emb["class_names"]
if colour_by == "class":
    colour, names = labels, class_names
else:
    colour, names = np.asarray(emb["factors"][colour_by]), emb["factor_names"].get(colour_by)


def value_name(field: str, value: int) -> str:
    vocab = class_names if field == "class" else (emb["factor_names"].get(field) or [])
    return vocab[value] if 0 <= value < len(vocab) else str(value)


fields = {"class": labels} | {f: np.asarray(v) for f, v in emb["factors"].items()}
choices = [f"{f}: {value_name(f, int(v))}" for f, col in fields.items() for v in np.unique(col)]
# values picked for another run's dataset are not options here (a multiselect refuses a value it does not offer)
st.session_state["emb.filter"] = [w for w in st.session_state.get("emb.filter", []) if w in choices]
wanted = st.multiselect("Show only", choices, key="emb.filter", placeholder="every image (type to search a value)",
                        help="keep the images with these values (any of the values of one field, and every field "
                             "you pick); the others stay as faint grey points")
shown = np.ones(len(xy), bool)
for f, col in fields.items():
    picked = {c.split(": ", 1)[1] for c in wanted if c.split(": ", 1)[0] == f}
    if picked:
        shown &= np.isin([value_name(f, int(v)) for v in col], list(picked))


def describe(row: int) -> str:
    parts = [f"#{row}", class_names[int(labels[row])] if 0 <= int(labels[row]) < len(class_names) else "?"]
    for f in factor_names[:3]:
        v = int(emb["factors"][f][row])
        fn = emb["factor_names"].get(f) or []
        parts.append(f"{f} {fn[v] if 0 <= v < len(fn) else v}")
    return " · ".join(parts)


hover = [describe(i) for i in range(len(xy))]
short = [" · ".join(h.split(" · ")[:2]) for h in hover]  # the plot's own label; the thumbnail shows the rest
images = cached.images_of(emb)


def _selected() -> None:
    """on_select: the first selected point becomes the query; a box / lasso keeps the whole selection."""
    event = st.session_state.get(CHART_KEY)
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    rows = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is not None:
            rows.append(int(cd))
    if rows:
        st.session_state["emb.query"] = rows[0]
        st.session_state["emb.selection"] = rows


if st.session_state.get("emb.context") != (run.id, step):
    st.session_state["emb.context"] = (run.id, step)
    with guard("Choosing a first query"):
        st.session_state["emb.query"] = _default_query(emb["path"], mtime, emb["features"], labels, emb["factors"])
    st.session_state["emb.selection"] = []
query = int(st.session_state.get("emb.query", 0)) % max(len(xy), 1)
st.session_state["emb.query"] = query
sims, idx = None, None
with guard("Nearest neighbours"):
    import torch

    from sslcore.evaluate import knn_neighbors

    feats = torch.as_tensor(np.asarray(emb["features"], dtype=np.float32))
    sims, idx = knn_neighbors(feats[query:query + 1], feats, min(n_neighbours + 1, len(feats)))
    sims, idx = sims[0].tolist(), idx[0].tolist()
    keep = [j for j, r in enumerate(idx) if r != query][:n_neighbours]
    sims, idx = [sims[j] for j in keep], [idx[j] for j in keep]

left, right = st.columns([1.6, 1])
with left:
    st.markdown(f"**{projection}{' 3-D' if three_d else ''} of {len(xy)} test images · coloured by {colour_by}**"
                + (f" · {int(shown.sum())} shown" if not shown.all() else ""))
    fig = scatter_figure(xy, colour, colour_names=names, hover=short, height=560, shown=shown,
                         highlight=[query] + list(idx or []))
    fig.update_layout(uirevision=f"{run.id}-{step}-{projection}-{three_d}")
    st.plotly_chart(fig, key=CHART_KEY, on_select=_selected, selection_mode=("points", "box", "lasso"),
                    config={"displaylogo": False, "scrollZoom": True})
    hover_thumbnails(CHART_KEY, images, hover, cache_key=f"{run.id}:{step}:{len(xy)}")
with right:
    st.markdown("**Query image and its nearest neighbours** (rank · cosine similarity of the features)")
    st.number_input("Image #", 0, max(len(xy) - 1, 0), key="emb.query",
                    help="click a point in the plot, or type an image number")
    q1, q2 = st.columns([1, 2])
    q1.image(enlarge(images[query], 112), caption=f"query #{query}")
    q2.markdown("  \n".join(plain(part) for part in describe(query).split(" · ")))
    if idx:
        cols = st.columns(4)
        # enough digits that neighbours with different similarities read differently
        digits = next((d for d in (2, 3, 4) if len({round(x, d) for x in sims}) == len(set(sims))), 5)
        for j, (r, sim) in enumerate(zip(idx, sims)):
            same = int(labels[r]) == int(labels[query])
            cols[j % 4].image(enlarge(images[r], 80),
                              caption=f"{j + 1}. {'✅' if same else '❌'} {plain(class_names[int(labels[r])])} · "
                                      f"{sim:.{digits}f}")
        agree = sum(int(labels[r]) == int(labels[query]) for r in idx)
        st.caption(f"**{agree} of {len(idx)}** neighbours share the query's class (✅ same class, ❌ another); "
                   "they are ringed in black in the plot.")
    selection = st.session_state.get("emb.selection") or []
    if len(selection) > 1:
        st.markdown(f"**Selection: {len(selection)} images**")
        sel = selection[:24]
        counts = {}
        for r in selection:
            counts[class_names[int(labels[r])]] = counts.get(class_names[int(labels[r])], 0) + 1
        st.caption(" · ".join(f"{plain(k)} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
        st.image([enlarge(images[r], 56) for r in sel])

# ---- the probe table ----
st.subheader("What the representation encodes")
if results is None:
    st.info("This step has an embedding but no stored probe results.", icon="ℹ️")
else:
    protocol = st.radio("Probe", ["kNN", "linear"], horizontal=True, key="emb.protocol",
                        format_func={"kNN": "weighted kNN", "linear": "linear probe"}.get,
                        help="which classifier reads the frozen features; the table shows one at a time")
    table = with_goals(probe_table(results), protocol)
    config = {c: st.column_config.NumberColumn(format="percent", width="small") for c in table.columns
              if pd.api.types.is_numeric_dtype(table[c])}
    config |= {c: st.column_config.TextColumn(c.replace(" backbone", "").replace(" pixels", ""), width="small")
               for c in table.columns if c.startswith("met vs")}
    st.dataframe(table, width="stretch", column_config=config)
    st.caption("**Protocol** — " + protocol_label(results))
    st.caption("Read the *goal* column first. The **class** should be predicted *better* than from raw pixels or a "
               "random backbone: the representation knows the shape. A **nuisance factor** (colour, background, "
               "position, …) should be predicted *worse* than from those baselines: raw pixels keep every colour, "
               "and a representation whose augmentations taught it to ignore colour has forgotten it. ✅ marks a "
               "goal met against that baseline.")


# ---- fine-tuning (`eval --finetune`), beside the frozen probes ----
# (stored key, row, what was trained): the fine-tuning protocol's rows, sslcore/evaluate/finetune.py.
FINETUNE_ROWS = (("finetune/class", "fine-tuned", "backbone + new linear head, trained with the labels"),
                 ("supervised_scratch/class", "supervised from scratch",
                  "the same architecture from random init, the same budget"),
                 ("linear/class", "linear probe (frozen)", "the checkpoint's features, backbone frozen"),
                 ("knn/class", "kNN (frozen)", "the checkpoint's features, backbone frozen"))


def finetune_protocol(ft: dict) -> str:
    """One line that says how the fine-tuned and scratch numbers were measured."""
    p = ft.get("protocol") or {}
    f = p.get("finetune") or {}
    parts = [f"step {ft.get('step')}", f"{p.get('dataset', '?')} {p.get('image_size', '?')} px",
             f"{p.get('n_train', '?')} labelled train / {p.get('n_test', '?')} test images",
             f"{f.get('epochs', '?')} epochs, {f.get('optimizer', '?')} lr {f.get('lr', '?')}, "
             f"batch {f.get('batch_size', '?')}", f"augmentation {f.get('augment', '?')}"]
    if p.get("supervised_scratch"):
        parts.append(f"baseline: {p['supervised_scratch']}")
    if f.get("source"):
        parts.append(f"as the {f['source']}")
    return plain(" · ".join(parts))


def finetune_panel(run_id: str, step_: int) -> None:
    """The stored fine-tuning of this run (at the chosen step, else its latest), or how to get one."""
    st.markdown("**Fine-tuning** — what the pre-training is worth when the backbone may change too")
    ft = latest_results(s, run_id, step_, features="finetune") or latest_results(s, run_id, features="finetune")
    if ft is None:
        st.caption(f"Not fine-tuned yet: `python -m sslcore eval {run_id} --finetune` trains this run's backbone "
                   "with the labels next to the same network from scratch (same budget) and shows both here.")
        return
    m = ft["metrics"]
    rows = [(name, m[key], what) for key, name, what in FINETUNE_ROWS if key in m]
    table = pd.DataFrame(rows, columns=["", "class accuracy", "what was trained"]).set_index("")
    st.dataframe(table, width="stretch", key="emb.finetune",
                 column_config={"class accuracy": st.column_config.NumberColumn(format="percent", width="small")})
    if "finetune/class" in m and "supervised_scratch/class" in m:
        gain = 100 * (m["finetune/class"] - m["supervised_scratch/class"])
        st.caption(f"Pre-training is worth **{gain:+.1f} points** over training the same network from scratch "
                   "with the same labels and epochs.")
    elsewhere = "" if ft["step"] == step_ else f" (fine-tuned from step {ft['step']}, not the step shown above)"
    st.caption("**Protocol** — " + finetune_protocol(ft) + elsewhere)


finetune_panel(run.id, step)
history = eval_history(s, run.id)
if len(history) > 1:
    keys = [k for k in ("knn/class", "linear/class") if k in history[-1]["metrics"]]
    st.plotly_chart(curves_figure({k: ([h["step"] for h in history], [h["metrics"].get(k) for h in history])
                                   for k in keys}, title="accuracy over training", height=260),
                    key="emb.history", config={"displaylogo": False})
with st.expander("How to read an embedding plot"):
    st.markdown(asset("embeddings.md"))
