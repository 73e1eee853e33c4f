"""Self-supervised relational reasoning (Patacchiola & Storkey, NeurIPS 2020, arXiv:2006.05849).

Reference code: mpatacchiola/self-supervised-relational-reasoning ``methods/relationnet.py`` (``aggregate``).
K augmentations of every image go through the backbone; a relation head scores concatenated feature pairs::

    for every pair of augmentations (a, b), a < b:
        positives: cat(f_a[i], f_b[i])                      (same image)      → target 1
        negatives: cat(f_a[i], roll(f_b, shift)[i])         (another image)   → target 0
        shift = 1, 2, … (one more per pair, wrapping back to 1 before it reaches the batch size)
    loss = BCE-with-logits(relation_head(pairs), targets)
         or, with focal_gamma γ > 0, the focal loss of relationnet.py: mean of 0.5 · (1 − p_t)^γ · BCE   (α = 0.5)

Pairs are aggregated by concatenation (the reference's default ``cat``; K = 4 in its essential script).

Distributed: the rolled partners are taken from the batch gathered from all ranks, so the negatives are the same
pairs as in one process on the global batch; each rank scores the pairs of its own images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from .. import dist
from .base import Method, StepOutput


class RelationalReasoning(Method):
    name = "relational"
    description = ("a relation head learns to tell whether two augmented images show the same picture "
                   "(K views per image, binary cross-entropy on pairs)")

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        f = backbone.out_dim
        self.relation_head = nn.Sequential(nn.Linear(2 * f, 256), nn.BatchNorm1d(256), nn.LeakyReLU(),
                                           nn.Linear(256, 1))

    @property
    def num_views(self) -> int:
        return self.cfg.num_views

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        views = (x1, x2, *more_views)
        n = x1.shape[0]
        feats = self.backbone(torch.cat(views)).split(n)            # one pass over all K·N images, as the reference
        offset = dist.rank() * n
        pairs, targets = [], []
        shift = 1
        for a in range(len(views)):
            for b in range(a + 1, len(views)):
                partner = dist.all_gather_cat(feats[b])             # global batch (no-op in one process)
                n_global = partner.shape[0]
                negative = torch.roll(partner, shifts=shift, dims=0)[offset:offset + n]
                pairs += [torch.cat([feats[a], feats[b]], 1), torch.cat([feats[a], negative], 1)]
                targets += [feats[a].new_ones(n), feats[a].new_zeros(n)]
                shift += 1
                if shift >= n_global:
                    shift = 1                                       # never roll back onto the positive pair
        scores = self.relation_head(torch.cat(pairs)).squeeze(1)
        targets = torch.cat(targets)
        if self.cfg.focal_gamma > 0:
            loss = sigmoid_focal_loss(scores, targets, alpha=0.5, gamma=self.cfg.focal_gamma, reduction="mean")
        else:
            loss = F.binary_cross_entropy_with_logits(scores, targets)
        with torch.no_grad():
            accuracy = ((scores > 0).float() == targets).float().mean().item()
        return StepOutput(loss=loss, terms={"focal" if self.cfg.focal_gamma > 0 else "bce": loss.item()}, z1=feats[0].detach(), z2=feats[1].detach(),
                          metrics={"relation_accuracy": accuracy})
