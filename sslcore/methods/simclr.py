"""SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020, arXiv:2002.05709): the NT-Xent loss.

Reference code: google-research/simclr ``objective.py`` (``add_contrastive_loss``); the Keras example
"Semi-supervised image classification using contrastive pretraining with SimCLR" for the accuracy metric.

For a batch of N images there are 2N L2-normalised embeddings. Each one is a query; its positive is the other view
of the same image and the other 2N − 2 embeddings are negatives::

    ℓ(i) = −log  exp(sim(z_i, z_pos(i)) / τ) / Σ_{k ≠ i} exp(sim(z_i, z_k) / τ)
    loss = mean over the 2N queries

Distributed: keys come from every rank (``all_gather_cat`` with gradients); each rank scores its own queries
against the global keys, so the loss averaged over ranks equals the single-process loss on the global batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import dist
from .base import Method, StepOutput, full_precision, projector, upcast


class SimCLR(Method):
    name = "simclr"
    description = ("contrastive: pull the two views of an image together and push them away from every other "
                   "image in the batch (NT-Xent loss with temperature τ)")
    matrix_name = "view similarity cos(z1_i, z2_j)"

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        self.projector = projector(backbone.out_dim, cfg.projector_dim, cfg.projector_layers, bias=False)

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        with full_precision(z1):
            z1, z2 = upcast(z1), upcast(z2)
            q1, q2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
            n = q1.shape[0]
            k1, k2 = dist.all_gather_cat(q1), dist.all_gather_cat(q2)      # global keys (no-op in one process)
            n_global = k1.shape[0]
            keys = torch.cat([k1, k2])                                     # 2N_global × D
            queries = torch.cat([q1, q2])                                  # 2N × D (local)
            logits = queries @ keys.T / self.cfg.temperature
            # Global index of each local query: view 1 of sample i is offset + i, view 2 is N_global + offset + i.
            own = torch.arange(n, device=q1.device) + dist.rank() * n
            self_idx = torch.cat([own, own + n_global])
            pos_idx = torch.cat([own + n_global, own])
            rows = torch.arange(2 * n, device=q1.device)
            is_self = torch.zeros_like(logits, dtype=torch.bool)
            is_self[rows, self_idx] = True
            logits = logits.masked_fill(is_self, float("-inf"))            # a query is never its own negative
            loss = F.cross_entropy(logits, pos_idx)
            with torch.no_grad():
                accuracy = (logits.argmax(1) == pos_idx).float().mean().item()
                matrix = q1 @ q2.T
        return StepOutput(loss=loss, terms={"nt_xent": loss.item()}, z1=z1.detach(), z2=z2.detach(),
                          matrix=matrix, metrics={"contrastive_accuracy": accuracy})
