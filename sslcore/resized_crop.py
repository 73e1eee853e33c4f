"""kornia's RandomResizedCrop, resampled for the whole batch in one ``grid_sample`` call instead of image by image.

kornia draws the crop boxes (``forward_parameters``, used here unchanged) and then, in its default "slice" mode,
slices and ``interpolate``s every image separately (bilinear, ``align_corners=True``): a Python loop of one resize per
image. The same bilinear samples come from one ``F.grid_sample`` over the batch, with the sampling grid built from
the boxes; a horizontal flip drawn for the same images can be folded into that grid (its columns reversed), which
is bit for bit the flip of the crop and saves the flip's pass over the batch.
Equal to kornia's crop to float rounding (tests/test_resized_crop.py). 256 images, 96 → 96 px, one thread, CPU time
(2026-11-26, busy machine): kornia 19.8 ms, this 13.5 ms, and the flip it absorbs another 2.5 ms.
"""
from __future__ import annotations

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn


def sampling_grid(boxes: torch.Tensor, source_hw: tuple[int, int], size: int, flip: torch.Tensor | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """N×4×2 crop corners (kornia's ``src``: x, y of top-left, top-right, bottom-right, bottom-left, inclusive
    pixel indices) → the N×size×size×2 grid of ``grid_sample(align_corners=True)`` that resizes each box to size²,
    sampling as ``interpolate(align_corners=True)`` does: the box's first and last pixels land on the output's.
    ``flip`` (N booleans): those images' columns in reverse order. The N×size coordinates are computed on the CPU
    and only expanded to the full grid on ``device``."""
    h, w = source_hw
    boxes = boxes.to(torch.float64)
    x0, x1, y0, y1 = boxes[:, 0, 0], boxes[:, 1, 0], boxes[:, 0, 1], boxes[:, 3, 1]
    t = torch.linspace(0, 1, size, dtype=torch.float64)
    xs = x0[:, None] + (x1 - x0)[:, None] * t            # source column of each output column
    ys = y0[:, None] + (y1 - y0)[:, None] * t
    gx = (2 * xs / max(w - 1, 1) - 1).float()            # grid_sample's [-1, 1] with align_corners=True
    gy = (2 * ys / max(h - 1, 1) - 1).float()
    if flip is not None:
        gx = torch.where(flip.to(gx.device)[:, None], gx.flip(1), gx)
    gx, gy = gx.to(device), gy.to(device)
    return torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], dim=-1)


class RandomResizedCrop(nn.Module):
    """Drop-in for ``kornia.augmentation.RandomResizedCrop((size, size), scale, p=1.0)`` in a view pipeline."""

    def __init__(self, size: int, scale: tuple[float, float]):
        super().__init__()
        self.size = size
        self.p = 1.0
        self._kornia = K.RandomResizedCrop((size, size), scale=scale, p=1.0)   # draws the boxes

    def forward_parameters(self, shape: torch.Size) -> dict[str, torch.Tensor]:
        """kornia's draw; kept: ``src``, the N×4×2 box corners, and ``batch_prob`` (all true: p = 1)."""
        params = self._kornia.forward_parameters(shape)
        return {"src": params["src"], "batch_prob": params["batch_prob"]}

    def forward(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None,
                flip: torch.Tensor | None = None) -> torch.Tensor:
        """Crop and resize every image; ``flip`` (N booleans) also mirrors those images, as a flip after the crop."""
        params = params if params is not None else self.forward_parameters(x.shape)
        grid = sampling_grid(params["src"], x.shape[-2:], self.size, flip, x.device)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
