"""BYOL — Bootstrap Your Own Latent (Grill et al., NeurIPS 2020, arXiv:2006.07733).

Reference code: google-deepmind/deepmind-research ``byol/byol_experiment.py`` and ``utils/helpers.py``
(``regression_loss``). An online network (backbone → projector → predictor) regresses the projection that a
slowly moving target network (an EMA copy of backbone → projector) gives for the other view::

    p1, p2 = predictor(projector(backbone(x1))), …(x2)
    t1, t2 = target(x1), target(x2)                       # no gradients
    loss = (2 − 2·cos(p1, sg(t2))) + (2 − 2·cos(p2, sg(t1)))  (mean over the batch; the paper's L + L̃)
    after each step: θ_t ← τ θ_t + (1 − τ) θ,  τ = 1 − (1 − τ_base)·(cos(π·k/K) + 1)/2

The loss is a per-image mean, so it is distributed-exact once the trainer makes the BatchNorms synchronous.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Method, StepOutput, ema_update, frozen_copy, projector


def regression_loss(p, z):
    """2 − 2·cos(p, z) per row."""
    return 2 - 2 * F.cosine_similarity(p, z, dim=1)


class BYOL(Method):
    name = "byol"
    description = ("no negatives: an online network predicts a slowly moving (EMA) target network's embedding "
                   "of the other view")

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        d = cfg.projector_dim
        self.projector = projector(backbone.out_dim, d, 2, bias=True)    # Linear → BN → ReLU → Linear
        self.predictor = projector(d, d, 2, bias=True)
        self.target_backbone = frozen_copy(backbone)
        self.target_projector = frozen_copy(self.projector)
        self.target_momentum = cfg.momentum                              # τ of the latest update

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            t1 = self.target_projector(self.target_backbone(x1))
            t2 = self.target_projector(self.target_backbone(x2))
        loss = (regression_loss(p1, t2) + regression_loss(p2, t1)).mean()
        return StepOutput(loss=loss, terms={"regression": loss.item()}, z1=z1.detach(), z2=z2.detach())

    def on_step_end(self, progress: float) -> None:
        progress = min(max(progress, 0.0), 1.0)
        tau = 1 - (1 - self.cfg.momentum) * (math.cos(math.pi * progress) + 1) / 2
        self.target_momentum = tau
        ema_update(self.target_backbone, self.backbone, tau)
        ema_update(self.target_projector, self.projector, tau)
