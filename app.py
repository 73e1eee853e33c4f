"""SSL Lens — the Streamlit app's router: page config, navigation and the shared sidebar."""
import streamlit as st

st.set_page_config(page_title="SSL Lens", page_icon="🔭", layout="wide")

pages = [st.Page("pages/home.py", title="Home", icon="🏠", default=True)]
st.navigation(pages).run()
