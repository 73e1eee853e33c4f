"""Collectives that keep batch-wide losses exact under torch.distributed (and are no-ops without it).

The differentiable collectives from ``torch.distributed.nn`` send gradients back to the rank that produced each
piece. Combined with DDP's gradient averaging, a loss computed on gathered / all-reduced statistics then has exactly
the gradient of the single-process loss on the global batch (see lightly issue #1977 for what a plain, in-place
``all_reduce`` gets wrong: gradients 1/world_size too small).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks; gradients flow back to every rank's contribution."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(tensor)


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's tensor along dim 0 (rank order); gradients flow back to their owners."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), dim=0)


def all_gather_cat_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's tensor along dim 0 without gradients (e.g. for queues and targets)."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def global_batch_size(local: int) -> int:
    if not is_distributed():
        return local
    n = torch.tensor([local], dtype=torch.long,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(n)
    return int(n.item())
