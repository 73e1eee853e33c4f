"""Frozen features: a model's backbone (or projector) outputs, and the raw-pixel baseline's flattened images."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .protocol import Progress


def _pick_device(device: str | torch.device | None, fallback: torch.device) -> torch.device:
    if device is None:
        return fallback
    if isinstance(device, torch.device):
        return device
    from ..train import resolve_device

    return resolve_device(device)


def _prepare(batch: torch.Tensor, device: torch.device, image_size: int | None) -> torch.Tensor:
    x = batch.to(device, non_blocking=True).float().div_(255)
    if image_size is not None and (x.shape[-1] != image_size or x.shape[-2] != image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return x.sub_(0.5).div_(0.25).contiguous(memory_format=torch.channels_last)


def _feature_module(model: torch.nn.Module, which: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if which == "backbone":
        return model.backbone
    if which == "projector":
        proj = getattr(model, "projector", None)
        if proj is None:
            raise ConfigError(f"features: method {getattr(model, 'name', type(model).__name__)!r} has no projector; "
                              f"use features=backbone")
        return lambda x: proj(model.backbone(x))
    raise ConfigError(f"features: must be 'backbone' or 'projector', got {which!r}")


def extract_features(model: torch.nn.Module, images: torch.Tensor, *, which: str = "backbone",
                     device: str | torch.device | None = None, batch_size: int = 512,
                     image_size: int | None = None, progress: Progress = None) -> torch.Tensor:
    """Frozen features of uint8 N×3×H×W ``images`` (float32 N×F, on the CPU). See the module docstring."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ConfigError(f"images: expected a uint8 N×C×H×W tensor, got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be ≥ 1, got {batch_size}")
    fn = _feature_module(model, which)
    try:
        model_device = next(model.parameters()).device
    except StopIteration:
        model_device = torch.device("cpu")
    device = _pick_device(device, model_device)
    moved = device != model_device
    if moved:
        model.to(device)
    was_training = model.training
    model.eval()
    outs = []
    n = images.shape[0]
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                x = _prepare(images[i:i + batch_size], device, image_size)
                outs.append(fn(x).float().to("cpu"))
                if progress is not None:
                    progress(min(1.0, (i + batch_size) / max(n, 1)), f"features {min(n, i + batch_size)}/{n}")
    finally:
        model.train(was_training)
        if moved:
            model.to(model_device)
    if not outs:
        return torch.empty(0, 0)
    return torch.cat(outs).contiguous()


def raw_pixel_features(images: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """The raw-pixel baseline's features: the normalised image, flattened (float32 N×3·H·W)."""
    out = []
    for i in range(0, images.shape[0], 2048):
        out.append(_prepare(images[i:i + 2048], torch.device("cpu"), image_size).contiguous().flatten(1))
    return torch.cat(out) if out else torch.empty(0, 0)
