"""Optimisers (SGD, Adam, AdamW, LARS as in the reference Barlow Twins code, LAMB as in its paper) and the
warm-up + cosine schedule.

Parameters are split in two groups as in facebookresearch/barlowtwins ``main.py``: weights, and biases + BN
parameters (every 1-D tensor). The second group gets no weight decay, no layer-wise trust ratio (LARS / LAMB)
and its own peak learning rate (``OptimConfig.lr_biases``; the reference uses 0.2 for weights, 0.0048 for biases).
Each group carries ``lr_scale`` = its peak lr ÷ ``OptimConfig.lr``: the trainer sets ``lr = schedule × lr_scale``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import OptimConfig


def _trust_ratio(param_norm: torch.Tensor, update_norm: torch.Tensor, eta: float = 1.0) -> torch.Tensor:
    """η‖w‖ / ‖update‖, or 1 where either norm is 0 (a fresh zero layer, or no gradient)."""
    one = torch.ones_like(param_norm)
    return torch.where(param_norm > 0, torch.where(update_norm > 0, eta * param_norm / update_norm, one), one)


class LARS(torch.optim.Optimizer):
    """LARS from facebookresearch/barlowtwins: parameters of a group flagged ``exclude`` (biases, BN) get neither
    weight decay nor the layer-wise trust ratio."""

    def __init__(self, params, lr, weight_decay=0.0, momentum=0.9, eta=0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                dp = p.grad
                if not g.get("exclude", False):
                    dp = dp.add(p, alpha=g["weight_decay"])
                    dp = dp.mul(_trust_ratio(torch.norm(p), torch.norm(dp), g["eta"]))
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"]
                mu.mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])


class LAMB(torch.optim.Optimizer):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR 2020,
    arXiv:1904.00962, Algorithm 2) — what the Keras Barlow Twins example trains with (tfa.optimizers.LAMB)::

        m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
        r ← (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε) + λ·w
        w ← w − lr · (‖w‖ / ‖r‖) · r        (trust ratio 1 if either norm is 0; not for ``exclude`` groups)

    Written here rather than imported: timm's ``Lamb`` (the same update; tests/test_optim.py checks ours against it
    step by step) would bring timm's hard dependencies huggingface_hub and safetensors into the app for 30 lines,
    and pytorch-optimizer's ``Lamb`` departs from the paper (no bias correction, ‖w‖ clamped at 10).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        # Each line updates a whole group with torch's multi-tensor (_foreach) ops, as torch.optim's own Adam does:
        # one kernel per operation instead of one per operation and parameter. A step's work on a GPU is a launch
        # per kernel, and the per-parameter loop (≈ 10 launches × 70–110 parameters) left the GPU idle half of a
        # ResNet-34 step (H200, BENCHMARKS.md, issue 18).
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = g["betas"]
            for p in params:
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["step"] += 1
            grads = [p.grad for p in params]
            m, v = [self.state[p]["m"] for p in params], [self.state[p]["v"] for p in params]
            t = [self.state[p]["step"] for p in params]
            torch._foreach_mul_(m, beta1)
            torch._foreach_add_(m, grads, alpha=1 - beta1)                  # m ← β1·m + (1 − β1)·g
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)       # v ← β2·v + (1 − β2)·g²
            r = torch._foreach_div(m, [1 - beta1 ** n for n in t])          # m̂
            v_hat = torch._foreach_div(v, [1 - beta2 ** n for n in t])
            torch._foreach_sqrt_(v_hat)
            torch._foreach_add_(v_hat, g["eps"])
            torch._foreach_div_(r, v_hat)                                   # r ← m̂ / (√v̂ + ε)
            if not g.get("exclude", False):
                if g["weight_decay"]:
                    torch._foreach_add_(r, params, alpha=g["weight_decay"])  # + λ·w
                ratio = _trust_ratio(torch.stack(torch._foreach_norm(params)), torch.stack(torch._foreach_norm(r)))
                torch._foreach_mul_(r, list(ratio.unbind()))                # · ‖w‖ / ‖r‖
            torch._foreach_add_(params, r, alpha=-g["lr"])                  # w ← w − lr · r


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Weights, then biases and normalisation parameters (1-D tensors): no weight decay, no trust ratio, and
    ``cfg.lr_biases`` as their peak lr (the reference Barlow Twins split)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    bias_lr = cfg.lr if cfg.lr_biases is None else cfg.lr_biases
    return [{"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": 1.0},
            {"params": no_decay, "weight_decay": 0.0, "exclude": True, "lr_scale": bias_lr / cfg.lr}]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "lamb":
        return LAMB(groups, lr=cfg.lr)
    raise ValueError(f"optimizer: unknown optimizer {cfg.optimizer!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's lr for the weights; every group gets it × its ``lr_scale`` (biases/BN: lr_biases ÷ lr)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up to base_lr, then cosine decay to 0.1 % of it (as the reference code)."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    end = base_lr * 0.001
    return end + (base_lr - end) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
