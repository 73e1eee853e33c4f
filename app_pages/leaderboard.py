"""Class (classroom mode): every person's runs as one sortable leaderboard — who trained what, with which settings,
and what the representation learned (final kNN / linear probe accuracy per target) — with links to Monitor and
Compare. The teacher sets the room's caps here."""
from __future__ import annotations

import dataclasses

import streamlit as st

from lens_ui import cached, classroom
from lens_ui.common import PAGES, guard, runs_dir, store
from lens_ui.runs_table import runs_frame
from lens_ui.text import plain
from sslcore.errors import ConfigError

MAX_COMPARE = 4


st.title("🏆 Class")
st.caption("Every run of the class, best first. Click a column header to sort by it; tick rows to compare them. "
           "The challenge: an augmentation that keeps the **shape** (kNN class high) and drops the **colour** "
           "(kNN colour low).")

runs = store().list_runs()
if not runs:
    st.info("No runs yet. Join the class in the sidebar, then launch a run on **Train**.", icon="👈")
    st.stop()

rows = []
for r in runs:
    with guard(f"Reading run {r.id}"):
        rows.append(cached.run_row(str(runs_dir()), r.id, r.step, r.status, final_only=True))
table = runs_frame(rows)
owners = {r.id: classroom.owner_label(r) for r in runs}
table.insert(0, "person", [owners[i] for i in table.index])
table.insert(len(table.columns), "monitor", [f"monitor?run={i}" for i in table.index])
metrics = [c for c in table.columns if c.startswith(("kNN ", "linear "))]
metrics.sort(key=lambda c: (c.split(" ", 1)[1] != "class", c))
f1, f2, f3 = st.columns([1.2, 1, 1])
rank_by = f1.selectbox("Rank by", metrics or ["(no evaluated runs yet)"], key="class.rank",
                       help="kNN: weighted kNN on the frozen features (k 20, T 0.07); linear: a linear probe. "
                            "For a nuisance factor such as colour, lower means the representation ignores it.")
people = sorted(table["person"].unique())
only = f2.multiselect("People", people, key="class.people", help="leave empty for everyone")
finished_only = f3.toggle("Finished runs only", value=False, key="class.finished")
if only:
    table = table[table["person"].isin(only)]
if finished_only:
    table = table[table["status"] == "finished"]
if rank_by in table.columns:
    table = table.sort_values(rank_by, ascending=False, na_position="last")
table = table.reset_index()

columns = {c: st.column_config.NumberColumn(c, format="percent") for c in metrics}
columns |= {"monitor": st.column_config.LinkColumn("Monitor", display_text="📈 open"),
            "lr": st.column_config.NumberColumn("lr", format="%.0e"), "id": None}
picked = st.dataframe(table, column_config=columns, hide_index=True, width="stretch", key="class.table",
                      on_select="rerun", selection_mode="multi-row")
chosen = [table["id"].iloc[i] for i in picked.selection.rows if i < len(table)][:MAX_COMPARE]
if len(chosen) >= 2:
    st.page_link(PAGES["compare"], label=f"Compare the {len(chosen)} ticked runs", icon="⚖️",
                 query_params={"runs": ",".join(chosen)})
else:
    st.caption(f"Tick two to {MAX_COMPARE} rows to compare them side by side.")

# ---- the room's caps ----
st.subheader("This classroom's caps")
caps = classroom.caps()
st.caption(" · ".join(f"{label}: **{getattr(caps, name):,}**" for name, label in classroom.CAP_FIELDS.items()
                      if getattr(caps, name) is not None)
           + ". A run over a cap is refused with a message that names it.")
if classroom.is_teacher():
    with st.form("class.caps"):
        cols = st.columns(len(classroom.CAP_FIELDS))
        new = {name: col.number_input(label, min_value=1, step=1, value=int(getattr(caps, name) or 1),
                                      key=f"class.cap.{name}")
               for col, (name, label) in zip(cols, classroom.CAP_FIELDS.items())}
        if st.form_submit_button("Change the caps"):
            try:
                classroom.set_caps(dataclasses.replace(caps, **{k: int(v) for k, v in new.items()}))
            except ConfigError as e:
                st.error(plain(e), icon="⚠️")
            else:
                st.rerun()
    st.caption("New caps hold for runs launched from now on, until the server restarts (start-up caps: "
               "`--cap NAME=VALUE`).")
