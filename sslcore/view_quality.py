"""Is an augmentation too weak, useful or too strong? A verdict measured on the views themselves.

The mean pixel difference between two views cannot say it: it grows with strength but says nothing about whether the
object is still there. Two questions can, and each is a measurement on a sample of images:

1. **Does the object survive?** An object mask is estimated per image (pixels whose colour differs from the image's
   border, split by Otsu's threshold), the view's geometric operations (rotate, crop, flip) are applied to the mask
   with the very parameters they applied to the image, and a view *keeps the object* when at least half of the
   object is inside it, it does not fill the whole view, and it still stands out from its background (the distance
   between the mean colours inside and outside the mask is at least 40 % of the original's).
2. **Is there a shortcut?** For each view 1, a matcher that sees only the colour histogram, or only the raw pixels,
   looks for its partner among all the sample's view 2s. When it finds it often, the two views share colours or
   pixels that identify the image, and a network can match those instead of learning the object (Chen et al. 2020,
   SimCLR §3: without colour distortion, colour histograms alone solve the task).

Verdict: ``too strong`` when fewer than 60 % of views keep the object, ``too weak`` when a shortcut finds the
partner in at least 40 % of pairs, ``strong`` (still useful, a warning) below 80 %, else ``useful``. Measured on
``shapes`` at 32 px, 128 random training images, seed 0 (2026-11-25, the shared 2-core machine, 1–3 s each): the
``shapes`` preset at strength 0.2 / 1.0 / 2.5 → shortcut 69 % / 5 % / 2 %, object kept 99 % / 78 % / 41 % (too weak /
strong / too strong); ``barlow_twins`` at 1.0 keeps the object in 68 % of views (its 8 % crops were made for
ImageNet's large objects); ``none`` and ``weak`` → shortcut 100 % / 60 %.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .augment import TwoViewAugment

GEOMETRIC = ("rotate", "crop", "flip")   # the operations that move pixels (and so move the object mask)
MIN_KEPT = 0.5          # fraction of the object's area that must stay inside the view
MIN_CONTRAST = 0.4      # the object's colour distance to its background, relative to the original image's
MAX_COVER = 0.9         # an object filling more of the view than this has lost its outline
TOO_STRONG, STRONG, TOO_WEAK = 0.6, 0.8, 0.4


@dataclass(frozen=True)
class ViewQuality:
    verdict: str                    # "too weak" | "useful" | "strong" | "too strong"
    reason: str                     # one sentence for the page
    object_kept: float | None       # fraction of views that keep the object (None: no image has a clear object)
    cropped_out: float | None       # fraction of views whose crop / rotation left less than half the object
    faded: float | None             # fraction of views where the object no longer stands out from its background
    shortcut: float                 # fraction of pairs whose partner a colour-histogram or pixel matcher finds
    pixel_distance: float           # mean absolute pixel difference between the views (0 … 1)
    images: int                     # sample size


def object_masks(images: torch.Tensor, thresholds: int = 32) -> torch.Tensor:
    """Boolean N×H×W estimate of each image's object: pixels far (in RGB) from the median colour of the image's
    border, split from the rest by Otsu's threshold (the split that maximises the between-class variance).
    ``images``: float N×3×H×W in [0, 1]."""
    n, _, h, w = images.shape
    border = torch.cat([images[:, :, 0, :], images[:, :, -1, :], images[:, :, :, 0], images[:, :, :, -1]], dim=2)
    background = border.median(dim=2).values[:, :, None, None]
    d = (images - background).norm(dim=1).flatten(1)                                   # N×P distances
    lo, hi = d.min(1, keepdim=True).values, d.max(1, keepdim=True).values
    t = lo + (hi - lo) * torch.linspace(0, 1, thresholds + 2)[1:-1]                    # N×T candidates
    below = d[:, None, :] <= t[:, :, None]                                             # N×T×P
    w_below = below.float().mean(2)
    mean_below = (d[:, None, :] * below).sum(2) / below.sum(2).clamp(min=1)
    mean_above = (d[:, None, :] * ~below).sum(2) / (~below).sum(2).clamp(min=1)
    between = w_below * (1 - w_below) * (mean_below - mean_above) ** 2
    best = t.gather(1, between.argmax(1, keepdim=True))
    return (d > best).view(n, h, w)


@torch.no_grad()
def views_with_masks(augment: TwoViewAugment, images: torch.Tensor, masks: torch.Tensor, seed: int
                     ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The two views of ``images`` (uint8 N×3×H×W) exactly as ``augment(images, seed=seed, normalize=False)`` draws
    them — the same operations, order and random draws — plus each view's object mask (the geometric operations
    replayed on ``masks`` with the image's parameters) and the fraction of the image's area each crop kept.
    Returns ``[(view, mask, crop_area), …]`` for view 1 and view 2."""
    x = images.float().div_(255)
    out = []
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        for ops in augment.views:
            v, m, area = x, masks[:, None].float(), torch.ones(len(x))
            for name, op in ops.items():
                if op.p == 0:  # TwoViewAugment skips these too (and draws no parameters for them)
                    continue
                params = op.forward_parameters(v.shape)
                v = op(v, params=params)
                if name in GEOMETRIC:
                    m = op(m, params=params)
                if name == "crop":
                    box = params["src"]  # N×4×2 corners of the crop in the source image
                    side = (box[:, 1, 0] - box[:, 0, 0] + 1) * (box[:, 2, 1] - box[:, 1, 1] + 1)
                    area = side.float() / (x.shape[-1] * x.shape[-2])
            out.append((v.clamp(0, 1), m[:, 0] > 0.5, area))
    return out


def _contrast(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Distance between the mean colour inside and outside each mask."""
    inside = masks[:, None].float()
    fg = (images * inside).sum((2, 3)) / inside.sum((2, 3)).clamp(min=1)
    bg = (images * (1 - inside)).sum((2, 3)) / (1 - inside).sum((2, 3)).clamp(min=1)
    return (fg - bg).norm(dim=1)


def _colour_histograms(images: torch.Tensor, bins: int = 4) -> torch.Tensor:
    """Joint RGB histogram (bins³ cells) of each image, normalised to sum 1."""
    q = (images.clamp(0, 1 - 1e-6) * bins).long()
    cell = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
    h = torch.zeros(len(images), bins ** 3).scatter_add_(1, cell.flatten(1), torch.ones(cell.flatten(1).shape))
    return h / h.sum(1, keepdim=True)


def _partner_found(a: torch.Tensor, b: torch.Tensor, p: float) -> torch.Tensor:
    """Per row of ``a``: is its nearest row of ``b`` (Lp distance) its own partner?"""
    return torch.cdist(a, b, p=p).argmin(1) == torch.arange(len(a))


def measure(augment: TwoViewAugment, images: torch.Tensor, seed: int = 0) -> ViewQuality:
    """Measure ``augment`` on ``images`` (uint8 N×3×H×W; ≥ 64 images make the fractions meaningful)."""
    x = images.float() / 255
    masks = object_masks(x)
    (v1, m1, a1), (v2, m2, a2) = views_with_masks(augment, images, masks, seed)
    area0 = masks.float().mean((1, 2))
    contrast0 = _contrast(x, masks)
    # Images without a clear object (flat, or all object) say nothing about whether the object survives.
    usable = (area0 > 0.005) & (area0 < 0.7) & (contrast0 > 0.05)
    kept_parts, cut_parts, faded_parts = [], [], []
    for v, m, area in ((v1, m1, a1), (v2, m2, a2)):
        cover = m.float().mean((1, 2))
        inside = (cover * area / area0.clamp(min=1e-6)).clamp(max=1)  # object area in view ÷ object area in image
        cut = (inside < MIN_KEPT) | (cover > MAX_COVER)
        faded = ~cut & (_contrast(v, m) < MIN_CONTRAST * contrast0)
        cut_parts.append(cut[usable])
        faded_parts.append(faded[usable])
        kept_parts.append((~cut & ~faded)[usable])
    n_views = 2 * int(usable.sum())
    frac = (lambda parts: float(torch.cat(parts).float().sum()) / n_views) if n_views else (lambda parts: None)
    kept, cut, faded = frac(kept_parts), frac(cut_parts), frac(faded_parts)
    by_colour = _partner_found(_colour_histograms(v1), _colour_histograms(v2), p=1)
    by_pixels = _partner_found(v1.flatten(1), v2.flatten(1), p=2)
    shortcut = float((by_colour | by_pixels).float().mean())
    verdict, reason = _verdict(kept, cut, faded, shortcut, len(images))
    return ViewQuality(verdict, reason, kept, cut, faded, shortcut, float((v1 - v2).abs().mean()), len(images))


def _verdict(kept: float | None, cut: float | None, faded: float | None, shortcut: float, n: int
             ) -> tuple[str, str]:
    if kept is not None and kept < TOO_STRONG:
        return "too strong", (f"only {kept:.0%} of the views still show the object: {cut:.0%} cut most of it out "
                              f"and {faded:.0%} fade it into the background — the two views often no longer show "
                              "the same thing")
    if shortcut >= TOO_WEAK:
        return "too weak", (f"a matcher that looks only at colours or raw pixels finds the partner view among {n} "
                            f"images in {shortcut:.0%} of pairs: the network can match those instead of learning "
                            "the object")
    if kept is not None and kept < STRONG:
        return "strong", (f"no colour or pixel shortcut ({shortcut:.0%} of partners found), but {1 - kept:.0%} of "
                          "the views lose the object (cut out or faded) — smaller crops or weaker colour changes "
                          "would keep more")
    kept_text = f"{kept:.0%} of the views keep the object" if kept is not None else "no clear object to follow"
    return "useful", (f"{kept_text}, and colours or raw pixels find the partner view in only {shortcut:.0%} of "
                      "pairs: matching the views needs the object itself")
