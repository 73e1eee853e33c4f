"""Image thumbnails on hover for a scatter drawn with ``st.plotly_chart``.

Plotly's hover labels cannot show images, so a tiny ``st.components.v2`` component (``hover_thumbnails.js``, no
iframe: it runs in the page) attaches a ``plotly_hover`` listener to the chart whose ``key`` it is given and shows
the hovered point's image — taken from one JPEG sprite sheet of all points — with its label beside the cursor.
Without JavaScript (AppTest) the chart still works; only the thumbnail is missing.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import streamlit as st
from PIL import Image

from lens_ui.images import to_hwc_uint8

TILE = 32


@st.cache_resource(show_spinner=False)
def _component():
    js = (Path(__file__).with_name("hover_thumbnails.js")).read_text(encoding="utf-8")
    return st.components.v2.component("ssl_lens_hover_thumbnails", js=js)


def sprite_sheet(images: Any, tile: int = TILE, columns: int = 32, quality: int = 85) -> str:
    """All images in one JPEG, ``columns`` per row, each ``tile`` px: a data URI (≈ 0.3 MB for 1000 images)."""
    x = to_hwc_uint8(images)
    n = len(x)
    rows = max(1, -(-n // columns))
    sheet = np.zeros((rows * tile, columns * tile, 3), np.uint8)
    for i in range(n):
        img = x[i]
        if img.shape[0] != tile:
            img = np.asarray(Image.fromarray(img).resize((tile, tile), Image.BILINEAR))
        r, c = divmod(i, columns)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = img
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@st.cache_data(max_entries=16, show_spinner=False)
def _sprite_cached(cache_key: str, _images: Any) -> str:
    return sprite_sheet(_images)


def hover_thumbnails(chart_key: str, images: Any, labels: Sequence[str], *, cache_key: str) -> None:
    """Show ``images[row]`` and ``labels[row]`` when the pointer is over a point of the chart ``chart_key``
    whose ``customdata`` is ``row``. ``chart_key`` must be a plain identifier (it becomes a CSS class)."""
    sprite = _sprite_cached(cache_key, images)
    _component()(data={"target": chart_key, "sprite": sprite, "tile": TILE, "columns": 32,
                       "labels": list(labels)}, key=f"{chart_key}_hover", height=0)
