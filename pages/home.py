"""Home: what SSL Lens is and what to do first."""
from pathlib import Path

import streamlit as st

st.title("🔭 SSL Lens")
st.markdown((Path(__file__).parent.parent / "assets" / "home.md").read_text())
