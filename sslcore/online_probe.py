"""The online linear probe: a linear classifier trained *during* pre-training on the backbone's detached features
of the labelled images of each batch, with its own optimiser — so accuracy can be watched rising live.

As solo-learn (``solo/methods/base.py``: ``classifier`` on ``feats.detach()``) and the Keras SimCLR STL-10 example
(``linear_probe`` with its own ``probe_optimizer``) do::

    h = backbone(view 1).detach()              # captured from the method's own forward: no extra backbone pass
    keep = y ≥ 0                               # -1 marks unlabeled images (STL-10 train+unlabeled)
    loss = cross_entropy(W·h[keep] + b, y[keep]);  Adam step on (W, b) only

The features come from a forward hook on the backbone, so no method file changes: the first call of the backbone
in a training step is view 1 (relational reasoning passes all K views in one call; view 1 is its first N rows).
Its accuracy is a *running* figure on augmented training images, measured before each update — the protocol
solo-learn's CIFAR tables report; it is not the test-set linear probe of ``evaluate``.
Under DDP every rank trains its own head on its own images; rank 0's figure is logged.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PROBE_LR = 1e-3  # Adam's default, as the Keras example's probe optimiser


class OnlineProbe:
    def __init__(self, backbone: nn.Module, num_classes: int, lr: float = PROBE_LR, partly_labelled: bool = True):
        # The head's random init must not move the run's RNG stream: with it, turning the probe on changed every
        # later augmentation draw, so a run with the probe trained a different model (and the bench compared
        # unequal work). Forked, the backbone trains bit for bit as without the probe (tests/test_online_probe.py).
        with torch.random.fork_rng(devices=[]):
            self.head = nn.Linear(backbone.out_dim, num_classes)
        self.head.to(next(backbone.parameters()).device)
        self.optimizer = torch.optim.Adam(self.head.parameters(), lr=lr)
        # Whether a batch can hold no labelled image at all; only then is the skip test (a host sync on a GPU) paid.
        self.partly_labelled = partly_labelled
        self._features: torch.Tensor | None = None
        self._hook = backbone.register_forward_hook(self._capture)
        self._zero_counts()

    def _zero_counts(self) -> None:
        # Summed on the device and read only by ``read`` (every log_every steps): no per-step .item() sync.
        self._correct = self._seen = self._loss_sum = torch.zeros((), device=self.head.weight.device)

    def _capture(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        # Only the first training-mode call of a step: later calls are other views, eval mode is evaluation.
        if module.training and self._features is None:
            self._features = output.detach()

    def step(self, y: torch.Tensor) -> None:
        """One update on the captured features of this step's images (labels ``y``; -1 = unlabeled)."""
        features, self._features = self._features, None
        if features is None:
            raise RuntimeError("online probe: the backbone was not called in training mode during this step")
        keep = y >= 0
        if self.partly_labelled and not bool(keep.any()):
            return                           # no labelled image: no update (Adam would still move on a zero grad)
        # Every row through the head, the unlabelled ones weighted 0: a boolean index would cost a host sync (its
        # size is data-dependent); the head is a few thousand multiply-adds per image either way.
        weight = keep.float()
        n = weight.sum()
        with torch.enable_grad():
            logits = self.head(features[: len(y)].float())
            losses = F.cross_entropy(logits, y.clamp(min=0).long(), reduction="none")
            loss = (losses * weight).sum() / n.clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._correct = self._correct + ((logits.detach().argmax(1) == y) & keep).sum()
        self._seen = self._seen + n
        self._loss_sum = self._loss_sum + (losses.detach() * weight).sum()

    def read(self) -> dict[str, float]:
        """Accuracy and loss over the labelled images seen since the last read (empty if none), then reset."""
        seen = float(self._seen)
        if not seen:
            return {}
        out = {"online_probe_accuracy": float(self._correct) / seen, "online_probe_loss": float(self._loss_sum) / seen}
        self._zero_counts()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])

    def remove(self) -> None:
        """Detach the hook from the backbone (the backbone then trains and evaluates exactly as without a probe)."""
        self._hook.remove()


def has_labels(labels: torch.Tensor, num_classes: int) -> bool:
    """Whether a training set can feed a probe: it names classes and at least one image is labelled."""
    return num_classes > 0 and bool((labels >= 0).any())
