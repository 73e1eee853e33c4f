"""Barlow Twins (Zbontar, Jing, Misra, LeCun, Deny, ICML 2021, arXiv:2103.03230).

Reference code: facebookresearch/barlowtwins ``main.py`` (class ``BarlowTwins``). The paper's pseudocode::

    z_a, z_b = f(y_a), f(y_b)                 # backbone + projector
    c = bn(z_a).T @ bn(z_b) / N               # D×D cross-correlation, bn = BatchNorm1d(affine=False)
    loss = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij²

``bn`` is replaced by ``standardize`` on the batch gathered from all ranks, so C uses the *global* batch's
statistics and is divided by the global batch size — what the reference gets from SyncBatchNorm + ``all_reduce(c)``.
"""
from __future__ import annotations

import torch

from .. import dist
from .base import Method, StepOutput, full_precision, off_diagonal, projector, standardize, upcast


class BarlowTwins(Method):
    name = "barlow_twins"
    description = ("make the cross-correlation matrix of two views' embeddings the identity: matching dimensions "
                   "agree (invariance), different dimensions are decorrelated (redundancy reduction)")
    matrix_name = "cross-correlation C"

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        self.projector = projector(backbone.out_dim, cfg.projector_dim, cfg.projector_layers, bias=False)

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        with full_precision(z1):
            z1, z2 = upcast(z1), upcast(z2)
            z1g, z2g = dist.all_gather_cat(z1), dist.all_gather_cat(z2)   # global batch (no-op in one process)
            c = standardize(z1g).T @ standardize(z2g) / z1g.shape[0]
            on_diag = (1 - torch.diagonal(c)).pow(2).sum()
            off_diag = off_diagonal(c).pow(2).sum()
            invariance = self.cfg.scale * on_diag
            redundancy = self.cfg.scale * self.cfg.lambd * off_diag
            loss = invariance + redundancy
        return StepOutput(loss=loss,
                          terms={"invariance": invariance.item(), "redundancy": redundancy.item()},
                          z1=z1.detach(), z2=z2.detach(), matrix=c.detach())
