"""SimSiam — Exploring Simple Siamese Representation Learning (Chen & He, CVPR 2021, arXiv:2011.10566).

Reference code: facebookresearch/simsiam ``simsiam/builder.py`` and ``main_simsiam.py``. The paper's pseudocode::

    z1, z2 = f(x1), f(x2)                     # backbone + projector (BN on every layer, also the output)
    p1, p2 = h(z1), h(z2)                     # predictor, a bottleneck MLP (D → D/4 → D)
    L = D(p1, z2)/2 + D(p2, z1)/2,   D(p, z) = −cos(p, z.detach())

``stop_gradient=False`` removes the ``detach`` — the paper's experiment in which the representation collapses.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .base import Method, StepOutput, projector


class SimSiam(Method):
    name = "simsiam"
    description = ("no negatives, no momentum encoder: a predictor matches one view's embedding to the other's, "
                   "and a stop-gradient on the target is what prevents collapse")

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        d = cfg.projector_dim
        hidden = max(d // 4, 1)
        self.projector = projector(backbone.out_dim, d, cfg.projector_layers, bias=False, last_bn=True)
        self.predictor = nn.Sequential(nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden),
                                       nn.ReLU(inplace=True), nn.Linear(hidden, d))

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        t1, t2 = (z1.detach(), z2.detach()) if self.cfg.stop_gradient else (z1, z2)
        loss = -(F.cosine_similarity(p1, t2, dim=1).mean() + F.cosine_similarity(p2, t1, dim=1).mean()) / 2
        return StepOutput(loss=loss, terms={"negative_cosine": loss.item()}, z1=z1.detach(), z2=z2.detach())
