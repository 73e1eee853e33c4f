"""Per-image colour jitter as per-pixel colour maps: torchvision's ColorJitter, with the hue shift done in YIQ.

torchvision / kornia ``ColorJitter`` shift hue and saturation through an RGB → HSV → RGB round trip, the slowest
step of the whole two-view augmentation: on 256 images at 96 px kornia's jitter took 2.9 s of a 9.6 s two-view
batch, hue alone 2.9 s and saturation 1.2 s when measured one at a time (2 busy cores, 2026-11-25, /tmp profile of
TwoViewAugment("simclr", 96)). Here every operation is a blend or a 3×3 colour matrix per image::

    brightness b:  x ← b·x                                         (torchvision adjust_brightness)
    contrast c:    x ← c·x + (1 − c)·mean(grey(x))                 (adjust_contrast; grey = .2989 R + .587 G + .114 B)
    saturation s:  x ← s·x + (1 − s)·grey(x)                       (adjust_saturation)
    hue h:         x ← YIQ⁻¹ · rot(2πh) · YIQ · x                   (rotate the chroma plane, as NVIDIA DALI's hue)
    each followed by clamping to [0, 1]; the four in a random order per batch, as kornia's ColorJitter.

Brightness, contrast and saturation equal torchvision's; the hue rotation keeps luma exactly and turns colours
around the grey axis like an HSV hue shift, but is not identical to it (HSV's hexagon vs YIQ's circle).

In a pipeline the operations run in place on a chunk of images (``apply_``): no new batch per operation. With
TwoViewAugment's cache-sized chunks that took one view's jitter from 47 to 12–13 ms (256 images at 96 px, one
thread, CPU time, 2026-11-26).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .masked_ops import change_chosen_

GREY = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale's weights
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = torch.linalg.inv(_YIQ)   # once: inverting it per chunk was 7 % of the jitter (cProfile)


def grey(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W → N×1×H×W luma, torchvision's weights."""
    r, g, b = x.unbind(1)
    return (GREY[0] * r + GREY[1] * g + GREY[2] * b).unsqueeze(1)


def hue_matrices(shift: torch.Tensor) -> torch.Tensor:
    """N hue shifts (in turns, torchvision's hue range) → N×3×3 RGB matrices rotating chroma in YIQ."""
    theta = -2 * math.pi * shift     # the sign that turns red towards yellow for h > 0, as HSV's hue does
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(len(shift), 3, 3, dtype=shift.dtype, device=shift.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    return _YIQ_INV.to(shift.device, shift.dtype) @ rot @ _YIQ.to(shift.device, shift.dtype)


def jitter(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor,
           hue: torch.Tensor, order: list[int]) -> torch.Tensor:
    """Apply per-image factors (each a length-N tensor) to [0, 1] images N×3×H×W, operations in ``order``
    (0 brightness, 1 contrast, 2 saturation, 3 hue). ``x`` is left unchanged."""
    return jitter_(x.clone(), brightness, contrast, saturation, hue, order)


def jitter_(x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor,
            hue: torch.Tensor, order: list[int]) -> torch.Tensor:
    """``jitter`` that overwrites ``x`` and returns the result, which may live in a second buffer (the colour
    matrices cannot multiply in place): in place, each operation is one pass over the batch without allocating."""
    per_image = (-1, 1, 1, 1)
    w = torch.tensor(GREY, dtype=x.dtype, device=x.device)
    other = None
    for op in order:
        if op == 0:
            x.mul_(brightness.view(per_image))
        elif op == 1:
            c = contrast.view(per_image)
            mean_grey = (x.mean((2, 3)) @ w).view(per_image)        # mean of grey(x) = grey of the mean colour
            x.mul_(c).add_((1 - c) * mean_grey)
        else:
            if op == 2:   # s·x + (1 − s)·grey(x) for every pixel is the matrix s·I + (1 − s)·1wᵀ
                s = saturation.view(-1, 1, 1)
                m = s * torch.eye(3, dtype=x.dtype, device=x.device) + (1 - s) * w.expand(3, 3)
            else:
                m = hue_matrices(hue).to(x.dtype)
            other = torch.empty_like(x) if other is None else other
            torch.bmm(m, x.flatten(2), out=other.view(len(x), 3, -1))  # every pixel's RGB × its image's matrix
            x, other = other, x
        x.clamp_(0, 1)
    return x


class ColorJitter(nn.Module):
    """Drop-in for ``kornia.augmentation.ColorJitter(brightness, contrast, saturation, hue, p)`` in a view pipeline:
    per-image factors drawn from the same ranges, ``forward_parameters(shape)`` then ``forward(x, params=...)``."""

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0,
                 p: float = 1.0):
        super().__init__()
        self.ranges = [(max(0.0, 1 - brightness), 1 + brightness), (max(0.0, 1 - contrast), 1 + contrast),
                       (max(0.0, 1 - saturation), 1 + saturation), (-hue, hue)]
        self.p = p

    def forward_parameters(self, shape: torch.Size) -> dict[str, torch.Tensor]:
        n = shape[0]
        factors = [torch.empty(n).uniform_(lo, hi) if hi > lo else torch.full((n,), lo) for lo, hi in self.ranges]
        return {"batch_prob": torch.rand(n) < self.p, "brightness": factors[0], "contrast": factors[1],
                "saturation": factors[2], "hue": factors[3], "order": torch.randperm(4)}

    def forward(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        params = params if params is not None else self.forward_parameters(x.shape)
        return self.apply_(x.clone(), params)

    def apply_(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Jitter the chosen images of ``x`` in place (or into a buffer it returns)."""
        chosen = params["batch_prob"]
        factors = [params[k][chosen].to(x.device, x.dtype) for k in ("brightness", "contrast", "saturation", "hue")]
        order = params["order"].tolist()
        if bool(chosen.all()):
            return jitter_(x, *factors, order=order)
        return change_chosen_(x, chosen, lambda images, _: jitter_(images, *factors, order=order))
