"""Sweeps: the paper's ablations — one field, a list of values, one line per method — plotted as their runs finish.

The page picks a sweep (a lesson with a ``sweep`` block in ``assets/lessons.json``), launches its runs through the
run store, and draws each probe's final accuracy against the swept value, with the raw-pixel and random-backbone
baselines as horizontal lines. The plot redraws every few seconds while a run of the sweep is queued or training.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lens_ui import classroom
from lens_ui.common import PAGES, STATUS_ICONS, guard, guarded, store
from lens_ui.text import plain
from sslcore.lessons import Lesson, launch, load_lessons, load_record, measure, summary
from sslcore.sweeps import table

PROBE_TITLES = {"knn": "kNN", "linear": "linear probe"}
BASELINE_STYLE = {"raw_pixels": ("raw pixels", "dot"), "random_backbone": ("random backbone", "dash")}
METHOD_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def probe_title(probe: str) -> str:
    kind, target = probe.split("/", 1)
    return f"{PROBE_TITLES.get(kind, kind)} on the {'shape' if target == 'class' else target}"


def sweep_figure(lesson: Lesson, result: dict, probe: str) -> go.Figure:
    """Final accuracy of one probe against the swept value: a line per method, baselines as horizontal lines."""
    sweep = lesson.sweep
    fig = go.Figure()
    for i, (label, _) in enumerate(sweep.methods):
        rows = [r for r in result["rows"] if r["method"] == label and r["probe"] == probe and r["result"] is not None]
        fig.add_trace(go.Scatter(x=[r["value"] for r in rows], y=[100 * r["result"] for r in rows], name=label,
                                 mode="lines+markers", line={"color": METHOD_COLOURS[i % len(METHOD_COLOURS)]},
                                 hovertemplate=f"{label}<br>{sweep.field} = %{{x}}<br>%{{y:.1f}} %<extra></extra>"))
    for name, values in result["baselines"].items():
        if values.get(probe) is not None:
            text, dash = BASELINE_STYLE.get(name, (name, "dot"))
            fig.add_hline(y=100 * values[probe], line={"dash": dash, "color": "grey"}, annotation_text=text,
                          annotation_position="top left")
    fig.update_layout(title=probe_title(probe), height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.25}, yaxis_title="accuracy (%)", xaxis_title=sweep.field)
    if sweep.log_x:
        fig.update_xaxes(type="log", tickvals=list(sweep.values), ticktext=[f"{v:g}" for v in sweep.values])
    else:
        fig.update_xaxes(tickvals=list(sweep.values))
    return fig


def _launch(lesson: Lesson, seed: int) -> None:
    try:
        launch(lesson, store(), seed=seed, launcher=classroom.launch)
        st.session_state["sweeps.error"] = None
    except Exception as e:  # noqa: BLE001 — shown above the plot
        st.session_state["sweeps.error"] = str(e)


@guarded("The sweep's results")
def results(lesson: Lesson, seed: int) -> None:
    record = load_record(store(), lesson.id, seed)
    if record is None:
        st.info(f"This sweep has not been launched with seed {seed} in this runs folder yet: "
                f"{len(lesson.runs)} runs, one after another.", icon="👆")
        return
    result = table(lesson.sweep, record["runs"], store())
    active = any(r["status"] in ("queued", "running") for r in result["rows"])
    st.progress(result["done"] / result["total"],
                text=f"{result['done']} of {result['total']} runs evaluated" + (" — updating as runs finish"
                                                                                  if active else ""))
    columns = st.columns(len(lesson.sweep.probes))
    for col, probe in zip(columns, lesson.sweep.probes):
        col.plotly_chart(sweep_figure(lesson, result, probe), key=f"sweeps.fig.{probe}",
                         config={"displaylogo": False})
    claims = measure(lesson, store(), record)
    st.markdown(f"**Claims** — {summary(claims)}")
    for c in claims:
        icon = "✅" if c["held"] else "❌" if c["held"] is False else "⏳"
        numbers = f"{c['left']:.3g} vs {c['right']:.3g}" if c["held"] is not None else c["pending"]
        st.caption(f"{icon} {plain(c['says'])} — {plain(numbers)}")
    with st.expander("The sweep's runs"):
        seen = set()
        for r in result["rows"]:
            if r["label"] in seen:
                continue
            seen.add(r["label"])
            c1, c2 = st.columns([4, 1])
            c1.caption(f"{STATUS_ICONS.get(r['status'], '·')} {plain(r['label'])} — {r['status']}"
                       + (f", {r['step']}/{r['total_steps']} steps" if r["status"] == "running" else ""))
            if r["run_id"]:
                c2.page_link(PAGES["monitor"], label="Monitor", icon="📈", query_params={"run": r["run_id"]})
    if st.session_state.get("sweeps.live", False) != active:
        st.session_state["sweeps.live"] = active
        st.rerun(scope="app")  # start or stop the timer below


st.title("📉 Sweeps")
st.caption("The Barlow Twins paper's ablations on your machine: one setting changed over a list of values, every "
           "run's final accuracy against it. Runs queue and train one after another; the plot fills in as they "
           "finish.")
sweeps = {lesson.id: lesson for lesson in load_lessons() if lesson.sweep}
wanted = st.query_params.get("sweep")
if wanted in sweeps and st.session_state.get("sweeps.url") != wanted:
    st.session_state["sweeps.url"] = wanted
    st.session_state["sweeps.pick"] = wanted
chosen = sweeps[st.selectbox("Sweep", list(sweeps), format_func=lambda i: sweeps[i].title, key="sweeps.pick")]
if st.query_params.get("sweep") != chosen.id:
    st.query_params["sweep"] = chosen.id
    st.session_state["sweeps.url"] = chosen.id

s1, s2 = st.columns([3, 1])
with s1:
    st.markdown(chosen.summary)
    st.markdown(f"**What to watch:** {chosen.watch}")
    values = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in chosen.sweep.values)
    fields = ", ".join(f"{k}={v}" for k, v in chosen.sweep.fields.items())
    st.caption(f"`{chosen.sweep.field}` ∈ {{{values}}} · methods: "
               f"{' vs '.join(label for label, _ in chosen.sweep.methods)}" + (f" · every run: {fields}" if fields else ""))
with s2:
    seed = int(st.number_input("Seed", min_value=0, step=1, key="sweeps.seed"))
    st.button(f"🚀 Launch this sweep ({len(chosen.runs)} runs)", type="primary", width="stretch",
              on_click=_launch, args=(chosen, seed), key="sweeps.launch",
              help="runs with the same configuration already in the runs folder are reused, not trained again")
if st.session_state.get("sweeps.error"):
    st.error(plain(st.session_state["sweeps.error"]), icon="⚠️")

with guard("Reading the sweep"):
    st.fragment(results, run_every=3.0 if st.session_state.get("sweeps.live") else None)(chosen, seed)
