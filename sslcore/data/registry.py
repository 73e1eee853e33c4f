"""Dataset registry: every dataset loads into one in-memory ``ImageSet`` (uint8 N×3×H×W, labels, factor labels).

Datasets
--------
``shapes``  (default, embedded) procedurally generated coloured shapes on textured backgrounds. The class is the
            shape; colour, background texture and colour, size, position and rotation are random nuisance factors,
            recorded as categorical factor labels. Hard for raw pixels (a cosine kNN on pixels is near chance), easy
            for a convnet that has learnt to ignore colour and position.
``digits``  (embedded) scikit-learn's 8×8 digits, upscaled, coloured and pasted at a random place on a larger canvas.
``cifar10`` torchvision's CIFAR-10 from ``root`` (``<root>/cifar-10-batches-py``).
``stl10``   torchvision's STL-10 from ``root`` (``<root>/stl10_binary``); the ``unlabeled`` split has labels −1.
``folder``  any ImageFolder tree: ``<root>/<class>/<image>`` (seeded 80/20 split) or ``<root>/train/<class>/…`` with
            ``<root>/val/…`` or ``<root>/test/…``. Images are resized so the shorter side is ``image_size`` and then
            centre-cropped to a square (the aspect ratio is kept; the borders of non-square images are cut off).

Generated datasets are rendered vectorised over the whole batch and cached in memory (``functools.lru_cache``) keyed
by their arguments; ``load_dataset`` hands out fresh copies, so callers may modify what they get.
Nothing here ever downloads anything unless ``download=True`` is passed for cifar10 / stl10.
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError

__all__ = ["ImageSet", "DatasetInfo", "DATASETS", "load_dataset", "describe_datasets", "default_data_root",
           "IMAGE_EXTENSIONS"]


# ----------------------------------------------------------------------------------------------------------------------
# Containers
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ImageSet:
    images: torch.Tensor                      # uint8, N×C×H×W, C = 3
    labels: torch.Tensor                      # int64, N; -1 where unlabeled
    class_names: list[str]
    factors: dict[str, torch.Tensor] = field(default_factory=dict)      # each int64, N, categorical
    factor_names: dict[str, list[str]] = field(default_factory=dict)    # value names per factor
    name: str = ""
    split: str = "train"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, idx: Any) -> ImageSet:
        """The images at ``idx`` (a slice, a list / array / tensor of indices, or a boolean mask)."""
        if isinstance(idx, slice):
            sel: Any = idx
        else:
            sel = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
            if sel.dtype != torch.bool:
                sel = sel.long().reshape(-1)
        return ImageSet(images=self.images[sel], labels=self.labels[sel], class_names=list(self.class_names),
                        factors={k: v[sel] for k, v in self.factors.items()},
                        factor_names={k: list(v) for k, v in self.factor_names.items()},
                        name=self.name, split=self.split)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    splits: tuple[str, ...]
    has_factors: bool
    embedded: bool              # needs no files
    default_image_size: int
    factors: tuple[str, ...] = ()


# Named hues, in order around the colour wheel (shape and background colours are kept ≥ 2 steps apart).
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.14, 0.14),
    "orange": (0.96, 0.55, 0.10),
    "yellow": (0.95, 0.88, 0.18),
    "green": (0.18, 0.68, 0.22),
    "cyan": (0.12, 0.78, 0.85),
    "blue": (0.16, 0.30, 0.88),
    "purple": (0.56, 0.24, 0.80),
    "pink": (0.96, 0.45, 0.72),
}
COLOUR_NAMES = list(PALETTE)

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "cross", "ring", "heart", "crescent"]
BACKGROUND_KINDS = ["solid", "gradient", "stripes", "noise"]
SIZE_NAMES = ["small", "medium", "large", "x-large"]
POSITION_NAMES = ["top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right"]
ROTATION_NAMES = ["0-90°", "90-180°", "180-270°", "270-360°"]
DIGIT_CLASSES = [str(d) for d in range(10)]

SHAPES_SIZE_RANGE = (0.35, 0.80)     # shape's outer extent as a fraction of the image side
# A shape is a light tint of its hue (mixed with this much white) on a dark shade of another hue (its palette colour ×
# this level × its own shade), so it always stands out from its background in *luminance*, not only in hue. Mixed
# polarity and near-isoluminant pairs (purple on red) made the outline vanish in grey and hue-shifted views; Barlow
# Twins then matched the views by colour and background instead, and its kNN on the shape stayed at raw-pixel level
# (README "What the default run learns" has the measurements).
SHAPE_TINT = 0.35
BACKGROUND_LEVEL = 0.35
DIGITS_SIZE_RANGE = (12.0, 20.0)     # digit height in pixels on a 32 px canvas (scaled with image_size)

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        "shapes", "8 generated light shapes on darker backgrounds, with random colour, background colour and "
        "texture, size, position and rotation (built in, nothing to download)", ("train", "test"), True, True, 32,
        ("colour", "background", "background_colour", "size", "position", "rotation")),
    "digits": DatasetInfo(
        "digits", "scikit-learn's 8×8 digits, upscaled, coloured and placed at random on a larger canvas "
        "(built in)", ("train", "test"), True, True, 32, ("colour", "background", "position", "size")),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10: 60k 32 px photos in 10 classes (needs --data-root, or --download)",
        ("train", "test"), False, False, 32),
    "stl10": DatasetInfo(
        "stl10", "STL-10: 96 px photos, 10 classes, 5k labelled + 100k unlabeled (needs --data-root, or --download)",
        ("train", "test", "unlabeled"), False, False, 96),
    "folder": DatasetInfo(
        "folder", "your own images: --data-root DIR with one subfolder per class (optionally under train/ and "
        "val/ or test/)", ("train", "test"), False, False, 64),
}

_DEFAULT_SIZES = {("shapes", "train"): 4000, ("shapes", "test"): 1000}
_SPLIT_CODE = {"train": 0, "test": 1, "unlabeled": 2}
_DATASET_CODE = {"shapes": 11, "digits": 12, "cifar10": 13, "stl10": 14, "folder": 15}


def default_data_root() -> str:
    """Where cifar10 / stl10 look when no root is given: ``$SSL_LENS_DATA``, else ``./data``."""
    return os.environ.get("SSL_LENS_DATA") or "data"


def describe_datasets() -> list[dict]:
    """One row per dataset, for ``python -m sslcore datasets`` and the Train page."""
    return [{"name": i.name, "description": i.description, "splits": list(i.splits), "factors": list(i.factors),
             "embedded": i.embedded, "default_image_size": i.default_image_size} for i in DATASETS.values()]


# ----------------------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------------------
def load_dataset(name: str, split: str = "train", *, root: str | None = None, image_size: int | None = None,
                 size: int | None = None, download: bool = False, seed: int = 0) -> ImageSet:
    """Load one split of a dataset into memory.

    ``image_size``: side of the returned square images (default: the dataset's native / default size).
    ``size``: generated datasets: how many images to generate; the others: a seeded random subset of that many.
    ``seed``: drives generation, subsets and the folder 80/20 split. Invalid arguments raise ``ConfigError``.
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset: unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    info = DATASETS[name]
    if split not in info.splits:
        raise ConfigError(f"split: dataset {name!r} has no split {split!r}; choose one of: {', '.join(info.splits)}")
    size_field = "test_size" if split == "test" else "train_size"
    if size is not None and (not _is_int(size) or size <= 0):
        raise ConfigError(f"{size_field}: must be a positive whole number, got {size!r}; "
                          f"leave it empty for the whole split")
    if image_size is not None and (not _is_int(image_size) or image_size <= 0):
        raise ConfigError(f"image_size: must be a positive whole number, got {image_size!r}")
    if not _is_int(seed):
        raise ConfigError(f"seed: must be a whole number, got {seed!r}")
    size = None if size is None else int(size)
    seed = int(seed)

    if name == "shapes":
        s = int(image_size or info.default_image_size)
        n = size if size is not None else _DEFAULT_SIZES[("shapes", split)]
        _check_generated_budget(n, s, size_field)
        images, labels, factors = _shapes_cached(split, s, n, seed)
        return ImageSet(images.clone(), labels.clone(), list(SHAPE_CLASSES),
                        {k: v.clone() for k, v in factors.items()}, _shape_factor_names(), name, split)
    if name == "digits":
        s = int(image_size or info.default_image_size)
        if size is not None:
            _check_generated_budget(size, s, size_field)
        images, labels, factors = _digits_cached(split, s, size, seed)
        return ImageSet(images.clone(), labels.clone(), list(DIGIT_CLASSES),
                        {k: v.clone() for k, v in factors.items()}, _digit_factor_names(), name, split)
    if name == "cifar10":
        return _load_cifar10(split, root, image_size, size, download, seed)
    if name == "stl10":
        return _load_stl10(split, root, image_size, size, download, seed)
    return _load_folder(split, root, image_size or info.default_image_size, size, seed)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_generated_budget(n: int, s: int, size_field: str) -> None:
    if n * 3 * s * s > 4 * 2**30:  # 4 GiB of uint8
        raise ConfigError(f"{size_field}: {n} images of {s} px would need {n * 3 * s * s / 2**30:.1f} GiB; "
                          f"ask for fewer images or a smaller --image-size")


def _rng(name: str, split: str, seed: int) -> np.random.Generator:
    """Independent streams per (dataset, split, seed): train and test are disjoint draws."""
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF,
                                                         _DATASET_CODE[name], _SPLIT_CODE[split]]))


def _bins(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    return np.clip(np.floor((values - lo) / (hi - lo) * n), 0, n - 1).astype(np.int64)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats → uint8 with rounding (modifies ``x``)."""
    return x.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _pick_colour_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background hue indices, at least two steps apart on the (circular) palette."""
    k = len(COLOUR_NAMES)
    fg = rng.integers(0, k, n)
    step = rng.integers(2, k - 1, n)            # 2 … k-2: never the same hue nor a neighbour
    return fg, (fg + step) % k


def _shape_factor_names() -> dict[str, list[str]]:
    return {"colour": list(COLOUR_NAMES), "background": list(BACKGROUND_KINDS),
            "background_colour": list(COLOUR_NAMES), "size": list(SIZE_NAMES), "position": list(POSITION_NAMES),
            "rotation": list(ROTATION_NAMES)}


def _digit_factor_names() -> dict[str, list[str]]:
    return {"colour": list(COLOUR_NAMES), "background": list(COLOUR_NAMES), "position": list(POSITION_NAMES),
            "size": list(SIZE_NAMES)}


def _resize_uint8(images: torch.Tensor, size: int, chunk: int = 2048) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 N×C×H×W batch to size×size (chunked to bound memory)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, images.shape[0], chunk):
        x = images[i:i + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i:i + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _seeded_subset(n: int, size: int | None, seed: int) -> torch.Tensor | None:
    """Sorted indices of a seeded random subset of ``size`` out of ``n`` (None: keep everything)."""
    if size is None or size >= n:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:size].sort().values


# ----------------------------------------------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------------------------------------------
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
def _shapes_cached(split: str, s: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    return _generate_shapes(n, s, _rng("shapes", split, seed))


_NOISE_BASE = 32          # noise texture is drawn at 32×32 and resized, so a scene is the same at every image_size
_BLOCK = 4096             # images per noise draw (fixed, so the random stream never depends on the image size)


def _generate_shapes(n: int, s: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
    # --- every random parameter is drawn up front (independent of the image size) ------------------------------------
    labels = rng.integers(0, len(SHAPE_CLASSES), n)
    fg_idx, bg_idx = _pick_colour_pairs(rng, n)
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
        "size": torch.from_numpy(_bins(ext, *SHAPES_SIZE_RANGE, len(SIZE_NAMES))),
        "position": torch.from_numpy(_bins(pos[:, 1], -1, 1, 3) * 3 + _bins(pos[:, 0], -1, 1, 3)),
        "rotation": torch.from_numpy(_bins(theta, 0, 2 * np.pi, len(ROTATION_NAMES))),
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
    return _to_uint8(img)


# ----------------------------------------------------------------------------------------------------------------------
# digits
# ----------------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits_base() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


def _digits_split_indices(split: str) -> np.ndarray:
    """A fixed (seed-independent) stratified 80/20 split of the 1,797 digits, so the test set never moves."""
    _, y = _digits_base()
    rng = np.random.default_rng(20240601)
    tr, te = [], []
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(y == d))
        cut = int(round(0.8 * len(idx)))
        tr.append(idx[:cut])
        te.append(idx[cut:])
    out = np.concatenate(tr if split == "train" else te)
    return rng.permutation(out)


@functools.lru_cache(maxsize=16)
def _digits_cached(split: str, s: int, size: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    base_imgs, base_y = _digits_base()
    split_idx = _digits_split_indices(split)
    n = size if size is not None else len(split_idx)
    idx = split_idx[np.arange(n) % len(split_idx)]     # more than the split asks for: re-rendered repeats
    rng = _rng("digits", split, seed)

    fg_idx, bg_idx = _pick_colour_pairs(rng, n)
    fg_shade = rng.uniform(0.8, 1.0, n)
    bg_shade = rng.uniform(0.55, 1.0, n)
    px_size = rng.uniform(*DIGITS_SIZE_RANGE, n)
    pos = rng.uniform(-1, 1, (n, 2))

    frac = torch.from_numpy(px_size / 32.0).float()          # digit side as a fraction of the canvas side
    room = 1 - frac
    cx = torch.from_numpy(pos[:, 0]).float() * room
    cy = torch.from_numpy(pos[:, 1]).float() * room
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / frac
    theta[:, 1, 1] = 1 / frac
    theta[:, 0, 2] = -cx / frac
    theta[:, 1, 2] = -cy / frac
    src = torch.from_numpy(base_imgs[idx])[:, None]           # N×1×8×8 in [0, 1]
    grid = F.affine_grid(theta, [n, 1, s, s], align_corners=False)
    alpha = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    alpha = (alpha * 1.25).clamp(0, 1)

    palette = torch.tensor(list(PALETTE.values()), dtype=torch.float32)
    fg = palette[torch.from_numpy(fg_idx)] * torch.from_numpy(fg_shade).float()[:, None]
    bg = palette[torch.from_numpy(bg_idx)] * torch.from_numpy(bg_shade).float()[:, None]
    img = bg[:, :, None, None] * (1 - alpha) + fg[:, :, None, None] * alpha
    factors = {
        "colour": torch.from_numpy(fg_idx.astype(np.int64)),
        "background": torch.from_numpy(bg_idx.astype(np.int64)),
        "position": torch.from_numpy(_bins(pos[:, 1], -1, 1, 3) * 3 + _bins(pos[:, 0], -1, 1, 3)),
        "size": torch.from_numpy(_bins(px_size, *DIGITS_SIZE_RANGE, len(SIZE_NAMES))),
    }
    return _to_uint8(img), torch.from_numpy(base_y[idx]), factors


# ----------------------------------------------------------------------------------------------------------------------
# cifar10 / stl10 (torchvision)
# ----------------------------------------------------------------------------------------------------------------------
def _finish(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], name: str, split: str,
            image_size: int | None, size: int | None, seed: int) -> ImageSet:
    sub = _seeded_subset(images.shape[0], size, seed)
    if sub is not None:
        images, labels = images[sub], labels[sub]
    if image_size is not None:
        images = _resize_uint8(images, image_size)
    return ImageSet(images.contiguous(), labels.long(), class_names, {}, {}, name, split)


def _missing(name: str, folder: str, root: str) -> ConfigError:
    return ConfigError(f"data_root: {name} not found in {root}; put the extracted {folder!r} folder there "
                       f"(--data-root DIR expects DIR/{folder}/…) or pass --download")


def _load_cifar10(split: str, root: str | None, image_size: int | None, size: int | None, download: bool,
                  seed: int) -> ImageSet:
    from torchvision.datasets import CIFAR10
    root = str(root or default_data_root())
    try:
        ds = CIFAR10(root, train=(split == "train"), download=download)
    except RuntimeError as e:
        if download:
            raise ConfigError(f"data_root: could not download CIFAR-10 into {root} ({e}); download "
                              f"cifar-10-python.tar.gz yourself and extract it there") from None
        raise _missing("CIFAR-10", "cifar-10-batches-py", root) from None
    except OSError as e:  # e.g. no network while downloading
        raise ConfigError(f"data_root: could not get CIFAR-10 into {root} ({e}); put the extracted "
                          f"'cifar-10-batches-py' folder there yourself") from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(ds.targets, dtype=np.int64))
    classes = list(getattr(ds, "classes", None) or CIFAR10_CLASSES)
    return _finish(images, labels, classes, "cifar10", split, image_size, size, seed)


def _load_stl10(split: str, root: str | None, image_size: int | None, size: int | None, download: bool,
                seed: int) -> ImageSet:
    from torchvision.datasets import STL10
    root = str(root or default_data_root())
    try:
        ds = STL10(root, split=split, download=download)
    except RuntimeError as e:
        if download:
            raise ConfigError(f"data_root: could not download STL-10 into {root} ({e}); download "
                              f"stl10_binary.tar.gz yourself and extract it there") from None
        raise _missing("STL-10", "stl10_binary", root) from None
    except OSError as e:
        raise ConfigError(f"data_root: could not get STL-10 into {root} ({e}); put the extracted "
                          f"'stl10_binary' folder there yourself") from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data))           # N×3×96×96 already
    labels = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64))
    classes = list(getattr(ds, "classes", None) or STL10_CLASSES)
    return _finish(images, labels, classes, "stl10", split, image_size, size, seed)


# ----------------------------------------------------------------------------------------------------------------------
# folder
# ----------------------------------------------------------------------------------------------------------------------
def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _class_dirs(d: Path) -> list[Path]:
    return sorted((c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".")), key=lambda c: c.name)


def _list_images(d: Path) -> list[Path]:
    """Image files anywhere under ``d`` (nested folders inside a class folder belong to that class)."""
    return sorted((p for p in d.rglob("*") if _is_image(p)), key=lambda p: str(p))


def _open_rgb(path: Path, image_size: int) -> np.ndarray:
    """Decode one image to RGB uint8 image_size×image_size×3: shorter side → image_size, then centre crop."""
    from PIL import Image
    with Image.open(path) as im:
        im.draft("RGB", (image_size, image_size))        # JPEG: decode at a reduced scale when much larger
        im.load()
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "RGB" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba).convert("RGB")
        elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            a = np.asarray(im, dtype=np.float64)
            hi = a.max() if a.size and a.max() > 255 else 255.0
            im = Image.fromarray(np.clip(a / hi * 255, 0, 255).astype(np.uint8), "L").convert("RGB")
        elif im.mode != "RGB":
            im = im.convert("RGB")
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ValueError("empty image")
        scale = image_size / min(w, h)
        nw, nh = max(image_size, round(w * scale)), max(image_size, round(h * scale))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=3.0)  # PIL's bilinear is antialiased
        left, top = (nw - image_size) // 2, (nh - image_size) // 2
        im = im.crop((left, top, left + image_size, top + image_size))
        return np.asarray(im, dtype=np.uint8)


def _folder_layout(root: Path) -> dict[str, Path] | None:
    """Explicit split dirs ({"train": root/train, "test": root/val or root/test}), or None for a flat tree."""
    train = root / "train"
    test = next((root / t for t in ("val", "test") if (root / t).is_dir()), None)
    if train.is_dir() and test is not None:
        return {"train": train, "test": test}
    return None


def _load_folder(split: str, root: str | None, image_size: int, size: int | None, seed: int) -> ImageSet:
    if root is None or str(root).strip() == "":
        raise ConfigError("data_root: the folder dataset needs --data-root DIR, a folder with one subfolder of "
                          "images per class")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data_root: folder {str(path)!r} does not exist; pass --data-root DIR with one "
                          f"subfolder of images per class")
    layout = _folder_layout(path)
    if layout is not None:
        class_dirs_all = {s: _class_dirs(d) for s, d in layout.items()}
        classes = sorted({c.name for ds in class_dirs_all.values() for c in ds
                          if _list_images(c)})
        files = [(p, classes.index(c.name)) for c in class_dirs_all[split] if c.name in classes
                 for p in _list_images(c)]
        if not files:
            raise ConfigError(f"data_root: {str(layout[split])!r} holds no images in class subfolders; expected "
                              f"{layout[split]}/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)})")
    else:
        per_class = [(c.name, _list_images(c)) for c in _class_dirs(path)]
        per_class = [(n, f) for n, f in per_class if f]
        if not per_class:
            raise ConfigError(f"data_root: folder {str(path)!r} has no images in class subfolders; expected "
                              f"DIR/<class>/<image>.png ({', '.join(IMAGE_EXTENSIONS)}), or DIR/train/<class>/… "
                              f"with DIR/val/<class>/…")
        classes = [n for n, _ in per_class]
        rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, _DATASET_CODE["folder"]]))
        files = []
        for ci, (_, fs) in enumerate(per_class):     # stratified 80/20: every class in both splits when it can be
            perm = rng.permutation(len(fs))
            n_test = int(round(0.2 * len(fs))) if len(fs) >= 2 else 0
            n_test = min(max(n_test, 1 if len(fs) >= 2 else 0), len(fs) - 1)
            chosen = perm[:n_test] if split == "test" else perm[n_test:]
            files += [(fs[j], ci) for j in sorted(chosen)]
        if not files:
            raise ConfigError(f"data_root: folder {str(path)!r} has too few images for a {split} split; add "
                              f"images or use DIR/train/<class>/… with DIR/val/<class>/…")
    sub = _seeded_subset(len(files), size, seed)
    if sub is not None:
        files = [files[i] for i in sub.tolist()]
    arrays, labels = [], []
    for p, ci in files:
        try:
            arrays.append(_open_rgb(p, image_size))
            labels.append(ci)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable": skip it, say which
            warnings.warn(f"folder: skipping unreadable image {p} ({type(e).__name__}: {e})", stacklevel=3)
    if not arrays:
        raise ConfigError(f"data_root: no readable images in {str(path)!r} for split {split!r}; check the files")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes, {}, {}, "folder", split)
