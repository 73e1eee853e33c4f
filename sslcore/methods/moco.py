"""MoCo v2 — Momentum Contrast (He et al., CVPR 2020, arXiv:1911.05722; Chen et al. 2020, arXiv:2003.04297).

Reference code: facebookresearch/moco ``moco/builder.py`` (``MoCo``). Queries come from the trained encoder, keys
from its momentum (EMA) copy; negatives are a FIFO queue of keys from earlier batches::

    q = normalize(head(backbone(x_q)));  k = normalize(key_encoder(x_k))          # k: no gradients
    logits = [q·k, q·queue] / τ;  loss = cross_entropy(logits, 0)                  # InfoNCE
    enqueue(k); after each step: θ_k ← m θ_k + (1 − m) θ_q

Here the loss is symmetrised over the two views (each view is once the query, once the key) and both views' keys
are enqueued. The MLP head is MoCo v2's (Linear → ReLU → Linear). The key encoder is updated after the optimiser
step instead of before the next key computation (the same sequence of updates). Shuffling BN is not done: it
would make one process and several disagree. Distributed: every rank enqueues the keys of the global batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import dist
from .base import Method, StepOutput, ema_update, frozen_copy, full_precision, upcast


class MoCo(Method):
    name = "moco"
    description = ("contrastive with a memory: match each view to a momentum encoder's key of the other view "
                   "against a queue of keys from earlier batches (InfoNCE)")
    matrix_name = "query–key similarity cos(q1_i, k2_j)"
    needs_batch_stats = True

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        d = cfg.projector_dim
        self.projector = nn.Sequential(nn.Linear(backbone.out_dim, d), nn.ReLU(inplace=True), nn.Linear(d, d))
        self.key_backbone = frozen_copy(backbone)
        self.key_projector = frozen_copy(self.projector)
        self.register_buffer("queue", F.normalize(torch.randn(cfg.queue_size, d), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def info_nce(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-query InfoNCE loss and whether the positive key scored highest."""
        l_pos = (q * k).sum(1, keepdim=True)
        l_neg = q @ self.queue.clone().detach().T
        logits = torch.cat([l_pos, l_neg], 1) / self.cfg.temperature
        labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, labels, reduction="none"), logits.argmax(1) == 0

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """FIFO: write at the pointer, wrapping around (more keys than the queue holds: the newest win)."""
        size, n = self.queue.shape[0], keys.shape[0]
        idx = (self.queue_ptr + torch.arange(n, device=keys.device)) % size
        self.queue[idx[-size:]] = keys[-size:].to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        z1 = self.projector(self.backbone(x1))
        z2 = self.projector(self.backbone(x2))
        with torch.no_grad():
            k1 = self.key_projector(self.key_backbone(x1))
            k2 = self.key_projector(self.key_backbone(x2))
        with full_precision(z1):
            z1, z2 = upcast(z1), upcast(z2)
            q1, q2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
            k1, k2 = F.normalize(upcast(k1), dim=1), F.normalize(upcast(k2), dim=1)
            loss_1, hit_1 = self.info_nce(q1, k2)
            loss_2, hit_2 = self.info_nce(q2, k1)
            loss = (loss_1.mean() + loss_2.mean()) / 2
            with torch.no_grad():
                accuracy = torch.cat([hit_1, hit_2]).float().mean().item()
                matrix = q1 @ k2.T
        self.enqueue(torch.cat([dist.all_gather_cat_no_grad(k1), dist.all_gather_cat_no_grad(k2)]))
        return StepOutput(loss=loss, terms={"info_nce": loss.item()}, z1=z1.detach(), z2=z2.detach(),
                          matrix=matrix, metrics={"contrastive_accuracy": accuracy})

    def on_step_end(self, progress: float) -> None:
        ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
        ema_update(self.key_projector, self.projector, self.cfg.momentum)
