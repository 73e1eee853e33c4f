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


# ---- process group setup (torchrun) ----
def init_from_env() -> bool:
    """Join the process group torchrun describes (RANK / WORLD_SIZE / MASTER_ADDR env); NCCL on GPUs, gloo on CPU.
    Returns True when this process is one of several."""
    import os

    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    use_cuda = torch.cuda.is_available() and os.environ.get("SSL_LENS_DEVICE", "auto") != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def local_rank() -> int:
    import os

    return int(os.environ.get("LOCAL_RANK", "0"))


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (a collective stop / divergence decision)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


# ---- batch norm over the global batch ----
class GlobalBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics cover the global batch on any backend.

    ``nn.SyncBatchNorm`` only runs on GPUs; this one all-reduces per-channel sums (differentiably), so 2 CPU
    processes on gloo normalise exactly as 1 process on the whole batch. Same parameters and buffers as
    BatchNorm, so checkpoints load into a plain model.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        channels = x.shape[1]
        count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
        stats = all_reduce_sum(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = stats[-1]
        mean = stats[:channels] / n
        var = (stats[channels:2 * channels] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Every BatchNorm normalises over the global batch, as the reference implementations do under DDP:
    ``nn.SyncBatchNorm`` on CUDA, ``GlobalBatchNorm`` elsewhere (gloo)."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    out = module
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        out.load_state_dict(module.state_dict())
        out.to(next(iter(module.buffers()), torch.empty(0)).device)
    for name, child in module.named_children():
        out.add_module(name, convert_batchnorm(child, device))
    return out
