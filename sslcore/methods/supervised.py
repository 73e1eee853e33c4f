"""Supervised baseline: a linear classifier on the backbone's features, trained with cross-entropy on the labels.

Not self-supervised — it is the reference point SSL numbers are compared against (e.g. the Keras SimCLR example's
"baseline supervised" row in REFERENCE.md). Both augmented views are classified and their losses averaged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Method, StepOutput


class Supervised(Method):
    name = "supervised"
    description = "baseline with labels: train the backbone and a linear classifier with cross-entropy"
    needs_labels = True
    # The loss itself uses no batch statistics, but every backbone here has BatchNorm, which cannot train on
    # batches of one (ResNets at 32 px end in 1×1 maps) — so batch size ≥ 2 is the honest requirement.
    needs_batch_stats = True

    def __init__(self, backbone, cfg, num_classes: int = 0):
        super().__init__(backbone, cfg, num_classes)
        if num_classes < 1:
            raise ValueError("supervised: needs the dataset's number of classes (num_classes ≥ 1), got "
                             f"{num_classes}; pick a labelled dataset")
        self.classifier = nn.Linear(backbone.out_dim, num_classes)

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        if y is None:
            raise ValueError("supervised: needs labels y; the data loader gave none (use a labelled dataset)")
        y = y.long()
        h1, h2 = self.backbone(x1), self.backbone(x2)
        logits1, logits2 = self.classifier(h1), self.classifier(h2)
        loss = (F.cross_entropy(logits1, y) + F.cross_entropy(logits2, y)) / 2
        with torch.no_grad():
            accuracy = torch.cat([logits1.argmax(1) == y, logits2.argmax(1) == y]).float().mean().item()
        return StepOutput(loss=loss, terms={"cross_entropy": loss.item()}, z1=h1.detach(), z2=h2.detach(),
                          metrics={"train_accuracy": accuracy})
