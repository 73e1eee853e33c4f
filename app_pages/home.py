"""Home: what SSL Lens is and what to do first."""
import streamlit as st

from lens_ui.common import PAGES, asset, run_label, store
from lens_ui.text import plain

st.title("🔭 SSL Lens")
st.markdown(asset("home.md"))

st.subheader("Go")
cols = st.columns(5)
links = [("augmentations", "1 · Augmentations", "🎨"), ("train", "2 · Train", "🏋️"), ("monitor", "3 · Monitor", "📈"),
         ("embeddings", "4 · Embeddings", "🗺️"), ("compare", "5 · Compare", "⚖️")]
for col, (page, label, icon) in zip(cols, links):
    col.page_link(PAGES[page], label=label, icon=icon)

runs = store().list_runs()
st.subheader("Your runs")
if not runs:
    st.info("No runs yet. Open **Train** and press **Launch** (the defaults take about two minutes on a laptop "
            "CPU), or pick a lesson there.", icon="👉")
else:
    for r in runs[:5]:
        c1, c2 = st.columns([4, 1])
        c1.markdown(plain(run_label(r)))
        c2.page_link(PAGES["monitor"], label="Monitor", icon="📈", query_params={"run": r.id})
    if len(runs) > 5:
        st.caption(f"… and {len(runs) - 5} more on the Train page.")
