"""SSL Lens — the Streamlit app's router: page config, navigation and the shared sidebar.

Run it with ``streamlit run app.py``; serve a class with ``streamlit run app.py -- --classroom`` (see
``lens_ui/classroom.py``: caps, owners, a teacher passcode, no server paths from the browser, and a Class page).
Pages live in ``app_pages/`` (thin: they read ``sslcore`` and draw), shared page helpers in ``lens_ui/``,
explanations in ``assets/``.

The folder is not called ``pages/``: with a ``pages/`` folder beside the main script, Streamlit (1.67) runs in its
legacy multipage mode until ``app.py`` has run once in the server process, so a shared link opened first on a
fresh server (``/compare?runs=…``) would run the page file on its own, without this router and sidebar.
"""
import streamlit as st

from lens_ui import classroom, jobs
from lens_ui.common import guard, sidebar
from sslcore.errors import ConfigError

st.set_page_config(page_title="SSL Lens", page_icon="🔭", layout="wide")
try:
    room = classroom.settings()
except ConfigError as e:  # a typo in the teacher's --data / --cap: say which, serve nothing
    st.error(f"Classroom settings: {e}", icon="⚠️")
    st.stop()

pages = [
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/augmentations.py", title="Augmentations", icon="🎨"),
    st.Page("app_pages/train.py", title="Train", icon="🏋️"),
    st.Page("app_pages/monitor.py", title="Monitor", icon="📈"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon="🗺️"),
    st.Page("app_pages/compare.py", title="Compare", icon="⚖️"),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon="📉"),
]
if room.on:
    pages.append(st.Page("app_pages/leaderboard.py", title="Class", icon="🏆"))
page = st.navigation(pages)
with guard("Starting UMAP's warm-up"):
    jobs.warm_up()  # once per server, in a background thread: the first UMAP then takes seconds, not a minute
with guard("The sidebar"):
    if room.on:
        classroom.sidebar()
    sidebar()
with guard(f"The {page.title} page"):
    page.run()
