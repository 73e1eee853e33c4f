"""Method registry: name → Method class. Each method is one short file in this package."""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ..errors import ConfigError

if TYPE_CHECKING:  # type hints only: config imports this registry to validate names
    from ..config import MethodConfig

from .barlow_twins import BarlowTwins
from .base import Method, StepOutput
from .byol import BYOL
from .moco import MoCo
from .random import RandomBaseline
from .relational import RelationalReasoning
from .simclr import SimCLR
from .simsiam import SimSiam
from .supervised import Supervised
from .vicreg import VICReg

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (
    BarlowTwins, SimCLR, RelationalReasoning, BYOL, SimSiam, VICReg, MoCo, Supervised, RandomBaseline)}


def build_method(cfg: MethodConfig, backbone: nn.Module, num_classes: int = 0) -> Method:
    if cfg.name not in METHODS:
        raise ConfigError(f"method: unknown method {cfg.name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[cfg.name](backbone, cfg, num_classes)


__all__ = ["METHODS", "Method", "StepOutput", "build_method"]
