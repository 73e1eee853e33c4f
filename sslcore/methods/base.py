"""What every method shares: the StepOutput contract, the Method base class and the projector MLP."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:  # type hints only: config imports the method registry to validate names
    from ..config import MethodConfig


@dataclass
class StepOutput:
    loss: torch.Tensor                     # scalar the trainer backpropagates
    terms: dict[str, float]                # the loss split into its named parts (floats, detached)
    z1: torch.Tensor                       # embeddings of view 1 / view 2 (what diagnostics are computed on)
    z2: torch.Tensor
    matrix: torch.Tensor | None = None     # what the Monitor heatmap shows (BT: C; SimCLR: view similarity)
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. contrastive / relation accuracy


class Method(nn.Module):
    """A self-supervised (or baseline) objective around a backbone.

    Subclasses set the class attributes and implement ``forward(x1, x2, *more_views, y=None) -> StepOutput``.
    The backbone exposes ``out_dim``; ``self.backbone`` is what evaluation extracts features from.
    """

    name: ClassVar[str]
    description: ClassVar[str]            # one line for `python -m sslcore methods` and the Train page
    needs_labels: ClassVar[bool] = False
    needs_batch_stats: ClassVar[bool] = True
    trainable: ClassVar[bool] = True       # False: nothing to optimise (the `random` baseline)
    matrix_name: ClassVar[str | None] = None  # heatmap title, e.g. "cross-correlation C"

    def __init__(self, backbone: nn.Module, cfg: MethodConfig, num_classes: int = 0):
        super().__init__()
        self.backbone = backbone
        self.cfg = cfg
        self.num_classes = num_classes

    @property
    def num_views(self) -> int:
        return 2

    def on_step_end(self, progress: float) -> None:
        """Called after each optimiser step; ``progress`` ∈ [0, 1] over the whole run (EMA schedules)."""


def projector(in_dim: int, dim: int, layers: int = 3, *, bias: bool = False, last_bn: bool = False) -> nn.Sequential:
    """Barlow Twins-style MLP: (Linear → BN → ReLU) × (layers − 1) → Linear."""
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(width, dim, bias=bias), nn.BatchNorm1d(dim), nn.ReLU(inplace=True)]
        width = dim
    mods.append(nn.Linear(width, dim, bias=bias))
    if last_bn:
        mods.append(nn.BatchNorm1d(dim, affine=False))
    return nn.Sequential(*mods)


def standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-dimension zero mean / unit variance over the batch (BatchNorm1d(affine=False) in training mode)."""
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """D×D cross-correlation of two batches of embeddings, each standardised over the batch (local batch)."""
    return standardize(z1).T @ standardize(z2) / z1.shape[0]


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal elements of a square matrix, flattened (as in the reference Barlow Twins code)."""
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def full_precision(t: torch.Tensor):
    """Context for computing a loss in float32 under autocast: a bf16 C or similarity matrix is too coarse
    (c_ii ≈ 0.99 has two significant digits). Cast the embeddings with ``upcast`` inside it."""
    return torch.autocast(t.device.type, enabled=False)


def upcast(t: torch.Tensor) -> torch.Tensor:
    """float16 / bfloat16 → float32; other dtypes (float32, float64) unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that the optimiser never updates (BYOL target / MoCo key encoder)."""
    import copy

    clone = copy.deepcopy(module)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """θ_target ← m·θ_target + (1 − m)·θ_online for every parameter (buffers follow their own forwards)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)
