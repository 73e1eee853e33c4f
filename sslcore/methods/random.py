"""Random baseline: the backbone as initialised, never trained.

What an evaluation of an untrained network scores is the floor every method has to beat: random convolutional
features are already far better than chance with a kNN or linear probe. Nothing to optimise; the loss is 0.
"""
from __future__ import annotations

import torch

from .base import Method, StepOutput


class RandomBaseline(Method):
    name = "random"
    description = "baseline without training: evaluate the randomly initialised backbone"
    needs_batch_stats = False
    trainable = False

    def forward(self, x1, x2, *more_views, y=None) -> StepOutput:
        with torch.no_grad():
            h1, h2 = self.backbone(x1), self.backbone(x2)
        return StepOutput(loss=torch.zeros((), device=h1.device, dtype=h1.dtype), terms={}, z1=h1, z2=h2)
