"""The SSL methods: contract, each loss against a slow re-derivation of its paper formula, stop-gradients, EMA."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sslcore.backbones import ConvNet
from sslcore.config import MethodConfig
from sslcore.methods import METHODS, StepOutput, build_method

N, NUM_CLASSES = 8, 4


def make(name: str, num_classes: int = NUM_CLASSES, double: bool = True, **overrides):
    torch.manual_seed(0)
    cfg = MethodConfig(**{"name": name, "projector_dim": 16, "projector_layers": 2, "queue_size": 32, **overrides})
    method = build_method(cfg, ConvNet(widths=(8, 16)), num_classes)
    return method.double() if double else method


def views(k: int = 2, double: bool = True):
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(N, 3, 16, 16, generator=g) for _ in range(k)]
    return [x.double() for x in xs] if double else xs


def labels():
    return torch.arange(N) % NUM_CLASSES


def run(method, k: int | None = None):
    xs = views(k or method.num_views)
    return method(*xs, y=labels()), xs


def close(a, b, tol=1e-9):
    a, b = (v.item() if isinstance(v, torch.Tensor) else float(v) for v in (a, b))
    return abs(a - b) <= tol * max(1.0, abs(b))


# ---------------------------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", list(METHODS))
def test_contract(name):
    method = make(name, double=False)
    method.train()
    xs = views(method.num_views, double=False)
    out = method(*xs, y=labels())
    assert isinstance(out, StepOutput)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.z1.shape[0] == N and out.z2.shape == out.z1.shape
    assert all(isinstance(v, float) for v in out.terms.values())
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in out.metrics.values())
    if out.terms:
        assert sum(out.terms.values()) == pytest.approx(out.loss.item(), rel=1e-5, abs=1e-6)
    if out.matrix is not None:
        assert not out.matrix.requires_grad and out.matrix.dim() == 2
        assert method.matrix_name
    assert method.description and method.name == name
    if not method.trainable:
        assert out.loss.item() == 0.0 and not out.loss.requires_grad
        return
    out.loss.backward()
    grads = [p.grad for p in method.backbone.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0


def test_registry_defaults_build_on_cpu():
    # The cfg defaults (projector_dim 1024, 3 layers) build and run for Barlow Twins.
    torch.manual_seed(0)
    method = build_method(MethodConfig(), ConvNet(widths=(8, 16)))
    out = method(*views(2, double=False))
    assert out.matrix.shape == (1024, 1024)
    assert method.cfg.lambd == 0.0051 and method.cfg.scale == 1.0


@pytest.mark.parametrize("name", ["barlow_twins", "simclr", "vicreg", "moco"])
def test_matrix_losses_run_in_float32_under_autocast(name):
    # A bf16 cross-correlation would leave c_ii ≈ 0.99 with two significant digits.
    method = make(name, double=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = method(*views(2, double=False))
    assert out.loss.dtype == torch.float32 and out.matrix.dtype == torch.float32
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------------------------------------- Barlow Twins


def slow_barlow_twins(z1, z2, lambd, scale):
    a, b = z1.tolist(), z2.tolist()
    n, d = len(a), len(a[0])

    def standardized(z):
        cols = []
        for j in range(d):
            col = [z[k][j] for k in range(n)]
            mean = sum(col) / n
            var = sum((v - mean) ** 2 for v in col) / n
            cols.append([(v - mean) / math.sqrt(var + 1e-5) for v in col])
        return cols  # d lists of n values

    sa, sb = standardized(a), standardized(b)
    on, off = 0.0, 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(sa[i][k] * sb[j][k] for k in range(n)) / n
            if i == j:
                on += (1 - c_ij) ** 2
            else:
                off += c_ij ** 2
    return scale * on, scale * lambd * off


def test_barlow_twins_matches_formula():
    method = make("barlow_twins", lambd=0.02, scale=0.5)
    out, (x1, x2) = run(method)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    assert torch.allclose(out.z1, z1.detach())
    inv, red = slow_barlow_twins(z1, z2, 0.02, 0.5)
    assert close(out.terms["invariance"], inv) and close(out.terms["redundancy"], red)
    assert close(out.loss, inv + red)
    assert out.matrix.shape == (16, 16)
    # C's diagonal is the per-dimension correlation of the two views: within [-1, 1].
    assert out.matrix.diagonal().abs().max() <= 1 + 1e-6


def test_barlow_twins_lambda_zero_has_no_redundancy_term():
    out, _ = run(make("barlow_twins", lambd=0.0))
    assert out.terms["redundancy"] == 0.0
    assert close(out.loss, out.terms["invariance"])


def test_barlow_twins_identical_views_have_zero_invariance():
    method = make("barlow_twins")
    x = views(1)[0]
    out = method(x, x)
    assert out.terms["invariance"] < 1e-4  # c_ii = var/(var+eps) ≈ 1


# ---------------------------------------------------------------------------------------------- SimCLR


def slow_nt_xent(z1, z2, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=1).tolist()
    n2 = len(z)
    n = n2 // 2
    total, correct = 0.0, 0
    for i in range(n2):
        pos = (i + n) % n2
        sims = {k: sum(a * b for a, b in zip(z[i], z[k])) / tau for k in range(n2) if k != i}
        m = max(sims.values())
        lse = m + math.log(sum(math.exp(s - m) for s in sims.values()))
        total += lse - sims[pos]
        correct += max(sims, key=sims.get) == pos
    return total / n2, correct / n2


def test_simclr_matches_nt_xent():
    method = make("simclr", temperature=0.2)
    out, (x1, x2) = run(method)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    loss, accuracy = slow_nt_xent(z1, z2, 0.2)
    assert close(out.loss, loss) and close(out.terms["nt_xent"], loss)
    assert out.metrics["contrastive_accuracy"] == pytest.approx(accuracy)
    assert out.matrix.shape == (N, N)
    expected = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T
    assert torch.allclose(out.matrix, expected.detach())


def test_simclr_identical_views_are_found():
    method = make("simclr", temperature=0.1)
    x = views(1)[0]
    assert method(x, x).metrics["contrastive_accuracy"] == 1.0


# ---------------------------------------------------------------------------------------------- relational


def test_relational_matches_bce_over_pairs():
    method = make("relational", num_views=3)
    assert method.num_views == 3
    out, xs = run(method)
    feats = method.backbone(torch.cat(xs)).split(N)
    assert torch.allclose(out.z1, feats[0].detach()) and torch.allclose(out.z2, feats[1].detach())
    pairs, targets, shift = [], [], 1
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        for i in range(N):
            pairs.append(torch.cat([feats[a][i], feats[b][i]]))
            targets.append(1.0)
        for i in range(N):
            pairs.append(torch.cat([feats[a][i], feats[b][(i - shift) % N]]))  # another image
            targets.append(0.0)
        shift += 1
    scores = method.relation_head(torch.stack(pairs)).squeeze(1).tolist()
    bce = [-(t * math.log(1 / (1 + math.exp(-s))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-s))))
           for s, t in zip(scores, targets)]
    assert close(out.loss, sum(bce) / len(bce), tol=1e-8)
    accuracy = sum((s > 0) == (t == 1.0) for s, t in zip(scores, targets)) / len(scores)
    assert out.metrics["relation_accuracy"] == pytest.approx(accuracy)


# ---------------------------------------------------------------------------------------------- SimSiam


def slow_neg_cosine(p, z):
    total = 0.0
    for pi, zi in zip(p.tolist(), z.tolist()):
        dot = sum(a * b for a, b in zip(pi, zi))
        total += dot / (math.sqrt(sum(a * a for a in pi)) * math.sqrt(sum(b * b for b in zi)))
    return -total / len(p)


def test_simsiam_matches_formula():
    method = make("simsiam")
    out, (x1, x2) = run(method)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    p1, p2 = method.predictor(z1), method.predictor(z2)
    expected = (slow_neg_cosine(p1, z2) + slow_neg_cosine(p2, z1)) / 2
    assert close(out.loss, expected) and close(out.terms["negative_cosine"], expected)
    assert -1 <= out.loss.item() <= 1


def _projector_grads(method):
    """Backprop the loss; return (total gradient on each projector output z, the part through the predictor)."""
    through_predictor, outputs = [], []

    def pre_hook(_module, args):
        z = args[0] * 1.0          # a fresh node: gradient reaching it comes through the predictor only
        z.retain_grad()
        through_predictor.append(z)
        return (z,)

    def fwd_hook(_module, _args, z):
        z.retain_grad()
        outputs.append(z)

    h1 = method.predictor.register_forward_pre_hook(pre_hook)
    h2 = method.projector.register_forward_hook(fwd_hook)
    out, _ = run(method)
    h1.remove()
    h2.remove()
    out.loss.backward()
    return [z.grad for z in outputs], [z.grad for z in through_predictor]


def test_simsiam_stop_gradient_blocks_the_target_branch():
    total, via_predictor = _projector_grads(make("simsiam", stop_gradient=True))
    for t, p in zip(total, via_predictor):
        assert torch.equal(t, p)                       # nothing reaches z through the target branch
    total, via_predictor = _projector_grads(make("simsiam", stop_gradient=False))
    for t, p in zip(total, via_predictor):
        assert (t - p).abs().max() > 1e-6             # without stop-gradient the target branch carries gradient


# ---------------------------------------------------------------------------------------------- BYOL


def test_byol_matches_formula_and_target_gets_no_gradient():
    method = make("byol")
    out, (x1, x2) = run(method)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    p1, p2 = method.predictor(z1), method.predictor(z2)
    with torch.no_grad():
        t1 = method.target_projector(method.target_backbone(x1))
        t2 = method.target_projector(method.target_backbone(x2))
    expected = (2 + 2 * slow_neg_cosine(p1, t2)) + (2 + 2 * slow_neg_cosine(p2, t1))
    assert close(out.loss, expected) and close(out.terms["regression"], expected)
    out.loss.backward()
    target_params = [*method.target_backbone.parameters(), *method.target_projector.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in target_params)


def test_byol_target_is_an_ema_with_cosine_schedule():
    method = make("byol", momentum=0.9)
    online = [*method.backbone.parameters(), *method.projector.parameters()]
    target = [*method.target_backbone.parameters(), *method.target_projector.parameters()]
    assert all(torch.equal(o, t) for o, t in zip(online, target))   # starts as a copy
    with torch.no_grad():
        for p in online:
            p.add_(1.0)
    before = [t.clone() for t in target]
    method.on_step_end(0.0)                                          # τ = τ_base = 0.9
    for b, t, o in zip(before, target, online):
        assert torch.allclose(t, 0.9 * b + 0.1 * o)
    assert any(not torch.equal(b, t) for b, t in zip(before, target))
    method.on_step_end(0.5)                                          # τ = 1 − 0.1 · (cos(π/2) + 1)/2 = 0.95
    assert method.target_momentum == pytest.approx(0.95)
    before = [t.clone() for t in target]
    method.on_step_end(1.0)                                          # τ = 1: the target stops moving
    assert all(torch.equal(b, t) for b, t in zip(before, target))


# ---------------------------------------------------------------------------------------------- VICReg


def slow_vicreg(z1, z2, weights):
    a, b = z1.tolist(), z2.tolist()
    n, d = len(a), len(a[0])
    invariance = sum((a[k][j] - b[k][j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def var_cov(z):
        means = [sum(z[k][j] for k in range(n)) / n for j in range(d)]
        cov = [[sum((z[k][i] - means[i]) * (z[k][j] - means[j]) for k in range(n)) / (n - 1) for j in range(d)]
               for i in range(d)]
        variance = sum(max(0.0, 1 - math.sqrt(cov[j][j] + 1e-4)) for j in range(d)) / d
        covariance = sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
        return variance, covariance, cov

    va, ca, cov_a = var_cov(a)
    vb, cb, _ = var_cov(b)
    w_var, w_inv, w_cov = weights
    return {"variance": w_var * (va + vb) / 2, "invariance": w_inv * invariance,
            "covariance": w_cov * (ca + cb)}, cov_a


def test_vicreg_matches_formula():
    method = make("vicreg", vicreg_weights=(25.0, 25.0, 1.0))
    out, (x1, x2) = run(method)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    terms, cov_a = slow_vicreg(z1, z2, (25.0, 25.0, 1.0))
    for key, value in terms.items():
        assert close(out.terms[key], value), key
    assert close(out.loss, sum(terms.values()))
    assert torch.allclose(out.matrix, torch.tensor(cov_a, dtype=out.matrix.dtype))


def test_vicreg_weights_scale_their_terms():
    base, _ = run(make("vicreg", vicreg_weights=(1.0, 1.0, 1.0)))
    weighted, _ = run(make("vicreg", vicreg_weights=(2.0, 0.0, 3.0)))
    assert close(weighted.terms["variance"], 2 * base.terms["variance"])
    assert weighted.terms["invariance"] == 0.0
    assert close(weighted.terms["covariance"], 3 * base.terms["covariance"])


# ---------------------------------------------------------------------------------------------- MoCo


def slow_info_nce(q, k, queue, tau):
    total, correct = 0.0, 0
    for qi, ki in zip(q.tolist(), k.tolist()):
        logits = [sum(a * b for a, b in zip(qi, ki)) / tau]
        logits += [sum(a * b for a, b in zip(qi, neg)) / tau for neg in queue.tolist()]
        m = max(logits)
        total += m + math.log(sum(math.exp(v - m) for v in logits)) - logits[0]
        correct += max(range(len(logits)), key=logits.__getitem__) == 0
    return total / len(q), correct


def test_moco_matches_info_nce_with_a_known_queue_and_enqueues():
    method = make("moco", temperature=0.2, queue_size=32)
    g = torch.Generator().manual_seed(5)
    known = F.normalize(torch.randn(32, 16, generator=g, dtype=torch.float64), dim=1)
    method.queue.copy_(known)
    out, (x1, x2) = run(method)
    q1 = F.normalize(method.projector(method.backbone(x1)), dim=1)
    q2 = F.normalize(method.projector(method.backbone(x2)), dim=1)
    with torch.no_grad():
        k1 = F.normalize(method.key_projector(method.key_backbone(x1)), dim=1)
        k2 = F.normalize(method.key_projector(method.key_backbone(x2)), dim=1)
    l1, c1 = slow_info_nce(q1, k2, known, 0.2)
    l2, c2 = slow_info_nce(q2, k1, known, 0.2)
    assert close(out.loss, (l1 + l2) / 2) and close(out.terms["info_nce"], (l1 + l2) / 2)
    assert out.metrics["contrastive_accuracy"] == pytest.approx((c1 + c2) / (2 * N))
    # Both views' keys were enqueued at the pointer, the rest of the queue is untouched.
    assert torch.allclose(method.queue[:2 * N], torch.cat([k1, k2]))
    assert torch.equal(method.queue[2 * N:], known[2 * N:])
    assert int(method.queue_ptr) == 2 * N
    assert out.matrix.shape == (N, N)


def test_moco_queue_wraps_around():
    method = make("moco", queue_size=12)
    _, (x1, x2) = run(method)
    with torch.no_grad():
        keys = torch.cat([F.normalize(method.key_projector(method.key_backbone(x)), dim=1) for x in (x1, x2)])
    assert int(method.queue_ptr) == (2 * N) % 12 == 4
    assert torch.allclose(method.queue[4:], keys[4:12]) and torch.allclose(method.queue[:4], keys[12:])
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(12, dtype=torch.float64))


def test_moco_key_encoder_gets_no_gradient_and_follows_ema():
    method = make("moco", momentum=0.9)
    out, _ = run(method)
    out.loss.backward()
    keys = [*method.key_backbone.parameters(), *method.key_projector.parameters()]
    queries = [*method.backbone.parameters(), *method.projector.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in keys)
    with torch.no_grad():
        for p in queries:
            p.sub_(0.1 * p.grad)
    before = [k.clone() for k in keys]
    method.on_step_end(0.3)
    for b, k, q in zip(before, keys, queries):
        assert torch.allclose(k, 0.9 * b + 0.1 * q)
    assert any(not torch.equal(b, k) for b, k in zip(before, keys))


# ---------------------------------------------------------------------------------------------- baselines


def test_supervised_cross_entropy_and_labels_required():
    method = make("supervised")
    assert method.needs_labels
    x1, x2 = views()
    y = labels()
    out = method(x1, x2, y=y)
    h1, h2 = method.backbone(x1), method.backbone(x2)
    expected = (F.cross_entropy(method.classifier(h1), y) + F.cross_entropy(method.classifier(h2), y)) / 2
    assert close(out.loss, expected)
    assert torch.allclose(out.z1, h1.detach())
    with pytest.raises(ValueError, match="labels"):
        method(x1, x2)
    with pytest.raises(ValueError, match="num_classes"):
        make("supervised", num_classes=0)


def test_random_baseline_returns_untrained_features():
    method = make("random")
    assert not method.trainable and not method.needs_batch_stats
    before = {k: v.clone() for k, v in method.backbone.state_dict().items() if v.is_floating_point()}
    x1, x2 = views()
    out = method(x1, x2)
    assert out.loss.item() == 0.0 and out.terms == {}
    method.eval()
    assert torch.allclose(method(x1, x2).z1, method.backbone(x1))
    assert all(torch.equal(method.backbone.state_dict()[k], v) for k, v in before.items()
               if not k.endswith(("running_mean", "running_var")))
