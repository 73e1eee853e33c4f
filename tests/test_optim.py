"""sslcore.optim: LAMB against timm's Lamb step by step; LARS with the reference's separate lr for biases and BN."""
import pytest
import torch
from torch import nn

from sslcore.config import OptimConfig, RunConfig
from sslcore.errors import ConfigError
from sslcore.optim import LAMB, LARS, build_optimizer, param_groups, set_lr


def _toy_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # BN after the ReLU: a bias right before BN gets a gradient of float noise, which Adam-style updates amplify.
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))


def _toy_loss(model: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + step)
    x, y = torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
    return nn.functional.cross_entropy(model(x), y)


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for step in range(steps):
        optimizer.zero_grad()
        _toy_loss(model, step).backward()
        optimizer.step()


def test_lamb_matches_timm_lamb_on_a_toy_problem():
    import timm.optim as timm_optim  # the reference implementation; requirements-dev.txt installs timm

    ours, ref = _toy_model(), _toy_model()
    cfg = OptimConfig(optimizer="lamb", lr=0.01, weight_decay=0.05)
    _train(ours, build_optimizer(ours, cfg), 8)
    # timm's equivalent of our two groups: weights adapted with decay (always_adapt), biases/BN plain Adam with no
    # decay (timm adapts no group whose decay is 0); no global gradient clipping — the paper has none.
    decay = [p for p in ref.parameters() if p.ndim > 1]
    no_decay = [p for p in ref.parameters() if p.ndim <= 1]
    reference = timm_optim.Lamb([{"params": decay, "weight_decay": 0.05, "always_adapt": True},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=0.01, max_grad_norm=None)
    _train(ref, reference, 8)
    for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(ours[0].weight, _toy_model()[0].weight)  # it did train


def test_lamb_scales_each_layers_step_by_its_trust_ratio():
    """First step: m̂ / √v̂ = sign(g), so the weight update is lr · ‖w‖ / ‖sign(g) + λw‖ · (sign(g) + λw)."""
    w = nn.Parameter(torch.tensor([[3.0, -4.0]]))
    w.grad = torch.tensor([[0.5, 2.0]])
    before = w.detach().clone()
    LAMB([{"params": [w], "weight_decay": 0.0}], lr=0.1).step()
    r = torch.sign(torch.tensor([[0.5, 2.0]]))
    expected = before - 0.1 * (before.norm() / r.norm()) * r
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-6)


def test_lars_gives_biases_and_bn_their_own_lr_as_the_reference():
    model = _toy_model()
    cfg = OptimConfig(optimizer="lars", lr=0.2, lr_biases=0.0048, weight_decay=1.5e-6)
    optimizer = build_optimizer(model, cfg)
    assert isinstance(optimizer, LARS)
    set_lr(optimizer, 0.1)  # the schedule at half the peak: both groups follow it, in the reference's ratio
    weights, biases = optimizer.param_groups
    assert weights["lr"] == pytest.approx(0.1) and biases["lr"] == pytest.approx(0.1 * 0.0048 / 0.2)
    assert {id(p) for p in biases["params"]} == {id(p) for p in model.parameters() if p.ndim == 1}
    # One step from zero momentum: a bias moves by exactly its lr × its gradient (no decay, no trust ratio).
    _toy_loss(model, 0).backward()
    bias, grad = model[0].bias.detach().clone(), model[0].bias.grad.clone()
    optimizer.step()
    torch.testing.assert_close(model[0].bias.detach(), bias - 0.1 * 0.0048 / 0.2 * grad)


def test_without_lr_biases_every_group_gets_the_weights_lr():
    groups = param_groups(_toy_model(), OptimConfig(lr=0.3))
    assert [g["lr_scale"] for g in groups] == [1.0, 1.0]


def test_lr_biases_must_be_positive():
    with pytest.raises(ConfigError, match="lr_biases"):
        RunConfig().replace(lr_biases=0.0).validate()
    assert RunConfig().replace(optimizer="lamb", lr_biases=1e-3).validate().optim.lr_biases == 1e-3
