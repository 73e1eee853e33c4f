"""What the generated datasets (shapes, digits) share: the named palette, the factor value names and the binning
of continuous nuisance parameters into categorical factor labels."""
from __future__ import annotations

import numpy as np
import torch

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

SIZE_NAMES = ["small", "medium", "large", "x-large"]
POSITION_NAMES = ["top-left", "top", "top-right", "left", "centre", "right", "bottom-left", "bottom", "bottom-right"]


def bins(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    return np.clip(np.floor((values - lo) / (hi - lo) * n), 0, n - 1).astype(np.int64)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats → uint8 with rounding (modifies ``x``)."""
    return x.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def pick_colour_pairs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background hue indices, at least two steps apart on the (circular) palette."""
    k = len(COLOUR_NAMES)
    fg = rng.integers(0, k, n)
    step = rng.integers(2, k - 1, n)            # 2 … k-2: never the same hue nor a neighbour
    return fg, (fg + step) % k
