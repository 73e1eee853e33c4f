"""``digits``: scikit-learn's 8×8 digits, upscaled, coloured and pasted at a random place on a larger canvas."""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from .rendering import COLOUR_NAMES, PALETTE, POSITION_NAMES, SIZE_NAMES, bins, pick_colour_pairs, to_uint8
from .seeding import dataset_rng

DIGIT_CLASSES = [str(d) for d in range(10)]
DIGITS_SIZE_RANGE = (12.0, 20.0)     # digit height in pixels on a 32 px canvas (scaled with image_size)


def digit_factor_names() -> dict[str, list[str]]:
    return {"colour": list(COLOUR_NAMES), "background": list(COLOUR_NAMES), "position": list(POSITION_NAMES),
            "size": list(SIZE_NAMES)}


@functools.lru_cache(maxsize=1)
def _digits_base() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


def digits_split_indices(split: str) -> np.ndarray:
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
def digits_cached(split: str, s: int, size: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    base_imgs, base_y = _digits_base()
    split_idx = digits_split_indices(split)
    n = size if size is not None else len(split_idx)
    idx = split_idx[np.arange(n) % len(split_idx)]     # more than the split asks for: re-rendered repeats
    rng = dataset_rng("digits", split, seed)

    fg_idx, bg_idx = pick_colour_pairs(rng, n)
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
        "position": torch.from_numpy(bins(pos[:, 1], -1, 1, 3) * 3 + bins(pos[:, 0], -1, 1, 3)),
        "size": torch.from_numpy(bins(px_size, *DIGITS_SIZE_RANGE, len(SIZE_NAMES))),
    }
    return to_uint8(img), torch.from_numpy(base_y[idx]), factors
