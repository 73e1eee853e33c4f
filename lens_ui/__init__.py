"""Helpers shared by the Streamlit pages in ``app_pages/``: the sidebar, the cached run store, run pickers, error
guards (``lens_ui.common``), plotly figure builders (``lens_ui.figures``, no Streamlit) and image tiling
(``lens_ui.images``). Training and metric logic live in ``sslcore``; this package only presents it."""
