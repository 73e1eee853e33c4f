"""``shapes``: procedurally generated light shapes on darker textured backgrounds, rendered vectorised over the batch.

The class is the shape; colour, background texture and colour, size, position and rotation are random nuisance
factors, recorded as categorical factor labels."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .rendering import COLOUR_NAMES, PALETTE, POSITION_NAMES, SIZE_NAMES, bins, pick_colour_pairs, to_uint8
from .seeding import dataset_rng

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "cross", "ring", "heart", "crescent"]
BACKGROUND_KINDS = ["solid", "gradient", "stripes", "noise"]
ROTATION_NAMES = ["0-90°", "90-180°", "180-270°", "270-360°"]

SHAPES_SIZE_RANGE = (0.35, 0.80)     # shape's outer extent as a fraction of the image side
# A shape is a light tint of its hue (mixed with this much white) on a dark shade of another hue (its palette colour ×
# this level × its own shade), so it always stands out from its background in *luminance*, not only in hue. Mixed
# polarity and near-isoluminant pairs (purple on red) made the outline vanish in grey and hue-shifted views; Barlow
# Twins then matched the views by colour and background instead, and its kNN on the shape stayed at raw-pixel level
# (README "What the default run learns" has the measurements).
SHAPE_TINT = 0.35
BACKGROUND_LEVEL = 0.35
DEFAULT_SIZES = {"train": 4000, "test": 1000}    # images per split when no size is asked for


def shape_factor_names() -> dict[str, list[str]]:
    return {"colour": list(COLOUR_NAMES), "background": list(BACKGROUND_KINDS),
            "background_colour": list(COLOUR_NAMES), "size": list(SIZE_NAMES), "position": list(POSITION_NAMES),
            "rotation": list(ROTATION_NAMES)}


def _inside(cls: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean inside test of shape ``cls`` in its unit frame (outer extent ≈ the unit circle)."""
    r2 = x * x + y * y
    name = SHAPE_CLASSES[cls]
    if name == "circle":
        return r2 <= 0.80 ** 2
    if name == "square":
        return torch.maximum(x.abs(), y.abs()) <= 0.68
    if name == "triangle":  # equilateral, circumradius 1, inradius 0.5
        m = None
        for k in range(3):
            a = -math.pi / 2 + k * 2 * math.pi / 3
            t = x * math.cos(a) + y * math.sin(a) <= 0.5
            m = t if m is None else m & t
        return m
    if name == "star":  # regular pentagram, outer radius 1: inside at least 4 of its 5 edge lines
        count = None
        for k in range(5):
            a = -math.pi / 2 + (2 * k + 1) * math.pi / 5        # normal of the line through tips k and k+2
            t = (x * math.cos(a) + y * math.sin(a) <= math.cos(2 * math.pi / 5)).to(torch.uint8)
            count = t if count is None else count + t
        return count >= 4
    if name == "cross":
        ax, ay = x.abs(), y.abs()
        return ((ax <= 0.28) & (ay <= 0.88)) | ((ay <= 0.28) & (ax <= 0.88))
    if name == "ring":
        return (r2 <= 0.88 ** 2) & (r2 >= 0.50 ** 2)
    if name == "heart":
        hx2 = (x * 1.25).square_()
        hy = y * -1.25 + 0.15
        q = hx2 + hy * hy - 1
        return q * q * q <= hx2 * hy * hy * hy
    if name == "crescent":
        return (r2 <= 0.85 ** 2) & ((x - 0.38) ** 2 + y * y >= 0.66 ** 2)
    raise AssertionError(name)


@functools.lru_cache(maxsize=16)
def shapes_cached(split: str, s: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    return _generate_shapes(n, s, dataset_rng("shapes", split, seed))


_NOISE_BASE = 32          # noise texture is drawn at 32×32 and resized, so a scene is the same at every image_size
_BLOCK = 4096             # images per noise draw (fixed, so the random stream never depends on the image size)


def _generate_shapes(n: int, s: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
    # --- every random parameter is drawn up front (independent of the image size) ------------------------------------
    labels = rng.integers(0, len(SHAPE_CLASSES), n)
    fg_idx, bg_idx = pick_colour_pairs(rng, n)
    p = {
        "label": labels, "fg": fg_idx, "bg": bg_idx,
        "fg_shade": rng.uniform(0.75, 1.0, n),
        "bg_shade": rng.uniform(0.55, 1.0, n),
        "bg_kind": rng.integers(0, len(BACKGROUND_KINDS), n),
        "bg_angle": rng.uniform(0, 2 * np.pi, n),
        "stripe_freq": rng.uniform(2.5, 5.0, n),        # stripe periods per image half-side
        "stripe_phase": rng.uniform(0, 2 * np.pi, n),
        "ext": rng.uniform(*SHAPES_SIZE_RANGE, n),      # outer extent, fraction of the side
        "pos": rng.uniform(-1, 1, (n, 2)),              # (x, y) offset as a fraction of the room left
        "theta": rng.uniform(0, 2 * np.pi, n),
    }
    images = torch.empty((n, 3, s, s), dtype=torch.uint8)
    per_render = max(1, min(_BLOCK, (1 << 24) // (s * s)))  # bound the float working set at large image sizes
    noise_id = BACKGROUND_KINDS.index("noise")
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        noisy = np.flatnonzero(p["bg_kind"][lo:hi] == noise_id)
        noise = np.zeros((hi - lo, 2, _NOISE_BASE, _NOISE_BASE), np.float32)
        noise[noisy] = rng.standard_normal((len(noisy), 2, _NOISE_BASE, _NOISE_BASE), dtype=np.float32)
        for i in range(lo, hi, per_render):
            j = min(hi, i + per_render)
            images[i:j] = _render_shapes({k: v[i:j] for k, v in p.items()}, noise[i - lo:j - lo], s)

    ext, pos, theta = p["ext"], p["pos"], p["theta"]
    factors = {
        "colour": torch.from_numpy(fg_idx.astype(np.int64)),
        "background": torch.from_numpy(p["bg_kind"].astype(np.int64)),
        "background_colour": torch.from_numpy(bg_idx.astype(np.int64)),
        "size": torch.from_numpy(bins(ext, *SHAPES_SIZE_RANGE, len(SIZE_NAMES))),
        "position": torch.from_numpy(bins(pos[:, 1], -1, 1, 3) * 3 + bins(pos[:, 0], -1, 1, 3)),
        "rotation": torch.from_numpy(bins(theta, 0, 2 * np.pi, len(ROTATION_NAMES))),
    }
    return images, torch.from_numpy(labels.astype(np.int64)), factors


def _render_shapes(p: dict[str, np.ndarray], noise: np.ndarray, s: int) -> torch.Tensor:
    """Render a batch from its parameters: uint8 n×3×s×s. ``noise`` is n×2×32×32 (used where bg_kind is noise)."""
    n = len(p["label"])
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in p.items()}
    palette = torch.tensor(list(PALETTE.values()), dtype=torch.float32)
    fg = (SHAPE_TINT + (1 - SHAPE_TINT) * palette[t["fg"]]) * t["fg_shade"].float()[:, None]
    bg = palette[t["bg"]] * (t["bg_shade"].float()[:, None] * BACKGROUND_LEVEL)

    # --- background at the output resolution (coordinates in [-1, 1], y down) ----------------------------------------
    c = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    ang = t["bg_angle"].float()
    kind = t["bg_kind"]
    mult = torch.ones(n, s, s)

    def proj(rows: torch.Tensor) -> torch.Tensor:                            # in [-√2, √2] along a random direction
        return gx * torch.cos(ang[rows])[:, None, None] + gy * torch.sin(ang[rows])[:, None, None]

    rows = torch.nonzero(kind == BACKGROUND_KINDS.index("gradient")).flatten()
    mult[rows] = proj(rows).mul_(0.6 / (2 * math.sqrt(2))).add_(0.55 + 0.3)  # 0.55 (dark) … 1.15 (light) across
    rows = torch.nonzero(kind == BACKGROUND_KINDS.index("stripes")).flatten()
    freq = t["stripe_freq"].float()[rows, None, None] * math.pi
    st = torch.sin(proj(rows).mul_(freq).add_(t["stripe_phase"].float()[rows, None, None]))
    mult[rows] = st.mul_(3).clamp_(-1, 1).mul_(-0.175).add_(1 - 0.175)       # soft-edged dark stripes: 0.65 … 1
    bgimg = bg[:, :, None, None] * mult[:, None]                             # n×3×s×s
    rows = torch.nonzero(kind == BACKGROUND_KINDS.index("noise")).flatten()
    if len(rows):
        nz = torch.from_numpy(noise)[rows]
        if s != _NOISE_BASE:
            nz = F.interpolate(nz, size=(s, s), mode="bilinear", align_corners=False, antialias=s < _NOISE_BASE)
        lum, col = nz[:, :1], nz[:, 1:]                                      # grey grain + a little tint
        tint = torch.tensor([1.0, -0.5, -0.5])[None, :, None, None]
        bgimg[rows] = bgimg[rows] * (1 + 0.22 * lum) + 0.06 * col * tint
    bgimg.clamp_(0, 1)

    # --- shape coverage, supersampled 2× and average-pooled (antialiasing), class by class, chunked ------------------
    ss = 2 * s
    c2 = (torch.arange(ss, dtype=torch.float32) + 0.5) / ss * 2 - 1
    py, px = torch.meshgrid(c2, c2, indexing="ij")
    coords = torch.stack([px.flatten(), py.flatten(), torch.ones(ss * ss)])   # 3×(ss·ss)
    r = t["ext"].float()                                                      # radius in [-1,1] units = extent
    room = 1 - r
    cx = t["pos"][:, 0].float() * room
    cy = t["pos"][:, 1].float() * room
    th = t["theta"].float()
    a, b = torch.cos(th) / r, torch.sin(th) / r
    # unit-frame coordinates u = R(-θ)(p - c) / r as one affine map per image: [ux; uy] = A_i · [px, py, 1]
    ax = torch.stack([a, b, -(a * cx + b * cy)], 1)                           # n×3
    ay = torch.stack([-b, a, b * cx - a * cy], 1)
    alpha = torch.empty(n, 1, s, s)
    chunk = max(1, (1 << 22) // (ss * ss))
    for k in range(len(SHAPE_CLASSES)):
        rows_k = torch.nonzero(t["label"] == k).flatten()
        for i in range(0, len(rows_k), chunk):
            rows = rows_k[i:i + chunk]
            ux = (ax[rows] @ coords).view(-1, ss, ss)
            uy = (ay[rows] @ coords).view(-1, ss, ss)
            m = _inside(k, ux, uy).float()[:, None]
            alpha[rows] = F.avg_pool2d(m, 2)
    img = (fg[:, :, None, None] - bgimg).mul_(alpha).add_(bgimg)             # composite: bg·(1-α) + fg·α
    return to_uint8(img)
