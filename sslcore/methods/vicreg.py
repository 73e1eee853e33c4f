"""VICReg — Variance-Invariance-Covariance Regularization (Bardes, Ponce, LeCun, ICLR 2022, arXiv:2105.04906).

Reference code: facebookresearch/vicreg ``main_vicreg.py`` (``VICReg.forward``)::

    invariance = mse(z1, z2)
    z1, z2 = gather(z1), gather(z2); center both
    variance   = mean_j relu(1 − sqrt(var_j(z1) + 1e-4))/2 + (same for z2)/2      (γ = 1, unbiased var)
    covariance = Σ_{i≠j} Cov(z1)_ij² / D + Σ_{i≠j} Cov(z2)_ij² / D,   Cov = zᵀz / (N − 1)
    loss = 25·variance + 25·invariance + 1·covariance       (cfg.vicreg_weights = variance, invariance, covariance)

Variance and covariance use the batch gathered from all ranks, as in the reference's ``FullGatherLayer``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import dist
from .base import Method, StepOutput, full_precision, off_diagonal, projector, upcast


class VICReg(Method):
    name = "vicreg"
    description = ("three explicit terms: keep every embedding dimension's variance up, make the two views agree, "
                   "and decorrelate the dimensions")
    matrix_name = "covariance Cov(z1)"

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        self.projector = projector(backbone.out_dim, cfg.projector_dim, cfg.projector_layers, bias=False)

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        with full_precision(z1):
            z1, z2 = upcast(z1), upcast(z2)
            w_var, w_inv, w_cov = self.cfg.vicreg_weights
            invariance = F.mse_loss(z1, z2)
            a, b = dist.all_gather_cat(z1), dist.all_gather_cat(z2)          # global batch (no-op in one process)
            n, d = a.shape
            a, b = a - a.mean(0), b - b.mean(0)
            std_a, std_b = torch.sqrt(a.var(0) + 1e-4), torch.sqrt(b.var(0) + 1e-4)
            variance = F.relu(1 - std_a).mean() / 2 + F.relu(1 - std_b).mean() / 2
            cov_a, cov_b = a.T @ a / (n - 1), b.T @ b / (n - 1)
            covariance = off_diagonal(cov_a).pow(2).sum() / d + off_diagonal(cov_b).pow(2).sum() / d
            parts = {"variance": w_var * variance, "invariance": w_inv * invariance,
                     "covariance": w_cov * covariance}
            loss = parts["variance"] + parts["invariance"] + parts["covariance"]
        return StepOutput(loss=loss, terms={k: v.item() for k, v in parts.items()}, z1=z1.detach(),
                          z2=z2.detach(), matrix=cov_a.detach())
