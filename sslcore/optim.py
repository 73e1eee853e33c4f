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
        for g in self.param_groups:
            beta1, beta2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                r = (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt_().add_(g["eps"]))
                if not g.get("exclude", False):
                    r.add_(p, alpha=g["weight_decay"])
                    r.mul_(_trust_ratio(torch.norm(p), torch.norm(r)))
                p.add_(r, alpha=-g["lr"])


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
