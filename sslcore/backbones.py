"""Backbones: a small convnet (the CPU default), a CIFAR-stem ResNet-18 and torchvision ResNets (random init).

Every backbone maps N×C×H×W floats to N×out_dim features and exposes ``out_dim``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torchvision
from torch import nn


class ConvNet(nn.Module):
    """One conv-BN-ReLU per stage, max-pooling between stages, then global max pooling.

    Global *max* pooling, not average: trained with labels and no augmentation on ``shapes`` for 3 epochs, this net
    reached 64 % test accuracy with max pooling and 19 % with average pooling (the average of a few 8×8 local
    detectors drowns a shape's corners in its background). The untrained net's kNN on the shape rises 18 → 29 %.

    32-64-128 channels: ≈250–300 Barlow Twins pairs/s at 32 px on 2 CPU cores in channels_last (REFERENCE.md;
    two convs per stage cost 4× that). Load exported weights with ``ConvNet()`` then ``load_state_dict``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128), pool: str = "max"):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def _torchvision_resnet(arch: str, cifar_stem: bool, in_channels: int) -> nn.Module:
    net = getattr(torchvision.models, arch)(weights=None)
    if cifar_stem:
        # 3×3 stride-1 stem and no max-pool: the standard adaptation for 32 px images.
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    net.out_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net


@dataclass(frozen=True)
class BackboneInfo:
    build: Callable[[int], nn.Module]
    min_image_size: int
    description: str


BACKBONES: dict[str, BackboneInfo] = {
    "convnet": BackboneInfo(lambda c: ConvNet(c), 8, "small 3-stage convnet, 32-64-128 channels (CPU default)"),
    "resnet18_cifar": BackboneInfo(lambda c: _torchvision_resnet("resnet18", True, c), 16,
                                   "ResNet-18 with a 3×3 stem and no max-pool (for 32–96 px)"),
    "resnet18": BackboneInfo(lambda c: _torchvision_resnet("resnet18", False, c), 32, "torchvision ResNet-18"),
    "resnet34": BackboneInfo(lambda c: _torchvision_resnet("resnet34", False, c), 32, "torchvision ResNet-34"),
    "resnet50": BackboneInfo(lambda c: _torchvision_resnet("resnet50", False, c), 32, "torchvision ResNet-50"),
}


def build_backbone(name: str, in_channels: int = 3) -> nn.Module:
    if name not in BACKBONES:
        from .errors import ConfigError

        raise ConfigError(f"backbone: unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[name].build(in_channels)


def export_state_dict(name: str, backbone: nn.Module) -> dict[str, torch.Tensor]:
    """Backbone weights loadable by the plain class: ``torchvision.models.resnet18()`` (strict=False for the
    removed fc) or ``ConvNet()``. The CIFAR stem changes conv1's shape; document that to the user."""
    return {k: v.detach().cpu() for k, v in backbone.state_dict().items()}
