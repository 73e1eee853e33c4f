"""Collapse diagnostics computed on a batch of embeddings (REFERENCE.md, "Collapse diagnostics")."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .methods.base import cross_correlation


@torch.no_grad()
def embedding_std(z: torch.Tensor) -> float:
    """Mean per-dimension std of L2-normalised embeddings: ≈ 1/√D when healthy, → 0 under collapse."""
    return float(F.normalize(z.float(), dim=1).std(0).mean())


@torch.no_grad()
def rankme(z: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values of the N×D matrix.

    The singular values are the square roots of the eigenvalues of the smaller Gram matrix (N×N or D×D), in float64
    (not on MPS, which has none): the same figure to 6 digits as ``svdvals`` and 4.6 instead of 20.6 ms for 512 × 5000
    on an H200, where it was most of a logged step's diagnostics (issue 18); 0.98 vs 1.35 ms for 512 × 128 on 2 CPU
    cores."""
    z = z.detach().to("cpu" if z.device.type == "mps" else z.device, torch.float64)
    gram = z @ z.T if z.shape[0] <= z.shape[1] else z.T @ z
    s = torch.linalg.eigvalsh(gram).clamp_min_(0).sqrt_()
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def alignment(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """E‖f(x) − f(y)‖² over positive pairs, on L2-normalised embeddings (Wang & Isola 2020)."""
    return float((F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)).pow(2).sum(1).mean())


@torch.no_grad()
def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """log E exp(−t‖f(x) − f(y)‖²) over all pairs of distinct embeddings (L2-normalised)."""
    z = F.normalize(z.float(), dim=1)
    sq = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * sq, 0) - math.log(sq.numel()))


@torch.no_grad()
def xcorr_summary(c: torch.Tensor) -> dict[str, float]:
    """Mean diagonal and mean |off-diagonal| of a square (cross-)correlation matrix."""
    d = c.shape[0]
    diag = torch.diagonal(c)
    off_abs = (c.abs().sum() - diag.abs().sum()) / max(1, d * d - d)
    return {"xcorr_diag": float(diag.mean()), "xcorr_offdiag": float(off_abs)}


@torch.no_grad()
def all_diagnostics(z1: torch.Tensor, z2: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    """Every live diagnostic of one step, and the embeddings' cross-correlation matrix (for the heatmap)."""
    z1, z2 = z1.detach().float(), z2.detach().float()
    c = cross_correlation(z1, z2)
    stats = {"embedding_std": embedding_std(z1), "rankme": rankme(z1),
             "alignment": alignment(z1, z2), "uniformity": uniformity(z1)}
    return stats | xcorr_summary(c), c
