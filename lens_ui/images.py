"""Image tiling and thumbnails for the pages (numpy / PIL only)."""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image


def to_hwc_uint8(images: Any) -> np.ndarray:
    """N×C×H×W (uint8, or float in [0, 1]) tensor/array → N×H×W×3 uint8."""
    x = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.dtype != np.uint8:
        x = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    x = np.transpose(x, (0, 2, 3, 1))
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def tile_row(images: Any, *, tile: int = 96, gap: int = 4, background: int = 255) -> np.ndarray:
    """Images side by side, each resized (nearest neighbour: the pixels a model sees stay visible) to ``tile``."""
    x = to_hwc_uint8(images)
    n = x.shape[0]
    out = np.full((tile, n * tile + (n - 1) * gap, 3), background, dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(x[i]).resize((tile, tile), Image.NEAREST)
        out[:, i * (tile + gap): i * (tile + gap) + tile] = np.asarray(img)
    return out


def thumbnail_uri(image: Any, size: int = 64) -> str:
    """One image as a ``data:image/png;base64,...`` URI, for hover thumbnails."""
    x = to_hwc_uint8(image)[0]
    buf = io.BytesIO()
    Image.fromarray(x).resize((size, size), Image.NEAREST).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def enlarge(image: Any, size: int = 96) -> np.ndarray:
    """One image as H×W×3 uint8 scaled to ``size`` (nearest neighbour)."""
    x = to_hwc_uint8(image)[0]
    return np.asarray(Image.fromarray(x).resize((size, size), Image.NEAREST))
