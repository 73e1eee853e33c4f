"""Two asymmetric views of a batch, with per-image random parameters (kornia), on the batch's device.

torchvision.transforms.v2 applied to a batched tensor draws *one* set of random parameters for the whole batch
(REFERENCE.md), so every image in a batch would get the same crop — wrong for SSL. kornia draws per image.

A preset is a pair of ``ViewRecipe``s, copied from its source with exact per-view probabilities. A page exposes
the recipe fields as sliders (``overrides``) and a global ``strength`` that scales every magnitude and probability.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import kornia.augmentation as K
import torch
from torch import nn

from .blur import RandomGaussianBlur
from .color_jitter import ColorJitter
from .masked_ops import RandomGrayscale, RandomHorizontalFlip, RandomSolarize
from .resized_crop import RandomResizedCrop


@dataclass(frozen=True)
class ViewRecipe:
    crop_scale_min: float = 0.08   # RandomResizedCrop area range [min, 1]
    flip_p: float = 0.5
    jitter_p: float = 0.8          # colour jitter: probability, then torchvision-style magnitudes
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    gray_p: float = 0.2
    blur_p: float = 0.0            # Gaussian blur: sigma ∈ [0.1, blur_sigma] at 224 px, scaled to the image size
    blur_sigma: float = 2.0
    solarize_p: float = 0.0
    rotation: float = 0.0          # random rotation by up to ± this many degrees (no published preset rotates)
    shuffle_p: float = 0.0         # permute the RGB channels (scrambles colour relations hue jitter keeps)
    noise_p: float = 0.0           # add Gaussian pixel noise (std noise_std, in [0, 1] pixel units)
    noise_std: float = 0.1

    def scaled(self, strength: float) -> ViewRecipe:
        """Every probability and magnitude × strength (capped at its MAX_VALUE); 0 is the identity."""
        changes = {name: min(MAX_VALUE.get(name, math.inf), getattr(self, name) * strength)
                   for name in RECIPE_FIELDS if name != "crop_scale_min"}
        # The crop's strength is how much area it removes: 0 keeps the whole image.
        changes["crop_scale_min"] = min(1.0, max(0.02, 1 - (1 - self.crop_scale_min) * strength))
        return dataclasses.replace(self, **changes)


RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(ViewRecipe))
PROBABILITY_FIELDS = tuple(name for name in RECIPE_FIELDS if name.endswith("_p"))
# Upper bounds of the bounded fields (the rest only have to be ≥ 0): what an override may ask and where strength stops.
MAX_VALUE = {name: 1.0 for name in PROBABILITY_FIELDS} | {"crop_scale_min": 1.0, "hue": 0.5, "rotation": 180.0}
# What each operation does, for `--help`, the Augmentations page and the docs.
OPERATIONS = {
    "rotate": "random rotation (the corners it uncovers are filled by reflecting the image)",
    "crop": "random resized crop: a random patch covering crop_scale_min–100% of the area, resized back",
    "flip": "horizontal flip",
    "jitter": "colour jitter: random brightness, contrast, saturation and hue changes",
    "shuffle": "channel shuffle: permute the red, green and blue channels (changes colours and their relations)",
    "gray": "convert to grayscale",
    "blur": "Gaussian blur",
    "solarize": "invert every pixel brighter than 50%",
    "noise": "Gaussian pixel noise",
}

_BT = ViewRecipe(blur_p=1.0, solarize_p=0.0)
# The Barlow Twins pair plus what changes every other nuisance factor of the `shapes` dataset between the views: any
# rotation, any hue, shuffled channels (a hue shift keeps the shape/background colour relation; a shuffle does not),
# grey in half the views and crops of at least 20 % (smaller ones often miss the shape). With the published pair
# alone the kNN on the shape stays below the untrained net's; README "What the default run learns" has the numbers.
_SHAPES = {"rotation": 180.0, "hue": 0.5, "shuffle_p": 0.5, "gray_p": 0.5, "crop_scale_min": 0.2}
PRESETS: dict[str, tuple[ViewRecipe, ViewRecipe]] = {
    "shapes": (dataclasses.replace(_BT, **_SHAPES), dataclasses.replace(_BT, blur_p=0.1, solarize_p=0.2, **_SHAPES)),
    # facebookresearch/barlowtwins main.py; BYOL uses the same asymmetric pair.
    "barlow_twins": (_BT, dataclasses.replace(_BT, blur_p=0.1, solarize_p=0.2)),
    # lightly SimCLRTransform defaults: jitter strength 1.0 → (0.8, 0.8, 0.8, 0.2), blur 0.5, no solarize.
    "simclr": (ViewRecipe(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, blur_p=0.5),) * 2,
    "byol": (_BT, dataclasses.replace(_BT, blur_p=0.1, solarize_p=0.2)),
    # Keras Barlow Twins example: crop 75–100 % of the side (56–100 % of the area), jitter 0.8/0.6/0.6/0.2.
    "keras_barlow": (ViewRecipe(crop_scale_min=0.5625, brightness=0.8, contrast=0.6, saturation=0.6, hue=0.2,
                                blur_p=0.2, solarize_p=0.2),) * 2,
    # Keras SimCLR example's contrastive (strong) augmentation: min area 0.25, brightness 0.6, colour jitter 0.2,
    # applied to every image (its RandomColorAffine has no probability), mapped onto ColorJitter as "weak" is.
    "keras_simclr": (ViewRecipe(crop_scale_min=0.25, jitter_p=1.0, brightness=0.6, contrast=0.2, saturation=0.2,
                                hue=0.2 / 4, gray_p=0.0),) * 2,
    # Keras SimCLR example's weak augmentation: min area 0.75, brightness 0.3, colour jitter 0.1.
    "weak": (ViewRecipe(crop_scale_min=0.75, brightness=0.3, contrast=0.1, saturation=0.1, hue=0.1 / 4,
                        gray_p=0.0),) * 2,
    "none": (ViewRecipe(crop_scale_min=1.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0),) * 2,
}
PRESET_SOURCES = {
    "shapes": "SSL Lens default for `shapes`: the Barlow Twins pair + rotation ±180°, any hue, channel shuffle 0.5, "
              "grey 0.5, crops of 20–100 %",
    "barlow_twins": "Barlow Twins reference code: blur 1.0/0.1 and solarize 0.0/0.2 in view 1/view 2",
    "simclr": "SimCLR (lightly's SimCLRTransform): strong colour jitter, blur 0.5 in both views",
    "byol": "BYOL: the same asymmetric pair as Barlow Twins",
    "keras_barlow": "Keras Barlow Twins example: milder crops, strong jitter, blur/solarize 0.2",
    "keras_simclr": "Keras SimCLR example's contrastive augmentation: crops of 25–100 %, jitter on every image",
    "weak": "Keras SimCLR example's weak augmentation: large crops, light jitter",
    "none": "no augmentation: both views equal the image (the collapse / shortcut lesson)",
}


def validate_overrides(overrides: dict[str, Any]) -> None:
    from .errors import ConfigError

    for key, value in overrides.items():
        view, _, name = key.rpartition(".")
        if view not in ("", "view1", "view2") or name not in RECIPE_FIELDS:
            raise ConfigError(f"overrides: unknown key {key!r}; use [view1.|view2.]<field> with field one of: "
                              f"{', '.join(RECIPE_FIELDS)}")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"overrides: {key} must be a number, got {value!r}")
        if name in MAX_VALUE and not 0 <= value <= MAX_VALUE[name]:
            raise ConfigError(f"overrides: {key} must be between 0 and {MAX_VALUE[name]:g}, got {value}")
        if value < 0:
            raise ConfigError(f"overrides: {key} must be ≥ 0, got {value}")


def recipes(preset: str, strength: float = 1.0, overrides: dict[str, float] | None = None
            ) -> tuple[ViewRecipe, ViewRecipe]:
    """The two view recipes: preset, then overrides (absolute values), then × strength."""
    from .errors import ConfigError

    if preset not in PRESETS:
        raise ConfigError(f"augment: unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    overrides = overrides or {}
    validate_overrides(overrides)
    views = []
    for i, recipe in enumerate(PRESETS[preset], start=1):
        changes = {k: float(v) for k, v in overrides.items() if "." not in k}
        changes |= {k.split(".", 1)[1]: float(v) for k, v in overrides.items() if k.startswith(f"view{i}.")}
        views.append(dataclasses.replace(recipe, **changes).scaled(strength))
    return views[0], views[1]


def _view_pipeline(r: ViewRecipe, image_size: int) -> nn.ModuleDict:
    # Sigma is given at the reference's 224 px; scale it so a preset blurs the same fraction of the image.
    sigma_max = max(0.1, r.blur_sigma * image_size / 224)
    kernel = max(3, int(image_size * 0.1) // 2 * 2 + 1)
    # Crop, flip, grey, blur and solarize are ours with kornia's parameter draws and results (tested against kornia;
    # the modules give the measured gains): kornia's generic per-op machinery cost more than the operations. The
    # jitter is ours too: torchvision's blends without the HSV round trip (color_jitter.py: 2.9 s → 0.27 s).
    return nn.ModuleDict({
        "rotate": K.RandomAffine(r.rotation, padding_mode="reflection", p=1.0 if r.rotation > 0 else 0.0),
        "crop": RandomResizedCrop(image_size, (r.crop_scale_min, 1.0)),
        "flip": RandomHorizontalFlip(r.flip_p),
        "jitter": ColorJitter(r.brightness, r.contrast, r.saturation, r.hue, p=r.jitter_p),
        "shuffle": K.RandomChannelShuffle(p=r.shuffle_p),
        "gray": RandomGrayscale(r.gray_p),
        "blur": RandomGaussianBlur(kernel, (0.1, sigma_max), p=r.blur_p),
        "solarize": RandomSolarize(r.solarize_p),
        "noise": K.RandomGaussianNoise(std=r.noise_std, p=r.noise_p),
    })


# Ours: they change a chunk of images in place (``apply_``) given the rows of the parameters drawn for the batch.
_CHUNKABLE = (RandomResizedCrop, RandomHorizontalFlip, ColorJitter, RandomGrayscale, RandomGaussianBlur, RandomSolarize)
# On the CPU a view is computed a chunk of images at a time, start to end, so each chunk stays in the cache through
# the ~15 passes of the operations instead of every pass streaming the whole batch through memory. Two views of 256
# images at 96 px (2 threads, exclusive lock, 2026-11-26): 4 MiB chunks 70.9 ms (simclr) / 64.8 ms (barlow_twins),
# 1 MiB 82.6 / 79.0, 8 MiB 96.9 / 68.8, the whole batch at once 89.5 / 70.3; at 32 px (1024 images) 32.8 vs 34.4 ms.
CHUNK_BYTES = 2 ** 22


def _rows(params: dict[str, torch.Tensor], lo: int, hi: int) -> dict[str, torch.Tensor]:
    return {k: v if k == "order" else v[lo:hi] for k, v in params.items()}   # jitter's order is per batch


class TwoViewAugment(nn.Module):
    """uint8 N×C×H×W → (view1, view2) float batches, each image with its own random parameters.

    ``normalize=True`` (training) maps [0, 1] to roughly zero mean / unit scale; previews use ``normalize=False``.
    ``num_views`` > 2 (relational reasoning) draws extra views from the view-2 recipe.
    """

    def __init__(self, preset: str = "barlow_twins", image_size: int = 32, strength: float = 1.0,
                 overrides: dict[str, float] | None = None):
        super().__init__()
        self.recipes = recipes(preset, strength, overrides)
        self.image_size = image_size
        self.views = nn.ModuleList(_view_pipeline(r, image_size) for r in self.recipes)
        self.last_applied: list[dict[str, float]] = []

    @classmethod
    def from_config(cls, cfg, image_size: int) -> TwoViewAugment:
        return cls(cfg.preset, image_size, cfg.strength, cfg.overrides)

    def _one_view(self, ops: nn.ModuleDict, images: torch.Tensor, normalize: bool
                  ) -> tuple[torch.Tensor, dict[str, float]]:
        # Draw every op's parameters first, in pipeline order, through the public forward_parameters API (the same
        # draws op(x) makes, and those view_quality replays op by op); drawing needs only the batch's shape.
        applied, steps = {}, []
        shape = images.shape
        for name, op in ops.items():
            if op.p == 0:  # skip the kernel launch and the parameter sampling
                applied[name] = 0.0
                continue
            params = op.forward_parameters(shape)
            applied[name] = float(params["batch_prob"].float().mean())
            steps.append((name, op, params))
            if name == "crop":
                box = params["src"]  # N×4×2 corners of the crop in the source image
                area = (box[:, 1, 0] - box[:, 0, 0] + 1) * (box[:, 2, 1] - box[:, 1, 1] + 1)
                applied["crop_area"] = float(area.float().mean()) / (shape[-2] * shape[-1])
                shape = (shape[0], shape[1], self.image_size, self.image_size)
        x, i = images, 0
        while i < len(steps):
            if not isinstance(steps[i][1], _CHUNKABLE):        # kornia's: the whole batch at once
                x = _as_float(x)
                x = steps[i][1](x, params=steps[i][2])
                i += 1
                continue
            j = i
            while j < len(steps) and isinstance(steps[j][1], _CHUNKABLE):
                j += 1
            x = _chunked(steps[i:j], x, finish=normalize if j == len(steps) else None)
            i = j
        if not isinstance(steps[-1][1], _CHUNKABLE):     # (the crop is always there: steps is never empty)
            x = _finish(x, normalize)
        return x, applied

    @torch.no_grad()
    def forward(self, images: torch.Tensor, *, num_views: int = 2, seed: int | None = None,
                normalize: bool = True) -> list[torch.Tensor]:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images: expected a uint8 N×C×H×W tensor, got {images.dtype} {tuple(images.shape)}")
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            outs, self.last_applied = [], []
            for v in range(num_views):
                view, applied = self._one_view(self.views[min(v, 1)], images, normalize)
                outs.append(view)
                self.last_applied.append(applied)
        return outs


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def _finish(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Clamp to [0, 1] in place, then map to roughly zero mean / unit scale for training."""
    x = x.clamp_(0, 1)
    return x.sub_(0.5).div_(0.25) if normalize else x


def _chunked(steps: list[tuple[str, nn.Module, dict]], x: torch.Tensor, finish: bool | None) -> torch.Tensor:
    """Run consecutive ops of ours over ``x`` (uint8 images, or a float batch this view owns) a chunk of images at a
    time; ``finish`` (not None) also clamps and, if true, normalises each chunk. A flip right after the crop is
    folded into the crop's sampling grid (the same values, one pass fewer)."""
    n = len(x)
    out_shape = x.shape[1:]
    if steps[0][0] == "crop":
        out_shape = (x.shape[1], steps[0][1].size, steps[0][1].size)
    per_image = math.prod(out_shape) * 4
    step = n if x.device.type != "cpu" else max(1, CHUNK_BYTES // per_image)
    fold_flip = len(steps) > 1 and steps[0][0] == "crop" and steps[1][0] == "flip"
    out = None
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        y = x[lo:hi]
        y = y.div(255) if y.dtype == torch.uint8 else y       # = .float().div_(255) in one pass
        for k, (name, op, params) in enumerate(steps):
            if fold_flip and k == 1:
                continue
            rows = _rows(params, lo, hi)
            if name == "crop":
                y = op(y, params=rows, flip=_rows(steps[1][2], lo, hi)["batch_prob"] if fold_flip else None)
            else:
                y = op.apply_(y, rows)
        if out is None:
            if hi == n:    # one chunk: no copy
                return y if finish is None else _finish(y, finish)
            out = torch.empty((n, *y.shape[1:]), dtype=y.dtype, device=y.device)
        if finish is None:
            out[lo:hi] = y
        elif finish:   # _finish with its last pass writing straight into the output
            torch.div(y.clamp_(0, 1).sub_(0.5), 0.25, out=out[lo:hi])
        else:
            out[lo:hi] = y.clamp_(0, 1)
    return out


def view_difference(view1: torch.Tensor, view2: torch.Tensor, applied: list[dict[str, float]] | None = None
                    ) -> dict[str, float]:
    """How different two (unnormalised, [0, 1]) views are: mean absolute pixel distance, plus the fraction of
    images each operation touched in each view and the mean crop area (from ``TwoViewAugment.last_applied``)."""
    out = {"mean_pixel_distance": float((view1 - view2).abs().mean())}
    for i, ops in enumerate(applied or [], start=1):
        out |= {f"view{i}.{name}": value for name, value in ops.items()}
    return out
